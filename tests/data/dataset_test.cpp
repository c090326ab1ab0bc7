// Tests for data/dataset.hpp and data/mnist.hpp: pixel scaling, the seeded per-epoch
// shuffle, batch validation, checkpoint state, and finding MNIST files on disk.
#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "data/data_test_util.hpp"
#include "test_util.hpp"
#include "vaegan/data/dataset.hpp"
#include "vaegan/data/mnist.hpp"

using vaegan::Batches;
using vaegan::BatchOptions;
using vaegan::BatchState;
using vaegan::IdxImages;
using vaegan::IdxLabels;
using vaegan::ImageDataset;
using vaegan::Index;
using vaegan::IoError;
using vaegan::ShapeError;
using vaegan::Tensor;
using vaegan::test::TempDir;

namespace {

// n images of 2x2 whose first two pixels encode the image index (low byte, high byte), so
// a batch row tells which image it is. Label = index % 10.
IdxImages tagged_images(Index n) {
  IdxImages images;
  images.count = n;
  images.rows = 2;
  images.cols = 2;
  for (Index i = 0; i < n; ++i) {
    images.pixels.push_back(static_cast<std::uint8_t>(i & 255));
    images.pixels.push_back(static_cast<std::uint8_t>(i >> 8));
    images.pixels.push_back(255);
    images.pixels.push_back(0);
  }
  return images;
}

IdxLabels tagged_labels(Index n) {
  IdxLabels labels;
  for (Index i = 0; i < n; ++i) labels.labels.push_back(static_cast<std::uint8_t>(i % 10));
  return labels;
}

template <class T>
ImageDataset<T> tagged_dataset(Index n) {
  return ImageDataset<T>(tagged_images(n), tagged_labels(n));
}

// Which image a batch row holds (inverse of tagged_images).
template <class T>
Index image_id(const Tensor<T>& x, Index row) {
  const double lo = static_cast<double>(x(row, 0)) * 255.0, hi = static_cast<double>(x(row, 1)) * 255.0;
  return static_cast<Index>(std::lround(lo)) + 256 * static_cast<Index>(std::lround(hi));
}

// The image ids of the next `count` batches (epoch ends included as -1 markers).
template <class T>
std::vector<Index> take_ids(Batches<T>& batches, int count) {
  std::vector<Index> ids;
  Tensor<T> x;
  for (int b = 0; b < count; ++b) {
    if (!batches.next(x)) {
      ids.push_back(-1);
      continue;
    }
    for (Index r = 0; r < x.rows(); ++r) ids.push_back(image_id(x, r));
  }
  return ids;
}

}  // namespace

TEST_CASE_TEMPLATE("dataset: pixels are scaled to [0, 1] as p / 255", T, float, double) {
  IdxImages images;
  images.count = 2;
  images.rows = 1;
  images.cols = 4;
  images.pixels = {0, 1, 128, 255, 255, 254, 3, 0};
  const ImageDataset<T> data(images, IdxLabels{{4, 9}});
  REQUIRE(data.size() == 2);
  CHECK(data.image_shape() == vaegan::Shape{1, 1, 4});
  CHECK(data.image_size() == 4);
  CHECK(data.images().shape() == vaegan::Shape{2, 4});
  for (Index i = 0; i < 8; ++i) {
    const T v = data.images()[i];
    CHECK(v >= T(0));
    CHECK(v <= T(1));
    CHECK(v == static_cast<T>(images.pixels[static_cast<std::size_t>(i)]) / T(255));
  }
  CHECK(data.images()(0, 3) == T(1));  // 255 maps to exactly 1
  CHECK(data.images()(1, 3) == T(0));
  CHECK(data.label(1) == 9);
  CHECK(data.num_classes() == 10);
}

