#pragma once
// What the checkpoint harness (fuzz_checkpoint.cpp) and the corpus generator
// (make_corpus.cpp) must agree on: the models the harness loads checkpoints into and the
// datasets of their batch loops. A corpus checkpoint only gets past the loader's checks
// when it was saved from the same config and a dataset of the same size.
#include <cstdint>
#include <utility>
#include <vector>

#include "vaegan/core/rng.hpp"
#include "vaegan/core/tensor.hpp"
#include "vaegan/data/dataset.hpp"
#include "vaegan/models/config.hpp"

namespace vaegan::fuzz {

// A model with a few dozen parameters: its checkpoints are ~2 KB, so the fuzzer runs fast
// and its mutations land in the structure rather than in megabytes of weights.
inline ModelConfig tiny_config() {
  ModelConfig c;
  c.preset = "fuzz-tiny";
  c.image_shape = vaegan::Shape{1, 1, 6};
  c.latent_dim = 2;
  c.encoder_hidden = {4};
  c.decoder_hidden = {3};
  c.discriminator_hidden = {4};
  return c;
}

// The batch loops' datasets: kDatasetSize images of the model's image shape [C, H, W],
// values in [0, 1].
constexpr Index kDatasetSize = 10;
constexpr Index kBatchSize = 4;
constexpr std::uint64_t kBatchSeed = 99;

template <class T>
ImageDataset<T> dataset(const Shape& image) {
  Rng rng(7);
  Tensor<T> images(Shape::matrix(kDatasetSize, image.numel()));
  for (Index i = 0; i < images.numel(); ++i) images[i] = static_cast<T>(rng.uniform());
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(kDatasetSize));
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::uint8_t>(i % 10);
  return ImageDataset<T>(std::move(images), std::move(labels), image);
}

}  // namespace vaegan::fuzz
