#pragma once
// ThreadGovernor: fewer threads while another program takes this machine's cores, all of
// them again once it stops.
//
// Why: a step splits its GEMMs into one panel per thread and waits for the last panel.
// When a busy process shares a core with one of our threads, the kernel runs that thread
// for only part of the time, and every parallel region of the step waits for it: on the
// 2-vCPU VM a 2-thread mlp VAE-GAN step at batch 64 went from 7.8 to 16.2 ms median with a
// 156 ms 99th percentile beside one busy process, while 1 thread ran at its quiet speed
// on the core the busy process left (docs/performance.md, "Threads under contention").
//
// How: Linux counts, per thread, the nanoseconds it ran and the nanoseconds it waited in a
// run queue, ready to run (/proc/self/task/*/schedstat). Over each window of about
// kWindowSeconds of steps the governor compares the two, summed over the process's
// threads: a share of waiting above kContended means our threads want cores they do not
// get. It then drops to one thread, which the kernel can place on whichever core is free,
// and after a back-off (1 s, doubling to 16 s while the machine stays busy) tries all
// threads again for a short window (kProbeSeconds, at least one step), keeping them if the
// wait is gone: a probe on a busy machine costs a step or two at the contended speed. Idle threads that sleep
// do not wait in a run queue, and our own threads waiting for each other spin (run time),
// so neither reads as contention.
//
// Results do not change: the library's results are the same bits at 1 and 2 threads
// (docs/determinism.md). Without /proc (not Linux, or no schedstat) it does nothing.
#include <dirent.h>
#include <chrono>
#include <cstdint>
#include <cstdio>

#include <functional>
#include <utility>

#include "vaegan/core/parallel.hpp"

namespace vaegan {

class ThreadGovernor {
 public:
  static constexpr double kWindowSeconds = 0.25;
  static constexpr double kProbeSeconds = 0.02;  // a probe's window: its slow steps are kept few
  static constexpr double kContended = 0.15;     // share of wanted CPU time spent waiting
  static constexpr double kFirstBackoffSeconds = 1.0;
  static constexpr double kMaxBackoffSeconds = 16.0;

  // Where the governor reads run and run-queue wait nanoseconds, and the time: the
  // process's schedstat and the steady clock, or a test's script.
  using Source = std::function<bool(std::uint64_t& run_ns, std::uint64_t& wait_ns)>;
  using Clock = std::function<double()>;

  // Governs the library's thread count between 1 and `max_threads` (the count asked for).
  explicit ThreadGovernor(int max_threads) : ThreadGovernor(max_threads, read_totals, steady_seconds) {}
  ThreadGovernor(int max_threads, Source source, Clock clock)
      : max_threads_(max_threads < 1 ? 1 : max_threads), source_(std::move(source)), clock_(std::move(clock)) {
    available_ = max_threads_ > 1 && source_(run_ns_, wait_ns_);
    set_num_threads(max_threads_);
    window_start_ = clock_();
  }

  // After every step (or any unit of work): ends a window once enough time has passed.
  void after_step() {
    if (!available_) return;
    const double t = clock_();
    if (t - window_start_ < (probing_ ? kProbeSeconds : kWindowSeconds)) return;
    std::uint64_t run = 0, wait = 0;
    if (!source_(run, wait)) {
      available_ = false;
      set_num_threads(max_threads_);
      return;
    }
    const double d_run = static_cast<double>(run - run_ns_), d_wait = static_cast<double>(wait - wait_ns_);
    run_ns_ = run;
    wait_ns_ = wait;
    window_start_ = t;
    const bool contended = d_run + d_wait > 0 && d_wait / (d_run + d_wait) > kContended;
    last_wait_share_ = d_run + d_wait > 0 ? d_wait / (d_run + d_wait) : 0.0;
    if (num_threads() > 1) {
      if (!contended) {
        if (probing_) backoff_ = kFirstBackoffSeconds;  // the probe found the cores free
        probing_ = false;
        return;
      }
      if (probing_) backoff_ = backoff_ * 2 < kMaxBackoffSeconds ? backoff_ * 2 : kMaxBackoffSeconds;
      probing_ = false;
      set_num_threads(1);
      ++reductions_;
      probe_at_ = t + backoff_;
    } else if (t >= probe_at_) {
      probing_ = true;
      set_num_threads(max_threads_);
    }
  }

  // Leaves the thread count it was given.
  ~ThreadGovernor() { set_num_threads(max_threads_); }
  ThreadGovernor(const ThreadGovernor&) = delete;
  ThreadGovernor& operator=(const ThreadGovernor&) = delete;

  int threads() const { return num_threads(); }
  // How often it dropped to one thread, and the last window's share of waiting (tests, logs).
  int reductions() const { return reductions_; }
  double last_wait_share() const { return last_wait_share_; }
  bool active() const { return available_; }

 private:
  static double steady_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  // Run and run-queue wait nanoseconds summed over this process's threads.
  static bool read_totals(std::uint64_t& run, std::uint64_t& wait) {
    DIR* dir = opendir("/proc/self/task");
    if (dir == nullptr) return false;
    run = wait = 0;
    bool any = false;
    char path[64];  // no heap: fit() calls this between steps
    while (const dirent* e = readdir(dir)) {
      if (e->d_name[0] == '.') continue;
      std::snprintf(path, sizeof path, "/proc/self/task/%.20s/schedstat", e->d_name);
      if (std::FILE* f = std::fopen(path, "r")) {
        unsigned long long r = 0, w = 0;
        if (std::fscanf(f, "%llu %llu", &r, &w) == 2) {
          run += r;
          wait += w;
          any = true;
        }
        std::fclose(f);
      }
    }
    closedir(dir);
    return any;
  }

  int max_threads_;
  Source source_;
  Clock clock_;
  bool available_ = false;
  bool probing_ = false;
  double window_start_ = 0, probe_at_ = 0, backoff_ = kFirstBackoffSeconds;
  std::uint64_t run_ns_ = 0, wait_ns_ = 0;
  int reductions_ = 0;
  double last_wait_share_ = 0;
};

}  // namespace vaegan