TEST_CASE("dataset: colour IDX images [count, C, rows, cols] keep their channels") {
  IdxImages images;  // 2 images of 3 channels of 1 x 2 pixels, channel planes in order
  images.count = 2;
  images.channels = 3;
  images.rows = 1;
  images.cols = 2;
  for (int i = 0; i < 12; ++i) images.pixels.push_back(static_cast<std::uint8_t>(20 * i));
  const ImageDataset<float> data(images, IdxLabels{{0, 1}});
  CHECK(data.image_shape() == vaegan::Shape{3, 1, 2});
  CHECK(data.image_size() == 6);
  CHECK(data.images()(1, 0) == 120.0f / 255.0f);  // image 1 starts at byte 6
  Tensor<float> batch;
  const Index order[] = {1, 0};
  data.gather(order, 2, batch);
  CHECK(batch.shape() == vaegan::Shape{2, 3, 1, 2});
  CHECK(batch[5] == 220.0f / 255.0f);
  // Bytes that do not fill count x C x rows x cols are refused, naming the image shape.
  images.pixels.pop_back();
  CHECK_THROWS_WITH_AS(ImageDataset<float>(images, IdxLabels{{0, 1}}), doctest::Contains("images of [3, 1, 2]"),
                       ShapeError);
}

TEST_CASE("dataset: construction checks counts and shapes") {
  CHECK_THROWS_WITH_AS(ImageDataset<float>(tagged_images(5), tagged_labels(4)),
                       doctest::Contains("5 images but 4 labels"), ShapeError);
  CHECK_THROWS_WITH_AS(ImageDataset<float>(Tensor<float>(vaegan::Shape{3, 10}), {1, 2, 3}, 28, 28),
                       doctest::Contains("[n, 784]"), ShapeError);
  CHECK_THROWS_WITH_AS(ImageDataset<float>(Tensor<float>(vaegan::Shape{3, 4}), {1, 2}, 2, 2),
                       doctest::Contains("3 images but 2 labels"), ShapeError);
  const ImageDataset<float> ok(Tensor<float>(vaegan::Shape{3, 4}, 0.5f), {0, 1, 2}, 2, 2);
  CHECK(ok.size() == 3);
}

TEST_CASE("dataset: batch_size is validated with the valid range in the message") {
  const auto data = tagged_dataset<float>(10);
  CHECK_THROWS_WITH_AS(data.batches({0, 1}), doctest::Contains("batch_size must be 1..10"), ShapeError);
  CHECK_THROWS_WITH_AS(data.batches({11, 1}), doctest::Contains("got 11"), ShapeError);
  CHECK_THROWS_WITH_AS(ImageDataset<float>().batches({1, 1}), doctest::Contains("dataset is empty"), ShapeError);
  CHECK_NOTHROW(data.batches({10, 1}));
}

TEST_CASE("dataset: an epoch visits every image exactly once, with matching labels") {
  const auto data = tagged_dataset<float>(103);
  for (const bool drop_last : {false, true}) {
    CAPTURE(drop_last);
    Batches<float> batches = data.batches({10, 42, drop_last});
    CHECK(batches.batches_per_epoch() == (drop_last ? 10 : 11));
    Tensor<float> x;
    std::vector<std::uint8_t> labels;
    std::vector<Index> seen;
    int count = 0;
    while (batches.next(x, &labels)) {
      ++count;
      REQUIRE(x.cols() == 4);
      REQUIRE(static_cast<Index>(labels.size()) == x.rows());
      CHECK(x.rows() == (count == 11 ? 3 : 10));
      for (Index r = 0; r < x.rows(); ++r) {
        const Index id = image_id(x, r);
        CHECK(labels[static_cast<std::size_t>(r)] == id % 10);
        seen.push_back(id);
      }
    }
    CHECK(count == batches.batches_per_epoch());
    CHECK(batches.epoch() == 1);
    std::set<Index> unique(seen.begin(), seen.end());
    CHECK(unique.size() == seen.size());
    CHECK(seen.size() == (drop_last ? 100u : 103u));
    CHECK(*unique.begin() >= 0);
    CHECK(*unique.rbegin() <= 102);
    // The images seen are the first positions of the epoch's order, and it is shuffled.
    CHECK_FALSE(std::is_sorted(seen.begin(), seen.end()));
  }
}

