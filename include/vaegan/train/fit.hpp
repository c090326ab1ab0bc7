#pragma once
// fit(): the epoch loop shared by every trainer. It walks a Batches loop, calls the
// trainer's train_step, and tells its callbacks what happened, so a program gets logs,
// plots, samples, checkpoints and a report without writing its own loop:
//
//   fit(trainer, batches, options, ProgressBar{}, LossLog{"out"}, SampleGrid{"out"},
//       Checkpoint{"out/checkpoint.vgck"}, TrainingReport{"out"});
//
// A callback is any object with some of these members (each optional, found at compile
// time, as ensmallen's callbacks are); `run` is the FitRun below (trainer, batches, plan):
//   on_fit_begin(run)             before the first step
//   on_step(run, StepEvent)       after every step;  returns void, or bool: false = stop
//   on_epoch(run, EpochEvent)     after every epoch; returns void, or bool: false = stop
//   on_fit_end(run, FitEndEvent)  once, however fit() ends (not when a step throws)
// Callbacks run in the order given, every one of them even when an earlier one asked to
// stop. A stop asked for by on_step takes effect before the next batch, except that an
// epoch whose batches are all done is closed first (its on_epoch runs), so every epoch a
// run finished has its callbacks. The library's callbacks are in train/callbacks/.
//
// Training time is measured around train_step only: what callbacks do (sampling, writing
// images, scoring, saving) and fetching the batch are not counted against a time budget.
// FitOptions::clock picks the clock: wall time (the default), the process's CPU time, or
// the CPU time of the thread that calls fit() (FitClock::thread_cpu: with one training
// thread, exactly the run's compute whatever else the machine runs; compare --clock cpu).
// The time budget, StepEvent/EpochEvent/FitEndEvent::train_seconds and epoch_seconds all
// use it; FitOptions::custom_clock replaces it by the caller's own (a test's fake clock).
//
// Why fit() stops (FitEndEvent::reason, also its return value): the epochs are done, the
// step limit, the time budget, a callback's false, the stop condition, or a divergence:
//   - FitOptions::stop_when(StepEvent) is checked after every step, after the callbacks'
//     on_step; true stops like a callback's false (before the next batch, a finished epoch
//     closed first) but is reported as FitEnd::stop_condition. It is the plain way to stop
//     on a condition without writing a callback class (a loss threshold, a step reached).
//   - With FitOptions::stop_on_divergence, a NumericError from train_step (the weights
//     diverged; the step changed no parameter) ends fit() with FitEnd::diverged and the
//     error's text in FitEndEvent::message, the failed step's time counted, so callbacks
//     can record it; without it the error propagates (no on_fit_end).
// Under data-parallel training every replica stops at the same step: the time budget and
// the stop condition are each agreed with trainer.any_replica (one small collective per
// check; stop_when's only when it is set), and a divergence is the same on every replica
// (the skeleton checks the averaged losses).
//
// A trainer is anything with: kStatNames, kStatCount, step(), epoch(), set_epoch(e),
// train_step(x) -> StepStats (or train_step(x, labels): fit() then fetches each batch's
// labels, as the classifier's trainer does), any_replica(bool) and communicator() (null
// without replicas).
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/core/thread_governor.hpp"
#include "vaegan/data/dataset.hpp"
#include "vaegan/train/step_stats.hpp"

