#pragma once
// The flags every `vaegan train` model has (data, preset, epochs, output, checkpoints,
// limits), and their checks. A Spec adds its own flags between add() and add_output(), so
// --help lists them beside the training flags; a bad common value is reported after the
// Spec's checks.
#include <cstdint>
#include <string>

#include "cli.hpp"
#include "dataset_flag.hpp"

namespace examples {

struct TrainingFlags {
  DatasetFlags data_set;  // --dataset, --data
  std::string preset = "mlp";
  std::int64_t epochs = 5;
  std::int64_t batch_size = 64;
  std::int64_t seed = 1;
  std::int64_t threads = 0;
  std::string out;
  std::int64_t checkpoint_every = 1;
  std::string checkpoint;
  bool resume = false;
  std::int64_t max_steps = -1;
  double time_budget = 0.0;
  std::int64_t samples = 64;
  std::string classifier;
  bool check_numerics = false;
  std::int64_t check_replicas = 0;

  // The flags in groups; the model's own flags go between the "Training" and "Output"
  // groups (add_output), so --help shows them next to the training flags.
  void add(cli::Parser& p) {
    p.group("Data");
    data_set.add(p);
    p.group("Training");
    p.add("p,preset", &preset, "model preset: mlp, seed or conv (docs/reference-workloads.md)", "NAME");
    p.add("e,epochs", &epochs, "train until this many epochs are complete");
    p.add("b,batch-size", &batch_size, "images per step (under mpirun: of all processes together, split evenly)");
    p.add("max-steps", &max_steps, "stop after this many steps in total (-1: no limit)");
    p.add("time-budget", &time_budget, "stop after this many seconds of training (0: no limit)", "SECONDS");
    p.add("s,seed", &seed, "seed of initialization, noise and shuffling");
    p.add("t,threads", &threads, "threads (0: all cores; under mpirun, shared by the processes on a machine)");
  }
  void add_output(cli::Parser& p) {
    p.group("Output");
    p.add("o,out", &out, "directory for images, CSV, plots, report and checkpoint", "DIR");
    p.add("n,samples", &samples, "images in each per-epoch sample grid");
    p.add("classifier", &classifier,
          "score 1,000 samples after each epoch (FID, precision, recall) in this classifier's features (vaegan "
          "classifier makes one): OUT/metrics.csv and the report",
          "FILE");
    p.add("checkpoint", &checkpoint, "checkpoint file (default: OUT/checkpoint.vgck)", "FILE");
    p.add("checkpoint-every", &checkpoint_every, "save a checkpoint every N epochs (0: only at the end)");
    p.add_switch("resume", &resume, "continue from the checkpoint file instead of starting fresh");
    p.group("Debugging");
    p.add_switch("check-numerics", &check_numerics,
                 "check every op's output and gradient, and name the first op that makes a NaN or infinity");
    p.add("check-replicas", &check_replicas,
          "under mpirun: every N steps check that all processes hold bit-identical parameters (0: never)");
  }

  // Messages built after parsing quote the value given.
  void add_checks(cli::Parser& p) {
    p.require([this] { return epochs >= 1 && epochs <= 1000000; },
              [this] { return "--epochs must be 1..1000000, got " + std::to_string(epochs); });
    p.require([this] { return max_steps >= -1; },
              [this] { return "--max-steps must be >= 0, or -1 for no limit, got " + std::to_string(max_steps); });
    p.require([this] { return batch_size >= 1; },
              [this] { return "--batch-size must be >= 1 (images per step), got " + std::to_string(batch_size); });
    p.require([this] { return threads >= 0 && threads <= 1024; },
              [this] { return "--threads must be 0..1024 (0: all cores), got " + std::to_string(threads); });
    p.require([this] { return checkpoint_every >= 0; },
              [this] {
                return "--checkpoint-every must be >= 0 (0: only at the end), got " + std::to_string(checkpoint_every);
              });
    p.require([this] { return samples >= 1 && samples <= 1024; },
              [this] { return "--samples must be 1..1024, got " + std::to_string(samples); });
    p.require([this] { return time_budget >= 0; }, "--time-budget must be >= 0 (0: no limit)");
    p.require([this] { return check_replicas >= 0; }, "--check-replicas must be >= 0 (0: never)");
  }
};

}  // namespace examples