TEST_CASE("dataset: the shuffle is a deterministic function of the seed") {
  const auto data = tagged_dataset<double>(64);
  Batches<double> a = data.batches({8, 7}), b = data.batches({8, 7}), c = data.batches({8, 8});
  const std::vector<Index> ids_a = take_ids(a, 30), ids_b = take_ids(b, 30), ids_c = take_ids(c, 30);
  CHECK(ids_a == ids_b);
  CHECK(ids_a != ids_c);
  // Epochs differ from each other: the first two epochs' orders are not the same.
  const std::vector<Index> epoch0(ids_a.begin(), ids_a.begin() + 64), epoch1(ids_a.begin() + 65, ids_a.begin() + 129);
  CHECK(ids_a[64] == -1);
  CHECK(epoch0 != epoch1);
  // shuffle = false: file order every epoch.
  Batches<double> plain = data.batches({16, 7, true, false});
  const std::vector<Index> ids = take_ids(plain, 5);
  for (Index i = 0; i < 64; ++i) CHECK(ids[static_cast<std::size_t>(i)] == i);
}

TEST_CASE("dataset: Fisher-Yates gives every permutation equally often") {
  // 3 images, 6 orders; 6000 seeds: each order expected 1000 times. A biased shuffle (e.g.
  // swapping with any position instead of one at or below) skews this far past the bound.
  const auto data = tagged_dataset<float>(3);
  std::map<std::vector<Index>, int> counts;
  for (std::uint64_t seed = 0; seed < 6000; ++seed) {
    Batches<float> batches = data.batches({3, seed});
    ++counts[batches.order()];
  }
  CHECK(counts.size() == 6);
  double chi2 = 0.0;
  for (const auto& [order, n] : counts) chi2 += (n - 1000.0) * (n - 1000.0) / 1000.0;
  CHECK(chi2 < 25.0);  // 5 degrees of freedom: P(chi2 > 25) < 2e-4
}

TEST_CASE("dataset: saved state resumes with exactly the same batches") {
  const auto data = tagged_dataset<float>(50);
  for (const int before : {0, 3, 6, 7, 13}) {
    CAPTURE(before);
    Batches<float> run = data.batches({7, 99, false});
    take_ids(run, before);
    const BatchState saved = run.state();
    const std::vector<Index> expected = take_ids(run, 20);

    Batches<float> resumed = data.batches({7, 12345, false});  // another seed: the state carries it
    take_ids(resumed, 2);
    resumed.set_state(saved);
    CHECK(resumed.state() == saved);
    CHECK(take_ids(resumed, 20) == expected);
  }
}

TEST_CASE("dataset: state restore rejects a state from another dataset") {
  const auto small = tagged_dataset<float>(20), big = tagged_dataset<float>(30);
  Batches<float> a = small.batches({5, 1});
  Batches<float> b = big.batches({5, 1});
  CHECK_THROWS_WITH_AS(b.set_state(a.state()), doctest::Contains("dataset of 20 images but this one has 30"),
                       ShapeError);
  BatchState bad = b.state();
  bad.cursor = 31;
  CHECK_THROWS_WITH_AS(b.set_state(bad), doctest::Contains("cursor 31 out of range"), ShapeError);
}

TEST_CASE("dataset: batches reuse the caller's buffers after the first") {
  const auto data = tagged_dataset<float>(40);
  Batches<float> batches = data.batches({8, 3, false});
  Tensor<float> x;
  std::vector<std::uint8_t> labels;
  REQUIRE(batches.next(x, &labels));
  const float* storage = x.data();
  const std::uint8_t* label_storage = labels.data();
  for (int step = 0; step < 20; ++step) {
    if (!batches.next(x, &labels)) continue;
    CHECK(x.data() == storage);
    CHECK(labels.data() == label_storage);
  }
}

