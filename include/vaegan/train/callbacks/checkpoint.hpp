#pragma once
// Checkpoint: saves the training checkpoint (trainer and batch loop: everything a resume
// needs, train/checkpointing.hpp) at due points and once more when fit() ends, each save
// atomically replacing the file, so a crash or a full disk leaves the previous checkpoint
// whole. Every::steps saves mid-epoch too (the batch loop's position is saved with it).
// Under mpirun only the first process saves (every replica holds the same state).
//
//   fit(trainer, batches, options, Checkpoint{"out/checkpoint.vgck", Every::epochs(1)});
//   ... later, to continue:  load_training_checkpoint("out/checkpoint.vgck", trainer, &batches);
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

#include "vaegan/core/error.hpp"
#include "vaegan/train/callbacks/every.hpp"
#include "vaegan/train/checkpointing.hpp"
#include "vaegan/train/fit.hpp"

namespace vaegan {

class Checkpoint {
 public:
  explicit Checkpoint(std::string path, Every every = Every::epochs(1), bool save_at_end = true)
      : path_(std::move(path)), every_(every), save_at_end_(save_at_end) {}

  const std::string& path() const { return path_; }
  // The step of the last checkpoint this callback saved (-1: none yet).
  std::int64_t saved_step() const { return saved_step_; }

  template <class Run>
  void on_fit_begin(Run& run) {
    writes_ = run.writes_output();
    if (!writes_) return;
    std::error_code ec;
    if (std::filesystem::is_directory(path_, ec))
      throw IoError("Checkpoint: '" + path_ + "' is a folder; give the checkpoint a file name");
    const std::filesystem::path dir = std::filesystem::path(path_).parent_path();
    if (!dir.empty()) {
      std::filesystem::create_directories(dir, ec);
      if (ec)
        throw IoError("Checkpoint: cannot create the folder of '" + path_ + "': " + ec.message() +
                      "; pass a writable path");
    }
  }
  template <class Run>
  void on_step(Run& run, const StepEvent& e) {
    if (writes_ && every_.due_at_step(e.step)) save(run);
  }
  template <class Run>
  void on_epoch(Run& run, const EpochEvent& e) {
    if (writes_ && every_.due_at_epoch(e.epoch)) save(run);
  }
  template <class Run>
  void on_fit_end(Run& run, const FitEndEvent& e) {
    if (writes_ && save_at_end_ && saved_step_ != e.step) save(run);
  }

 private:
  template <class Run>
  void save(Run& run) {
    save_training_checkpoint(path_, run.trainer, &run.batches);
    saved_step_ = run.trainer.step();
  }

  std::string path_;
  Every every_;
  bool save_at_end_;
  bool writes_ = true;
  std::int64_t saved_step_ = -1;
};

}  // namespace vaegan
