#pragma once
// OutputDir: the --out directory of a training run. create() makes it (with its parents)
// and proves it writable before any training time is spent; after a failure,
// remove_if_unused() removes the directories create() made, if nothing was written there.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <vaegan/vaegan.hpp>

#include "data.hpp"

namespace examples {

class OutputDir {
 public:
  explicit OutputDir(std::string dir) : dir_(std::move(dir)) {}

  const std::string& path() const { return dir_; }
  // DIR/name.
  std::string file(const std::string& name) const { return (std::filesystem::path(dir_) / name).string(); }
  // Makes the directory and proves it is writable; throws IoError naming the fix.
  void create() {
    created_ = missing_directories(dir_);
    std::error_code ec;
    if (std::filesystem::exists(dir_, ec) && !std::filesystem::is_directory(dir_, ec))
      throw vaegan::IoError("--out '" + dir_ + "' is a file, not a directory; pass a directory for --out");
    std::filesystem::create_directories(dir_, ec);
    if (ec)
      throw vaegan::IoError("cannot create the output directory '" + dir_ + "': " + ec.message() +
                            "; pass a writable --out");
    const std::string probe = file(".write-test");
    {
      std::ofstream f(probe);
      if (!f || !(f << "ok") || !(f.flush()))
        throw vaegan::IoError("the output directory '" + dir_ + "' is not writable; pass a writable --out");
    }
    std::filesystem::remove(probe, ec);
  }

  // After a failed run: removes the directories create() made, if they are still empty.
  void remove_if_unused() const { remove_if_empty(created_); }

 private:
  std::string dir_;
  std::vector<std::filesystem::path> created_;  // deepest first
};

}  // namespace examples
