// bench_data_parallel: training steps per second of data-parallel training over MPI (one
// thread per process), for the scaling figures of docs/distributed.md. Start it with
// mpirun; each process trains a replica on `--batch` images of every step (weak scaling:
// the whole batch is batch x processes), and process 0 prints one JSON line:
//   mpirun -np 2 ./build/benchmarks/bench_data_parallel --preset mlp --step vaegan --batch 64
// The timed steps run between two barriers, so the figure is the group's: every process
// has finished its steps. benchmarks/data_parallel.sh runs it beside PyTorch's
// DistributedDataParallel (benchmarks/reference/ddp_torch.py), alternated.
// VAEGAN_MPI_SUMS=nonblocking times MPI_Iallreduce instead of MPI_Allreduce (mpirun -x).
// Without a launcher (or a build without VAEGAN_MPI) it is the one-process baseline.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <vaegan/vaegan.hpp>

#include "cli.hpp"
#include "process_group.hpp"

namespace {

struct Flags {
  std::string preset = "mlp", step = "vaegan";
  std::int64_t batch = 64, steps = 200, warmup = 20, repeats = 5;
  bool list = false;
};

// VAEGAN_MPI_SUMS (process_group.hpp): how gradients are summed.
const char* sums_mode() {
  const char* s = std::getenv("VAEGAN_MPI_SUMS");
  return s && std::string(s) == "nonblocking" ? "nonblocking" : "blocking";
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Seconds per step over `steps` steps, once every process has finished them.
template <class Trainer>
double time_steps(Trainer& trainer, vaegan::Batches<float>& batches, vaegan::Communicator* comm, std::int64_t steps) {
  vaegan::Tensor<float> x;
  double flag = 0;
  if (comm) comm->sum(&flag, 1);  // a barrier
  const double t0 = now();
  for (std::int64_t i = 0; i < steps; ++i) {
    if (!batches.next(x)) batches.next(x);  // an epoch's end: the next epoch's first batch
    trainer.train_step(x);
  }
  if (comm) comm->sum(&flag, 1);
  return (now() - t0) / static_cast<double>(steps);
}

template <class Trainer>
int run(const Flags& f, const examples::ProcessGroup& group) {
  const vaegan::ModelConfig config = vaegan::model_preset(f.preset);
  const int ranks = group.size();
  const vaegan::Index global = f.batch * ranks;
  // Uniform [0, 1) images, four whole batches of them (what bench_step trains on too).
  vaegan::Tensor<float> images(vaegan::Shape::matrix(4 * global, config.image_shape.numel()));
  vaegan::Rng rng(1);
  rng.fill_uniform(images.data(), images.numel(), 0.0, 1.0);
  const vaegan::ImageDataset<float> data(std::move(images), std::vector<std::uint8_t>(4 * global, 0),
                                         config.image_shape);
  Trainer trainer(config, {}, 1);
  vaegan::BatchOptions o;
  o.batch_size = global;
  if (vaegan::Communicator* comm = group.communicator()) {
    trainer.distribute(*comm);
    o.shard_index = comm->rank();
    o.shard_count = comm->size();
  }
  vaegan::Batches<float> batches = data.batches(o);
  time_steps(trainer, batches, group.communicator(), f.warmup);
  std::vector<double> per_step;
  for (std::int64_t r = 0; r < f.repeats; ++r)
    per_step.push_back(time_steps(trainer, batches, group.communicator(), f.steps));
  std::sort(per_step.begin(), per_step.end());
  const double median = per_step[per_step.size() / 2];
  // What each step sums over the processes: every network's gradient and non-trained state
  // (every network is updated every step of these reference steps).
  long long bytes = 0;
  for (const auto& n : trainer.networks())
    bytes += static_cast<long long>(sizeof(float)) * (n.params->size() + n.params->buffers().numel());
  if (group.writes()) {
    std::printf(
        "{\"impl\":\"vaegan\",\"preset\":\"%s\",\"step\":\"%s\",\"ranks\":%d,\"batch_per_rank\":%lld,"
        "\"threads_per_rank\":%d,\"steps\":%lld,\"repeats\":%lld,\"median_ms\":%.4f,\"min_ms\":%.4f,"
        "\"steps_per_s\":%.3f,\"images_per_s\":%.1f,\"allreduce_bytes\":%lld,\"sums\":\"%s\"}\n",
        f.preset.c_str(), f.step.c_str(), ranks, static_cast<long long>(f.batch), vaegan::num_threads(),
        static_cast<long long>(f.steps), static_cast<long long>(f.repeats), median * 1e3, per_step.front() * 1e3,
        1.0 / median, static_cast<double>(global) / median, bytes, sums_mode());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const examples::ProcessGroup group(argc, argv);
  Flags f;
  cli::Parser p("bench_data_parallel", "Steps per second of data-parallel training over MPI (run with mpirun).");
  p.set_quiet(!group.writes());
  p.add("preset", &f.preset, "mlp, seed or conv");
  p.add("step", &f.step, "gan, vae or vaegan");
  p.add("batch", &f.batch, "images per process per step");
  p.add("steps", &f.steps, "timed steps per repeat");
  p.add("warmup", &f.warmup, "untimed steps first");
  p.add("repeats", &f.repeats, "timed repeats (the median is reported)");
  p.add_switch("benchmark_list_tests", &f.list, "print the configuration it would time and exit");
  p.require([&] { return f.step == "gan" || f.step == "vae" || f.step == "vaegan"; },
            "--step must be gan, vae or vaegan");
  p.require([&] { return f.batch >= 1 && f.steps >= 1 && f.warmup >= 0 && f.repeats >= 1; },
            "need --batch, --steps, --repeats >= 1 and --warmup >= 0");
  p.parse(argc, argv);
  if (f.list) {
    if (group.writes())
      std::cout << f.preset << "/" << f.step << "/batch_per_rank:" << f.batch << "/ranks:" << group.size() << "\n";
    return 0;
  }
  vaegan::set_num_threads(1);
  try {
    if (f.step == "gan") return run<vaegan::GanTrainer<float>>(f, group);
    if (f.step == "vae") return run<vaegan::VaeTrainer<float>>(f, group);
    return run<vaegan::VaeGanTrainer<float>>(f, group);
  } catch (const std::exception& e) {
    std::cerr << "bench_data_parallel: error: " << e.what() << "\n";
    return group.fail(1);
  }
}
