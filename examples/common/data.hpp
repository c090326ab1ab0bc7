#pragma once
// Loading the training data for the examples, with errors that say what to do; cleaning
// up the output directories a failed run created and the temporary files of saves that a
// signal interrupted.
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <vaegan/vaegan.hpp>

#include "dataset_flag.hpp"

#if !defined(_WIN32)
#include <signal.h>
#include <sys/types.h>
#endif

namespace examples {

// Loads a split of the IDX data set in --data `dir` (`dataset` names it in messages).
// Errors name the file and the problem; where the reader gave no fix, the fix is added.
template <class T>
vaegan::ImageDataset<T> load_split(const std::string& dir, const char* split,
                                   const DatasetChoice& dataset = known_datasets().front()) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec))
    throw vaegan::IoError("--data '" + dir + "' does not exist (looking for " + dataset.title + "); " +
                          dataset.fix_for(dir));
  if (!std::filesystem::is_directory(dir, ec))
    throw vaegan::IoError("--data '" + dir +
                          "' is a file, not a directory; pass --data with the directory that holds " + "the " +
                          dataset.title + " IDX files");
  try {
    return vaegan::load_mnist<T>(dir, split);
  } catch (const vaegan::IoError& e) {
    // The library says what is wrong; the program adds how to get this data set.
    throw vaegan::IoError(std::string(e.what()) + "; --data needs " + dataset.title +
                          "'s IDX files: " + dataset.fix_for(dir));
  }
}

// Loads split "train" or "test" of the --dataset the flags chose: an IDX set from its
// directory, or an image folder's seeded split.
template <class T>
vaegan::ImageDataset<T> load_split(const DatasetFlags& source, const char* split) {
  if (source.is_folder()) return vaegan::load_image_folder<T>(source.data, split, source.folder_options());
  return load_split<T>(source.data, split, source.choice);
}

// "28x28" for a square image of `pixels` pixels, else "N pixels".
inline std::string image_size_text(vaegan::Index pixels) {
  vaegan::Index side = 1;
  while (side * side < pixels) ++side;
  return side * side == pixels ? std::to_string(side) + "x" + std::to_string(side) : std::to_string(pixels) + " pixels";
}

// "28x28" for a one-channel image shape [1, H, W], "3x32x32" for [C, H, W], else the
// shape's dims ("[784]").
inline std::string image_shape_text(const vaegan::Shape& shape) {
  if (shape.rank() == 3) {
    const std::string hw = std::to_string(shape[1]) + "x" + std::to_string(shape[2]);
    return shape[0] == 1 ? hw : std::to_string(shape[0]) + "x" + hw;
  }
  return shape.str();
}

// The directories that creating `dir` makes, deepest first (empty if it exists).
inline std::vector<std::filesystem::path> missing_directories(const std::string& dir) {
  std::vector<std::filesystem::path> missing;
  std::error_code ec;
  for (std::filesystem::path p = std::filesystem::absolute(dir, ec).lexically_normal();
       !p.empty() && !std::filesystem::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  return missing;
}

// Removes the directories a failed run created, if they are still empty.
inline void remove_if_empty(const std::vector<std::filesystem::path>& created) {
  for (const auto& dir : created) {
    std::error_code ec;
    if (std::filesystem::is_directory(dir, ec) && std::filesystem::is_empty(dir, ec)) std::filesystem::remove(dir, ec);
  }
}

// Removes "<path>.tmp.<pid>.<n>" files that a save of `path` left behind when a signal
// (SIGKILL, or Ctrl-C) ended its process mid-write (AtomicFile cannot clean up then). Only
// files of processes that no longer run are removed: a live writer may own the others.
// Returns how many were removed. POSIX only; elsewhere it removes nothing.
inline int remove_stale_temporaries(const std::string& path) {
  int removed = 0;
#if !defined(_WIN32)
  const std::filesystem::path target(path);
  const std::filesystem::path dir = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    // The rest is "<pid>.<n>", both decimal.
    const std::string rest = name.substr(prefix.size());
    const std::size_t dot = rest.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == rest.size() ||
        rest.find_first_not_of("0123456789.") != std::string::npos || rest.find('.', dot + 1) != std::string::npos)
      continue;
    const long pid = std::strtol(rest.substr(0, dot).c_str(), nullptr, 10);
    if (pid <= 0 || !(::kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH)) continue;  // alive (or unknown)
    std::error_code remove_ec;
    if (std::filesystem::remove(it->path(), remove_ec)) ++removed;
  }
#else
  (void)path;
#endif
  return removed;
}

}  // namespace examples
