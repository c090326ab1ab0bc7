// make_colour_fixture: writes what the colour test of vaegan sample, reconstruct, interpolate and eval needs
// (sample_colour_test.cmake), without a colour data set to train on:
//
//   make_colour_fixture OUT_DIR
//
//   OUT_DIR/vaegan.vgck, gan.vgck  untrained checkpoints of small dense models of RGB
//                                  images [3, 12, 12] (the sampler needs no trained weights)
//   OUT_DIR/two-channels.vgck      a VAE-GAN of [2, 12, 12] images: IDX only, no PNG
//   OUT_DIR/colour-images-idx      8 RGB images [8, 3, 12, 12] (a 4-dim IDX file)
//   OUT_DIR/gray-images-idx        8 gray images [8, 12, 12]
//   OUT_DIR/gray28-images-idx      8 gray images [8, 28, 28], the classifier's size
//   OUT_DIR/classifier.vgck        an untrained classifier of 28x28 gray images
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>

#include "vaegan/core/rng.hpp"
#include "vaegan/data/idx.hpp"
#include "vaegan/metrics/classifier.hpp"
#include "vaegan/models/config.hpp"
#include "vaegan/models/presets.hpp"
#include "vaegan/train/checkpointing.hpp"
#include "vaegan/train/gan_trainer.hpp"
#include "vaegan/train/vaegan_trainer.hpp"

namespace {

vaegan::ModelConfig small_config(vaegan::Index channels) {
  vaegan::ModelConfig c;
  c.preset = "custom";
  c.image_shape = vaegan::Shape{channels, 12, 12};
  c.latent_dim = 4;
  c.encoder_hidden = {16};
  c.decoder_hidden = {16};
  c.discriminator_hidden = {16};
  return c;
}

vaegan::IdxImages images(vaegan::Index count, vaegan::Index channels, vaegan::Index side) {
  vaegan::IdxImages out;
  out.count = count;
  out.channels = channels;
  out.rows = side;
  out.cols = side;
  out.pixels.resize(static_cast<std::size_t>(count * channels * side * side));
  for (std::size_t i = 0; i < out.pixels.size(); ++i) out.pixels[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_colour_fixture OUT_DIR\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  try {
    std::filesystem::create_directories(dir);
    const auto file = [&](const char* name) { return (dir / name).string(); };
    vaegan::VaeGanTrainer<float> vaegan_rgb(small_config(3), {}, 1);
    vaegan::save_training_checkpoint<vaegan::VaeGanTrainer<float>, float>(file("vaegan.vgck"), vaegan_rgb, nullptr);
    vaegan::GanTrainer<float> gan_rgb(small_config(3), {}, 2);
    vaegan::save_training_checkpoint<vaegan::GanTrainer<float>, float>(file("gan.vgck"), gan_rgb, nullptr);
    vaegan::VaeGanTrainer<float> vaegan_two(small_config(2), {}, 3);
    vaegan::save_training_checkpoint<vaegan::VaeGanTrainer<float>, float>(file("two-channels.vgck"), vaegan_two,
                                                                          nullptr);
    // The same networks handed to a trainer by hand: no preset recorded, as for a model a
    // program composed, so vaegan sample rebuilds its decoder from the recorded structure.
    // composed-expected-idx holds what `vaegan sample --samples 6 --seed 1` must write: the
    // trainer's own samples of the same codes, as bytes.
    const vaegan::ModelConfig rgb = small_config(3);
    vaegan::VaeGanTrainer<float> composed(vaegan::preset_encoder<float>(rgb), vaegan::preset_decoder<float>(rgb),
                                          vaegan::preset_discriminator<float>(rgb), {}, 4,
                                          vaegan::InitialWeights::draw_from_seed);
    vaegan::save_training_checkpoint<vaegan::VaeGanTrainer<float>, float>(file("composed.vgck"), composed, nullptr);
    vaegan::Tensor<float> z(vaegan::Shape::matrix(6, rgb.latent_dim)), samples;
    vaegan::Rng(1).fill_normal(z.data(), z.numel());
    composed.generate(z, samples);
    vaegan::IdxImages expected = images(6, 3, 12);
    for (std::size_t i = 0; i < expected.pixels.size(); ++i) {
      const double v = std::min(1.0, std::max(0.0, static_cast<double>(samples[static_cast<vaegan::Index>(i)])));
      expected.pixels[i] = static_cast<std::uint8_t>(v * 255.0 + 0.5);
    }
    vaegan::write_idx_images(file("composed-expected-idx"), expected);
    vaegan::write_idx_images(file("colour-images-idx"), images(8, 3, 12));
    vaegan::write_idx_images(file("gray-images-idx"), images(8, 1, 12));
    vaegan::write_idx_images(file("gray28-images-idx"), images(8, 1, 28));
    vaegan::ClassifierConfig classifier;
    classifier.hidden = {8};
    vaegan::Classifier<float>(classifier, 1).save(file("classifier.vgck"));
  } catch (const std::exception& e) {
    std::cerr << "make_colour_fixture: " << e.what() << "\n";
    return 1;
  }
  std::cout << "make_colour_fixture: wrote the colour fixture into " << dir.string() << "\n";
  return 0;
}
