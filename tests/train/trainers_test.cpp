// Tests of train/: each trainer's step learns on a tiny fixed problem, the VAE-GAN step
// routes each loss to its own network with every loss seeing the networks as they were
// before the step, and a non-finite loss stops a step before it changes anything.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "nn/network_gradcheck.hpp"
#include "train/train_test_util.hpp"
#include "vaegan/losses/bce.hpp"
#include "vaegan/losses/kl.hpp"
#include "vaegan/losses/mse.hpp"
#include "vaegan/ops/activation.hpp"
#include "vaegan/ops/clamp.hpp"
#include "vaegan/ops/elementwise.hpp"
#include "vaegan/ops/reparam.hpp"
#include "vaegan/ops/rows.hpp"

namespace {

using namespace vaegan;
using namespace vaegan::train_test;

// Mean of values[begin, end).
double window_mean(const std::vector<double>& values, std::size_t begin, std::size_t end) {
  double sum = 0.0;
  for (std::size_t i = begin; i < end; ++i) sum += values[i];
  return sum / static_cast<double>(end - begin);
}

AdamOptions adam_lr(double lr) {
  AdamOptions o;
  o.lr = lr;
  return o;
}

// Runs `steps` steps on one fixed batch and returns statistic `name` of every step.
template <class Trainer, class T>
std::vector<double> train_on_batch(Trainer& trainer, const Tensor<T>& batch, int steps, const char* name) {
  std::vector<double> out;
  for (int i = 0; i < steps; ++i) out.push_back(trainer.train_step(batch).get(name));
  return out;
}

}  // namespace

// ---- each step learns ---------------------------------------------------------------------

TEST_CASE_TEMPLATE("VaeTrainer: steps on a fixed batch lower the loss", T, float, double) {
  const ModelConfig config = tiny_config();
  VaeOptions options;
  options.encoder_adam = options.decoder_adam = adam_lr(1e-2);
  VaeTrainer<T> trainer(config, options, 7);
  const Tensor<T> batch = binary_images<T>(16, config.image_dim(), 3);

  std::vector<double> loss;
  std::vector<double> rec;
  for (int i = 0; i < 150; ++i) {
    const StepStats s = trainer.train_step(batch);
    loss.push_back(s.get("loss"));
    rec.push_back(s.get("rec"));
    // The reported loss is its parts' sum (kl_weight 1).
    CHECK(s.get("loss") == doctest::Approx(s.get("rec") + s.get("kl")).epsilon(1e-5));
  }
  INFO("first loss " << loss.front() << ", mean of the last 10 " << window_mean(loss, 140, 150));
  // 16 pixels at BCE ~0.69 each start the loss near 11; a learned code for 4 patterns
  // needs a small fraction of that.
  CHECK(window_mean(loss, 140, 150) < 0.5 * loss.front());
  CHECK(window_mean(rec, 140, 150) < 0.5 * rec.front());
  CHECK(trainer.step() == 150);
}

TEST_CASE_TEMPLATE("VaeGanTrainer: steps on a fixed batch lower reconstruction and L_E", T, float, double) {
  const ModelConfig config = tiny_config();
  VaeGanOptions options;
  options.encoder_adam = options.decoder_adam = options.discriminator_adam = adam_lr(1e-2);
  VaeGanTrainer<T> trainer(config, options, 11);
  const Tensor<T> batch = binary_images<T>(16, config.image_dim(), 5);

  std::vector<double> rec, loss_e;
  for (int i = 0; i < 150; ++i) {
    const StepStats s = trainer.train_step(batch);
    rec.push_back(s.get("rec"));
    loss_e.push_back(s.get("loss_e"));
    // Every network trains on every step without gating.
    CHECK(s.get("d_updated") == 1.0);
    CHECK(s.get("dec_updated") == 1.0);
  }
  INFO("rec " << rec.front() << " -> " << window_mean(rec, 140, 150) << ", L_E " << loss_e.front() << " -> "
              << window_mean(loss_e, 140, 150));
  CHECK(window_mean(rec, 140, 150) < 0.5 * rec.front());
  CHECK(window_mean(loss_e, 140, 150) < 0.6 * loss_e.front());
}

