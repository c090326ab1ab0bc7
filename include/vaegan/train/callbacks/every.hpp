#pragma once
// Every: when a periodic callback acts, in epochs or in steps (never both), e.g.
// SampleGrid{"out", Every::epochs(1)} or Checkpoint{"ckpt.vgck", Every::steps(500)}.
#include <cstdint>
#include <string>

#include "vaegan/core/error.hpp"

namespace vaegan {

class Every {
 public:
  static Every epochs(std::int64_t n) { return Every(n, 0, "Every::epochs"); }
  static Every steps(std::int64_t n) { return Every(0, n, "Every::steps"); }
  // Only where a callback acts anyway (the end of fit(), for the callbacks that do).
  static Every never() { return Every(); }

  bool in_steps() const { return steps_ > 0; }
  bool in_epochs() const { return epochs_ > 0; }
  // Due after the step that completed `step` steps / the epoch that completed `epoch` epochs.
  bool due_at_step(std::int64_t step) const { return steps_ > 0 && step % steps_ == 0; }
  bool due_at_epoch(std::int64_t epoch) const { return epochs_ > 0 && epoch % epochs_ == 0; }
  std::string describe() const {
    if (steps_ > 0) return "every " + std::to_string(steps_) + " steps";
    if (epochs_ > 0) return "every " + std::to_string(epochs_) + " epochs";
    return "at the end only";
  }

 private:
  Every() = default;
  Every(std::int64_t epochs, std::int64_t steps, const char* who) : epochs_(epochs), steps_(steps) {
    if (epochs < 0 || steps < 0 || epochs + steps == 0)
      throw Error(std::string(who) + ": the period must be >= 1, got " + std::to_string(epochs + steps) +
                  " (Every::never() acts at the end only)");
  }
  std::int64_t epochs_ = 0;
  std::int64_t steps_ = 0;
};

}  // namespace vaegan
