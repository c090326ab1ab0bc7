// Tests of train/checkpointing.hpp and train/fit.hpp: a checkpoint restores a trainer and
// its batch loop bit for bit, a resumed run equals an uninterrupted one, fit() stops at
// its limits without leaving an epoch half-closed, and a checkpoint that does not fit is
// rejected with a clear message before anything changes.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "test_util.hpp"  // ThreadCountGuard
#include "train/train_test_util.hpp"

namespace {

using vaegan::test::contains;

using namespace vaegan;
using namespace vaegan::train_test;

// The error message of load_training_checkpoint, or "" if it loaded.
template <class Trainer, class T>
std::string load_error(const std::string& path, Trainer& trainer, Batches<T>* batches) {
  try {
    load_training_checkpoint(path, trainer, batches);
  } catch (const IoError& e) {
    return e.what();
  } catch (const Error& e) {
    return std::string("(not an IoError) ") + e.what();
  }
  return "";
}

}  // namespace

TEST_CASE_TEMPLATE("save_training_checkpoint: loading restores the whole trainer and batch loop bit for bit", Trainer,
                   VaeGanTrainer<float>, GanTrainer<float>, VaeTrainer<float>, VaeGanTrainer<double>) {
  using T = ScalarOf<Trainer>;
  const ModelConfig config = tiny_config();
  const ImageDataset<T> data = binary_dataset<T>(40, config.image_dim(), 8);
  Batches<T> batches = data.batches({16, 77});
  Trainer trainer(config, {}, 4);
  Tensor<T> x;
  for (int i = 0; i < 5; ++i) {  // 2 batches an epoch: ends in the middle of epoch 2
    if (!batches.next(x)) {
      trainer.set_epoch(trainer.epoch() + 1);
      REQUIRE(batches.next(x));
    }
    trainer.train_step(x);
  }
  REQUIRE(trainer.epoch() == 2);
  REQUIRE(batches.cursor() == 16);
  // A spare normal pending in the Rng must survive too: draw an odd number of normals.
  trainer.rng().normal();

  vaegan_test::TempDir dir;
  const std::string path = dir.file("trainer.vgck");
  save_training_checkpoint(path, trainer, &batches);

  Trainer restored(config, {}, 12345);  // other seed: nothing of its own state may survive
  Batches<T> restored_batches = data.batches({16, 1});
  load_training_checkpoint(path, restored, &restored_batches);

  check_same_state(snapshot<T>(trainer), snapshot<T>(restored));
  CHECK(restored.rng().state().has_spare);
  CHECK(restored_batches.state() == batches.state());
  CHECK(restored_batches.order() == batches.order());
  for (const auto& net : restored.networks()) CHECK(net.params->grads().matrix().isZero());

  // What read_checkpoint_info sees without a trainer.
  const CheckpointInfo info = read_checkpoint_info(path);
  CHECK(info.kind == Trainer::kKind);
  CHECK(info.dtype == (std::is_same_v<T, float> ? "float32" : "float64"));
  CHECK(info.config == config);
  CHECK(info.step == 5);
  CHECK(info.epoch == 2);

  // Both continue identically.
  Tensor<T> y;
  REQUIRE(batches.next(x));
  REQUIRE(restored_batches.next(y));
  CHECK(bit_identical(x, y));
  const StepStats s1 = trainer.train_step(x);
  const StepStats s2 = restored.train_step(y);
  for (int i = 0; i < s1.size(); ++i) {
    INFO(s1.name(i));  // a statistic this step does not measure is nan in both
    CHECK((s1.value(i) == s2.value(i) || (std::isnan(s1.value(i)) && std::isnan(s2.value(i)))));
  }
  check_same_state(snapshot<T>(trainer), snapshot<T>(restored));
}

// fit() for `steps` steps in total (from wherever the trainer stands).
template <class Trainer, class T>
void fit_to(Trainer& trainer, Batches<T>& batches, std::int64_t steps) {
  FitOptions options;
  options.epochs = 1000;
  options.max_steps = steps;
  REQUIRE(fit(trainer, batches, options) == FitEnd::max_steps);
  REQUIRE(trainer.step() == steps);
}

