#pragma once
// EarlyStop: ends fit() when an epoch statistic has stopped improving: after `patience`
// epochs in a row whose mean of `stat` is not below the best so far by more than
// `min_delta` (or above it, with Goal::maximize). Epochs where the statistic was not
// computed (NaN) neither improve nor count. Under mpirun the statistics are the replicas'
// mean, so every replica stops at the same epoch.
//
//   fit(trainer, batches, options, EarlyStop{"loss_e", 5});
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "vaegan/core/error.hpp"
#include "vaegan/train/fit.hpp"

namespace vaegan {

class EarlyStop {
 public:
  enum class Goal { minimize, maximize };

  EarlyStop(std::string stat, std::int64_t patience, double min_delta = 0.0, Goal goal = Goal::minimize)
      : stat_(std::move(stat)), patience_(patience), min_delta_(min_delta), goal_(goal) {
    if (patience < 1) throw Error("EarlyStop: patience must be >= 1 epoch, got " + std::to_string(patience));
    if (!(min_delta >= 0)) throw Error("EarlyStop: min_delta must be >= 0");
  }

  template <class Run>
  void on_fit_begin(Run& run) {
    using Trainer = std::decay_t<decltype(run.trainer)>;
    for (int i = 0; i < Trainer::kStatCount; ++i)
      if (stat_ == Trainer::kStatNames[i]) return;
    std::string names;
    for (int i = 0; i < Trainer::kStatCount; ++i) names += std::string(i ? ", " : "") + Trainer::kStatNames[i];
    throw Error("EarlyStop: this trainer has no statistic '" + stat_ + "' (it has " + names + ")");
  }

  template <class Run>
  bool on_epoch(Run&, const EpochEvent& e) {
    double value = std::numeric_limits<double>::quiet_NaN();
    for (int i = 0; i < e.mean_stats.size(); ++i)
      if (stat_ == e.mean_stats.name(i)) value = e.mean_stats.value(i);
    if (std::isnan(value)) return true;
    const double signed_value = goal_ == Goal::minimize ? value : -value;
    if (signed_value < best_ - min_delta_) {
      best_ = signed_value;
      stale_epochs_ = 0;
      return true;
    }
    return ++stale_epochs_ < patience_;
  }

  // The best value seen (NaN before any epoch reported it) and the epochs since.
  double best() const {
    if (best_ == std::numeric_limits<double>::infinity()) return std::numeric_limits<double>::quiet_NaN();
    return goal_ == Goal::minimize ? best_ : -best_;
  }
  std::int64_t stale_epochs() const { return stale_epochs_; }

 private:
  std::string stat_;
  std::int64_t patience_;
  double min_delta_;
  Goal goal_;
  double best_ = std::numeric_limits<double>::infinity();
  std::int64_t stale_epochs_ = 0;
};

}  // namespace vaegan