TEST_CASE_TEMPLATE("GanTrainer: with the generator frozen, the discriminator's loss falls", T, float, double) {
  const ModelConfig config = tiny_config();
  GanOptions options;
  options.generator_adam = adam_lr(0.0);
  options.discriminator_adam = adam_lr(1e-2);
  GanTrainer<T> trainer(config, options, 13);
  const Tensor<T> batch = binary_images<T>(16, config.image_dim(), 9);
  const Tensor<T> generator_before = trainer.generator().parameters().values();

  const std::vector<double> loss_d = train_on_batch(trainer, batch, 100, "loss_d");
  CHECK(bit_identical(trainer.generator().parameters().values(), generator_before));
  INFO("L_D: first 5 " << window_mean(loss_d, 0, 5) << ", last 10 " << window_mean(loss_d, 90, 100));
  // Real binary patterns against a fixed generator's grey blur: D separates them.
  CHECK(window_mean(loss_d, 90, 100) < 0.25 * window_mean(loss_d, 0, 5));
}

TEST_CASE_TEMPLATE("GanTrainer: with the discriminator frozen, the generator's loss falls", T, float, double) {
  const ModelConfig config = tiny_config();
  GanOptions options;
  options.generator_adam = adam_lr(1e-2);
  options.discriminator_adam = adam_lr(0.0);
  GanTrainer<T> trainer(config, options, 17);
  const Tensor<T> batch = binary_images<T>(16, config.image_dim(), 21);
  const Tensor<T> discriminator_before = trainer.discriminator().parameters().values();

  const std::vector<double> loss_g = train_on_batch(trainer, batch, 100, "loss_g");
  CHECK(bit_identical(trainer.discriminator().parameters().values(), discriminator_before));
  INFO("L_G: first 5 " << window_mean(loss_g, 0, 5) << ", last 10 " << window_mean(loss_g, 90, 100));
  // A fixed discriminator is a fixed target: the generator climbs its logit.
  CHECK(window_mean(loss_g, 90, 100) < 0.5 * window_mean(loss_g, 0, 5));
}

// ---- gradient routing ---------------------------------------------------------------------

TEST_CASE("VaeGanTrainer: with two learning rates at 0, only the third network changes") {
  const ModelConfig config = tiny_config();
  const Tensor<float> batch = binary_images<float>(8, config.image_dim(), 2);
  for (unsigned learner = 0; learner < 3; ++learner) {
    VaeGanOptions options;
    options.encoder_adam = adam_lr(learner == VaeGanTrainer<float>::kEncoder ? 1e-3 : 0.0);
    options.decoder_adam = adam_lr(learner == VaeGanTrainer<float>::kDecoder ? 1e-3 : 0.0);
    options.discriminator_adam = adam_lr(learner == VaeGanTrainer<float>::kDiscriminator ? 1e-3 : 0.0);
    VaeGanTrainer<float> trainer(config, options, 5);
    const TrainerState<float> before = snapshot<float>(trainer);
    trainer.train_step(batch);
    const TrainerState<float> after = snapshot<float>(trainer);
    for (unsigned i = 0; i < 3; ++i) {
      const auto& net = trainer.networks()[i];
      INFO("learner " << trainer.networks()[learner].name << ", network " << net.name);
      // Every network got a gradient and an Adam step; lr 0 alone keeps the frozen ones.
      CHECK(net.params->grads().matrix().cwiseAbs().maxCoeff() > 0.0f);
      CHECK(after.networks[i].adam_steps == 1);
      CHECK(bit_identical(before.networks[i].params, after.networks[i].params) == (i != learner));
    }
  }
}

