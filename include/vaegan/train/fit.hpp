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
// images, scoring, saving) is not counted against a time budget.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "vaegan/core/thread_governor.hpp"
#include "vaegan/data/dataset.hpp"
#include "vaegan/train/step_stats.hpp"

namespace vaegan {

struct FitOptions {
  std::int64_t epochs = 1;           // train until the trainer has completed this many epochs
  std::int64_t max_steps = -1;       // stop after this many steps in total (-1: no limit)
  double time_budget_seconds = 0.0;  // stop once this much training time is spent (0: no limit)
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

enum class FitEnd { epochs_done, max_steps, time_budget, stopped_by_callback };

inline const char* fit_end_name(FitEnd end) {
  switch (end) {
    case FitEnd::epochs_done: return "epochs done";
    case FitEnd::max_steps: return "step limit";
    case FitEnd::time_budget: return "time budget";
    case FitEnd::stopped_by_callback: return "stopped by a callback";
  }
  return "?";
}

struct FitEndEvent {
  FitEnd reason;
  std::int64_t step;
  std::int64_t epoch;    // epochs completed
  bool mid_epoch;        // the last epoch was left unfinished (a limit or a stop)
  double train_seconds;  // training time of this fit() call
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

}  // namespace detail

template <class Trainer, class T, class... Callbacks>
FitEnd fit(Trainer& trainer, Batches<T>& batches, const FitOptions& options, Callbacks&&... callback_args) {
  using Clock = std::chrono::steady_clock;
  if (batches.epoch() != trainer.epoch())
    throw Error("fit: the batch loop is at epoch " + std::to_string(batches.epoch()) + " but the trainer at epoch " +
                std::to_string(trainer.epoch()) + "; restore both from the same checkpoint");
  std::tuple<Callbacks&...> callbacks(callback_args...);
  const Index per_epoch = batches.batches_per_epoch();
  std::int64_t total_steps = trainer.step() + std::max<std::int64_t>(0, options.epochs - trainer.epoch()) * per_epoch -
                             (per_epoch > 0 ? batches.cursor() / batches.options().batch_size : 0);
  if (options.max_steps >= 0) total_steps = std::min(total_steps, options.max_steps);
  FitRun<Trainer, T> run{trainer, batches, options, trainer.step(), std::max(total_steps, trainer.step())};
  Tensor<T> x;
  double train_seconds = 0.0;
  bool stop_requested = false;
  std::optional<ThreadGovernor> governor;  // restores the thread count when fit() returns
  if (options.adapt_threads) governor.emplace(num_threads());
  auto finish = [&](FitEnd reason, bool mid_epoch) {
    VAEGAN_FIT_CALL(on_fit_end, callbacks, run,
                    FitEndEvent{reason, trainer.step(), trainer.epoch(), mid_epoch, train_seconds});
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
        if (stop_requested) return finish(FitEnd::stopped_by_callback, true);
        if (options.max_steps >= 0 && trainer.step() >= options.max_steps) return finish(FitEnd::max_steps, true);
        // Data-parallel replicas stop together, when the first of them runs out of time.
        if (options.time_budget_seconds > 0.0 && trainer.any_replica(train_seconds >= options.time_budget_seconds))
          return finish(FitEnd::time_budget, true);
      }
      const auto t0 = Clock::now();
      if (!batches.next(x)) break;
      const StepStats stats = trainer.train_step(x);
      if (governor) governor->after_step();
      const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
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
    }
    trainer.set_epoch(trainer.epoch() + 1);
    // A statistic no step reported (or an epoch resumed at its very end) stays NaN.
    for (int i = 0; i < sums.size(); ++i) {
      const auto n = counts[static_cast<std::size_t>(i)];
      sums.set(i, n > 0 ? sums.value(i) / static_cast<double>(n) : std::nan(""));
    }
    const EpochEvent event{trainer.epoch(), trainer.step(), sums, epoch_seconds, train_seconds};
    if (!VAEGAN_FIT_CALL(on_epoch, callbacks, run, event) || stop_requested)
      return finish(FitEnd::stopped_by_callback, false);
  }
  return finish(FitEnd::epochs_done, false);
}

#undef VAEGAN_FIT_CALL

}  // namespace vaegan
