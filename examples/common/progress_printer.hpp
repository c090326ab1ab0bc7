#pragma once
// ProgressPrinter: the terminal side of a training run. After each step, the progress
// line (progress::Reporter: step, epoch, losses, rate, ETA); at an epoch's start of output
// the end of that line; at its end, "epoch N done: ..." with where the samples went.
#include <cstdint>
#include <cstdio>
#include <string>

#include <vaegan/train/fit.hpp>

#include "progress.hpp"

namespace examples {

class ProgressPrinter {
 public:
  // `first_step`: the trainer's step when this run started (after a resume), for the rate.
  ProgressPrinter(std::int64_t total_steps, std::int64_t epochs, std::int64_t first_step)
      : reporter_(total_steps), epochs_(epochs), first_step_(first_step) {}

  void on_step(const vaegan::StepEvent& e) {
    reporter_.update(e.step, e.epoch + 1, epochs_, e.stats, e.step - first_step_);
  }
  // Ends the in-place progress line (on a terminal) before other output.
  void end_line() { reporter_.newline(); }
  // The one line that closes an epoch.
  void epoch_done(const vaegan::EpochEvent& e, const std::string& samples_file) {
    std::printf("epoch %lld done: %.1f s training, samples in %s\n", static_cast<long long>(e.epoch), e.epoch_seconds,
                samples_file.c_str());
    std::fflush(stdout);
  }

 private:
  progress::Reporter reporter_;
  std::int64_t epochs_;
  std::int64_t first_step_;
};

}  // namespace examples
