#pragma once
// pin_benchmark_threads(): one CPU per thread for bench_dense_compare --pin (Linux only).
//
// Why: when other processes keep every CPU busy, the scheduler puts a waking worker thread
// on the CPU of the thread that woke it, as no CPU is idle. That thread then spin-waits for
// the worker (in an OpenMP barrier, or in OpenBLAS's join), and the worker runs only when
// the scheduler tick preempts the spinner. On the 2-core machine of docs/benchmarks.md a
// 2-thread Dense forward took 16 ms instead of 1.2 ms for seconds at a time. Pinning the
// main thread and each worker to its own CPU rules that out, for both libraries alike.
//
// Call it before the first OpenMP parallel region: every thread besides the calling one
// is then one of OpenBLAS's workers, which the library starts when it loads.
#include <string>
#include <vector>

#include <vaegan/vaegan.hpp>

#ifdef __linux__
#include <dirent.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#endif

namespace vaegan_bench {

#ifdef __linux__
namespace detail {

// The CPUs this process may run on, in order.
inline std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0)
    throw vaegan::Error(std::string("--pin: sched_getaffinity failed: ") + std::strerror(errno));
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

// Pins thread `tid` (0: the calling thread) to `cpu`; returns errno, 0 on success.
inline int pin(pid_t tid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(tid, sizeof set, &set) == 0 ? 0 : errno;
}

// Thread ids of this process other than the calling thread.
inline std::vector<pid_t> other_threads() {
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  std::vector<pid_t> tids;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) throw vaegan::Error("--pin: cannot list /proc/self/task");
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const pid_t tid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (tid != self) tids.push_back(tid);
  }
  closedir(dir);
  return tids;
}

}  // namespace detail

// Pins OpenMP thread i of a team of `threads` to the i-th allowed CPU (the calling thread
// is thread 0) and OpenBLAS's workers to the CPUs after the first, round robin. Returns a
// one-line description of what it did.
inline std::string pin_benchmark_threads(int threads) {
  const std::vector<int> cpus = detail::allowed_cpus();
  if (threads > static_cast<int>(cpus.size()))
    throw vaegan::Error("--pin: " + std::to_string(threads) + " threads but this process may use only " +
                        std::to_string(cpus.size()) + " CPUs; pass fewer --threads");
  const std::vector<pid_t> workers = detail::other_threads();
  for (std::size_t j = 0; j < workers.size(); ++j) {
    const int cpu = cpus.size() > 1 ? cpus[1 + j % (cpus.size() - 1)] : cpus[0];
    if (const int err = detail::pin(workers[j], cpu))
      throw vaegan::Error("--pin: cannot pin thread " + std::to_string(workers[j]) + " to CPU " + std::to_string(cpu) +
                          ": " + std::strerror(err));
  }
  int failed = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : failed)
  failed += detail::pin(0, cpus[static_cast<std::size_t>(omp_get_thread_num())]) != 0 ? 1 : 0;
#else
  failed += detail::pin(0, cpus[0]) != 0 ? 1 : 0;
#endif
  if (failed > 0) throw vaegan::Error("--pin: could not pin " + std::to_string(failed) + " OpenMP thread(s)");
  std::string cpu_list;
  for (int i = 0; i < threads; ++i) cpu_list += (i ? "," : "") + std::to_string(cpus[static_cast<std::size_t>(i)]);
  return "threads pinned: OpenMP threads to CPUs " + cpu_list + ", " + std::to_string(workers.size()) +
         " OpenBLAS worker(s) to the CPUs after the first";
}
#else
inline std::string pin_benchmark_threads(int) {
  throw vaegan::Error("--pin: thread pinning is implemented for Linux only");
}
#endif

}  // namespace vaegan_bench
