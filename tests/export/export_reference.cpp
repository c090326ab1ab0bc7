// export_reference DIR: the C++ half of the safetensors export test (tests/export/).
//
// Composes two VAE-GANs that are no preset and writes each into its own directory:
// - DIR: dense (Dense layers with a declared activation, fused activation layers,
//   LeakyReLU slopes, Tanh, Softplus, Dropout, Flatten, Reshape to [1, 6, 6]);
// - DIR/conv: convolutional (Conv2d with odd kernels, strides and paddings,
//   ConvTranspose2d with output padding, BatchNorm1d and BatchNorm2d, whose running
//   statistics the evaluation-mode outputs below depend on), images [2, 9, 9].
// and the VAE-GAN of each preset (seed, mlp, conv) into DIR/preset-NAME (for
// torch_interop_test.py). Each trains 5 steps on random images, and its directory gets:
//   model.safetensors   export_safetensors(trainer)
//   checkpoint.bin      save_training_checkpoint (vaegan export's input)
//   z.npy               fixed latent codes [7, latent]
//   generated.npy       the trainer's generate(z): sigmoid(decoder(z)), [7, ...image]
//   images.npy          images [4, ...image] in [0, 1]
//   mu.npy              the trainer's encode(images): posterior means [4, latent]
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

auto make_dense_trainer() {
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

auto make_conv_trainer() {
  using namespace vaegan;
  const Shape image{2, 9, 9};
  const Index latent = 5;
  Encoder<T> encoder(image,
                     Sequential<T>(Conv2d<T>(2, 4, 3, 2, 1),                                        // [4, 5, 5]
                                   BatchNorm2d<T>(4), LeakyReLU<T>(0.2), Conv2d<T>(4, 6, 2, 1, 0),  // [6, 4, 4]
                                   ReLU<T>(), Flatten<T>()),
                     latent);
  Decoder<T> decoder(latent,
                     Sequential<T>(Dense<T>(latent, 24), BatchNorm1d<T>(24), ReLU<T>(), Reshape<T>(Shape{6, 2, 2}),
                                   ConvTranspose2d<T>(6, 4, 3, 2, 1, 1),  // output padding 1: [4, 4, 4]
                                   BatchNorm2d<T>(4), Tanh<T>(), ConvTranspose2d<T>(4, 2, 3, 2, 0)));  // [2, 9, 9]
  Discriminator<T> discriminator(image, Sequential<T>(Conv2d<T>(2, 3, 4, 3, 2), LeakyReLU<T>(0.2),
                                                      Flatten<T>()));  // stride 3, padding 2: [3, 4, 4]
  return VaeGanTrainer<T>(std::move(encoder), std::move(decoder), std::move(discriminator), VaeGanOptions{}, 8);
}

// Trains `trainer` 5 steps, exports it into `dir` with the files listed above, and checks
// the checkpoint's export is the same bytes. Returns false (after a message) if not.
template <class Trainer>
bool export_model(Trainer& trainer, const std::filesystem::path& dir, vaegan::Rng& rng) {
  std::filesystem::create_directories(dir);
  const vaegan::Shape image = trainer.decoder().image_shape();
  vaegan::Tensor<T> batch(vaegan::Shape{8, image[0], image[1], image[2]});
  for (int step = 0; step < 5; ++step) {
    rng.fill_uniform(batch.data(), batch.numel(), 0.0, 1.0);
    trainer.train_step(batch);
  }

  const std::string model = (dir / "model.safetensors").string();
  const std::string checkpoint = (dir / "checkpoint.bin").string();
  vaegan::export_safetensors(model, trainer);
  vaegan::save_training_checkpoint<Trainer, T>(checkpoint, trainer, nullptr);

  // Both export paths give the same bytes.
  const std::string from_checkpoint = (dir / "from_checkpoint.safetensors").string();
  vaegan::export_checkpoint_safetensors(checkpoint, from_checkpoint);
  if (read_all(model) != read_all(from_checkpoint)) {
    std::cerr << "export_reference: the checkpoint's export differs from the trainer's (" << dir.string() << ")\n";
    return false;
  }

  vaegan::Tensor<T> z(vaegan::Shape{7, trainer.latent_dim()}), generated;
  rng.fill_normal(z.data(), z.numel(), 0.0, 1.5);
  z(0, 0) = 6.0f;  // far out: saturates the activations and the final sigmoid
  trainer.generate(z, generated);
  write_npy((dir / "z.npy").string(), z);
  write_npy((dir / "generated.npy").string(), generated);

  vaegan::Tensor<T> images(vaegan::Shape{4, image[0], image[1], image[2]}), mu;
  rng.fill_uniform(images.data(), images.numel(), 0.0, 1.0);
  trainer.encode(images, mu);
  write_npy((dir / "images.npy").string(), images);
  write_npy((dir / "mu.npy").string(), mu);

  std::cout << "export_reference: trained " << trainer.step() << " steps; wrote " << model << " ("
            << std::filesystem::file_size(model) << " bytes), identical to the checkpoint's export\n";
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: export_reference DIR\n";
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    vaegan::Rng rng(2024);
    auto dense = make_dense_trainer();
    if (!export_model(dense, dir, rng)) return 1;
    auto conv = make_conv_trainer();
    if (!export_model(conv, dir / "conv", rng)) return 1;
    // The presets (docs/reference-workloads.md), for the PyTorch interop test.
    for (const char* preset : {"seed", "mlp", "conv"}) {
      vaegan::VaeGanTrainer<T> trainer(vaegan::model_preset(preset), {}, 8);
      if (!export_model(trainer, dir / (std::string("preset-") + preset), rng)) return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "export_reference: error: " << e.what() << "\n";
    return 1;
  }
}
