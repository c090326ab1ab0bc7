#pragma once
// Thread control and the parallel-for used by element-wise work.
//
// Chunks are fixed by the problem size, never by the thread count, so element-wise
// results and chunked reductions are bit-identical whatever the number of threads.
#include <algorithm>

#include "vaegan/core/config.hpp"

namespace vaegan {

namespace detail {
inline int& thread_setting() {
  static int threads = 0;  // 0: not set, use OpenMP's default
  return threads;
}
}  // namespace detail

// Number of threads the library uses for GEMMs and element-wise work.
inline int num_threads() {
#ifdef _OPENMP
  const int t = detail::thread_setting();
  return t > 0 ? t : omp_get_max_threads();
#else
  return 1;
#endif
}

// Sets the thread count at run time (n >= 1). Eigen's own threading stays off: the
// library parallelizes its GEMMs itself so it never nests two thread pools.
inline void set_num_threads(int n) {
  detail::thread_setting() = n < 1 ? 1 : n;
  Eigen::setNbThreads(1);
}

namespace detail {
// Element count below which a parallel loop is not worth the fork/join.
constexpr Index kParallelGrain = Index{1} << 15;

// Calls f(begin, end) over [0, n) in fixed chunks of `grain`, in parallel when n is large.
template <class F>
void parallel_for(Index n, F&& f, Index grain = kParallelGrain) {
  const Index chunks = (n + grain - 1) / grain;
  const int threads = num_threads();
  if (chunks <= 1 || threads <= 1) {
    if (n > 0) f(Index{0}, n);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
  for (Index c = 0; c < chunks; ++c) f(c * grain, std::min(n, (c + 1) * grain));
}
}  // namespace detail

}  // namespace vaegan
