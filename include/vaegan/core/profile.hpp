#pragma once
// The phase profiler: where a training step's time goes, per phase and per layer.
//
// Off unless profile::set_enabled(true) (bench_step --profile turns it on). Off, a scope
// costs one test of a flag and its arguments are never evaluated, so a step still makes no
// heap allocation; on, each scope takes two clock reads and a map update (microseconds
// against the milliseconds of the phases it times).
//
//   VAEGAN_PROFILE_SCOPE("conv2d weight grad", layer_text, flops, bytes);
//
// times the rest of the enclosing block. Scopes nest: each records its self time (its time
// less its child scopes'), so the phases of a step add up to the time they cover and never
// count a millisecond twice; the tape's backward loop opens one scope per op, which keeps
// what the op's own scopes leave (bias sums, layout copies). `flops` is the arithmetic the
// phase needs at minimum (2 per multiply-add), `bytes` the memory traffic it needs at
// minimum (each input read once, each output written once), either 0 where it does not
// apply; a report divides them by the time to show each phase's distance to the FMA peak
// or to the memory bandwidth.
//
// Threads: a scope opened inside a parallel region with more than one thread records
// nothing (its time stays in the enclosing scope): profile with one thread for the full
// split, with more for the per-op totals. Turn it on and off between steps, not during one.
#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "vaegan/core/config.hpp"
#include "vaegan/core/shape.hpp"

namespace vaegan {
namespace profile {

inline bool& enabled_flag() {
  static bool on = false;
  return on;
}
inline bool enabled() { return enabled_flag(); }
inline void set_enabled(bool on) { enabled_flag() = on; }

// One row of the profile: a phase of a layer, summed over the calls since the last clear().
struct Entry {
  std::string phase, layer;
  long calls = 0;
  double seconds = 0, flops = 0, bytes = 0;
};

class Registry {
 public:
  static Registry& instance() {
    static Registry r;
    return r;
  }
  void add(const char* phase, const std::string& layer, double seconds, double flops, double bytes) {
    Entry& e = entries_[{phase, layer}];
    if (e.calls == 0) {
      e.phase = phase;
      e.layer = layer;
    }
    ++e.calls;
    e.seconds += seconds;
    e.flops += flops;
    e.bytes += bytes;
  }
  void clear() { entries_.clear(); }
  // The rows in the order of (phase, layer).
  std::vector<Entry> entries() const {
    std::vector<Entry> out;
    for (const auto& kv : entries_) out.push_back(kv.second);
    return out;
  }

 private:
  std::map<std::pair<std::string, std::string>, Entry> entries_;
};

class Scope {
 public:
  explicit Scope(const char* phase) : phase_(phase), active_(enabled() && !in_team()) {
    if (!active_) return;
    parent_ = current();
    current() = this;
    start_ = std::chrono::steady_clock::now();
  }
  bool active() const { return active_; }
  void describe(std::string layer, double flops, double bytes) {
    layer_ = std::move(layer);
    flops_ = flops;
    bytes_ = bytes;
  }
  ~Scope() {
    if (!active_) return;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    current() = parent_;
    if (parent_ != nullptr) parent_->children_ += elapsed;
    Registry::instance().add(phase_, layer_, elapsed - children_, flops_, bytes_);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  static Scope*& current() {
    static Scope* open = nullptr;
    return open;
  }
  static bool in_team() {
#ifdef _OPENMP
    return omp_in_parallel() != 0;
#else
    return false;
#endif
  }
  const char* phase_;
  bool active_;
  std::string layer_;
  double flops_ = 0, bytes_ = 0;
  Scope* parent_ = nullptr;
  double children_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// "a -> b", the layer text of an op from its input and output shapes.
inline std::string layer(const Shape& in, const Shape& out) { return in.str() + " -> " + out.str(); }

}  // namespace profile
}  // namespace vaegan

// The scope's description is evaluated only while profiling.
#define VAEGAN_PROFILE_CONCAT2(a, b) a##b
#define VAEGAN_PROFILE_CONCAT(a, b) VAEGAN_PROFILE_CONCAT2(a, b)
#define VAEGAN_PROFILE_SCOPE(phase, layer, flops, bytes)                                  \
  ::vaegan::profile::Scope VAEGAN_PROFILE_CONCAT(vaegan_profile_scope_, __LINE__)(phase); \
  if (VAEGAN_PROFILE_CONCAT(vaegan_profile_scope_, __LINE__).active())                    \
  VAEGAN_PROFILE_CONCAT(vaegan_profile_scope_, __LINE__).describe(layer, flops, bytes)
