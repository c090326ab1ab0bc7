#pragma once
// MNIST by its canonical file names: find the IDX files of a split in a directory and load
// them. Any dataset stored under the same names in the same format (Fashion-MNIST, KMNIST,
// MNIST converted from another source) loads the same way.
//
//   auto train = vaegan::load_mnist<float>("data", "train");   // [60000, 784] in [0, 1]
#include <filesystem>
#include <string>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/data/dataset.hpp"
#include "vaegan/data/idx.hpp"

namespace vaegan {

// The file pair of one split.
struct MnistFiles {
  std::string images;
  std::string labels;
};

namespace detail {

// "train" -> "train"; "test" or "t10k" -> "t10k" (the canonical files' prefix).
inline std::string mnist_prefix(const std::string& split) {
  if (split == "train") return "train";
  if (split == "test" || split == "t10k") return "t10k";
  throw IoError("load_mnist: unknown split \"" + split + "\"; use \"train\" or \"test\" (also spelled \"t10k\")");
}

// The first of `name`, `name.gz` that exists in dir; appends both to `looked_for`.
inline std::string find_idx_file(const std::filesystem::path& dir, const std::string& name,
                                 std::vector<std::string>& looked_for) {
  for (const std::string& candidate : {name, name + ".gz"}) {
    const std::filesystem::path p = dir / candidate;
    looked_for.push_back(p.string());
    std::error_code ec;
    if (std::filesystem::is_regular_file(p, ec)) return p.string();
  }
  return {};
}

}  // namespace detail

// Locates the images and labels files of `split` ("train", "test" or "t10k") in `dir`,
// plain preferred over gzip. Throws IoError listing every name it tried when one is missing.
inline MnistFiles find_mnist_files(const std::string& dir, const std::string& split) {
  const std::string prefix = detail::mnist_prefix(split);
  std::vector<std::string> looked_for;
  MnistFiles files;
  files.images = detail::find_idx_file(dir, prefix + "-images-idx3-ubyte", looked_for);
  files.labels = detail::find_idx_file(dir, prefix + "-labels-idx1-ubyte", looked_for);
  if (files.images.empty() || files.labels.empty()) {
    std::string msg = "load_mnist: the " + split + " split is missing from " + dir + ": looked for";
    for (std::size_t i = 0; i < looked_for.size(); ++i) msg += (i ? ", " : " ") + looked_for[i];
    const char* found = files.images.empty() && files.labels.empty() ? "neither"
                        : files.images.empty()                       ? "no images file"
                                                                     : "no labels file";
    msg += " and found " + std::string(found) +
           "; pass the directory that holds the MNIST IDX files (train-images-idx3-ubyte, "
           "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each plain or .gz)";
    throw IoError(msg);
  }
  return files;
}

// Reads the IDX pair of a split, checking everything the IDX reader checks.
inline IdxPair read_mnist(const std::string& dir, const std::string& split) {
  const MnistFiles files = find_mnist_files(dir, split);
  return read_idx_pair(files.images, files.labels);
}

// Loads a split as a dataset of T in [0, 1]: [n, rows*cols] images plus labels.
template <class T>
ImageDataset<T> load_mnist(const std::string& dir, const std::string& split) {
  return ImageDataset<T>(read_mnist(dir, split));
}

}  // namespace vaegan
