// export_reference DIR: the C++ half of the safetensors export test (tests/export/).
//
// Composes a VAE-GAN that is no preset (Dense layers with a declared activation, fused
// activation layers, LeakyReLU slopes, Tanh, Softplus, Dropout, Flatten, Reshape to
// [1, 6, 6]), trains it 5 steps on random images, and writes into DIR:
//   model.safetensors   export_safetensors(trainer)
//   checkpoint.bin      save_training_checkpoint (vaegan_export's input)
//   z.npy               fixed latent codes [7, 5]
//   generated.npy       the trainer's generate(z): sigmoid(decoder(z)), [7, 1, 6, 6]
//   images.npy          images [4, 1, 6, 6] in [0, 1]
//   mu.npy              the trainer's encode(images): posterior means [4, 5]
// (.npy: NumPy's format, version 1.0, little-endian float32). check_export.py then reads
// the safetensors file on its own, rebuilds the networks from the metadata and compares.
// The program also checks that export_checkpoint_safetensors on the checkpoint gives the
// same bytes as the trainer's export.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <vaegan/io/safetensors.hpp>
#include <vaegan/vaegan.hpp>

namespace {

using T = float;

// NumPy .npy, format version 1.0: magic, version, header length, a Python dict literal
// padded with spaces to a multiple of 64 bytes (newline last), then the data.
void write_npy(const std::string& path, const vaegan::Tensor<T>& t) {
  std::string shape = "(";
  for (int i = 0; i < t.shape().rank(); ++i) shape += std::to_string(t.shape()[i]) + ", ";
  if (t.shape().rank() > 1) shape.erase(shape.size() - 2);  // (7, 5) but (7,)
  else shape.erase(shape.size() - 1);
  shape += ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::vector<std::uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.push_back(static_cast<std::uint8_t>(header.size() & 0xff));
  out.push_back(static_cast<std::uint8_t>(header.size() >> 8));
  out.insert(out.end(), header.begin(), header.end());
  for (vaegan::Index i = 0; i < t.numel(); ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, t.data() + i, 4);
    for (int b = 0; b < 4; ++b) out.push_back(static_cast<std::uint8_t>(bits >> (8 * b)));
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
  if (!f) throw vaegan::IoError("export_reference: cannot write '" + path + "'");
}

std::vector<char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

auto make_trainer() {
  using namespace vaegan;
  const Shape image{1, 6, 6};
  const Index latent = 5;
  Encoder<T> encoder(
      image, Sequential<T>(Flatten<T>(), Dense<T>(36, 24), LeakyReLU<T>(0.1), Dense<T>(24, 12, Activation::tanh())),
      latent);
  Decoder<T> decoder(latent, Sequential<T>(Dense<T>(latent, 16, Activation::softplus()),   // declared activation
                                           Dense<T>(16, 24), Tanh<T>(),                    // fused into the Dense
                                           Dropout<T>(0.25),                               // identity in eval mode
                                           Dense<T>(24, 30, Activation::leaky_relu(0.3)),  // declared, with a slope
                                           Flatten<T>(),                                   // [30] -> [30]: a no-op
                                           Dense<T>(30, 36), Reshape<T>(image)));
  Discriminator<T> discriminator(image,
                                 Sequential<T>(Flatten<T>(), Dense<T>(36, 16), LeakyReLU<T>(0.2), Dropout<T>(0.3)));
  return VaeGanTrainer<T>(std::move(encoder), std::move(decoder), std::move(discriminator), VaeGanOptions{}, 7);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: export_reference DIR\n";
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    auto trainer = make_trainer();

    vaegan::Rng rng(2024);
    vaegan::Tensor<T> batch(vaegan::Shape{8, 1, 6, 6});
    for (int step = 0; step < 5; ++step) {
      rng.fill_uniform(batch.data(), batch.numel(), 0.0, 1.0);
      trainer.train_step(batch);
    }

    const std::string model = (dir / "model.safetensors").string();
    const std::string checkpoint = (dir / "checkpoint.bin").string();
    vaegan::export_safetensors(model, trainer);
    vaegan::save_training_checkpoint<decltype(trainer), T>(checkpoint, trainer, nullptr);

    // Both export paths give the same bytes.
    const std::string from_checkpoint = (dir / "from_checkpoint.safetensors").string();
    vaegan::export_checkpoint_safetensors(checkpoint, from_checkpoint);
    if (read_all(model) != read_all(from_checkpoint)) {
      std::cerr << "export_reference: the checkpoint's export differs from the trainer's\n";
      return 1;
    }

    vaegan::Tensor<T> z(vaegan::Shape{7, 5}), generated;
    rng.fill_normal(z.data(), z.numel(), 0.0, 1.5);
    z(0, 0) = 6.0f;  // far out: saturates the tanh and the final sigmoid
    trainer.generate(z, generated);
    write_npy((dir / "z.npy").string(), z);
    write_npy((dir / "generated.npy").string(), generated);

    vaegan::Tensor<T> images(vaegan::Shape{4, 1, 6, 6}), mu;
    rng.fill_uniform(images.data(), images.numel(), 0.0, 1.0);
    trainer.encode(images, mu);
    write_npy((dir / "images.npy").string(), images);
    write_npy((dir / "mu.npy").string(), mu);

    std::cout << "export_reference: trained " << trainer.step() << " steps; wrote " << model << " ("
              << std::filesystem::file_size(model) << " bytes), identical to the checkpoint's export\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "export_reference: error: " << e.what() << "\n";
    return 1;
  }
}
