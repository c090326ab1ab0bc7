#pragma once
// Rng: one seeded generator (xoshiro256** seeded by splitmix64). The same seed gives the
// same numbers on every platform: uniform and normal variates are computed here, not by
// <random>'s distributions, whose algorithms differ between standard libraries.
//
// Batch draws and data-parallel training. Noise with one value per batch element (the
// reparameterization's eps, prior codes, dropout masks) is drawn with the batch_* calls.
// By default they are the plain calls. After set_shard(i, k) the Rng stands for shard i of
// k equal shards of every batch: a batch draw of n values walks the stream for all k*n
// values of the whole batch and keeps the i-th run of n. So every shard's Rng advances
// exactly as one process drawing for the whole batch would, all shards stay in the same
// state (one checkpoint fits any shard count), and shard i gets the values the whole
// batch would give its rows [i*n, (i+1)*n). The other shards' values are skipped, not
// computed: a skipped uniform is one generator step, a skipped normal pair two.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>

#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"

namespace vaegan {

class Rng {
 public:
  struct State {
    std::array<std::uint64_t, 4> s{};
    double spare_normal = 0.0;
    bool has_spare = false;
    bool operator==(const State& o) const {
      return s == o.s && spare_normal == o.spare_normal && has_spare == o.has_spare;
    }
  };

  explicit Rng(std::uint64_t seed = 0x5eed) { reseed(seed); }

  void reseed(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& word : state_.s) word = splitmix64(x);
    state_.has_spare = false;
    state_.spare_normal = 0.0;
  }

  std::uint64_t next_u64() { return next_u64(state_.s); }
  // The same step on a state the caller holds, so a loop can run on a local copy that the
  // callback's stores cannot alias.
  static std::uint64_t next_u64(std::array<std::uint64_t, 4>& s) {
    const std::uint64_t result = rotl(s[1] * 5, 7) * 9;
    const std::uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return to_unit(next_u64()); }
  static double to_unit(std::uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n), without modulo bias.
  std::uint64_t uniform_int(std::uint64_t n) {
    if (n <= 1) return 0;
    const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
    std::uint64_t r;
    do r = next_u64();
    while (r >= limit);
    return r % n;
  }
  // Standard normal by the Box-Muller transform (pairs; the second value is kept).
  double normal() {
    if (state_.has_spare) {
      state_.has_spare = false;
      const double v = state_.spare_normal;
      state_.spare_normal = 0.0;  // a used spare is zero, so equal streams have equal states
      return v;
    }
    double u1;
    do u1 = uniform();
    while (u1 <= 0.0);
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double theta = 6.283185307179586476925 * u2;
    state_.spare_normal = r * std::sin(theta);
    state_.has_spare = true;
    return r * std::cos(theta);
  }
  double normal(double mean, double stddev) { return mean + stddev * normal(); }

  template <class T>
  void fill_normal(T* out, Index n, double mean = 0.0, double stddev = 1.0) {
    for (Index i = 0; i < n; ++i) out[i] = static_cast<T>(normal(mean, stddev));
  }
  template <class T>
  void fill_uniform(T* out, Index n, double lo, double hi) {
    for (Index i = 0; i < n; ++i) out[i] = static_cast<T>(uniform(lo, hi));
  }

  // ---- batch draws (see the header comment) -----------------------------------------------
  void set_shard(int index, int count) {
    if (count < 1 || index < 0 || index >= count)
      throw Error("Rng::set_shard: shard " + std::to_string(index) + " of " + std::to_string(count) +
                  " is not one of 0.." + std::to_string(count - 1));
    shard_index_ = index;
    shard_count_ = count;
  }
  int shard_index() const { return shard_index_; }
  int shard_count() const { return shard_count_; }

  // n normals of this shard's part of a batch draw.
  template <class T>
  void batch_fill_normal(T* out, Index n) {
    discard_normals(n * shard_index_);
    fill_normal(out, n);
    discard_normals(n * (shard_count_ - 1 - shard_index_));
  }
  // f(i, u) for i in [0, n): this shard's uniforms in [0, 1) of a batch draw.
  template <class F>
  void batch_uniforms(Index n, F&& f) {
    batch_uniform_blocks(n, [&](Index i0, const double* u, Index count) {
      for (Index j = 0; j < count; ++j) f(i0 + j, u[j]);
    });
  }
  // The same draws a block at a time: f(i0, u, count) with u[j] the uniform of index i0 + j,
  // so that f can run one vectorized loop over a block (a per-element callback that chooses
  // by the draw compiles to a branch, mispredicted as often as the draws say). f must not
  // draw from this Rng: the draws run on a local copy of the state.
  template <class F>
  void batch_uniform_blocks(Index n, F&& f) {
    constexpr Index kBlock = 256;
    double u[kBlock];
    discard_uniforms(n * shard_index_);
    std::array<std::uint64_t, 4> s = state_.s;
    for (Index i0 = 0; i0 < n; i0 += kBlock) {
      const Index count = std::min(kBlock, n - i0);
      for (Index j = 0; j < count; ++j) u[j] = to_unit(next_u64(s));
      f(i0, static_cast<const double*>(u), count);
    }
    state_.s = s;
    discard_uniforms(n * (shard_count_ - 1 - shard_index_));
  }

  // Moves on as n calls of uniform() / normal() would, without computing the values.
  void discard_uniforms(Index n) {
    for (Index i = 0; i < n; ++i) next_u64();
  }
  void discard_normals(Index n) {
    if (n <= 0) return;
    if (state_.has_spare) {
      state_.has_spare = false;
      state_.spare_normal = 0.0;
      --n;
    }
    for (; n >= 2; n -= 2) {  // a whole pair: normal()'s draws of u1 and u2, no transform
      while ((next_u64() >> 11) == 0) {
      }
      next_u64();
    }
    if (n == 1) normal();  // the first of a pair: keeps the second as normal() does
  }

  const State& state() const { return state_; }
  void set_state(const State& s) { state_ = s; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  State state_;
  int shard_index_ = 0, shard_count_ = 1;  // configuration, not state: checkpoints leave it out
};

}  // namespace vaegan
