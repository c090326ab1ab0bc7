#pragma once
// ImageDataset<T>: images of one sample shape [C, H, W] with values of T in [0, 1], plus a
// label per image; batches come as [N, C, H, W]. Batches<T>: the
// shuffled mini-batch loop over one, with state that a checkpoint can save and restore.
//
// Shuffling: the order of epoch e is a Fisher-Yates shuffle of 0..n-1 driven by an Rng
// seeded from (seed, e) alone (see epoch_seed). Any epoch's order is therefore a pure
// function of the seed, so the whole loader state is four integers (seed, epoch, cursor,
// dataset size) and a resumed run sees exactly the batches an uninterrupted one would.
// Changing epoch_seed changes every shuffled order: treat it as part of the format.
//
// Steady state allocates nothing: next() resizes the caller's batch tensor and label
// vector within their capacity, which is reached after the first full batch.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/core/tensor.hpp"
#include "vaegan/data/idx.hpp"

namespace vaegan {

// How to walk a dataset in mini-batches.
struct BatchOptions {
  Index batch_size = 64;
  std::uint64_t seed = 0x5eed;
  bool drop_last = true;  // skip the final partial batch of an epoch
  bool shuffle = true;    // false: images in file order every epoch
  // Data-parallel training: this process takes shard `shard_index` of `shard_count` equal
  // shards of every batch, rows [i*b, (i+1)*b) with b = batch_size / shard_count. The
  // order, the epochs and the saved state are those of the whole batch, so they do not
  // depend on the number of shards. Needs drop_last and batch_size divisible by the count.
  int shard_index = 0;
  int shard_count = 1;
};

template <class T>
class Batches;

template <class T>
class ImageDataset {
 public:
  ImageDataset() = default;

  // From IDX data, grey [count, rows, cols] or with channels [count, C, rows, cols]
  // (IdxImageDims::with_channels): pixel p becomes p / 255. Counts of images and labels
  // must agree.
  ImageDataset(const IdxImages& images, const IdxLabels& labels)
      : shape_{std::max<Index>(images.channels, 0), std::max<Index>(images.rows, 0), std::max<Index>(images.cols, 0)} {
    if (images.count != labels.count())
      throw ShapeError("ImageDataset: " + std::to_string(images.count) + " images but " +
                       std::to_string(labels.count()) + " labels; they must come from the same split");
    if (static_cast<Index>(images.pixels.size()) != images.count * images.values_per_image())
      throw ShapeError("ImageDataset: " + std::to_string(images.pixels.size()) + " pixel bytes for " +
                       std::to_string(images.count) + " images of " + shape_.str());
    images_.resize(Shape{images.count, images.values_per_image()});
    const std::uint8_t* src = images.pixels.data();
    T* dst = images_.data();
    // p * (1/255) and p / 255 can differ in the last bit; divide so that 255 maps to exactly 1.
    for (Index i = 0; i < images_.numel(); ++i) dst[i] = static_cast<T>(src[i]) / T(255);
    labels_ = labels.labels;
  }
  explicit ImageDataset(const IdxPair& pair) : ImageDataset(pair.images, pair.labels) {}

  // From images already scaled: `images` is [n, C*H*W] (or [n, C, H, W]) for the sample
  // shape `image` = [C, H, W]; `labels` has n entries.
  ImageDataset(Tensor<T> images, std::vector<std::uint8_t> labels, const Shape& image)
      : images_(std::move(images)), labels_(std::move(labels)), shape_(image) {
    if (image.rank() != 3 || image.numel() < 1 || images_.shape().rank() < 2 || images_.cols() != image.numel())
      throw ShapeError("ImageDataset: images of shape " + image.str() +
                       " (an image shape is [C, H, W]) must come as [n, " + std::to_string(image.numel()) + "], got " +
                       images_.shape().str());
    images_.reshape(Shape{images_.rows(), image.numel()});
    if (static_cast<Index>(labels_.size()) != images_.rows())
      throw ShapeError("ImageDataset: " + std::to_string(images_.rows()) + " images but " +
                       std::to_string(labels_.size()) + " labels");
  }
  // Grey images of rows x cols.
  ImageDataset(Tensor<T> images, std::vector<std::uint8_t> labels, Index rows, Index cols)
      : ImageDataset(std::move(images), std::move(labels),
                     Shape{1, std::max<Index>(rows, 0), std::max<Index>(cols, 0)}) {}

