// Tests of the VAE-GAN's training options beyond the reference step (issue 24): decoder
// batch norm that keeps posterior codes out of its statistics, discriminator loss weights,
// purely feature-space reconstruction from a chosen discriminator block, the VAE phase and
// the adversarial ramp, gating on the BCE's excess over its floor, and the instruments
// (per-term gradient norms, batch-norm recalibration on prior codes).
//
// The step with the new options is checked against an independent recomputation in double
// precision: one forward pass recorded here from the same networks and noise, each loss
// back-propagated to its own network, compared with the trainer's gradients, losses and
// running statistics.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "train/train_test_util.hpp"
#include "vaegan/losses/bce.hpp"
#include "vaegan/losses/kl.hpp"
#include "vaegan/losses/mse.hpp"
#include "vaegan/ops/activation.hpp"
#include "vaegan/ops/clamp.hpp"
#include "vaegan/ops/elementwise.hpp"
#include "vaegan/ops/reparam.hpp"
#include "vaegan/ops/rows.hpp"
#include "vaegan/train/batch_norm_recalibration.hpp"

namespace {

using namespace vaegan;
using namespace vaegan::train_test;

template <class T>
Tensor<T> conv_batch(Index n, std::uint64_t seed) {
  const Tensor<T> flat = binary_images<T>(n, 64, seed);
  Tensor<T> batch(Shape{n, 1, 8, 8});
  std::copy(flat.data(), flat.data() + flat.numel(), batch.data());
  return batch;
}

AdamOptions adam_lr(double lr) {
  AdamOptions o;
  o.lr = lr;
  return o;
}

// Relative distance |a - b| / max(|b|, tiny) of two tensors of one shape.
template <class T>
double relative_error(const Tensor<T>& a, const Tensor<T>& b) {
  REQUIRE(a.shape() == b.shape());
  const double diff = (a.matrix() - b.matrix()).norm();
  return diff / std::max(static_cast<double>(b.matrix().norm()), 1e-300);
}

// The losses of one step, recorded independently of the trainer from its options: decoder
// passes as decoder_batch_norm says, L_D with its weights, rec from the pixel and feature
// weights (pixel weight 0: the feature term alone), the adversarial terms at the ramp's
// weight for the trainer's current step. No gating, no VAE phase.
struct Reference {
  Var<double> loss_d, loss_e, loss_dec, pixel_rec, feature_rec, adversarial, kl;
};

Reference reference_step(VaeGanTrainer<double>& trainer, const Tensor<double>& images, Tape<double>& tape, Rng& rng) {
  const VaeGanOptions& o = trainer.options();
  REQUIRE(!o.equilibrium_gating);
  REQUIRE(o.vae_phase_steps == 0);
  REQUIRE(o.kl_warmup_steps == 0);
  const double a = trainer.phase_at(trainer.step()).adversarial_weight;
  const Index n = images.rows();
  tape.reset();
  const ForwardContext train = ForwardContext::train(rng);
  const Var<double> x = tape.constant(images.data(), images.shape());
  Gaussian<double> q = trainer.encoder().forward(x, train);
  const Var<double> logvar = clamp(q.logvar, o.logvar_min, o.logvar_max);
  const Var<double> z = reparameterize(q.mu, logvar, rng);
  Var<double> z_prior = tape.full(Shape::matrix(n, trainer.latent_dim()), 0.0);
  rng.fill_normal(z_prior.node().value, z_prior.numel());
  Var<double> recon_logits, fake;
  if (o.decoder_batch_norm == DecoderBatchNorm::separate) {
    recon_logits = trainer.decoder().forward(z, train.without_running_stats());
    fake = sigmoid(concat_rows(recon_logits, trainer.decoder().forward(z_prior, train)));
  } else {
    const Var<double> decoded = trainer.decoder().forward(concat_rows(z, z_prior), train);
    recon_logits = slice_rows(decoded, 0, n);
    fake = sigmoid(decoded);
  }
  Reference r;
  r.pixel_rec = bce_with_logits(recon_logits, x, Reduction::batch_mean);
  r.kl = kl_normal(q.mu, logvar);
  LogitAndFeatures<double> d = trainer.discriminator().forward_with_features(concat_rows(x, fake), train);
  auto logits = split_rows(d.logit, std::array<Index, 3>{n, n, n});
  auto features = split_rows(d.features, std::array<Index, 3>{n, n, n});
  r.feature_rec = mse(features[1], features[0], Reduction::batch_mean);
  Var<double> rec = scale(r.feature_rec, 0.5 * o.feature_reconstruction_weight);
  if (o.pixel_reconstruction_weight > 0.0) rec = add(scale(r.pixel_rec, o.pixel_reconstruction_weight), rec);
  r.loss_d = add(add(scale(bce_with_logits(logits[0], o.real_label), o.d_real_weight),
                     scale(bce_with_logits(logits[1], 0.0), o.d_recon_weight)),
                 scale(bce_with_logits(logits[2], 0.0), o.d_prior_weight));
  r.adversarial = add(bce_with_logits(logits[1], 1.0), bce_with_logits(logits[2], 1.0));
  r.loss_dec = add(scale(rec, o.gamma), scale(r.adversarial, a));
  r.loss_e = add(scale(r.kl, o.kl_weight), rec);
  return r;
}

// The gradient of `loss` for `params` alone, copied out.
Tensor<double> gradient_of(Tape<double>& tape, const Var<double>& loss, ParameterSet<double>& params) {
  params.zero_grad();
  tape.backward(loss, {GradTarget<double>(params)});
  return params.grads();
}

// Options that use every new knob of the adversarial step at once.
VaeGanOptions larsen_options() {
  VaeGanOptions o;
  o.decoder_batch_norm = DecoderBatchNorm::separate;
  o.pixel_reconstruction_weight = 0.0;
  o.feature_reconstruction_weight = 1.0;
  o.gamma = 0.05;
  o.d_real_weight = 1.0;
  o.d_recon_weight = 0.5;
  o.d_prior_weight = 0.25;
  o.real_label = 0.9;
  o.adversarial_ramp_steps = 10;
  o.encoder_adam = adam_lr(3e-3);
  o.decoder_adam = adam_lr(2e-3);
  o.discriminator_adam = adam_lr(1e-3);
  return o;
}

// Trains `a` for three steps, copies it into a fresh trainer through a checkpoint, runs
// one more step on `a`, and checks each network's gradient, the losses and the decoder's
// running statistics against reference_step on the copy.
void check_step_against_reference(const VaeGanOptions& options) {
  const ModelConfig config = small_conv_config();
  const Tensor<double> warmup = conv_batch<double>(6, 31), batch = conv_batch<double>(6, 32);
  VaeGanTrainer<double> a(config, options, 3);
  for (int i = 0; i < 3; ++i) a.train_step(warmup);
  vaegan_test::TempDir dir;
  const std::string path = dir.file("a.vgck");
  save_training_checkpoint<VaeGanTrainer<double>, double>(path, a, nullptr);
  VaeGanTrainer<double> b(config, options, 99);
  load_training_checkpoint<VaeGanTrainer<double>, double>(path, b, nullptr);

  const StepStats stats = a.train_step(batch);
  Rng rng(0);
  rng.set_state(b.rng().state());
  Tape<double> tape;
  const Reference r = reference_step(b, batch, tape, rng);
  CHECK(stats.get("loss_d") == doctest::Approx(r.loss_d.item()).epsilon(1e-12));
  CHECK(stats.get("loss_e") == doctest::Approx(r.loss_e.item()).epsilon(1e-12));
  CHECK(stats.get("loss_dec") == doctest::Approx(r.loss_dec.item()).epsilon(1e-12));
  CHECK(stats.get("rec") == doctest::Approx(r.pixel_rec.item()).epsilon(1e-12));
  const Var<double>* losses[3] = {&r.loss_e, &r.loss_dec, &r.loss_d};  // network slots 0, 1, 2
  for (unsigned i = 0; i < 3; ++i) {
    INFO("network " << a.networks()[i].name);
    const Tensor<double> expected = gradient_of(tape, *losses[i], *b.networks()[i].params);
    CHECK(relative_error(a.networks()[i].params->grads(), expected) < 1e-10);
  }
  // Running statistics: what the reference's forward pass left in b's buffers.
  for (unsigned i = 0; i < 3; ++i) {
    INFO("buffers of " << a.networks()[i].name);
    CHECK(relative_error(a.networks()[i].params->buffers(), b.networks()[i].params->buffers()) < 1e-12);
  }
}

}  // namespace

