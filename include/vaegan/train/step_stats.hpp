#pragma once
// StepStats: the losses and diagnostics of one training step, by name. Fixed capacity, no
// heap: trainers fill one per step on the hot path.
#include <array>
#include <cmath>
#include <cstring>
#include <string>

#include "vaegan/core/error.hpp"

namespace vaegan {

class StepStats {
 public:
  static constexpr int kCapacity = 16;

  // `names` must outlive the stats (trainers pass a static array).
  StepStats(const char* const* names, int count) : names_(names), count_(count) { values_.fill(std::nan("")); }

  int size() const { return count_; }
  const char* name(int i) const { return names_[i]; }
  double value(int i) const { return values_[static_cast<std::size_t>(i)]; }
  void set(int i, double v) { values_[static_cast<std::size_t>(i)] = v; }
  // Sets the named statistic; throws if this trainer does not report it.
  void set(const char* name, double v) { set(index_of(name), v); }
  // The value of the named statistic; throws if this trainer does not report it.
  double get(const char* name) const { return value(index_of(name)); }
  bool has(const char* name) const {
    for (int i = 0; i < count_; ++i)
      if (std::strcmp(names_[i], name) == 0) return true;
    return false;
  }

 private:
  int index_of(const char* name) const {
    for (int i = 0; i < count_; ++i)
      if (std::strcmp(names_[i], name) == 0) return i;
    throw Error(std::string("StepStats: no statistic named '") + name + "'");
  }

  const char* const* names_;
  int count_;
  std::array<double, kCapacity> values_{};
};

}  // namespace vaegan