namespace vaegan {

// The clock that measures training time (see the header comment).
enum class FitClock {
  wall,         // steady_clock seconds
  process_cpu,  // CPU seconds of the whole process (every thread)
  thread_cpu,   // CPU seconds of the thread that calls fit(): other threads' work is not counted
};

inline const char* fit_clock_name(FitClock clock) {
  switch (clock) {
    case FitClock::wall: return "wall";
    case FitClock::process_cpu: return "process CPU";
    case FitClock::thread_cpu: return "thread CPU";
  }
  return "?";
}

// The clock's reading in seconds (only differences mean anything).
inline double fit_clock_seconds(FitClock clock) {
  if (clock == FitClock::wall)
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
#if defined(CLOCK_THREAD_CPUTIME_ID) && defined(CLOCK_PROCESS_CPUTIME_ID)
  timespec ts{};
  clock_gettime(clock == FitClock::thread_cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
#else
  throw Error(std::string("fit: the ") + fit_clock_name(clock) + " clock is not available on this platform");
#endif
}

struct StepEvent;

struct FitOptions {
  std::int64_t epochs = 1;           // train until the trainer has completed this many epochs
  std::int64_t max_steps = -1;       // stop after this many steps in total (-1: no limit)
  double time_budget_seconds = 0.0;  // stop once this much training time is spent (0: no limit)
  FitClock clock = FitClock::wall;   // what measures training time
  // The caller's own clock in seconds; when set, it replaces `clock`.
  std::function<double()> custom_clock;
  // Checked after every step: true stops training (FitEnd::stop_condition).
  std::function<bool(const StepEvent&)> stop_when;
  // End with FitEnd::diverged on a NumericError from train_step instead of throwing it.
  bool stop_on_divergence = false;
  // Drop to one thread while other programs take the machine's cores, and back once they
  // are free (core/thread_governor.hpp). Results are the same bits either way.
  bool adapt_threads = true;
};

struct StepEvent {
  std::int64_t step;     // steps completed in total
  std::int64_t epoch;    // epochs completed before this one
  Index batch_in_epoch;  // 1-based
  Index batches_per_epoch;
  const StepStats& stats;
  double train_seconds;  // training time of this fit() call so far
};

struct EpochEvent {
  std::int64_t epoch;  // epochs completed, counting this one
  std::int64_t step;
  const StepStats& mean_stats;  // mean of each statistic over the epoch's steps that reported it
  double epoch_seconds;         // training time of this epoch
  double train_seconds;         // training time of this fit() call so far
};

// The two callbacks of older code as one callback object: plain functions of the events.
struct FitCallbacks {
  std::function<void(const StepEvent&)> on_step;
  // Return false to stop training after this epoch.
  std::function<bool(const EpochEvent&)> on_epoch;
};

enum class FitEnd { epochs_done, max_steps, time_budget, stopped_by_callback, stop_condition, diverged };

inline const char* fit_end_name(FitEnd end) {
  switch (end) {
    case FitEnd::epochs_done: return "epochs done";
    case FitEnd::max_steps: return "step limit";
    case FitEnd::time_budget: return "time budget";
    case FitEnd::stopped_by_callback: return "stopped by a callback";
    case FitEnd::stop_condition: return "stop condition";
    case FitEnd::diverged: return "diverged";
  }
  return "?";
}

struct FitEndEvent {
  FitEnd reason;
  std::int64_t step;
  std::int64_t epoch;    // epochs completed
  bool mid_epoch;        // the last epoch was left unfinished (a limit or a stop)
  double train_seconds;  // training time of this fit() call
  std::string message;   // FitEnd::diverged: the NumericError's text; empty otherwise
};

// What a callback sees of the run: the trainer and its batches (to sample, save, resume
// with), and the plan. Lives for one fit() call.
template <class Trainer, class T>
struct FitRun {
  Trainer& trainer;
  Batches<T>& batches;
  const FitOptions& options;
  std::int64_t first_step;   // the trainer's step when this fit() began (> 0 after a resume)
  std::int64_t total_steps;  // the step fit() will stop at, by epochs and max_steps
  // Whether this process writes files and prints: false on every data-parallel replica
  // but the first, so callbacks run unchanged under mpirun.
  bool writes_output() const {
    const auto* comm = trainer.communicator();
    return comm == nullptr || comm->rank() == 0;
  }
};

namespace detail {

// Calls callback.member(args...) when the callback has that member; a void result counts
// as "keep going".
#define VAEGAN_FIT_HOOK(member)                                                                                \
  template <class C, class... Args>                                                                            \
  auto fit_hook_##member(C& c, int, Args&&... args)->decltype(c.member(std::forward<Args>(args)...), bool()) { \
    if constexpr (std::is_void_v<decltype(c.member(std::forward<Args>(args)...))>) {                           \
      c.member(std::forward<Args>(args)...);                                                                   \
      return true;                                                                                             \
    } else {                                                                                                   \
      return static_cast<bool>(c.member(std::forward<Args>(args)...));                                         \
    }                                                                                                          \
  }                                                                                                            \
  template <class C, class... Args>                                                                            \
  bool fit_hook_##member(C&, long, Args&&...) {                                                                \
    return true;                                                                                               \
  }
VAEGAN_FIT_HOOK(on_fit_begin)
VAEGAN_FIT_HOOK(on_step)
VAEGAN_FIT_HOOK(on_epoch)
VAEGAN_FIT_HOOK(on_fit_end)
#undef VAEGAN_FIT_HOOK

// FitCallbacks: its functions take the event alone, and may be empty.
template <class C, class Run, std::enable_if_t<std::is_same_v<std::decay_t<C>, FitCallbacks>, int> = 0>
bool fit_hook_on_step(C& c, int, Run&, const StepEvent& e) {
  if (c.on_step) c.on_step(e);
  return true;
}
template <class C, class Run, std::enable_if_t<std::is_same_v<std::decay_t<C>, FitCallbacks>, int> = 0>
bool fit_hook_on_epoch(C& c, int, Run&, const EpochEvent& e) {
  return c.on_epoch ? c.on_epoch(e) : true;
}

}  // namespace detail