  Index size() const { return static_cast<Index>(labels_.size()); }
  bool empty() const { return labels_.empty(); }
  // [C, H, W] of one image.
  const Shape& image_shape() const { return shape_; }
  // Values per image.
  Index image_size() const { return shape_.numel(); }
  // Largest label + 1 (0 when empty).
  int num_classes() const {
    int m = -1;
    for (std::uint8_t l : labels_) m = l > m ? l : m;
    return m + 1;
  }

  // All images, [size, C*H*W], values in [0, 1].
  const Tensor<T>& images() const { return images_; }
  const std::vector<std::uint8_t>& labels() const { return labels_; }
  const T* image(Index i) const { return images_.data() + i * image_size(); }
  std::uint8_t label(Index i) const { return labels_[static_cast<std::size_t>(i)]; }

  // The mini-batch loop over this dataset, which must outlive it.
  Batches<T> batches(const BatchOptions& options) const;

  // Copies the images at `indices[0..count)` into out [count, C, H, W] (and their labels
  // into *labels_out when given). Reuses the capacity of both.
  void gather(const Index* indices, Index count, Tensor<T>& out,
              std::vector<std::uint8_t>* labels_out = nullptr) const {
    const Index d = image_size();
    out.resize(Shape{count, shape_[0], shape_[1], shape_[2]});
    if (labels_out) labels_out->resize(static_cast<std::size_t>(count));
    for (Index b = 0; b < count; ++b) {
      const Index i = indices[b];
      if (i < 0 || i >= size())
        throw ShapeError("ImageDataset::gather: index " + std::to_string(i) + " outside [0, " + std::to_string(size()) +
                         ")");
      std::memcpy(out.data() + b * d, image(i), sizeof(T) * static_cast<std::size_t>(d));
      if (labels_out) (*labels_out)[static_cast<std::size_t>(b)] = label(i);
    }
  }

 private:
  Tensor<T> images_;
  std::vector<std::uint8_t> labels_;
  Shape shape_{1, 1, 1};
};

// Where a Batches loop stands. Plain integers: a checkpoint stores them as they are.
struct BatchState {
  std::uint64_t seed = 0;
  Index epoch = 0;         // epochs completed
  Index cursor = 0;        // images of the current epoch already handed out
  Index dataset_size = 0;  // checked on restore: a state only fits the dataset it came from
  bool operator==(const BatchState& o) const {
    return seed == o.seed && epoch == o.epoch && cursor == o.cursor && dataset_size == o.dataset_size;
  }
  bool operator!=(const BatchState& o) const { return !(*this == o); }
};

// The mini-batch loop over an ImageDataset, which must outlive it.
//
//   Batches<float> batches = data.batches({64, seed});
//   Tensor<float> x;
//   for (int e = 0; e < epochs; ++e)
//     while (batches.next(x)) step(x);   // next() returns false once per epoch, at its end
template <class T>
class Batches {
 public:
  Batches(const ImageDataset<T>& data, const BatchOptions& options) : data_(&data), options_(options) {
    const Index n = data.size();
    if (n < 1) throw ShapeError("Batches: the dataset is empty; load some images first");
    if (options.batch_size < 1 || options.batch_size > n)
      throw ShapeError("Batches: batch_size must be 1.." + std::to_string(n) + " (the dataset size), got " +
                       std::to_string(options.batch_size));
    if (options.shard_count < 1 || options.shard_index < 0 || options.shard_index >= options.shard_count)
      throw ShapeError("Batches: shard " + std::to_string(options.shard_index) + " of " +
                       std::to_string(options.shard_count) + " does not exist");
    if (options.shard_count > 1 && (!options.drop_last || options.batch_size % options.shard_count != 0))
      throw ShapeError("Batches: a batch of " + std::to_string(options.batch_size) + " cannot be split into " +
                       std::to_string(options.shard_count) +
                       " equal shards; use a batch size divisible by the number of processes" +
                       (options.drop_last ? "" : " and drop_last"));
    state_.seed = options.seed;
    state_.dataset_size = n;
    order_.resize(static_cast<std::size_t>(n));
    build_order();
  }

