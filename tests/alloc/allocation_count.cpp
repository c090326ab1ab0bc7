// Proves that a steady-state training step makes no heap allocation.
//
// This executable replaces the C allocation functions (malloc, calloc, realloc,
// posix_memalign, aligned_alloc, memalign, valloc, pvalloc) with versions that count
// and then forward to glibc's own implementations (__libc_malloc and friends). An
// executable's definitions interpose on the C library's for every shared object, so
// operator new (libstdc++), OpenMP's runtime and Eigen's aligned_malloc are counted
// too. Counting is on only inside the measured region and is thread-safe, so the
// OpenMP worker threads of a threaded step are included.
//
// Built as its own executable (vaegan_alloc_test) so the replacement allocator does not
// affect the other tests. glibc only: the __libc_* entry points are glibc's.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "vaegan/data/dataset.hpp"
#include "vaegan/losses/bce.hpp"
#include "vaegan/losses/kl.hpp"
#include "vaegan/nn/sequential.hpp"
#include "vaegan/ops/activation.hpp"
#include "vaegan/ops/elementwise.hpp"
#include "vaegan/ops/reparam.hpp"
#include "vaegan/ops/rows.hpp"
#include "vaegan/optim/adam.hpp"
#include "vaegan/train/gan_trainer.hpp"
#include "vaegan/train/vae_trainer.hpp"
#include "vaegan/train/vaegan_trainer.hpp"

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* ptr, std::size_t size);
void __libc_free(void* ptr);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void* __libc_valloc(std::size_t size);
void* __libc_pvalloc(std::size_t size);
}

namespace {

std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

inline void count_allocation() {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
}

// Counts the allocations made while it is alive.
class AllocationCounter {
 public:
  AllocationCounter() {
    g_allocations.store(0);
    g_counting.store(true);
  }
  ~AllocationCounter() { g_counting.store(false); }
  AllocationCounter(const AllocationCounter&) = delete;
  AllocationCounter& operator=(const AllocationCounter&) = delete;
  long stop() {
    g_counting.store(false);
    return g_allocations.load();
  }
};

}  // namespace

