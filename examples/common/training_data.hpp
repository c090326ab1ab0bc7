#pragma once
// TrainingData: what a training run reads from --dataset / --data: the training split
// (whose image shape the model takes, checked against the batch size) and a few real
// images to show above their reconstructions (the first of the test split if present,
// else of the training split).
#include <algorithm>
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

  static constexpr vaegan::Index kScored = 1000;  // real images that --classifier scores samples against

  vaegan::ImageDataset<T> train;
  vaegan::Tensor<T> shown_real;   // [kShown, C, H, W]
  vaegan::Tensor<T> scored_real;  // the first kScored test images (training images without a test split)

  // Loads the --dataset / --data set for a model of `config` trained at `batch_size`, and
  // gives the model the data's image shape (a preset names layers, not an image size: a
  // folder of 32x32 RGB images makes the mlp preset's input 3072 wide). Data errors throw
  // IoError naming the file and the fix; a shape the preset cannot take (a conv side that
  // does not halve evenly) throws IoError naming --image-size; a batch larger than the
  // training set is a usage error, reported through `usage_error` (which does not return:
  // cli::Parser::fail).
  TrainingData(const char* program, const DatasetFlags& source, vaegan::ModelConfig& config, std::int64_t batch_size,
               const std::function<void(const std::string&)>& usage_error)
      : train(announce_and_load(program, source)) {
    config.image_shape = train.image_shape();
    try {
      config.validate();
    } catch (const vaegan::Error& e) {
      throw vaegan::IoError("the images of " + source.choice.title + " are " + image_shape_text(train.image_shape()) +
                            ", which the " + config.preset + " preset cannot take: " + e.what() +
                            (source.is_folder() ? "; pass --image-size with a size it can take" : ""));
    }
    if (batch_size > train.size()) {
      usage_error("--batch-size " + std::to_string(batch_size) + " is larger than the training set (" +
                  std::to_string(train.size()) + " images); pass a smaller --batch-size");
      throw std::logic_error("TrainingData: usage_error returned");
    }
    std::vector<vaegan::Index> first(kShown);
    for (vaegan::Index i = 0; i < kShown; ++i) first[static_cast<std::size_t>(i)] = i % train.size();
    // An IDX set may lack its test files (then training images are shown); a folder's test
    // split is part of the folder, and a bad file in it is an error like any other.
    vaegan::ImageDataset<T> test;
    if (source.is_folder()) {
      test = load_split<T>(source, "test");
    } else {
      try {
        test = load_split<T>(source, "test");
      } catch (const vaegan::IoError&) {
      }
    }
    const vaegan::ImageDataset<T>& shown = test.empty() ? train : test;
    for (vaegan::Index i = 0; i < kShown; ++i) first[static_cast<std::size_t>(i)] = i % shown.size();
    shown.gather(first.data(), kShown, shown_real);
    std::vector<vaegan::Index> scored(static_cast<std::size_t>(std::min<vaegan::Index>(kScored, shown.size())));
    for (std::size_t i = 0; i < scored.size(); ++i) scored[i] = static_cast<vaegan::Index>(i);
    shown.gather(scored.data(), static_cast<vaegan::Index>(scored.size()), scored_real);
  }

 private:
  static vaegan::ImageDataset<T> announce_and_load(const char* program, const DatasetFlags& source) {
    std::cout << program << ": loading " << source.choice.title << " from '" << source.data << "'\n";
    return load_split<T>(source, "train");
  }
};

}  // namespace examples