TEST_CASE(
    "VaeGanTrainer options: separate decoder batch norm, D weights, feature-only rec and the ramp match a "
    "recomputation") {
  SUBCASE("every new option at once") { check_step_against_reference(larsen_options()); }
  SUBCASE("joint batch norm, pixel and feature terms, unequal D weights") {
    VaeGanOptions o = larsen_options();
    o.decoder_batch_norm = DecoderBatchNorm::joint;
    o.pixel_reconstruction_weight = 0.5;
    o.adversarial_ramp_steps = 0;
    check_step_against_reference(o);
  }
}

TEST_CASE("VaeGanTrainer options: the new step's gradients match central differences in double") {
  // Every new option at once (separate decoder passes over one set of parameters, D
  // weights, feature-only reconstruction, the ramp's weight): each loss's gradient for its
  // own network against central differences of the same loss, all noise replayed from one
  // Rng state (train-mode batch norm normalizes with batch statistics, so the running
  // statistics the repeated passes update do not enter the losses).
  const ModelConfig config = small_conv_config();
  VaeGanTrainer<double> t(config, larsen_options(), 3);
  const Tensor<double> batch = conv_batch<double>(6, 32);
  const Rng::State start = t.rng().state();
  Tape<double> tape;
  auto losses = [&] {
    Rng rng(0);
    rng.set_state(start);
    return reference_step(t, batch, tape, rng);
  };
  auto pick = [](const Reference& r, unsigned network) {
    return network == 0 ? r.loss_e : network == 1 ? r.loss_dec : r.loss_d;
  };
  for (unsigned network = 0; network < 3; ++network) {
    INFO("network " << t.networks()[network].name);
    ParameterSet<double>& params = *t.networks()[network].params;
    const Tensor<double> analytic = gradient_of(tape, pick(losses(), network), params);
    double num = 0.0, den = 0.0;
    const double h = 1e-6;
    for (Index i = 0; i < params.size(); ++i) {
      const double saved = params.values()[i];
      params.values()[i] = saved + h;
      const double up = pick(losses(), network).item();
      params.values()[i] = saved - h;
      const double down = pick(losses(), network).item();
      params.values()[i] = saved;
      const double numeric = (up - down) / (2 * h);
      num += (analytic[i] - numeric) * (analytic[i] - numeric);
      den += (analytic[i] + numeric) * (analytic[i] + numeric);
    }
    const double error = std::sqrt(num) / std::max(std::sqrt(den), 1e-300);
    INFO("relative error " << error << " over " << params.size() << " parameters");
    CHECK(error < 1e-6);
  }
}

