#pragma once
// ProcessGroup: the processes one training run spans. Built with VAEGAN_MPI and started by
// mpirun with more than one process, it is MPI_COMM_WORLD: each process trains a replica
// on its shard of every batch (TrainerCore::distribute), process 0 alone writes samples,
// logs and checkpoints, and an error in one process ends them all instead of leaving the
// others waiting. Otherwise it is this process alone and changes nothing. A program not
// started by a launcher does not initialize MPI at all (which costs Open MPI 0.7 s).
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include <vaegan/vaegan.hpp>

namespace examples {

class ProcessGroup {
 public:
  ProcessGroup(int& argc, char**& argv) {
#if defined(VAEGAN_MPI)
    if (started_by_launcher()) {
      session_.emplace(argc, argv);
      // VAEGAN_MPI_SUMS=nonblocking: MPI_Iallreduce (vaegan::MpiSums; docs/distributed.md).
      const char* sums = std::getenv("VAEGAN_MPI_SUMS");
      world_ = std::make_unique<vaegan::MpiCommunicator>(MPI_COMM_WORLD, sums && std::string(sums) == "nonblocking"
                                                                             ? vaegan::MpiSums::nonblocking
                                                                             : vaegan::MpiSums::blocking);
    }
#endif
    (void)argc;
    (void)argv;
  }
  ~ProcessGroup() {
#if defined(VAEGAN_MPI)
    world_.reset();  // before the session finalizes MPI
#endif
  }
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  // Whether mpirun / mpiexec (Open MPI, MPICH) or a PMI-speaking scheduler started us.
  static bool started_by_launcher() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
      if (std::getenv(name) != nullptr) return true;
    return false;
  }

  // The communicator to distribute training over; null for a single process.
  vaegan::Communicator* communicator() const {
#if defined(VAEGAN_MPI)
    if (world_ && world_->size() > 1) return world_.get();
#endif
    return nullptr;
  }
  int size() const { return communicator() ? communicator()->size() : 1; }
  int rank() const { return communicator() ? communicator()->rank() : 0; }
  // Whether this process writes the run's outputs and prints its progress.
  bool writes() const { return rank() == 0; }
  // Threads per process when --threads is 0: the machine's cores shared by the processes on it.
  int default_threads() const {
    int local = 1;
#if defined(VAEGAN_MPI)
    if (world_) local = world_->local_size();
#endif
    const int cores = vaegan::num_threads();
    return cores / local > 1 ? cores / local : 1;
  }
  // The exit code of a failed run: with other processes, ends them all (MPI_Abort) so that
  // none waits forever for this one.
  int fail(int exit_code) const {
    if (communicator()) communicator()->abort(exit_code);
    return exit_code;
  }

 private:
#if defined(VAEGAN_MPI)
  std::optional<vaegan::MpiSession> session_;
  std::unique_ptr<vaegan::MpiCommunicator> world_;
#endif
};

}  // namespace examples
