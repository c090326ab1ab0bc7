#pragma once
// Holding out part of a data set, the same way on every machine and every run:
//
//   stratified_split(labels, classes, fraction, seed)  which items to keep and to hold out
//   split_dataset(data, fraction, seed)                 an ImageDataset cut in two that way
//
// Each class is split alike: its items are shuffled by a Fisher-Yates pass driven by one
// Rng(seed) (the classes in label order), and the first round(fraction x its size) are
// held out. Both index lists come back in ascending order, so each part keeps the data's
// own order. Image folders use it for their train/test split (data/image_folder.hpp); the
// efficiency study uses split_dataset to carve a validation set out of the training
// images, to tune on it and keep the test images for the final scores (compare
// --score-on validation).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/data/dataset.hpp"

namespace vaegan {

struct IndexSplit {
  std::vector<Index> kept;      // ascending
  std::vector<Index> held_out;  // ascending
};

// labels[i] in [0, classes) is item i's class.
inline IndexSplit stratified_split(const std::vector<int>& labels, int classes, double fraction, std::uint64_t seed) {
  if (!(fraction >= 0.0 && fraction < 1.0))
    throw Error("stratified_split: the fraction held out must be in [0, 1), got " + std::to_string(fraction));
  std::vector<std::vector<Index>> by_class(static_cast<std::size_t>(std::max(classes, 1)));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= static_cast<int>(by_class.size()))
      throw Error("stratified_split: item " + std::to_string(i) + " has class " + std::to_string(labels[i]) +
                  ", outside [0, " + std::to_string(by_class.size()) + ")");
    by_class[static_cast<std::size_t>(labels[i])].push_back(static_cast<Index>(i));
  }
  Rng rng(seed);
  IndexSplit split;
  for (std::vector<Index>& members : by_class) {
    for (Index i = static_cast<Index>(members.size()) - 1; i > 0; --i) {
      const auto j = static_cast<Index>(rng.uniform_int(static_cast<std::uint64_t>(i) + 1));
      std::swap(members[static_cast<std::size_t>(i)], members[static_cast<std::size_t>(j)]);
    }
    const auto held = static_cast<std::ptrdiff_t>(std::llround(fraction * static_cast<double>(members.size())));
    split.held_out.insert(split.held_out.end(), members.begin(), members.begin() + held);
    split.kept.insert(split.kept.end(), members.begin() + held, members.end());
  }
  std::sort(split.kept.begin(), split.kept.end());
  std::sort(split.held_out.begin(), split.held_out.end());
  return split;
}

template <class T>
struct DatasetSplit {
  ImageDataset<T> kept;
  ImageDataset<T> held_out;
};

namespace detail {
template <class T>
ImageDataset<T> dataset_subset(const ImageDataset<T>& data, const std::vector<Index>& indices) {
  const Index d = data.image_size();
  Tensor<T> images(Shape::matrix(static_cast<Index>(indices.size()), d));
  std::vector<std::uint8_t> labels(indices.size());
  for (std::size_t k = 0; k < indices.size(); ++k) {
    std::memcpy(images.data() + static_cast<Index>(k) * d, data.image(indices[k]),
                sizeof(T) * static_cast<std::size_t>(d));
    labels[k] = data.label(indices[k]);
  }
  return ImageDataset<T>(std::move(images), std::move(labels), data.image_shape());
}
}  // namespace detail

// `data` cut into the images kept and the ones held out (a share `fraction` of each class).
template <class T>
DatasetSplit<T> split_dataset(const ImageDataset<T>& data, double fraction, std::uint64_t seed) {
  std::vector<int> labels(data.labels().begin(), data.labels().end());
  const IndexSplit split = stratified_split(labels, std::max(data.num_classes(), 1), fraction, seed);
  if (split.kept.empty() || (fraction > 0.0 && split.held_out.empty()))
    throw Error("split_dataset: holding out " + std::to_string(fraction) + " of " + std::to_string(data.size()) +
                " images leaves " + std::to_string(split.kept.size()) + " to keep and " +
                std::to_string(split.held_out.size()) + " held out; each part needs at least one image");
  return {detail::dataset_subset(data, split.kept), detail::dataset_subset(data, split.held_out)};
}

}  // namespace vaegan