namespace {

// The losses of one VAE-GAN step, recorded on `tape` from the models of `trainer` with
// `rng`, exactly as VaeGanTrainer::train_step records them for the options used below
// (pixel weight 1, kl weight 1, gamma 0.75, feature weight 1, no gating or warm-up).
template <class T>
struct ReferenceLosses {
  Var<T> loss_d, loss_e, loss_dec, pixel_rec, kl;
};

template <class T>
ReferenceLosses<T> reference_vaegan_losses(VaeGanTrainer<T>& trainer, const Tensor<T>& images, Tape<T>& tape,
                                           Rng& rng) {
  const VaeGanOptions& o = trainer.options();
  REQUIRE(o.gamma == 0.75);
  REQUIRE(o.kl_weight == 1.0);
  REQUIRE(o.pixel_reconstruction_weight == 1.0);
  REQUIRE(o.feature_reconstruction_weight == 1.0);
  REQUIRE(!o.equilibrium_gating);
  REQUIRE(o.adversarial_warmup_steps == 0);
  REQUIRE(o.kl_warmup_steps == 0);
  const Index batch = images.rows();
  tape.reset();
  const Shape image = trainer.image_shape();
  Var<T> x = tape.constant(images.data(), Shape{batch, image[0], image[1], image[2]});
  Gaussian<T> q = trainer.encoder().forward(x, ForwardContext::eval());
  Var<T> logvar = clamp(q.logvar, static_cast<T>(o.logvar_min), static_cast<T>(o.logvar_max));
  Var<T> z = reparameterize(q.mu, logvar, rng);
  Var<T> z_prior = tape.full(Shape::matrix(batch, trainer.config()->latent_dim), T(0));
  rng.fill_normal(z_prior.node().value, z_prior.numel());
  // One decoder pass over [z; z_prior] and one sigmoid over both halves, as the trainer
  // records them: the same sums in the same order, so the comparison can be bit-exact.
  Var<T> decoded = trainer.decoder().forward(concat_rows(z, z_prior), ForwardContext::eval());
  Var<T> recon_logits = slice_rows(decoded, 0, batch);
  Var<T> fake_images = sigmoid(decoded);
  Var<T> pixel_rec = bce_with_logits(recon_logits, x, Reduction::batch_mean);
  Var<T> kl = kl_normal(q.mu, logvar);
  LogitAndFeatures<T> d =
      trainer.discriminator().forward_with_features(concat_rows(x, fake_images), vaegan::ForwardContext::train(rng));
  auto logits = split_rows(d.logit, std::array<Index, 3>{batch, batch, batch});
  auto features = split_rows(d.features, std::array<Index, 3>{batch, batch, batch});
  Var<T> rec = add(pixel_rec, scale(mse(features[1], features[0], Reduction::batch_mean), T(0.5)));
  Var<T> loss_d =
      add(add(bce_with_logits(logits[0], T(1)), bce_with_logits(logits[1], T(0))), bce_with_logits(logits[2], T(0)));
  Var<T> loss_e = add(kl, rec);
  Var<T> loss_dec = add(scale(rec, T(0.75)), add(bce_with_logits(logits[1], T(1)), bce_with_logits(logits[2], T(1))));
  return {loss_d, loss_e, loss_dec, pixel_rec, kl};
}

}  // namespace