TEST_CASE("VaeGanTrainer options: separate batch norm keeps posterior codes out of the decoder's running statistics") {
  // One step from the same start: joint and separate normalize the same codes differently,
  // and only separate's running statistics equal a pass over the prior codes alone.
  const ModelConfig config = small_conv_config();
  const Tensor<float> batch = conv_batch<float>(6, 5);
  VaeGanOptions joint_options, separate_options;
  separate_options.decoder_batch_norm = DecoderBatchNorm::separate;
  VaeGanTrainer<float> joint(config, joint_options, 4), separate(config, separate_options, 4);
  const Tensor<float> start = separate.networks()[1].params->buffers();
  joint.train_step(batch);
  separate.train_step(batch);
  const Tensor<float>& after_joint = joint.networks()[1].params->buffers();
  const Tensor<float>& after_separate = separate.networks()[1].params->buffers();
  CHECK_FALSE(bit_identical(after_joint, after_separate));
  CHECK_FALSE(bit_identical(start, after_separate));  // the prior pass did update them
}

TEST_CASE("VaeGanTrainer options: term norms are each term's decoder gradient norm, and measuring changes nothing") {
  const ModelConfig config = small_conv_config();
  VaeGanOptions options = larsen_options();
  options.pixel_reconstruction_weight = 0.5;
  options.gamma = 0.3;
  options.term_norms_every = 2;
  const Tensor<double> batch = conv_batch<double>(6, 8);
  VaeGanTrainer<double> a(config, options, 3);
  vaegan_test::TempDir dir;
  const std::string path = dir.file("a.vgck");
  save_training_checkpoint<VaeGanTrainer<double>, double>(path, a, nullptr);
  VaeGanTrainer<double> b(config, options, 99);
  load_training_checkpoint<VaeGanTrainer<double>, double>(path, b, nullptr);

  const StepStats measured = a.train_step(batch);  // step 0: measured
  Rng rng(0);
  rng.set_state(b.rng().state());
  Tape<double> tape;
  const Reference r = reference_step(b, batch, tape, rng);
  ParameterSet<double>& decoder = *b.networks()[1].params;
  const double w = a.phase_at(0).adversarial_weight;
  REQUIRE(w == doctest::Approx(0.1));
  auto norm = [&](const Var<double>& term) {
    return static_cast<double>(gradient_of(tape, term, decoder).matrix().norm());
  };
  CHECK(measured.get("gnorm_pixel") == doctest::Approx(0.3 * 0.5 * norm(r.pixel_rec)).epsilon(1e-10));
  CHECK(measured.get("gnorm_feature") == doctest::Approx(0.3 * 0.5 * norm(r.feature_rec)).epsilon(1e-10));
  CHECK(measured.get("gnorm_adv") == doctest::Approx(w * norm(r.adversarial)).epsilon(1e-10));
  CHECK(measured.get("gnorm_adv") > 0.0);
  CHECK(std::isnan(a.train_step(batch).get("gnorm_pixel")));  // step 1: not measured

  // The same two steps without the instrument end in the same state, bit for bit.
  VaeGanOptions quiet = options;
  quiet.term_norms_every = 0;
  VaeGanTrainer<double> c(config, quiet, 3);
  c.train_step(batch);
  c.train_step(batch);
  check_same_state(snapshot<double>(a), snapshot<double>(c));
}

