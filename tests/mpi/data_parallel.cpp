// Data-parallel training over MPI (train/trainer_core.hpp, distributed/mpi.hpp), run under
// `mpirun -np 2` by CTest and Meson. Each case holds on every rank count; with one process
// the distributed run is the reference itself.
//   - Replicas with batch B / ranks each match one process with batch B: the statistics of
//     every step and the parameters after 20 steps within 1e-5 relative (the GAN, the VAE
//     and the VAE-GAN; the mlp preset once).
//   - Two runs with the same seed and rank count are bit-identical, and every replica holds
//     the same bits after every step.
//   - The replica check catches a replica that drifted.
//   - A time budget stops every replica at the same step.
//   - Batch norm's running statistics are averaged, so replicas stay identical with the
//     conv preset (batch norm, and dropout in the discriminator).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <vaegan/distributed/mpi.hpp>
#include <vaegan/vaegan.hpp>

#include "train/train_test_util.hpp"

namespace {

using namespace vaegan;
using train_test::binary_dataset;
using train_test::tiny_config;

MpiCommunicator* world = nullptr;

constexpr Index kGlobalBatch = 32;

// Per-step losses and the final parameters of one run.
struct Run {
  std::vector<std::vector<double>> losses;  // per step, the trainer's statistics
  std::vector<Tensor<float>> params;        // per network
  std::vector<Tensor<float>> buffers;       // per network
};

template <class Trainer>
Run train(Trainer& trainer, const ImageDataset<float>& data, bool distributed, std::int64_t steps,
          double time_budget = 0.0) {
  BatchOptions o;
  o.batch_size = kGlobalBatch;
  o.seed = 99;
  if (distributed) {
    trainer.distribute(*world);
    o.shard_index = world->rank();
    o.shard_count = world->size();
  }
  Batches<float> batches = data.batches(o);
  Run run;
  FitOptions f;
  f.epochs = 1000;
  f.max_steps = steps;
  f.time_budget_seconds = time_budget;
  FitCallbacks callbacks;
  callbacks.on_step = [&](const StepEvent& e) {
    std::vector<double> row;
    for (int i = 0; i < e.stats.size(); ++i) row.push_back(e.stats.value(i));
    run.losses.push_back(row);
  };
  fit(trainer, batches, f, callbacks);
  for (const auto& n : trainer.networks()) {
    run.params.push_back(n.params->values());
    run.buffers.push_back(n.params->buffers());
  }
  return run;
}

// ||a - b|| <= tol ||b||, and every element within 10 tol of the tensor's scale (max |b|):
// a single element can differ by more than its share, as Adam's m / sqrt(v) turns a
// rounding difference in a near-zero gradient into a step of up to lr (seen: 1.1e-5 of
// max |b| in the mlp preset's encoder, whose whole-tensor difference is 7.8e-8).
void require_close(const Tensor<float>& a, const Tensor<float>& b, double tol, const std::string& what) {
  REQUIRE(a.numel() == b.numel());
  double diff2 = 0, norm2 = 0, largest_diff = 0, scale = 0;
  for (Index i = 0; i < a.numel(); ++i) {
    const double d = std::abs(static_cast<double>(a[i]) - b[i]);
    diff2 += d * d;
    norm2 += static_cast<double>(b[i]) * b[i];
    largest_diff = std::max(largest_diff, d);
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  const double worst = largest_diff / scale;
  INFO(what << ": relative norm difference " << std::sqrt(diff2 / norm2)
            << ", largest element difference / max |value| " << worst);
  CHECK(std::sqrt(diff2 / norm2) <= tol);
  CHECK(worst <= 10 * tol);
}

void require_same_losses(const Run& a, const Run& b, double tol) {
  REQUIRE(a.losses.size() == b.losses.size());
  for (std::size_t s = 0; s < a.losses.size(); ++s)
    for (std::size_t i = 0; i < a.losses[s].size(); ++i) {
      const double x = a.losses[s][i], y = b.losses[s][i];
      if (std::isnan(y)) {
        CHECK(std::isnan(x));
        continue;
      }
      INFO("step " << s + 1 << ", statistic " << i << ": " << x << " vs " << y);
      CHECK(std::abs(x - y) <= tol * (std::abs(y) + 1e-3));
    }
}

std::uint64_t hash(const Tensor<float>& t) {
  std::uint64_t h = 1469598103934665603ULL;
  const auto* bytes = reinterpret_cast<const unsigned char*>(t.data());
  for (std::size_t i = 0; i < sizeof(float) * static_cast<std::size_t>(t.numel()); ++i)
    h = (h ^ bytes[i]) * 1099511628211ULL;
  return h;
}

template <class Trainer, class... Args>
void check_matches_one_process(const ImageDataset<float>& data, Args&&... args) {
  Trainer distributed(args...);
  Trainer single(args...);
  const Run a = train(distributed, data, true, 20);
  const Run b = train(single, data, false, 20);
  require_same_losses(a, b, 1e-5);
  for (std::size_t i = 0; i < a.params.size(); ++i)
    require_close(a.params[i], b.params[i], 1e-5, distributed.networks()[i].name);
}

}  // namespace

TEST_CASE("data parallel: replicas with batch B/ranks match one process with batch B after 20 steps") {
  const ImageDataset<float> data = binary_dataset<float>(256, 16, 7);
  ModelConfig c = tiny_config();
  SUBCASE("GAN") { check_matches_one_process<GanTrainer<float>>(data, c, GanOptions{}, 3); }
  SUBCASE("VAE") { check_matches_one_process<VaeTrainer<float>>(data, c, VaeOptions{}, 3); }
  SUBCASE("VAE-GAN") { check_matches_one_process<VaeGanTrainer<float>>(data, c, VaeGanOptions{}, 3); }
  SUBCASE("VAE-GAN with equilibrium gating (a decision on the whole batch's errors)") {
    VaeGanOptions o;
    o.equilibrium_gating = true;
    o.equilibrium = 0.6;
    o.margin = 0.05;
    check_matches_one_process<VaeGanTrainer<float>>(data, c, o, 3);
  }
}

TEST_CASE("data parallel: the mlp preset's VAE-GAN matches one process") {
  Tensor<float> images(Shape::matrix(128, 784));
  Rng rng(5);
  for (Index i = 0; i < images.numel(); ++i) images[i] = static_cast<float>(rng.uniform());
  const ImageDataset<float> data(std::move(images), std::vector<std::uint8_t>(128, 0), Shape{1, 28, 28});
  check_matches_one_process<VaeGanTrainer<float>>(data, model_preset("mlp"), VaeGanOptions{}, 11);
}

TEST_CASE("data parallel: runs with the same seed are bit-identical, and so are the replicas") {
  const ImageDataset<float> data = binary_dataset<float>(256, 16, 7);
  VaeGanTrainer<float> first(tiny_config(), VaeGanOptions{}, 3), second(tiny_config(), VaeGanOptions{}, 3);
  first.set_replica_check_every(1);  // every step: throws if the replicas ever differ
  const Run a = train(first, data, true, 20);
  const Run b = train(second, data, true, 20);
  for (std::size_t i = 0; i < a.params.size(); ++i) {
    CHECK(train_test::bit_identical(a.params[i], b.params[i]));
    CHECK(world->all_equal(hash(a.params[i])));
  }
  REQUIRE(a.losses.size() == b.losses.size());
  for (std::size_t s = 0; s < a.losses.size(); ++s)
    CHECK(std::memcmp(a.losses[s].data(), b.losses[s].data(), sizeof(double) * a.losses[s].size()) == 0);
}

TEST_CASE("data parallel: the replica check names a replica that drifted") {
  if (world->size() < 2) return;  // one process cannot drift from itself
  const ImageDataset<float> data = binary_dataset<float>(256, 16, 7);
  GanTrainer<float> trainer(tiny_config(), GanOptions{}, 3);
  train(trainer, data, true, 2);
  if (world->rank() == 1) trainer.networks()[0].params->values()[0] += 1.0f;
  trainer.set_replica_check_every(1);
  Tensor<float> x;
  BatchOptions o;
  o.batch_size = kGlobalBatch;
  o.shard_index = world->rank();
  o.shard_count = world->size();
  Batches<float> batches = data.batches(o);
  batches.next(x);
  CHECK_THROWS_WITH_AS(trainer.train_step(x), doctest::Contains("replicas' generator parameters differ"), Error);
}

TEST_CASE("data parallel: a time budget stops every replica at the same step") {
  const ImageDataset<float> data = binary_dataset<float>(256, 16, 7);
  VaeTrainer<float> trainer(tiny_config(), VaeOptions{}, 3);
  // Each rank's clock ends the budget at its own step; any_replica makes it one step.
  const Run r = train(trainer, data, true, -1, 0.05);
  CHECK(world->all_equal(static_cast<std::uint64_t>(trainer.step())));
  CHECK(r.losses.size() == static_cast<std::size_t>(trainer.step()));
}

TEST_CASE("data parallel: batch norm's running statistics are averaged, so replicas stay identical (conv preset)") {
  Tensor<float> images(Shape::matrix(64, 784));
  Rng rng(5);
  for (Index i = 0; i < images.numel(); ++i) images[i] = static_cast<float>(rng.uniform());
  const ImageDataset<float> data(std::move(images), std::vector<std::uint8_t>(64, 0), Shape{1, 28, 28});
  ModelConfig c = model_preset("conv");
  c.discriminator_dropout = 0.3;  // batch draws: each replica its own rows of the mask
  VaeGanTrainer<float> trainer(c, VaeGanOptions{}, 3);
  const Run r = train(trainer, data, true, 3);
  bool any_buffers = false;
  for (std::size_t i = 0; i < r.params.size(); ++i) {
    CHECK(world->all_equal(hash(r.params[i])));
    CHECK(world->all_equal(hash(r.buffers[i])));
    any_buffers = any_buffers || r.buffers[i].numel() > 0;
  }
  CHECK(any_buffers);
  CHECK(world->all_equal(trainer.rng().state().s[0]));  // the Rngs stay in step
}

int main(int argc, char** argv) {
  vaegan::MpiSession session(argc, argv);
  vaegan::MpiCommunicator communicator;
  world = &communicator;
  vaegan::set_num_threads(1);
  doctest::Context context(argc, argv);
  const int failures = context.run();
  // Every rank must agree on the verdict; a failure on one rank fails the run.
  const bool any_failed = communicator.any(failures != 0);
  world = nullptr;
  return any_failed ? 1 : 0;
}