// The step's contract, checked against an independent recomputation: each network moves
// by one Adam step on the gradient of its own loss alone, and that gradient is taken at
// the parameters of all three networks as they were before the step. Trainer B is a
// checkpointed copy of A; for each loss B records a fresh forward pass on its own tape
// (from the same Rng state) and back-propagates that loss to that one network; only
// after all three gradients does it step the optimizers. A trainer that updated D before
// computing L_Dec's gradient, or let L_E's gradient into the decoder, would differ.
TEST_CASE("VaeGanTrainer: a step equals one Adam step per network on its own loss at the pre-step parameters") {
  using T = double;
  const ModelConfig config = tiny_config();
  VaeGanOptions options;
  options.gamma = 0.75;
  options.feature_reconstruction_weight = 1.0;
  options.encoder_adam = adam_lr(3e-3);
  options.decoder_adam = adam_lr(2e-3);
  options.discriminator_adam = adam_lr(1e-3);
  const Tensor<T> warmup = binary_images<T>(8, config.image_dim(), 31);
  const Tensor<T> batch = binary_images<T>(8, config.image_dim(), 32);

  VaeGanTrainer<T> a(config, options, 3);
  for (int i = 0; i < 3; ++i) a.train_step(warmup);  // non-zero Adam moments
  vaegan_test::TempDir dir;
  const std::string path = dir.file("a.vgck");
  save_training_checkpoint<VaeGanTrainer<T>, T>(path, a, nullptr);
  VaeGanTrainer<T> b(config, options, 99);
  load_training_checkpoint<VaeGanTrainer<T>, T>(path, b, nullptr);

  const StepStats stats = a.train_step(batch);

  const Rng::State start = b.rng().state();
  Tape<T> tape;
  struct Route {
    const char* loss;
    unsigned network;
  };
  const Route routes[] = {{"loss_d", VaeGanTrainer<T>::kDiscriminator},
                          {"loss_e", VaeGanTrainer<T>::kEncoder},
                          {"loss_dec", VaeGanTrainer<T>::kDecoder}};
  for (const Route& route : routes) {
    Rng rng(0);
    rng.set_state(start);
    const ReferenceLosses<T> l = reference_vaegan_losses(b, batch, tape, rng);
    // The step reports the losses of the pre-step networks, bit for bit.
    CHECK(stats.get("loss_d") == l.loss_d.item());
    CHECK(stats.get("loss_e") == l.loss_e.item());
    CHECK(stats.get("loss_dec") == l.loss_dec.item());
    CHECK(stats.get("rec") == l.pixel_rec.item());
    CHECK(stats.get("kl") == l.kl.item());
    b.rng().set_state(rng.state());  // the step's noise is consumed once, as in A
    const Var<T>& loss = route.network == VaeGanTrainer<T>::kDiscriminator ? l.loss_d
                         : route.network == VaeGanTrainer<T>::kEncoder     ? l.loss_e
                                                                           : l.loss_dec;
    ParameterSet<T>& params = *b.networks()[route.network].params;
    params.zero_grad();
    tape.backward(loss, {GradTarget<T>(params)});
  }
  for (const Route& route : routes) b.networks()[route.network].optimizer->step();
  b.set_step(b.step() + 1);

  const TrainerState<T> sa = snapshot<T>(a), sb = snapshot<T>(b);
  check_same_state(sa, sb);
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("network " << sa.networks[i].name);
    // Each network's gradient is its own loss's, as in the reference.
    CHECK(bit_identical(a.networks()[i].params->grads(), b.networks()[i].params->grads()));
  }
}

// ---- non-finite losses --------------------------------------------------------------------

TEST_CASE_TEMPLATE("trainers: check_numerics names the step and the first op that produced a NaN, and changes nothing",
                   Trainer, VaeGanTrainer<float>, GanTrainer<float>, VaeTrainer<float>) {
  const ModelConfig config = tiny_config();
  Trainer trainer(config);
  trainer.set_check_numerics(true);
  CHECK(trainer.check_numerics());
  const Tensor<float> good = binary_images<float>(8, config.image_dim(), 4);
  trainer.train_step(good);  // debug mode changes no result, so a clean step passes
  // A damaged weight (a damaged input pixel is refused before the tape: the next test).
  trainer.networks()[0].params->values()[0] = std::numeric_limits<float>::quiet_NaN();
  const TrainerState<float> before = snapshot<float>(trainer);
  std::string message;
  try {
    trainer.train_step(good);
  } catch (const NumericError& e) {
    message = e.what();
  }
  INFO("message: " << message);
  CHECK(message.find("step 1: forward pass: first non-finite value on the tape: parameter '" +
                     trainer.networks()[0].name + ".") != std::string::npos);
  const TrainerState<float> after = snapshot<float>(trainer);
  for (std::size_t i = 0; i < before.networks.size(); ++i)
    CHECK(bit_identical(before.networks[i].params, after.networks[i].params));
}