// A callback that a program may or may not use, decided at run time:
//   std::optional<ScoreSamples<float>> scores;  if (...) scores.emplace(...);
//   fit(trainer, batches, options, ProgressBar{}, optional_callback(scores));
template <class C>
struct OptionalCallback {
  std::optional<C>* callback;
  template <class Run>
  void on_fit_begin(Run& run) {
    if (*callback) detail::fit_hook_on_fit_begin(**callback, 0, run);
  }
  template <class Run>
  bool on_step(Run& run, const StepEvent& e) {
    return !*callback || detail::fit_hook_on_step(**callback, 0, run, e);
  }
  template <class Run>
  bool on_epoch(Run& run, const EpochEvent& e) {
    return !*callback || detail::fit_hook_on_epoch(**callback, 0, run, e);
  }
  template <class Run>
  void on_fit_end(Run& run, const FitEndEvent& e) {
    if (*callback) detail::fit_hook_on_fit_end(**callback, 0, run, e);
  }
};
template <class C>
OptionalCallback<C> optional_callback(std::optional<C>& callback) {
  return {&callback};
}

namespace detail {

// Every callback's hook in order; true unless one of them returned false.
// (A comma fold: left to right, every hook called.)
#define VAEGAN_FIT_CALL(member, callbacks, ...)                                           \
  std::apply(                                                                             \
      [&](auto&... c) {                                                                   \
        bool keep_going = true;                                                           \
        ((keep_going = detail::fit_hook_##member(c, 0, __VA_ARGS__) && keep_going), ...); \
        return keep_going;                                                                \
      },                                                                                  \
      callbacks)

// Whether the trainer's train_step takes the batch's labels too.
template <class Trainer, class T, class = void>
struct trains_on_labels : std::false_type {};
template <class Trainer, class T>
struct trains_on_labels<Trainer, T,
                        std::void_t<decltype(std::declval<Trainer&>().train_step(
                            std::declval<const Tensor<T>&>(), std::declval<const std::vector<std::uint8_t>&>()))>>
    : std::true_type {};

}  // namespace detail

template <class Trainer, class T, class... Callbacks>
FitEnd fit(Trainer& trainer, Batches<T>& batches, const FitOptions& options, Callbacks&&... callback_args) {
  constexpr bool kLabels = detail::trains_on_labels<Trainer, T>::value;
  const FitClock clock_choice = options.clock;
  const auto& custom_clock = options.custom_clock;
  auto clock = [&] { return custom_clock ? custom_clock() : fit_clock_seconds(clock_choice); };
  if (batches.epoch() != trainer.epoch())
    throw Error("fit: the batch loop is at epoch " + std::to_string(batches.epoch()) + " but the trainer at epoch " +
                std::to_string(trainer.epoch()) + "; restore both from the same checkpoint");
  std::tuple<Callbacks&...> callbacks(callback_args...);
  const Index per_epoch = batches.batches_per_epoch();
  // Saturates: epochs may be "no limit" (the largest int64) when a budget ends the run.
  constexpr std::int64_t kMaxSteps = std::numeric_limits<std::int64_t>::max() / 2;
  const std::int64_t epochs_left = std::max<std::int64_t>(0, options.epochs - trainer.epoch());
  std::int64_t total_steps = per_epoch > 0 && epochs_left > (kMaxSteps - trainer.step()) / per_epoch
                                 ? kMaxSteps
                                 : trainer.step() + epochs_left * per_epoch -
                                       (per_epoch > 0 ? batches.cursor() / batches.options().batch_size : 0);
  if (options.max_steps >= 0) total_steps = std::min(total_steps, options.max_steps);
  FitRun<Trainer, T> run{trainer, batches, options, trainer.step(), std::max(total_steps, trainer.step())};
  Tensor<T> x;
  std::vector<std::uint8_t> labels;  // kLabels only
  double train_seconds = 0.0;
  bool stop_requested = false;
  FitEnd stop_reason = FitEnd::stopped_by_callback;
  std::optional<ThreadGovernor> governor;  // restores the thread count when fit() returns
  if (options.adapt_threads) governor.emplace(num_threads());
  auto finish = [&](FitEnd reason, bool mid_epoch, std::string message = {}) {
    VAEGAN_FIT_CALL(on_fit_end, callbacks, run,
                    FitEndEvent{reason, trainer.step(), trainer.epoch(), mid_epoch, train_seconds, std::move(message)});
    return reason;
  };
  VAEGAN_FIT_CALL(on_fit_begin, callbacks, run);
  // True once the epoch has handed out its last batch: the next next() call ends it.
  auto epoch_exhausted = [&batches] {
    const Index left = batches.state().dataset_size - batches.cursor();
    return left == 0 || (batches.options().drop_last && left < batches.options().batch_size);
  };
  while (trainer.epoch() < options.epochs) {
    double epoch_seconds = 0.0;
    // Sums, then means, of each statistic over the steps that reported it (a statistic is
    // NaN on steps that skip its computation, e.g. the discriminator during a warm-up).
    StepStats sums(Trainer::kStatNames, Trainer::kStatCount);
    std::array<std::int64_t, StepStats::kCapacity> counts{};
    for (int i = 0; i < sums.size(); ++i) sums.set(i, 0.0);
    Index batch_index = per_epoch > 0 ? batches.cursor() / batches.options().batch_size : 0;
    while (true) {
      // A limit stops training before a batch, never between an epoch's last batch and the
      // epoch's end: an epoch whose batches are all done is closed and reported first, so
      // a run stopped there has its epoch's callback (samples, CSV row) like any other.
      if (!epoch_exhausted()) {
        if (stop_requested) return finish(stop_reason, true);
        if (options.max_steps >= 0 && trainer.step() >= options.max_steps) return finish(FitEnd::max_steps, true);
        // Data-parallel replicas stop together, when the first of them runs out of time.
        if (options.time_budget_seconds > 0.0 && trainer.any_replica(train_seconds >= options.time_budget_seconds))
          return finish(FitEnd::time_budget, true);
      }
      bool have_batch = false;
      if constexpr (kLabels) have_batch = batches.next(x, &labels);
      else have_batch = batches.next(x);
      if (!have_batch) break;
      const double t0 = clock();
      std::optional<StepStats> step_stats;
      try {
        if constexpr (kLabels) step_stats.emplace(trainer.train_step(x, labels));
        else step_stats.emplace(trainer.train_step(x));
      } catch (const NumericError& e) {
        if (!options.stop_on_divergence) throw;
        train_seconds += clock() - t0;  // the failed step's time counts, as any step's
        return finish(FitEnd::diverged, true, e.what());
      }
      const double dt = clock() - t0;
      if (governor) governor->after_step();
      const StepStats& stats = *step_stats;
      train_seconds += dt;
      epoch_seconds += dt;
      for (int i = 0; i < stats.size(); ++i)
        if (!std::isnan(stats.value(i))) {
          sums.set(i, sums.value(i) + stats.value(i));
          ++counts[static_cast<std::size_t>(i)];
        }
      ++batch_index;
      const StepEvent event{trainer.step(), trainer.epoch(), batch_index, per_epoch, stats, train_seconds};
      if (!VAEGAN_FIT_CALL(on_step, callbacks, run, event)) stop_requested = true;
      // Every replica takes part in the agreement, whatever its callbacks said.
      if (options.stop_when && trainer.any_replica(options.stop_when(event)) && !stop_requested) {
        stop_requested = true;
        stop_reason = FitEnd::stop_condition;
      }
    }
    trainer.set_epoch(trainer.epoch() + 1);
    // A statistic no step reported (or an epoch resumed at its very end) stays NaN.
    for (int i = 0; i < sums.size(); ++i) {
      const auto n = counts[static_cast<std::size_t>(i)];
      sums.set(i, n > 0 ? sums.value(i) / static_cast<double>(n) : std::nan(""));
    }
    const EpochEvent event{trainer.epoch(), trainer.step(), sums, epoch_seconds, train_seconds};
    if (!VAEGAN_FIT_CALL(on_epoch, callbacks, run, event)) return finish(FitEnd::stopped_by_callback, false);
    if (stop_requested) return finish(stop_reason, false);
  }
  return finish(FitEnd::epochs_done, false);
}

#undef VAEGAN_FIT_CALL

}  // namespace vaegan