extern "C" {
void* malloc(std::size_t size) noexcept {
  count_allocation();
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
  count_allocation();
  return __libc_calloc(count, size);
}
void* realloc(void* ptr, std::size_t size) noexcept {
  count_allocation();
  return __libc_realloc(ptr, size);
}
void free(void* ptr) noexcept { __libc_free(ptr); }
void* memalign(std::size_t alignment, std::size_t size) noexcept {
  count_allocation();
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  count_allocation();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  count_allocation();
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
void* valloc(std::size_t size) noexcept {
  count_allocation();
  return __libc_valloc(size);
}
void* pvalloc(std::size_t size) noexcept {
  count_allocation();
  return __libc_pvalloc(size);
}
}

namespace {

using vaegan::Activation;
using vaegan::Index;
using vaegan::Rng;
using vaegan::Shape;
using vaegan::Tensor;
using vaegan::Var;

// Written through, so the compiler cannot drop an allocation whose result is unused.
void* volatile g_sink = nullptr;

constexpr Index kBatch = 64;
constexpr Index kImage = 784;

// The reference `mlp` preset networks (docs/reference-workloads.md), with Adam as specified.
struct MlpNetworks {
  Rng rng{42};
  vaegan::ParameterSet<float> e_params{"encoder"}, g_params{"decoder"}, d_params{"discriminator"};
  vaegan::Sequential<float> encoder{
      e_params, {kImage, 512, 256}, {Activation::relu(), Activation::relu()}, rng, "trunk"};
  vaegan::Sequential<float> mu_head{e_params, {256, 32}, {Activation::identity()}, rng, "mu"};
  vaegan::Sequential<float> logvar_head{e_params, {256, 32}, {Activation::identity()}, rng, "logvar"};
  vaegan::Sequential<float> generator{
      g_params, {32, 256, 512, kImage}, {Activation::relu(), Activation::relu(), Activation::identity()}, rng, "g"};
  vaegan::Sequential<float> discriminator{
      d_params,
      {kImage, 512, 256, 1},
      {Activation::leaky_relu(0.2), Activation::leaky_relu(0.2), Activation::identity()},
      rng,
      "d"};
  vaegan::Adam<float> e_opt{e_params, adam_options()}, g_opt{g_params, adam_options()}, d_opt{d_params, adam_options()};
  vaegan::Tape<float> tape;
  Tensor<float> real{Shape{kBatch, kImage}};
  Tensor<float> noise{Shape{kBatch, 32}};

  MlpNetworks() { rng.fill_uniform(real.data(), real.numel(), 0.0, 1.0); }

  static vaegan::AdamOptions adam_options() {
    vaegan::AdamOptions o;
    o.lr = 2e-4;
    o.beta1 = 0.5;
    o.beta2 = 0.999;
    return o;
  }

  // GAN: one D pass over [x, x_f]; L_D to D, L_G to G; Adam on both.
  float gan_step() {
    tape.reset();
    rng.fill_normal(noise.data(), noise.numel());
    Var<float> x = tape.constant(real);
    Var<float> x_f = vaegan::sigmoid(generator(tape.constant(noise), vaegan::ForwardContext::eval()));
    Var<float> logits = discriminator(vaegan::concat_rows(x, x_f), vaegan::ForwardContext::eval());
    auto [d_real, d_fake] = vaegan::split_rows<float, 2>(logits, {kBatch, kBatch});
    Var<float> l_d = vaegan::bce_with_logits(d_real, 1.0f) + vaegan::bce_with_logits(d_fake, 0.0f);
    Var<float> l_g = vaegan::bce_with_logits(d_fake, 1.0f);
    tape.backward(l_d, {d_params});
    tape.backward(l_g, {g_params});
    d_opt.step();
    g_opt.step();
    d_opt.zero_grad();
    g_opt.zero_grad();
    return l_d.item() + l_g.item();
  }

  // VAE-GAN: encoder, reparameterization, two decoder passes, one D pass over three
  // batches, three losses to three networks.
  float vae_gan_step() {
    tape.reset();
    Var<float> x = tape.constant(real);
    Var<float> h = encoder(x, vaegan::ForwardContext::eval());
    Var<float> mu = mu_head(h, vaegan::ForwardContext::eval()), logvar = logvar_head(h, vaegan::ForwardContext::eval());
    Var<float> z = vaegan::reparameterize(mu, logvar, rng);
    Var<float> x_r = generator(z, vaegan::ForwardContext::eval());
    rng.fill_normal(noise.data(), noise.numel());
    Var<float> x_p = generator(tape.constant(noise), vaegan::ForwardContext::eval());
    Var<float> logits = discriminator(vaegan::concat_rows(x, vaegan::sigmoid(x_r), vaegan::sigmoid(x_p)),
                                      vaegan::ForwardContext::eval());
    auto [d_real, d_rec, d_prior] = vaegan::split_rows<float, 3>(logits, {kBatch, kBatch, kBatch});
    Var<float> rec = vaegan::bce_with_logits(x_r, x, vaegan::Reduction::batch_mean);
    Var<float> kl = vaegan::kl_normal(mu, logvar);
    Var<float> l_d = vaegan::bce_with_logits(d_real, 1.0f) + vaegan::bce_with_logits(d_rec, 0.0f) +
                     vaegan::bce_with_logits(d_prior, 0.0f);
    Var<float> l_e = kl + rec;
    Var<float> l_dec = rec + vaegan::bce_with_logits(d_rec, 1.0f) + vaegan::bce_with_logits(d_prior, 1.0f);
    tape.backward(l_d, {d_params});
    tape.backward(l_e, {e_params});
    tape.backward(l_dec, {g_params});
    d_opt.step();
    e_opt.step();
    g_opt.step();
    d_opt.zero_grad();
    e_opt.zero_grad();
    g_opt.zero_grad();
    return l_d.item() + l_e.item() + l_dec.item();
  }
};

// Runs 3 warm-up steps, then counts the allocations of the next 5.
template <class Step>
long allocations_in_steady_state(Step&& step) {
  float total = 0.0f;
  for (int i = 0; i < 3; ++i) total += step();
  AllocationCounter counter;
  for (int i = 0; i < 5; ++i) total += step();
  const long allocations = counter.stop();
  REQUIRE(std::isfinite(total));
  return allocations;
}

}  // namespace

TEST_CASE("allocation counter: counts malloc, operator new and aligned allocations") {
  long counted = 0;
  {
    AllocationCounter counter;
    void* p = std::malloc(100);
    g_sink = p;
    std::free(p);
    counted = counter.stop();
  }
  CHECK(counted == 1);
  {
    AllocationCounter counter;
    std::vector<int> v(1000, 1);
    g_sink = v.data();
    counted = counter.stop();
  }
  CHECK(counted == 1);
  {
    AllocationCounter counter;
    vaegan::Tensor<float> t(vaegan::Shape{256, 256});  // Eigen's aligned_malloc
    g_sink = t.data();
    auto* array = new double[300];
    g_sink = array;
    delete[] array;
    counted = counter.stop();
  }
  CHECK(counted == 2);
  {
    AllocationCounter counter;
    g_sink = nullptr;
    counted = counter.stop();
  }
  CHECK(counted == 0);
}

TEST_CASE("allocation counter: allocations on OpenMP worker threads are counted") {
#ifdef _OPENMP
  long counted = 0;
  {
    AllocationCounter counter;
#pragma omp parallel num_threads(2)
    {
      void* p = std::malloc(64);
      g_sink = p;
      std::free(p);
    }
    counted = counter.stop();
  }
  CHECK(counted >= 2);
#endif
}

TEST_CASE("tape: a steady-state GAN step of the mlp preset makes no heap allocation") {
  MlpNetworks nets;
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    vaegan::set_num_threads(threads);
    CHECK(allocations_in_steady_state([&] { return nets.gan_step(); }) == 0);
  }
}