TEST_CASE("mnist: load_mnist finds plain and gzip files by their canonical names") {
  TempDir dir;
  vaegan::write_idx_images(dir.file("train-images-idx3-ubyte"), tagged_images(12));
  vaegan::write_idx_labels(dir.file("train-labels-idx1-ubyte.gz"), tagged_labels(12));
  vaegan::write_idx_images(dir.file("t10k-images-idx3-ubyte.gz"), tagged_images(5));
  vaegan::write_idx_labels(dir.file("t10k-labels-idx1-ubyte"), tagged_labels(5));
  const std::string root = dir.path().string();

  const auto train = vaegan::load_mnist<float>(root, "train");
  CHECK(train.size() == 12);
  CHECK(train.image_shape() == vaegan::Shape{1, 2, 2});
  CHECK(vaegan::load_mnist<double>(root, "test").size() == 5);
  CHECK(vaegan::load_mnist<float>(root, "t10k").label(3) == 3);
  CHECK(vaegan::find_mnist_files(root, "train").labels == dir.file("train-labels-idx1-ubyte.gz"));
}

TEST_CASE("mnist: a missing split lists the names tried and points to the script") {
  TempDir dir;
  const std::string root = dir.path().string();
  std::string msg;
  try {
    vaegan::load_mnist<float>(root, "train");
  } catch (const IoError& e) {
    msg = e.what();
  }
  for (const char* name : {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte",
                           "train-labels-idx1-ubyte.gz"})
    CHECK_MESSAGE(msg.find(dir.file(name)) != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("found neither") != std::string::npos, msg);
  CHECK_MESSAGE(
      msg.find("pass the directory that holds the MNIST IDX files (train-images-idx3-ubyte, ") != std::string::npos,
      msg);
  CHECK_MESSAGE(msg.find("get_mnist") == std::string::npos, msg);

  vaegan::write_idx_images(dir.file("t10k-images-idx3-ubyte"), tagged_images(3));
  CHECK_THROWS_WITH_AS(vaegan::load_mnist<float>(root, "test"), doctest::Contains("found no labels file"), IoError);
  CHECK_THROWS_WITH_AS(vaegan::load_mnist<float>(root, "validation"), doctest::Contains("use \"train\" or \"test\""),
                       IoError);
}

TEST_CASE("dataset: sharded batches are the whole batch's rows, split evenly, in the same order and state") {
  const auto data = tagged_dataset<float>(103);
  Batches<float> whole = data.batches({12, 42});
  std::vector<Batches<float>> shards;
  for (int i = 0; i < 3; ++i) {
    BatchOptions o{12, 42};
    o.shard_index = i;
    o.shard_count = 3;
    shards.push_back(data.batches(o));
  }
  Tensor<float> x, part;
  for (int step = 0; step < 2 * whole.batches_per_epoch() + 1; ++step) {
    CAPTURE(step);
    const bool more = whole.next(x);
    for (int i = 0; i < 3; ++i) {
      REQUIRE(shards[static_cast<std::size_t>(i)].next(part) == more);
      if (!more) continue;
      REQUIRE(part.rows() == 4);
      for (Index r = 0; r < 4; ++r) CHECK(image_id(part, r) == image_id(x, 4 * i + r));
      CHECK(shards[static_cast<std::size_t>(i)].state() == whole.state());
    }
  }
  BatchOptions uneven{10, 42};
  uneven.shard_count = 3;
  CHECK_THROWS_WITH_AS(data.batches(uneven), doctest::Contains("a batch of 10 cannot be split into 3 equal shards"),
                       ShapeError);
  BatchOptions keep_last{12, 42, false};
  keep_last.shard_count = 3;
  CHECK_THROWS_WITH_AS(data.batches(keep_last), doctest::Contains("and drop_last"), ShapeError);
  BatchOptions outside{12, 42};
  outside.shard_index = 3;
  outside.shard_count = 3;
  CHECK_THROWS_WITH_AS(data.batches(outside), doctest::Contains("shard 3 of 3 does not exist"), ShapeError);
}