TEST_CASE("VaeGanTrainer options: a VAE phase trains the VAE alone, then the adversarial terms ramp in") {
  const ModelConfig config = tiny_config();
  VaeGanOptions options;
  options.vae_phase_steps = 3;
  options.adversarial_ramp_steps = 4;
  options.gamma = 0.2;                        // not used in the VAE phase
  options.pixel_reconstruction_weight = 0.3;  // nor this: the phase's rec is plain pixel BCE
  options.feature_reconstruction_weight = 1.0;
  VaeGanTrainer<double> trainer(config, options, 2);
  const Tensor<double> batch = binary_images<double>(8, config.image_dim(), 3);
  const Tensor<double> d_before = trainer.networks()[2].params->values();
  for (int i = 0; i < 3; ++i) {
    INFO("step " << i);
    CHECK(trainer.phase_at(i).vae_only);
    const StepStats s = trainer.train_step(batch);
    CHECK(s.get("loss_dec") == s.get("rec"));              // the VAE's decoder loss: pixel BCE at weight 1
    CHECK(s.get("loss_e") == s.get("kl") + s.get("rec"));  // kl weight 1
    CHECK(s.get("d_updated") == 0.0);
    CHECK(std::isnan(s.get("loss_d")));  // no discriminator pass at all
  }
  CHECK(bit_identical(d_before, trainer.networks()[2].params->values()));
  CHECK_FALSE(trainer.phase_at(3).vae_only);
  CHECK(trainer.phase_at(3).adversarial_weight == doctest::Approx(0.25));
  CHECK(trainer.phase_at(5).adversarial_weight == doctest::Approx(0.75));
  CHECK(trainer.phase_at(6).adversarial_weight == 1.0);
  CHECK(trainer.phase_at(60).adversarial_weight == 1.0);
  const StepStats s = trainer.train_step(batch);
  CHECK(s.get("d_updated") == 1.0);
  CHECK(std::isfinite(s.get("loss_d")));
  CHECK_FALSE(bit_identical(d_before, trainer.networks()[2].params->values()));

  // A warm-up longer than the phase delays the start; the ramp counts from the start.
  options.adversarial_warmup_steps = 10;
  VaeGanTrainer<double> later(config, options, 2);
  CHECK_FALSE(later.phase_at(5).vae_only);
  CHECK_FALSE(later.phase_at(9).adversarial);
  CHECK(later.phase_at(10).adversarial_weight == doctest::Approx(0.25));
}