TEST_CASE_TEMPLATE(
    "trainers: a NaN in the batch throws NumericError naming the step, image and pixel, and changes nothing", Trainer,
    VaeGanTrainer<float>, GanTrainer<float>, VaeTrainer<float>) {
  const ModelConfig config = tiny_config();
  Trainer trainer(config);
  const Tensor<float> good = binary_images<float>(8, config.image_dim(), 4);
  trainer.train_step(good);
  trainer.train_step(good);
  Tensor<float> bad = good;
  bad(3, 5) = std::numeric_limits<float>::quiet_NaN();
  const TrainerState<float> before = snapshot<float>(trainer);

  std::string message;
  try {
    trainer.train_step(bad);
  } catch (const NumericError& e) {
    message = e.what();
  }
  INFO("message: " << message);
  REQUIRE(!message.empty());
  CHECK(message.find("step 2") != std::string::npos);
  // Refused at the door, before any loss: the image, the pixel and the value named.
  CHECK(message.find("image 3 of the batch has nan at pixel 5") != std::string::npos);
  CHECK(message.find("not finite") != std::string::npos);

  const TrainerState<float> after = snapshot<float>(trainer);
  for (std::size_t i = 0; i < before.networks.size(); ++i) {
    INFO("network " << before.networks[i].name);
    CHECK(bit_identical(before.networks[i].params, after.networks[i].params));
    CHECK(bit_identical(before.networks[i].m, after.networks[i].m));
    CHECK(bit_identical(before.networks[i].v, after.networks[i].v));
    CHECK(before.networks[i].adam_steps == after.networks[i].adam_steps);
  }
  CHECK(trainer.step() == 2);
  // The failed step leaves a trainer that still trains.
  CHECK(std::isfinite(trainer.train_step(good).value(0)));
  CHECK(trainer.step() == 3);
}

TEST_CASE_TEMPLATE("trainers: images outside [0, 1] are refused naming the value, and 8-bit pixels get the fix",
                   Trainer, VaeGanTrainer<float>, GanTrainer<float>, VaeTrainer<float>) {
  const ModelConfig config = tiny_config();
  Trainer trainer(config);
  Tensor<float> bytes = binary_images<float>(8, config.image_dim(), 4);
  for (Index i = 0; i < bytes.numel(); ++i) bytes[i] *= 255.0f;
  const TrainerState<float> before = snapshot<float>(trainer);
  CHECK_THROWS_WITH_AS(trainer.train_step(bytes), doctest::Contains("has 255 at pixel"), Error);
  CHECK_THROWS_WITH_AS(trainer.train_step(bytes), doctest::Contains("divide them by 255"), Error);
  Tensor<float> negative = binary_images<float>(8, config.image_dim(), 4);
  negative(7, 0) = -0.5f;
  CHECK_THROWS_WITH_AS(trainer.train_step(negative), doctest::Contains("image 7 of the batch has -0.5 at pixel 0"),
                       Error);
  check_same_state(before, snapshot<float>(trainer));
  CHECK(trainer.step() == 0);
}

TEST_CASE("VaeGanTrainer: reconstruct and encode refuse images outside [0, 1] too") {
  const ModelConfig config = tiny_config();
  VaeGanTrainer<float> trainer(config);
  Tensor<float> x = binary_images<float>(2, config.image_dim(), 4), out;
  x(1, 2) = 3.0f;
  CHECK_THROWS_WITH_AS(trainer.reconstruct(x, out),
                       doctest::Contains("reconstruct (step 0): image 1 of the batch has 3"), Error);
  CHECK_THROWS_WITH_AS(trainer.encode(x, out), doctest::Contains("values in [0, 1]"), Error);
}

TEST_CASE("VaeTrainer: a learning rate that blows the weights up stops at the first non-finite loss") {
  const ModelConfig config = tiny_config();
  VaeOptions options;
  options.encoder_adam = options.decoder_adam = adam_lr(1e30);
  VaeTrainer<float> trainer(config, options, 3);
  const Tensor<float> batch = binary_images<float>(8, config.image_dim(), 6);
  bool thrown = false;
  for (int i = 0; i < 10 && !thrown; ++i) {
    const TrainerState<float> before = snapshot<float>(trainer);
    try {
      trainer.train_step(batch);
    } catch (const NumericError& e) {
      thrown = true;
      const std::string message = e.what();
      INFO("message: " << message);
      CHECK(message.find("step " + std::to_string(i)) != std::string::npos);
      CHECK(message.find("L_VAE") != std::string::npos);
      CHECK(message.find("lower the learning rates") != std::string::npos);
      CHECK(same_parameters(before, snapshot<float>(trainer)));
      CHECK(trainer.step() == i);
    }
  }
  CHECK(thrown);
}

