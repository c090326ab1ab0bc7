#pragma once
// CheckpointSaver: the training checkpoint of a run (--checkpoint, default
// OUT/checkpoint.vgck). It checks the path before training, resumes from it, hands fit()
// the library's Checkpoint callback that saves it every --checkpoint-every epochs and at
// the end (each save atomically replaces the file), and after a failure says which
// checkpoint is kept.
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>
#include <utility>

#include <vaegan/vaegan.hpp>

#include "data.hpp"

namespace examples {

class CheckpointSaver {
 public:
  // `every`: save at the end of every N-th epoch (0: only at the end of the run).
  CheckpointSaver(std::string path, std::int64_t every)
      : path_(std::move(path)), callback_(path_, every > 0 ? vaegan::Every::epochs(every) : vaegan::Every::never()) {}

  // --checkpoint if given, else OUT/checkpoint.vgck.
  static std::string path_for(const std::string& checkpoint_flag, const std::string& out) {
    return checkpoint_flag.empty() ? (std::filesystem::path(out) / "checkpoint.vgck").string() : checkpoint_flag;
  }

  const std::string& path() const { return path_; }

  // Checks before training. A usage error: the path names a directory.
  bool path_is_directory() const {
    std::error_code ec;
    return std::filesystem::is_directory(path_, ec);
  }
  // For --resume: the file must exist.
  void require_existing() const {
    if (!std::filesystem::exists(path_))
      throw vaegan::IoError("--resume: no checkpoint at '" + path_ + "'; train without --resume first");
  }
  // Its directory must exist (the output directory is made before this check).
  void require_directory() const {
    const std::filesystem::path dir = std::filesystem::path(path_).parent_path();
    std::error_code ec;
    if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
      throw vaegan::IoError("the directory of --checkpoint '" + path_ +
                            "' does not exist; create it or pass another --checkpoint");
  }
  // Removes the temporary files that saves interrupted by a signal left next to it.
  void remove_stale_temporaries(const char* program) const {
    if (const int stale = examples::remove_stale_temporaries(path_); stale > 0)
      std::cout << program << ": removed " << stale << " temporary file(s) of interrupted checkpoint saves next to "
                << path_ << "\n";
  }

  template <class Trainer, class T>
  void resume(const char* program, Trainer& trainer, vaegan::Batches<T>& batches) {
    vaegan::load_training_checkpoint(path_, trainer, &batches);
    saved_step_ = trainer.step();
    std::cout << program << ": resumed from '" << path_ << "' at step " << trainer.step() << ", epoch "
              << trainer.epoch() << "\n";
  }

  // The callback that saves during fit() and at its end.
  vaegan::Checkpoint& callback() { return callback_; }

  // For the message of a failed run: which checkpoint on disk is left as it was.
  std::string kept_message() const {
    const std::int64_t saved_step = callback_.saved_step() >= 0 ? callback_.saved_step() : saved_step_;
    if (saved_step >= 0)
      return "the checkpoint " + path_ + " (step " + std::to_string(saved_step) + ") is kept unchanged";
    std::error_code ec;
    if (std::filesystem::exists(path_, ec)) return "the file " + path_ + " is kept unchanged";
    return "no checkpoint was saved (--checkpoint-every sets how often)";
  }

 private:
  std::string path_;
  vaegan::Checkpoint callback_;
  std::int64_t saved_step_ = -1;  // the step of the checkpoint this run resumed from (-1: none)
};

}  // namespace examples