TEST_CASE("VaeGanTrainer options: gating on the excess BCE fires under label smoothing where plain gating cannot") {
  // A discriminator with its head zeroed gives every image logit 0: every BCE is log 2
  // (0.693) whatever the target. With the band [0.6, 0.8] plain gating trains both; the
  // real term's excess over its floor at label 0.9 (0.693 - 0.325 = 0.368) is below it.
  const ModelConfig config = tiny_config();
  const Tensor<float> batch = binary_images<float>(8, config.image_dim(), 9);
  auto first_step = [&](bool excess) {
    VaeGanOptions o;
    o.real_label = 0.9;
    o.equilibrium_gating = true;
    o.equilibrium = 0.7;
    o.margin = 0.1;
    o.gate_on_excess_bce = excess;
    VaeGanTrainer<float> t(config, o, 6);
    ParameterSet<float>& d = *t.networks()[2].params;
    for (const ParameterSlice& slice : d.slices())
      if (slice.name.rfind("head.", 0) == 0)
        std::fill(d.values().data() + slice.offset, d.values().data() + slice.offset + slice.shape.numel(), 0.0f);
    const StepStats s = t.train_step(batch);
    REQUIRE(s.get("loss_d") == doctest::Approx(3 * std::log(2.0)));
    return s;
  };
  const StepStats plain = first_step(false);
  CHECK(plain.get("d_gated") == 0.0);
  CHECK(plain.get("d_updated") == 1.0);
  const StepStats excess = first_step(true);
  CHECK(excess.get("d_gated") == 1.0);
  CHECK(excess.get("d_updated") == 0.0);
  CHECK(excess.get("dec_gated") == 0.0);
  CHECK(excess.get("dec_updated") == 1.0);
}

TEST_CASE("VaeGanTrainer options: refused settings name the problem") {
  const ModelConfig config = tiny_config();
  VaeGanOptions o;
  o.pixel_reconstruction_weight = 0.0;
  CHECK_THROWS_WITH_AS(VaeGanTrainer<float>(config, o, 1), doctest::Contains("nothing would reconstruct"), Error);
  o = {};
  o.d_recon_weight = -1.0;
  CHECK_THROWS_WITH_AS(VaeGanTrainer<float>(config, o, 1), doctest::Contains("discriminator loss weights"), Error);
  o = {};
  o.vae_phase_steps = -5;
  CHECK_THROWS_WITH_AS(VaeGanTrainer<float>(config, o, 1), doctest::Contains("vae_phase_steps"), Error);
}