// ---- the conv preset ------------------------------------------------------------------------

namespace {

// The conv preset's shape at a size a gradient check can afford: 8x8 images, channels 2, 3.
std::vector<std::string> layer_types(const NetworkStructure& s) {
  std::vector<std::string> out;
  for (const auto& l : s.layers) out.push_back(l.type);
  return out;
}

}  // namespace

TEST_CASE("conv preset: the layers of docs/reference-workloads.md with PyTorch's parameter counts") {
  const ModelConfig config = model_preset("conv");
  CHECK(config.architecture == Architecture::conv);
  VaeGanTrainer<float> trainer(config, {}, 1);
  using V = std::vector<std::string>;
  const NetworkStructure enc = trainer.encoder().structure(), dec = trainer.decoder().structure(),
                         disc = trainer.discriminator().structure();
  CHECK(layer_types(enc) ==
        V{"Conv2d", "LeakyReLU", "Conv2d", "BatchNorm2d", "LeakyReLU", "Flatten", "Dense", "Dense"});
  CHECK(layer_types(dec) ==
        V{"Dense", "BatchNorm1d", "ReLU", "Reshape", "ConvTranspose2d", "BatchNorm2d", "ReLU", "ConvTranspose2d"});
  CHECK(layer_types(disc) == V{"Conv2d", "LeakyReLU", "Conv2d", "BatchNorm2d", "LeakyReLU", "Flatten", "Dense"});
  CHECK(enc.layers[2].output == Shape{64, 7, 7});
  CHECK(dec.layers[3].output == Shape{64, 7, 7});
  CHECK(dec.layers[4].output == Shape{32, 14, 14});
  CHECK(dec.output == Shape{1, 28, 28});
  // Parameter counts as torch.nn counts them (weights + biases; batch norm: gamma, beta).
  const Index conv1 = 32 * 1 * 16 + 32, conv2 = 64 * 32 * 16 + 64, bn64 = 2 * 64, head32 = 3136 * 32 + 32;
  CHECK(trainer.encoder().parameters().size() == conv1 + conv2 + bn64 + 2 * head32);
  CHECK(trainer.decoder().parameters().size() ==
        (32 * 3136 + 3136) + 2 * 3136 + (64 * 32 * 16 + 32) + 2 * 32 + (32 * 1 * 16 + 1));
  CHECK(trainer.discriminator().parameters().size() == conv1 + conv2 + bn64 + (3136 + 1));
  // The discriminator's feature layer (Larsen's loss) is the last conv activation.
  Tape<float> tape;
  const Var<float> features =
      trainer.discriminator().features(tape.constant(Tensor<float>(Shape{2, 1, 28, 28})), ForwardContext::eval());
  CHECK(features.shape() == Shape{2, 64, 7, 7});
}

TEST_CASE("conv preset: every parameter gradient of the composed networks matches central differences") {
  const ModelConfig config = small_conv_config();
  const ForwardContext train = ForwardContext::train_without_noise();
  Rng rng(12);
  Decoder<double> decoder = conv_decoder<double>(config);
  decoder.reset_parameters(rng);
  Tensor<double> z(Shape{3, 3});
  rng.fill_normal(z.data(), z.numel());
  double error = vaegan::test::network_gradient_error(decoder, z, train);
  INFO("decoder ", error);
  CHECK(error < 1e-6);
  Discriminator<double> disc = conv_discriminator<double>(config);
  disc.reset_parameters(rng);
  Tensor<double> x(Shape{3, 1, 8, 8});
  rng.fill_uniform(x.data(), x.numel(), 0.0, 1.0);
  error = vaegan::test::network_gradient_error(disc, x, train);
  INFO("discriminator ", error);
  CHECK(error < 1e-6);
  // Eval mode uses the running statistics the train-mode passes above have updated.
  error = vaegan::test::network_gradient_error(disc, x, ForwardContext::eval());
  INFO("discriminator (eval) ", error);
  CHECK(error < 1e-6);
}