// 2N steps straight versus N steps, a checkpoint, a brand-new trainer and batch loop, and
// N more. The sizes make the discriminator's GEMMs ([96, 64] x [64, 64]) large enough for
// the threaded GEMM path, so the 2-thread run exercises it.
TEST_CASE_TEMPLATE("load_training_checkpoint: a resumed run is bit-identical to an uninterrupted one", Trainer,
                   VaeGanTrainer<float>, GanTrainer<float>, VaeTrainer<float>) {
  using T = ScalarOf<Trainer>;
  vaegan::test::ThreadCountGuard threads_guard;
  const ModelConfig config = tiny_config(64, 8, 64);
  // 80 images in batches of 32: 2 batches an epoch, 16 images dropped.
  const ImageDataset<T> data = binary_dataset<T>(80, config.image_dim(), 19);
  const BatchOptions batch_options{32, 2024};
  vaegan_test::TempDir dir;

  for (int threads : {1, 2}) {
    // N = 2 saves at the very end of an epoch (cursor at the end, epoch not yet closed);
    // N = 3 saves in the middle of one. Both resumed halves cross an epoch boundary.
    for (std::int64_t n : {2, 3}) {
      CAPTURE(threads);
      CAPTURE(n);
      set_num_threads(threads);

      Trainer straight(config, {}, 42);
      Batches<T> straight_batches = data.batches(batch_options);
      fit_to(straight, straight_batches, 2 * n);

      const std::string path = dir.file("resume.vgck");
      {
        Trainer first(config, {}, 42);
        Batches<T> first_batches = data.batches(batch_options);
        fit_to(first, first_batches, n);
        save_training_checkpoint(path, first, &first_batches);
      }
      Trainer resumed(config, {}, 1);
      Batches<T> resumed_batches = data.batches(batch_options);
      load_training_checkpoint(path, resumed, &resumed_batches);
      REQUIRE(resumed.step() == n);
      fit_to(resumed, resumed_batches, 2 * n);

      CHECK(resumed.epoch() >= 1);
      check_same_state(snapshot<T>(straight), snapshot<T>(resumed));
      CHECK(resumed_batches.state() == straight_batches.state());
    }
  }
}

TEST_CASE("load_training_checkpoint: fit() over whole epochs resumes exactly, epoch means included") {
  using T = float;
  const ModelConfig config = tiny_config();
  const ImageDataset<T> data = binary_dataset<T>(48, config.image_dim(), 23);
  const BatchOptions batch_options{16, 5};
  std::vector<double> straight_means, resumed_means;
  FitCallbacks record;
  auto recorder = [](std::vector<double>& out) {
    return [&out](const EpochEvent& e) {
      out.push_back(e.mean_stats.get("loss_dec"));
      return true;
    };
  };

  VaeGanTrainer<T> straight(config, {}, 8);
  Batches<T> straight_batches = data.batches(batch_options);
  record.on_epoch = recorder(straight_means);
  FitOptions options;
  options.epochs = 4;
  CHECK(fit(straight, straight_batches, options, record) == FitEnd::epochs_done);
  CHECK(straight.step() == 12);

  vaegan_test::TempDir dir;
  const std::string path = dir.file("epochs.vgck");
  {
    VaeGanTrainer<T> first(config, {}, 8);
    Batches<T> first_batches = data.batches(batch_options);
    record.on_epoch = recorder(resumed_means);
    options.epochs = 2;
    fit(first, first_batches, options, record);
    save_training_checkpoint(path, first, &first_batches);
  }
  VaeGanTrainer<T> resumed(config, {}, 9);
  Batches<T> resumed_batches = data.batches(batch_options);
  load_training_checkpoint(path, resumed, &resumed_batches);
  CHECK(resumed.epoch() == 2);
  options.epochs = 4;
  fit(resumed, resumed_batches, options, record);

  check_same_state(snapshot<T>(straight), snapshot<T>(resumed));
  REQUIRE(resumed_means.size() == 4);
  CHECK(resumed_means == straight_means);
}

