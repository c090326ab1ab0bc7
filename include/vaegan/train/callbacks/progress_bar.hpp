#pragma once
// ProgressBar: what fit() is doing, on the console. On a terminal, one line redrawn in
// place at most 5 times a second (step, epoch, a bar, the first losses, steps per second,
// ETA); when the output is not a terminal (a CI log, a file), a plain line every few
// seconds instead, so logs stay readable. After each epoch, "epoch N done: ..."; at the
// end, why fit() stopped. A statistic the step did not compute (NaN, e.g. the
// discriminator's during a warm-up) prints as "-", not "nan". Under mpirun only the first
// process prints.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "vaegan/train/fit.hpp"

namespace vaegan {

struct ProgressBarOptions {
  std::FILE* stream = stdout;
  double plain_interval_seconds = 5.0;  // between plain lines (not a terminal)
  int shown_stats = 5;                  // the first N statistics of the trainer
};

class ProgressBar {
 public:
  explicit ProgressBar(ProgressBarOptions options = {})
      : options_(options), terminal_(isatty(fileno(options.stream)) != 0) {}

  template <class Run>
  void on_fit_begin(Run& run) {
    writes_ = run.writes_output();
    first_step_ = run.first_step;
    total_steps_ = run.total_steps;
    epochs_ = run.options.epochs;
    start_ = Clock::now();
  }

  template <class Run>
  void on_step(Run&, const StepEvent& e) {
    if (!writes_) return;
    const auto now = Clock::now();
    const bool last = e.step >= total_steps_;
    if (!last &&
        std::chrono::duration<double>(now - last_print_).count() < (terminal_ ? 0.2 : options_.plain_interval_seconds))
      return;
    last_print_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(e.step - first_step_) / elapsed : 0.0;
    const double eta = rate > 0 ? static_cast<double>(total_steps_ - e.step) / rate : 0.0;
    std::string losses;
    for (int i = 0; i < e.stats.size() && i < options_.shown_stats; ++i)
      losses += " " + stat_text(e.stats.name(i), e.stats.value(i));
    char head[160];
    std::snprintf(head, sizeof head, "step %lld/%lld epoch %lld/%lld", static_cast<long long>(e.step),
                  static_cast<long long>(total_steps_), static_cast<long long>(e.epoch + 1),
                  static_cast<long long>(epochs_));
    char tail[96];
    std::snprintf(tail, sizeof tail, " | %.1f steps/s ETA %s", rate, format_duration(eta).c_str());
    if (terminal_) {
      const int width = 24;
      const int filled = total_steps_ > 0 ? static_cast<int>(width * e.step / total_steps_) : 0;
      std::string bar(static_cast<std::size_t>(std::max(0, std::min(width, filled))), '#');
      bar.resize(width, '.');
      std::fprintf(options_.stream, "\r%s [%s]%s%s\033[K", head, bar.c_str(), losses.c_str(), tail);
      line_open_ = true;
    } else {
      std::fprintf(options_.stream, "%s%s%s\n", head, losses.c_str(), tail);
    }
    std::fflush(options_.stream);
  }

  template <class Run>
  void on_epoch(Run&, const EpochEvent& e) {
    if (!writes_) return;
    end_line();
    std::fprintf(options_.stream, "epoch %lld done: %.1f s training, %lld steps\n", static_cast<long long>(e.epoch),
                 e.epoch_seconds, static_cast<long long>(e.step));
    std::fflush(options_.stream);
  }

  template <class Run>
  void on_fit_end(Run&, const FitEndEvent& e) {
    if (!writes_) return;
    end_line();
    if (e.reason != FitEnd::epochs_done)
      std::fprintf(options_.stream, "stopped at step %lld (%s)\n", static_cast<long long>(e.step),
                   fit_end_name(e.reason));
    std::fflush(options_.stream);
  }

  // "loss_d 1.435"; "loss_d -" for a statistic not computed (NaN).
  static std::string stat_text(const char* name, double value) {
    char buf[64];
    if (std::isnan(value)) std::snprintf(buf, sizeof buf, "%s -", name);
    else std::snprintf(buf, sizeof buf, "%s %.4g", name, value);
    return buf;
  }
  // "3m07s", "1h02m"; "?" for a negative or NaN duration.
  static std::string format_duration(double seconds) {
    if (!(seconds >= 0)) return "?";
    const long s = static_cast<long>(seconds + 0.5);
    char buf[32];
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
    else std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
    return buf;
  }

 private:
  using Clock = std::chrono::steady_clock;
  // Ends the in-place line (on a terminal) before other output.
  void end_line() {
    if (line_open_) std::fprintf(options_.stream, "\n");
    line_open_ = false;
  }

  ProgressBarOptions options_;
  bool terminal_;
  bool writes_ = true;
  bool line_open_ = false;
  std::int64_t first_step_ = 0, total_steps_ = 0, epochs_ = 0;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_print_{};
};

}  // namespace vaegan