TEST_CASE_TEMPLATE("conv preset: VAE-GAN steps on a fixed batch lower reconstruction", T, float, double) {
  const ModelConfig config = small_conv_config();
  VaeGanOptions options;
  options.encoder_adam = options.decoder_adam = options.discriminator_adam = adam_lr(1e-2);
  VaeGanTrainer<T> trainer(config, options, 5);
  const Tensor<T> flat = binary_images<T>(8, 64, 3);
  Tensor<T> batch(Shape{8, 1, 8, 8});
  std::copy(flat.data(), flat.data() + flat.numel(), batch.data());
  const std::vector<double> rec = train_on_batch(trainer, batch, 80, "rec");
  INFO("rec first ", rec.front(), " last ", rec.back());
  CHECK(window_mean(rec, 70, 80) < 0.8 * window_mean(rec, 0, 10));
}

TEST_CASE("conv preset: a checkpoint restores the batch-norm running statistics, so samples match") {
  const ModelConfig config = small_conv_config();
  GanTrainer<float> trainer(config, {}, 7);
  const Tensor<float> flat = binary_images<float>(6, 64, 4);
  Tensor<float> batch(Shape{6, 1, 8, 8});
  std::copy(flat.data(), flat.data() + flat.numel(), batch.data());
  for (int i = 0; i < 3; ++i) trainer.train_step(batch);
  Tensor<float> z(Shape{4, 3}), before, after;
  Rng rng(2);
  rng.fill_normal(z.data(), z.numel());
  trainer.generate(z, before);

  vaegan_test::TempDir dir;
  const std::string path = dir.file("conv.ckpt");
  save_training_checkpoint<GanTrainer<float>, float>(path, trainer, nullptr);
  GanTrainer<float> restored(config, {}, 99);
  restored.generate(z, after);
  CHECK_FALSE(bit_identical(before, after));  // a fresh model samples something else
  load_training_checkpoint<GanTrainer<float>, float>(path, restored, nullptr);
  restored.generate(z, after);
  CHECK(bit_identical(before, after));
}

TEST_CASE(
    "ModelConfig: the conv architecture round-trips, a config written before it reads as dense, and a "
    "side that does not halve evenly is refused") {
  const ModelConfig conv = model_preset("conv");
  CHECK(ModelConfig::parse(conv.serialize()) == conv);
  CHECK(ModelConfig::parse(conv.serialize()).architecture == Architecture::conv);

  ModelConfig mlp = model_preset("mlp");
  std::string old_text = mlp.serialize();
  const std::string line = "architecture=dense\n";
  REQUIRE(old_text.find(line) != std::string::npos);
  old_text.erase(old_text.find(line), line.size());
  CHECK(ModelConfig::parse(old_text) == mlp);
  CHECK_THROWS_WITH_AS(ModelConfig::parse(mlp.serialize() + "architecture=dense\n"), doctest::Contains("appears twice"),
                       Error);
  std::string bad = conv.serialize();
  bad.replace(bad.find("architecture=conv"), 17, "architecture=unet");
  CHECK_THROWS_WITH_AS(ModelConfig::parse(bad), doctest::Contains("unknown architecture 'unet'"), Error);

  ModelConfig odd = conv;
  odd.image_shape = Shape{1, 30, 30};
  CHECK_THROWS_WITH_AS(odd.validate(), doctest::Contains("must divide by 4; got 30x30"), Error);
  odd.image_shape = Shape{3, 32, 32};
  CHECK_NOTHROW(odd.validate());
  CHECK_THROWS_WITH_AS(model_preset("resnet"), doctest::Contains("'seed' or 'conv'"), Error);
}