TEST_CASE("fit: a step limit that lands on an epoch's last batch closes that epoch first") {
  using T = float;
  const ModelConfig config = tiny_config();
  const ImageDataset<T> data = binary_dataset<T>(48, config.image_dim(), 29);  // 3 batches of 16
  for (std::int64_t max_steps : {3, 4}) {
    CAPTURE(max_steps);
    VaeTrainer<T> trainer(config, {}, 3);
    Batches<T> batches = data.batches({16, 6});
    std::vector<std::int64_t> closed;
    FitCallbacks callbacks;
    callbacks.on_epoch = [&](const EpochEvent& e) {
      closed.push_back(e.epoch);
      CHECK(std::isfinite(e.mean_stats.get("loss")));  // the epoch's steps, not an empty epoch
      return true;
    };
    FitOptions options;
    options.epochs = 5;
    options.max_steps = max_steps;
    CHECK(fit(trainer, batches, options, callbacks) == FitEnd::max_steps);
    CHECK(trainer.step() == max_steps);
    // Both stop after epoch 1 is closed: at its end (3) and one batch into epoch 2 (4).
    CHECK(closed == std::vector<std::int64_t>{1});
    CHECK(trainer.epoch() == 1);
    CHECK(batches.epoch() == 1);
    CHECK(batches.cursor() == (max_steps - 3) * 16);
  }
}

// ---- checkpoints that do not fit ----------------------------------------------------------

TEST_CASE("load_training_checkpoint: damaged or mismatched checkpoints are rejected and change nothing") {
  using T = float;
  const ModelConfig config = tiny_config();
  const ImageDataset<T> data = binary_dataset<T>(32, config.image_dim(), 2);
  vaegan_test::TempDir dir;

  // A good checkpoint of a trained VAE-GAN.
  const std::string good = dir.file("good.vgck");
  {
    VaeGanTrainer<T> source(config, {}, 2);
    Batches<T> batches = data.batches({8, 3});
    Tensor<T> x;
    for (int i = 0; i < 3; ++i) {
      REQUIRE(batches.next(x));
      source.train_step(x);
    }
    save_training_checkpoint(good, source, &batches);
  }
  const std::vector<std::uint8_t> bytes = vaegan_test::read_all(good);

  // The target: a trainer with its own, different state, and a batch loop mid-epoch.
  VaeGanTrainer<T> target(config, {}, 77);
  Batches<T> target_batches = data.batches({8, 99});
  {
    Tensor<T> x;
    target_batches.next(x);
    target.train_step(x);
  }
  const TrainerState<T> before = snapshot<T>(target);
  const BatchState batches_before = target_batches.state();
  auto check_untouched = [&] {
    check_same_state(before, snapshot<T>(target));
    CHECK(target_batches.state() == batches_before);
  };

  SUBCASE("truncated file") {
    const std::string path = dir.file("truncated.vgck");
    vaegan_test::write_all(path, std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + bytes.size() / 2));
    const std::string message = load_error(path, target, &target_batches);
    INFO(message);
    CHECK(contains(message, "truncated"));
    CHECK(contains(message, path));
    check_untouched();
  }
  SUBCASE("one flipped byte in the parameters") {
    const std::string path = dir.file("flipped.vgck");
    std::vector<std::uint8_t> damaged = bytes;
    damaged[damaged.size() / 2] ^= 0x10;
    vaegan_test::write_all(path, damaged);
    const std::string message = load_error(path, target, &target_batches);
    INFO(message);
    CHECK(contains(message, "CRC mismatch"));
    check_untouched();
  }
  SUBCASE("a checkpoint of another trainer kind names both kinds") {
    const std::string path = dir.file("gan.vgck");
    GanTrainer<T> gan(config, {}, 2);
    save_training_checkpoint<GanTrainer<T>, T>(path, gan, nullptr);
    const std::string message = load_error(path, target, &target_batches);
    INFO(message);
    CHECK(contains(message, "holds a gan trainer"));
    CHECK(contains(message, "trains a vaegan"));
    check_untouched();
  }
  SUBCASE("a checkpoint of another model config names both configs") {
    const std::string path = dir.file("wider.vgck");
    const ModelConfig wider = tiny_config(16, 4, 48);
    VaeGanTrainer<T> other(wider, {}, 2);
    save_training_checkpoint<VaeGanTrainer<T>, T>(path, other, nullptr);
    const std::string message = load_error(path, target, &target_batches);
    INFO(message);
    CHECK(contains(message, "the checkpoint has 'trunk.1' Dense [16] -> [48]"));
    CHECK(contains(message, "this encoder has 'trunk.1' Dense [16] -> [32]"));
    check_untouched();
  }
  SUBCASE("a checkpoint of another scalar type names both") {
    const std::string path = dir.file("double.vgck");
    VaeGanTrainer<double> other(config, {}, 2);
    save_training_checkpoint<VaeGanTrainer<double>, double>(path, other, nullptr);
    const std::string message = load_error(path, target, &target_batches);
    INFO(message);
    CHECK(contains(message, "float64"));
    CHECK(contains(message, "float32"));
    check_untouched();
  }
  SUBCASE("a checkpoint without the batch loop's position, when one is asked for") {
    const std::string path = dir.file("no-batches.vgck");
    VaeGanTrainer<T> other(config, {}, 2);
    save_training_checkpoint<VaeGanTrainer<T>, T>(path, other, nullptr);
    const std::string message = load_error(path, target, &target_batches);
    INFO(message);
    CHECK(contains(message, "missing section 'batches."));
    check_untouched();
  }
  SUBCASE("a checkpoint from a dataset of another size") {
    const std::string path = dir.file("other-data.vgck");
    const ImageDataset<T> bigger = binary_dataset<T>(40, config.image_dim(), 2);
    Batches<T> bigger_batches = bigger.batches({8, 3});
    VaeGanTrainer<T> other(config, {}, 2);
    save_training_checkpoint(path, other, &bigger_batches);
    std::string message;
    try {
      load_training_checkpoint(path, target, &target_batches);
    } catch (const ShapeError& e) {
      message = e.what();
    }
    INFO(message);
    CHECK(contains(message, "40 images"));
    CHECK(contains(message, "32"));
    check_untouched();
  }
  // Consistent headers, bad content: a file written by hand or by a buggy writer. The
  // load must fail on its checks, not halfway through copying networks in.
  SUBCASE("a section missing from the last network") {
    const std::string path = dir.file("missing.vgck");
    rewrite_checkpoint(good, path, [](const std::string& name, const CheckpointReader&, CheckpointWriter&) {
      return name == "discriminator.adam.v";  // drop it
    });
    const std::string message = load_error(path, target, &target_batches);
    INFO(message);
    CHECK(contains(message, "missing section 'discriminator.adam.v'"));
    check_untouched();
  }
  SUBCASE("a tensor of the wrong dtype in the last network") {
    const std::string path = dir.file("dtype.vgck");
    rewrite_checkpoint(good, path, [](const std::string& name, const CheckpointReader& r, CheckpointWriter& w) {
      if (name != "discriminator.params") return false;
      const Tensor<float> f = r.tensor<float>(name, r.tensor_shape(name));
      Tensor<double> d(f.shape());
      for (Index i = 0; i < f.numel(); ++i) d[i] = f[i];
      w.add_tensor(name, d);
      return true;
    });
    const std::string message = load_error(path, target, &target_batches);
    INFO(message);
    CHECK(contains(message, "discriminator.params"));
    CHECK(contains(message, "dtype"));
    check_untouched();
  }
  SUBCASE("the intact checkpoint loads (the cases above fail for their own reason)") {
    CHECK(load_error(good, target, &target_batches).empty());
    CHECK(target.step() == 3);
  }
}