TEST_CASE("ModelConfig: the discriminator's feature block is chosen, round-trips, and is absent from old configs") {
  ModelConfig c = model_preset("conv");
  const std::string old_text = c.serialize();
  CHECK(old_text.find("feature_block") == std::string::npos);  // configs as written before it
  c.discriminator_feature_block = 1;
  CHECK(ModelConfig::parse(c.serialize()) == c);
  CHECK(ModelConfig::parse(c.serialize()).discriminator_feature_block == 1);
  CHECK(ModelConfig::parse(old_text).discriminator_feature_block == 0);
  Tape<float> tape;
  const Var<float> x = tape.constant(Tensor<float>(Shape{2, 1, 28, 28}));
  for (Index block : {0, 1, 2}) {
    c.discriminator_feature_block = block;
    c.discriminator_dropout = block == 1 ? 0.3 : 0.0;  // before its dropout, with one
    const Discriminator<float> d = conv_discriminator<float>(c);
    INFO("block " << block);
    CHECK(d.features(x, ForwardContext::eval()).shape() == (block == 1 ? Shape{2, 32, 14, 14} : Shape{2, 64, 7, 7}));
  }
  ModelConfig mlp = model_preset("mlp");
  mlp.discriminator_feature_block = 1;
  CHECK(dense_discriminator<float>(mlp)
            .features(tape.constant(Tensor<float>(Shape{2, 1, 28, 28})), ForwardContext::eval())
            .shape() == Shape{2, 512});
  c.discriminator_feature_block = 3;
  CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("discriminator_feature_block must be 0"), Error);
}

TEST_CASE("batch norm: a pass without running-statistics updates, and recalibration as a plain mean over batches") {
  const ModelConfig config = small_conv_config();
  Rng init(3);
  Decoder<double> decoder = conv_decoder<double>(config);
  decoder.reset_parameters(init);
  Tensor<double>& buffers = decoder.parameters().buffers();
  Tape<double> tape;
  Tensor<double> z_values(Shape{5, 3});
  init.fill_normal(z_values.data(), z_values.numel());
  const Var<double> z = tape.constant(z_values);
  Rng rng(1);
  const Tensor<double> before = buffers;
  auto values_of = [](const Var<double>& v) {
    Tensor<double> t(v.shape());
    std::copy(v.node().value, v.node().value + v.numel(), t.data());
    return t;
  };
  const Tensor<double> quiet = values_of(decoder.forward(z, ForwardContext::train(rng).without_running_stats()));
  CHECK(bit_identical(before, buffers));
  const Tensor<double> updating = values_of(decoder.forward(z, ForwardContext::train(rng)));
  CHECK(bit_identical(quiet, updating));  // same batch statistics either way
  CHECK_FALSE(bit_identical(before, buffers));

  // Batch statistics do not depend on the running ones, so two batches' recalibration is
  // the mean of each batch's alone (momentum 1 / (k + 1)), whatever came before.
  Rng r(17);
  const Rng::State start = r.state();
  recalibrate_batch_norm(decoder, r, 1, 4);
  const Tensor<double> first = buffers;
  recalibrate_batch_norm(decoder, r, 1, 4);
  const Tensor<double> second = buffers;
  r.set_state(start);
  recalibrate_batch_norm(decoder, r, 2, 4);
  CHECK_FALSE(bit_identical(first, second));
  Index checked = 0;
  for (const ParameterSlice& slice : decoder.parameters().buffer_slices()) {
    if (slice.name.find("running_") == std::string::npos) continue;
    INFO(slice.name);
    for (Index k = slice.offset; k < slice.offset + slice.shape.numel(); ++k, ++checked)
      CHECK(buffers[k] == doctest::Approx(0.5 * (first[k] + second[k])).epsilon(1e-12));
  }
  CHECK(checked == 2 * (3 * 2 * 2) + 2 * 2);  // BatchNorm1d(3 x 2 x 2) and BatchNorm2d(2)
  CHECK_THROWS_WITH_AS(recalibrate_batch_norm(decoder, r, 1, 1), doctest::Contains("batch_size >= 2"), Error);
}
