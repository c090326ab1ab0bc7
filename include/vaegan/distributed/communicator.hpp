#pragma once
// Communicator: what data-parallel training needs from a group of processes, each
// training a replica of the same model on its shard of every batch
// (TrainerCore::distribute). The library's one implementation is MPI
// (distributed/mpi.hpp, built with VAEGAN_MPI); the interface keeps MPI out of every other
// header, so a build without it has no MPI dependency, and a test or a user can put
// another transport behind it.
//
// Every call is collective: every process of the group makes the same calls in the same
// order, or the group waits forever. Trainers keep to that by making every decision that
// steers a step (whether to update a network, whether to stop) from values that are the
// same on every process.
#include <cstdint>

#include "vaegan/core/config.hpp"

namespace vaegan {

class Communicator {
 public:
  virtual ~Communicator() = default;
  // This process's number in the group, 0..size()-1; process 0 writes the outputs.
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Starts summing data[0..n) over the group, in place. The sum is there once wait_all()
  // returns; until then the buffer must be left alone. Several may be in flight.
  virtual void start_sum(float* data, Index n) = 0;
  virtual void start_sum(double* data, Index n) = 0;
  virtual void wait_all() = 0;
  // Sums values[0..n) over the group, in place, and returns when done (a few values).
  virtual void sum(double* values, int n) = 0;
  // Whether every process passed the same value.
  virtual bool all_equal(std::uint64_t value) = 0;
  // Whether any process passed true.
  virtual bool any(bool value) = 0;
  // Ends every process of the group with this exit code: the way out when one process
  // fails, so that the others do not wait for it forever.
  [[noreturn]] virtual void abort(int exit_code) = 0;
};

}  // namespace vaegan
