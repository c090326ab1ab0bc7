#pragma once
// fit(): the epoch loop shared by every trainer. It walks a Batches loop, calls the
// trainer's train_step, and reports to callbacks after every step and every epoch, so
// examples can log, plot, sample and checkpoint without writing their own loop.
//
// Training time is measured around train_step only: what callbacks do (sampling, writing
// images, scoring, saving) is not counted against a time budget.
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

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

struct FitCallbacks {
  std::function<void(const StepEvent&)> on_step;
  // Return false to stop training after this epoch.
  std::function<bool(const EpochEvent&)> on_epoch;
};

enum class FitEnd { epochs_done, max_steps, time_budget, stopped_by_callback };

template <class Trainer, class T>
FitEnd fit(Trainer& trainer, Batches<T>& batches, const FitOptions& options, const FitCallbacks& callbacks = {}) {
  using Clock = std::chrono::steady_clock;
  if (batches.epoch() != trainer.epoch())
    throw Error("fit: the batch loop is at epoch " + std::to_string(batches.epoch()) + " but the trainer at epoch " +
                std::to_string(trainer.epoch()) + "; restore both from the same checkpoint");
  Tensor<T> x;
  double train_seconds = 0.0;
  std::optional<ThreadGovernor> governor;  // restores the thread count when fit() returns
  if (options.adapt_threads) governor.emplace(num_threads());
  const Index per_epoch = batches.batches_per_epoch();
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
        if (options.max_steps >= 0 && trainer.step() >= options.max_steps) return FitEnd::max_steps;
        // Data-parallel replicas stop together, when the first of them runs out of time.
        if (options.time_budget_seconds > 0.0 && trainer.any_replica(train_seconds >= options.time_budget_seconds))
          return FitEnd::time_budget;
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
      if (callbacks.on_step)
        callbacks.on_step(StepEvent{trainer.step(), trainer.epoch(), batch_index, per_epoch, stats, train_seconds});
    }
    trainer.set_epoch(trainer.epoch() + 1);
    // A statistic no step reported (or an epoch resumed at its very end) stays NaN.
    for (int i = 0; i < sums.size(); ++i) {
      const auto n = counts[static_cast<std::size_t>(i)];
      sums.set(i, n > 0 ? sums.value(i) / static_cast<double>(n) : std::nan(""));
    }
    if (callbacks.on_epoch &&
        !callbacks.on_epoch(EpochEvent{trainer.epoch(), trainer.step(), sums, epoch_seconds, train_seconds}))
      return FitEnd::stopped_by_callback;
  }
  return FitEnd::epochs_done;
}

}  // namespace vaegan