// Determinism (docs/determinism.md): a rerun with the same seed and thread count repeats
// every bit. Across thread counts the library promises the same, by construction: GEMM
// panels split whole micro-kernel tiles without changing any element's summation order,
// and parallel_for reductions use fixed chunks. Both are checked here on the sizes that
// take the threaded GEMM path, in float and double (the float AVX-512 kernel and Eigen's).
TEST_CASE_TEMPLATE("determinism: same seed gives bit-identical training on rerun and at 1 or 2 threads", Trainer,
                   VaeGanTrainer<float>, GanTrainer<float>, VaeTrainer<float>, VaeGanTrainer<double>) {
  using T = ScalarOf<Trainer>;
  vaegan::test::ThreadCountGuard threads_guard;
  const ModelConfig config = tiny_config(64, 8, 64);
  const ImageDataset<T> data = binary_dataset<T>(80, config.image_dim(), 23);
  const BatchOptions batch_options{32, 7};
  auto train = [&](int threads) {
    set_num_threads(threads);
    Trainer trainer(config, {}, 5);
    Batches<T> batches = data.batches(batch_options);
    fit_to(trainer, batches, 6);
    return snapshot<T>(trainer);
  };
  const TrainerState<T> first = train(1);
  SUBCASE("rerun, 1 thread") { check_same_state(first, train(1)); }
  SUBCASE("2 threads, twice") {
    const TrainerState<T> two = train(2);
    check_same_state(two, train(2));
    check_same_state(first, two);
  }
}
