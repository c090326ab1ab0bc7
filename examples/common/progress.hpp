#pragma once
// Training progress: on a terminal, one line redrawn in place (step, epoch, a bar, losses,
// steps per second, ETA); when output is not a terminal (CI logs, files), a plain line
// every few seconds instead, so logs stay readable. A statistic the step did not compute
// (NaN, e.g. the discriminator's during an adversarial warm-up) prints as "-", not "nan".
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include <vaegan/train/step_stats.hpp>

namespace progress {

class Reporter {
 public:
  Reporter(std::int64_t total_steps, double plain_interval_seconds = 5.0)
      : total_(total_steps), interval_(plain_interval_seconds), tty_(isatty(fileno(stdout)) != 0) {}

  // Called after every step; cheap when nothing is printed.
  void update(std::int64_t step, std::int64_t epoch, std::int64_t epochs, const vaegan::StepStats& stats,
              std::int64_t steps_this_run) {
    const auto now = Clock::now();
    const double since = std::chrono::duration<double>(now - last_print_).count();
    const bool last = step >= total_;
    if (!last && since < (tty_ ? 0.2 : interval_)) return;
    last_print_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(steps_this_run) / elapsed : 0.0;
    const double eta = rate > 0 ? static_cast<double>(total_ - step) / rate : 0.0;
    std::string losses;
    for (int i = 0; i < stats.size() && i < 5; ++i) losses += " " + stat_text(stats.name(i), stats.value(i));
    char head[160];
    std::snprintf(head, sizeof head, "step %lld/%lld epoch %lld/%lld", static_cast<long long>(step),
                  static_cast<long long>(total_), static_cast<long long>(epoch), static_cast<long long>(epochs));
    char tail[96];
    std::snprintf(tail, sizeof tail, " | %.1f steps/s ETA %s", rate, format_duration(eta).c_str());
    if (tty_) {
      const int width = 24;
      const int filled = total_ > 0 ? static_cast<int>(width * step / total_) : 0;
      std::string bar(static_cast<std::size_t>(filled), '#');
      bar.resize(width, '.');
      std::printf("\r%s [%s]%s%s\033[K", head, bar.c_str(), losses.c_str(), tail);
      if (last) std::printf("\n");
    } else {
      std::printf("%s%s%s\n", head, losses.c_str(), tail);
    }
    std::fflush(stdout);
  }
  // Ends the in-place line before other output.
  void newline() {
    if (tty_) std::printf("\n");
  }

  // "loss_d 1.435"; "loss_d -" for a statistic not computed (NaN).
  static std::string stat_text(const char* name, double value) {
    char buf[64];
    if (std::isnan(value)) std::snprintf(buf, sizeof buf, "%s -", name);
    else std::snprintf(buf, sizeof buf, "%s %.4g", name, value);
    return buf;
  }

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
  std::int64_t total_;
  double interval_;
  bool tty_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_print_{};
};

}  // namespace progress
