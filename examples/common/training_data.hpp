#pragma once
// TrainingData: what a training run reads from --data: the training split (checked
// against the model's image shape and the batch size) and a few real images to show
// above their reconstructions (the first of the test split if present, else of the
// training split).
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <vaegan/vaegan.hpp>

#include "data.hpp"
#include "dataset_flag.hpp"

namespace examples {

template <class T>
struct TrainingData {
  static constexpr vaegan::Index kShown = 16;  // real images in each reconstruction grid

  vaegan::ImageDataset<T> train;
  vaegan::Tensor<T> shown_real;  // [kShown, C, H, W]

  // Loads the --dataset / --data set for a model of `config` trained at `batch_size`. Data errors throw
  // IoError naming the file and the fix; a batch larger than the training set is a usage
  // error, reported through `usage_error` (which does not return: cli::Parser::fail).
  TrainingData(const char* program, const DatasetFlags& source, const vaegan::ModelConfig& config,
               std::int64_t batch_size, const std::function<void(const std::string&)>& usage_error)
      : train(announce_and_load(program, source)) {
    const std::string& dir = source.data;
    if (train.image_shape() != config.image_shape)
      throw vaegan::IoError("the images in '" + dir + "' are " + image_shape_text(train.image_shape()) +
                            " but the model expects " + image_shape_text(config.image_shape) + " (" +
                            std::to_string(config.image_dim()) + " pixels); pass --data with a dataset of " +
                            image_shape_text(config.image_shape) + " images (MNIST, Fashion-MNIST and KMNIST are)");
    if (batch_size > train.size()) {
      usage_error("--batch-size " + std::to_string(batch_size) + " is larger than the training set (" +
                  std::to_string(train.size()) + " images); pass a smaller --batch-size");
      throw std::logic_error("TrainingData: usage_error returned");
    }
    std::vector<vaegan::Index> first(kShown);
    for (vaegan::Index i = 0; i < kShown; ++i) first[static_cast<std::size_t>(i)] = i % train.size();
    try {
      const auto test = vaegan::load_mnist<T>(dir, "test");
      for (vaegan::Index i = 0; i < kShown; ++i) first[static_cast<std::size_t>(i)] = i % test.size();
      test.gather(first.data(), kShown, shown_real);
    } catch (const vaegan::IoError&) {
      train.gather(first.data(), kShown, shown_real);
    }
  }

 private:
  static vaegan::ImageDataset<T> announce_and_load(const char* program, const DatasetFlags& source) {
    std::cout << program << ": loading " << source.choice.title << " from '" << source.data << "'\n";
    return load_split<T>(source.data, "train", source.choice);
  }
};

}  // namespace examples