TEST_CASE("tape: a steady-state VAE-GAN step of the mlp preset makes no heap allocation") {
  MlpNetworks nets;
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    vaegan::set_num_threads(threads);
    CHECK(allocations_in_steady_state([&] { return nets.vae_gan_step(); }) == 0);
  }
}

// The library's own trainers, as bench_step and the example programs run them: every
// docs/reference-workloads.md step of the mlp preset, at 1 and 2 threads.
TEST_CASE_TEMPLATE("trainers: a steady-state training step of the mlp preset makes no heap allocation", Trainer,
                   vaegan::GanTrainer<float>, vaegan::VaeTrainer<float>, vaegan::VaeGanTrainer<float>) {
  Trainer trainer(vaegan::model_preset("mlp"));
  Tensor<float> images(Shape{kBatch, kImage});
  Rng data_rng(3);
  data_rng.fill_uniform(images.data(), images.numel(), 0.0, 1.0);
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    vaegan::set_num_threads(threads);
    CHECK(allocations_in_steady_state([&] { return static_cast<float>(trainer.train_step(images).value(0)); }) == 0);
  }
}

// The conv preset: im2col/col2im workspaces, batch-norm statistics and the transposed
// convolutions all live in the tape's buffers after the first steps.
TEST_CASE_TEMPLATE("trainers: a steady-state training step of the conv preset makes no heap allocation", Trainer,
                   vaegan::GanTrainer<float>, vaegan::VaeTrainer<float>, vaegan::VaeGanTrainer<float>) {
  Trainer trainer(vaegan::model_preset("conv"));
  Tensor<float> images(Shape{16, 1, 28, 28});
  Rng data_rng(4);
  data_rng.fill_uniform(images.data(), images.numel(), 0.0, 1.0);
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    vaegan::set_num_threads(threads);
    CHECK(allocations_in_steady_state([&] { return static_cast<float>(trainer.train_step(images).value(0)); }) == 0);
  }
}

TEST_CASE("data: the batch loop over an RGB dataset makes no heap allocation after its first batch, across epochs") {
  // 100 images of [3, 8, 8]: batches of 32 with drop_last, so an epoch is 3 batches and
  // the counted steps cross epoch ends (where the next order is shuffled in place).
  const vaegan::Index n = 100, d = 3 * 8 * 8;
  vaegan::Tensor<float> images(vaegan::Shape{n, d});
  for (vaegan::Index i = 0; i < images.numel(); ++i) images[i] = static_cast<float>(i % 255) / 255.0f;
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::uint8_t>(i % 4);
  const vaegan::ImageDataset<float> data(std::move(images), std::move(labels), vaegan::Shape{3, 8, 8});
  vaegan::Batches<float> batches = data.batches({32, 7});
  vaegan::Tensor<float> x;
  std::vector<std::uint8_t> y;
  const auto next_batch = [&] {
    if (!batches.next(x, &y)) batches.next(x, &y);  // an epoch's end: start the next one
    return x[0];
  };
  CHECK(allocations_in_steady_state(next_batch) == 0);
  CHECK(x.shape() == vaegan::Shape{32, 3, 8, 8});
  CHECK(batches.epoch() >= 2);
}
