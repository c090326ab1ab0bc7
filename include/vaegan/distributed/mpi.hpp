#pragma once
// MPI behind the Communicator interface (distributed/communicator.hpp), for data-parallel
// training over processes and machines: docs/distributed.md. Only with the build option
// VAEGAN_MPI (CMake -DVAEGAN_MPI=ON, Meson -Dmpi=true), which links Open MPI; without it
// this header is not part of <vaegan/vaegan.hpp>.
//
//   int main(int argc, char** argv) {
//     vaegan::MpiSession mpi(argc, argv);             // MPI_Init_thread ... MPI_Finalize
//     vaegan::MpiCommunicator world;                  // MPI_COMM_WORLD
//     vaegan::VaeGanTrainer<float> trainer(config, options, seed);   // same seed everywhere
//     trainer.distribute(world);
//     auto batches = data.batches({64, seed, true, true, world.rank(), world.size()});
//     vaegan::fit(trainer, batches, fit_options);     // rank 0 writes the outputs
//   }
//
// Only the thread that made the session calls MPI (MPI_THREAD_FUNNELED): the OpenMP threads
// of the kernels never do.
#include <mpi.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/distributed/communicator.hpp"

namespace vaegan {

// MPI for the lifetime of the object: initialized by the constructor (unless something
// else already did), finalized by the destructor (if the constructor initialized it).
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) return;
    int provided = 0;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw Error("MPI_Init_thread failed; start the program with mpirun, or as a single process");
    owned_ = true;
    if (provided < MPI_THREAD_FUNNELED) {
      MPI_Finalize();
      throw Error("this MPI gives no MPI_THREAD_FUNNELED support, which the OpenMP kernels need");
    }
  }
  ~MpiSession() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owned_ && !finalized) MPI_Finalize();
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

 private:
  bool owned_ = false;
};

// How start_sum sums a gradient buffer.
//   blocking     MPI_Allreduce at once: start_sum returns with the sum done. The default:
//                measured faster (docs/distributed.md: mlp VAE-GAN, 2 processes on one
//                machine, 12.2-12.5 ms per step against 14.0-14.5 ms), because Open MPI
//                progresses a non-blocking collective only inside MPI calls, which the
//                backward between start_sum and wait_all does not make, and its
//                non-blocking algorithm (libnbc) is slower than the blocking one.
//   nonblocking  MPI_Iallreduce, awaited in wait_all: for networks whose hardware
//                progresses collectives by itself, where the sums then overlap the next
//                route's backward.
enum class MpiSums { blocking, nonblocking };

class MpiCommunicator final : public Communicator {
 public:
  // A communicator of its own over `comm`'s processes (MPI_Comm_dup), so the library's
  // messages never meet the program's.
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD, MpiSums sums = MpiSums::blocking) : sums_(sums) {
    check(MPI_Comm_dup(comm, &comm_), "MPI_Comm_dup");
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    pending_.reserve(64);  // steps stay free of allocations
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) {
      if (!pending_.empty()) MPI_Waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE);
      MPI_Comm_free(&comm_);
    }
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  // Processes of the group on this machine (sharing its memory), this one included.
  int local_size() const {
    MPI_Comm local = MPI_COMM_NULL;
    check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local), "MPI_Comm_split_type");
    int n = 1;
    MPI_Comm_size(local, &n);
    MPI_Comm_free(&local);
    return n;
  }

  void start_sum(float* data, Index n) override { start(data, n, MPI_FLOAT); }
  void start_sum(double* data, Index n) override { start(data, n, MPI_DOUBLE); }
  void wait_all() override {
    if (pending_.empty()) return;
    check(MPI_Waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
    pending_.clear();
  }
  void sum(double* values, int n) override {
    check(MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, comm_), "MPI_Allreduce");
  }
  bool all_equal(std::uint64_t value) override {
    std::uint64_t range[2] = {value, ~value};  // max of value and of ~value: max and ~min
    check(MPI_Allreduce(MPI_IN_PLACE, range, 2, MPI_UINT64_T, MPI_MAX, comm_), "MPI_Allreduce");
    return range[0] == ~range[1];
  }
  bool any(bool value) override {
    int v = value ? 1 : 0;
    check(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LOR, comm_), "MPI_Allreduce");
    return v != 0;
  }
  [[noreturn]] void abort(int exit_code) override {
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::abort();  // MPI_Abort does not return; this tells the compiler so
  }

 private:
  void start(void* data, Index n, MPI_Datatype type) {
    // MPI counts are int: a buffer larger than that goes in pieces.
    constexpr Index kMaxCount = 1 << 30;
    const std::size_t bytes = type == MPI_FLOAT ? sizeof(float) : sizeof(double);
    auto* p = static_cast<unsigned char*>(data);
    for (Index done = 0; done < n; done += kMaxCount) {
      const int count = static_cast<int>(n - done < kMaxCount ? n - done : kMaxCount);
      if (sums_ == MpiSums::blocking) {
        check(MPI_Allreduce(MPI_IN_PLACE, p + static_cast<std::size_t>(done) * bytes, count, type, MPI_SUM, comm_),
              "MPI_Allreduce");
        continue;
      }
      pending_.emplace_back();
      check(MPI_Iallreduce(MPI_IN_PLACE, p + static_cast<std::size_t>(done) * bytes, count, type, MPI_SUM, comm_,
                           &pending_.back()),
            "MPI_Iallreduce");
    }
  }
  static void check(int code, const char* what) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    throw Error(std::string(what) + " failed: " + std::string(text, static_cast<std::size_t>(length)));
  }

  MpiSums sums_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::vector<MPI_Request> pending_;
};

}  // namespace vaegan
