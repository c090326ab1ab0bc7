// Tests for data/split.hpp: stratified_split holds out round(fraction x size) of each class,
// disjoint from what it keeps, both ascending, the same for the same seed; split_dataset
// copies the right images and labels into each part; bad fractions, labels and splits that
// leave a part empty are refused with a message.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "vaegan/data/split.hpp"

namespace {

using vaegan::Index;
using vaegan::IndexSplit;
using vaegan::stratified_split;

// Classes of 10, 11 and 4 items, interleaved.
std::vector<int> three_classes() {
  std::vector<int> labels;
  for (int i = 0; i < 11; ++i) {
    if (i < 10) labels.push_back(0);
    labels.push_back(1);
    if (i < 4) labels.push_back(2);
  }
  return labels;
}

TEST_CASE("split: each class loses round(fraction x its size), kept and held out partition the items") {
  const std::vector<int> labels = three_classes();
  std::vector<int> sizes(3, 0);
  for (int l : labels) ++sizes[static_cast<std::size_t>(l)];
  REQUIRE(sizes == std::vector<int>{10, 11, 4});
  const IndexSplit s = stratified_split(labels, 3, 0.3, 7);
  std::vector<int> held(3, 0);
  for (Index i : s.held_out) ++held[static_cast<std::size_t>(labels[static_cast<std::size_t>(i)])];
  CHECK(held == std::vector<int>{3, 3, 1});  // round(3.0), round(3.3), round(1.2)
  CHECK(std::is_sorted(s.kept.begin(), s.kept.end()));
  CHECK(std::is_sorted(s.held_out.begin(), s.held_out.end()));
  std::vector<Index> all = s.kept;
  all.insert(all.end(), s.held_out.begin(), s.held_out.end());
  std::sort(all.begin(), all.end());
  std::vector<Index> want(labels.size());
  for (std::size_t i = 0; i < want.size(); ++i) want[i] = static_cast<Index>(i);
  CHECK(all == want);
  // The same seed gives the same split; another seed another one.
  CHECK(stratified_split(labels, 3, 0.3, 7).held_out == s.held_out);
  CHECK(stratified_split(labels, 3, 0.3, 8).held_out != s.held_out);
  // Nothing held out at fraction 0.
  CHECK(stratified_split(labels, 3, 0.0, 7).held_out.empty());
}

TEST_CASE("split: a fraction outside [0, 1) or a label outside the classes is refused") {
  const std::vector<int> labels{0, 1, 1, 0};
  CHECK_THROWS_WITH_AS(stratified_split(labels, 2, 1.0, 1), doctest::Contains("must be in [0, 1), got 1"),
                       vaegan::Error);
  CHECK_THROWS_WITH_AS(stratified_split(labels, 2, -0.1, 1), doctest::Contains("[0, 1)"), vaegan::Error);
  CHECK_THROWS_WITH_AS(stratified_split({0, 2}, 2, 0.5, 1), doctest::Contains("item 1 has class 2, outside [0, 2)"),
                       vaegan::Error);
}

TEST_CASE("split: split_dataset copies each image with its label into its part") {
  const Index n = 40;
  vaegan::Tensor<float> images(vaegan::Shape::matrix(n, 6));
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    labels[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i % 4);
    for (Index j = 0; j < 6; ++j) images(i, j) = static_cast<float>(i) + 0.125f * static_cast<float>(j);
  }
  const vaegan::ImageDataset<float> data(std::move(images), std::move(labels), vaegan::Shape{1, 2, 3});
  const vaegan::DatasetSplit<float> parts = vaegan::split_dataset(data, 0.2, 3);  // 2 of each class of 10
  CHECK(parts.kept.size() == 32);
  CHECK(parts.held_out.size() == 8);
  CHECK(parts.held_out.image_shape() == vaegan::Shape{1, 2, 3});
  for (const vaegan::ImageDataset<float>* part : {&parts.kept, &parts.held_out})
    for (Index k = 0; k < part->size(); ++k) {
      const Index source = static_cast<Index>(part->image(k)[0]);  // pixel 0 names the image
      CHECK(part->label(k) == source % 4);
      CHECK(part->image(k)[5] == static_cast<float>(source) + 0.625f);
    }
  // Too few images to hold any out is refused, naming the counts.
  const vaegan::ImageDataset<float> two(vaegan::Tensor<float>(vaegan::Shape::matrix(2, 6)), {0, 1},
                                        vaegan::Shape{1, 2, 3});
  CHECK_THROWS_WITH_AS(vaegan::split_dataset(two, 0.2, 1), doctest::Contains("leaves 2 to keep and 0 held out"),
                       vaegan::Error);
}

}  // namespace