  // Fills x [batch, C, H, W] (and *labels when given) with the next batch of the epoch
  // (this shard's rows of it when sharded) and returns true; at the end of the epoch returns
  // false, leaves x alone and moves on to the next epoch's order. The last batch is smaller than batch_size unless
  // drop_last.
  bool next(Tensor<T>& x, std::vector<std::uint8_t>* labels = nullptr) {
    const Index n = state_.dataset_size;
    const Index left = n - state_.cursor;
    const Index take = left >= options_.batch_size ? options_.batch_size : (options_.drop_last ? 0 : left);
    if (take == 0) {
      ++state_.epoch;
      state_.cursor = 0;
      build_order();
      return false;
    }
    const Index shard = take / options_.shard_count;  // take is the whole batch when sharded (drop_last)
    data_->gather(order_.data() + state_.cursor + shard * options_.shard_index, shard, x, labels);
    state_.cursor += take;
    return true;
  }

  // Batches one epoch yields.
  Index batches_per_epoch() const {
    const Index n = state_.dataset_size, b = options_.batch_size;
    return options_.drop_last ? n / b : (n + b - 1) / b;
  }
  Index epoch() const { return state_.epoch; }
  Index cursor() const { return state_.cursor; }
  const BatchOptions& options() const { return options_; }
  // The current epoch's order: position k of the epoch is image order()[k].
  const std::vector<Index>& order() const { return order_; }

  BatchState state() const { return state_; }
  // Resumes from a saved state; the next batch is the one that followed it when saved.
  void set_state(const BatchState& s) {
    if (s.dataset_size != data_->size())
      throw ShapeError("Batches::set_state: the state was saved on a dataset of " + std::to_string(s.dataset_size) +
                       " images but this one has " + std::to_string(data_->size()) + "; load the same data");
    if (s.epoch < 0 || s.cursor < 0 || s.cursor > s.dataset_size)
      throw ShapeError("Batches::set_state: epoch " + std::to_string(s.epoch) + " / cursor " +
                       std::to_string(s.cursor) + " out of range for " + std::to_string(s.dataset_size) + " images");
    const bool reorder = s.seed != state_.seed || s.epoch != state_.epoch;
    state_ = s;
    options_.seed = s.seed;
    if (reorder) build_order();
  }

  // The Rng seed of epoch e's shuffle: distinct epochs give distinct, decorrelated streams
  // (Rng passes the seed through splitmix64).
  static std::uint64_t epoch_seed(std::uint64_t seed, Index epoch) {
    return seed ^ (0x9e3779b97f4a7c15ULL * (static_cast<std::uint64_t>(epoch) + 1));
  }

 private:
  void build_order() {
    const Index n = state_.dataset_size;
    for (Index i = 0; i < n; ++i) order_[static_cast<std::size_t>(i)] = i;
    if (!options_.shuffle) return;
    // Fisher-Yates: swap each position with a uniformly chosen one at or below it.
    Rng rng(epoch_seed(state_.seed, state_.epoch));
    for (Index i = n - 1; i > 0; --i) {
      const auto j = static_cast<Index>(rng.uniform_int(static_cast<std::uint64_t>(i) + 1));
      std::swap(order_[static_cast<std::size_t>(i)], order_[static_cast<std::size_t>(j)]);
    }
  }

  const ImageDataset<T>* data_;
  BatchOptions options_;
  BatchState state_;
  std::vector<Index> order_;
};

template <class T>
Batches<T> ImageDataset<T>::batches(const BatchOptions& options) const {
  return Batches<T>(*this, options);
}

}  // namespace vaegan
