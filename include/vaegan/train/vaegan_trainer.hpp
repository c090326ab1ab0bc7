#pragma once
// VaeGanTrainer: the VAE-GAN step of docs/reference-workloads.md (after Larsen et al. 2016)
// on any encoder, decoder and discriminator the user composed.
//
//   (mu, logvar) = E(x);  z = mu + eps * exp(logvar / 2);  x_r = Dec(z);  x_p = Dec(z_p), z_p ~ N(0, I)
//   one D pass over [x; sigmoid(x_r); sigmoid(x_p)]
//   L_D   = w_real BCE(D(x), 1) + w_recon BCE(D(x_r), 0) + w_prior BCE(D(x_p), 0)   -> D only
//   L_E   = kl_weight * KL + rec                                                    -> E only
//   L_Dec = gamma * rec + a * (BCE(D(x_r), 1) + BCE(D(x_p), 1))                      -> Dec only
// with rec = pixel_weight * pixel BCE(x_r, x) + feature_weight * feature-space error and
// a the adversarial weight (1, or ramping up after a VAE phase). The defaults are the
// reference workload exactly; the knobs below are off by default.
//
// The schedule of a run, by step:
//   [0, vae_phase_steps)            plain VAE steps: pixel BCE and KL, no discriminator
//   [.., adversarial start)         the adversarial warm-up: no adversarial terms, D idle
//                                   (the feature term, if on, still uses D's features)
//   [start, start + ramp)           a ramps linearly up to 1
// where the adversarial start is the later of vae_phase_steps and adversarial_warmup_steps.
//
//   VaeGanTrainer trainer(std::move(encoder), std::move(decoder), std::move(discriminator));
//   VaeGanTrainer<float> preset(model_preset("mlp"));   // the dense presets
#include <algorithm>
#include <array>
#include <cmath>
#include <optional>

#include "vaegan/losses/bce.hpp"
#include "vaegan/losses/kl.hpp"
#include "vaegan/losses/mse.hpp"
#include "vaegan/models/decoder.hpp"
#include "vaegan/models/discriminator.hpp"
#include "vaegan/models/encoder.hpp"
#include "vaegan/models/presets.hpp"
#include "vaegan/ops/activation.hpp"
#include "vaegan/ops/elementwise.hpp"
#include "vaegan/ops/reduce.hpp"
#include "vaegan/ops/rows.hpp"
#include "vaegan/train/step_stats.hpp"
#include "vaegan/train/trainer_core.hpp"

namespace vaegan {

// How the decoder's batch norm sees the posterior codes z and the prior codes z_p.
enum class DecoderBatchNorm {
  // One decoder pass over [z; z_p] (the reference step): batch and running statistics mix
  // both kinds of code, and eval-mode samples use those mixed running statistics.
  joint,
  // Two passes, Dec(z) and Dec(z_p), each normalized by its own batch's statistics, as in
  // Larsen et al.'s code and the public ports (separate decoder calls); the running
  // statistics follow the prior pass alone, so eval-mode samples, drawn from prior codes,
  // use prior codes' statistics as a GAN's generator does. (Before any prior pass, in a
  // VAE phase, the posterior pass updates them.) Costs a second, half-size GEMM per layer.
  separate,
};

struct VaeGanOptions : PosteriorOptions, AdversarialOptions {
  double gamma = 1.0;                        // weight of reconstruction in L_Dec (vs the adversarial terms)
  double pixel_reconstruction_weight = 1.0;  // 0 with a feature weight: Larsen's purely feature-space rec
  // Larsen's learned similarity: 0.5 * squared error between D's features of x and x_r
  // (the discriminator's feature layer, without dropout noise), summed over features,
  // mean over the batch. 0 = off.
  double feature_reconstruction_weight = 0.0;
  AdamOptions encoder_adam{};
  AdamOptions decoder_adam{};
  AdamOptions discriminator_adam{};
  // L_D's weights for real, reconstructed and prior-sampled images (Larsen's code: 0.5,
  // 0.25, 0.25, i.e. real half of the loss).
  double d_real_weight = 1.0;
  double d_recon_weight = 1.0;
  double d_prior_weight = 1.0;
  DecoderBatchNorm decoder_batch_norm = DecoderBatchNorm::joint;
  // Larsen's equilibrium gating on D's per-term BCEs (real and fake): below
  // equilibrium - margin D is too strong and is not updated; above equilibrium + margin
  // D is too weak and the decoder is not updated; if both would be skipped, both train.
  bool equilibrium_gating = false;
  double equilibrium = 0.68;
  double margin = 0.35;
  // Gate on each BCE's excess over the lowest value its target allows (the entropy of the
  // real label: 0.325 at 0.9, 0 for the fakes' label 0). With one-sided label smoothing the
  // real BCE never goes below that floor, so without this the lower threshold (0.33 by
  // default) can hardly fire.
  bool gate_on_excess_bce = false;
  // Adversarial terms (and D's training) off for the first N steps, as VQGAN does.
  std::int64_t adversarial_warmup_steps = 0;
  // The first N steps are plain VAE steps (pixel BCE at weight 1 and KL, the VaeTrainer's
  // losses; no discriminator, at a VAE step's cost): a VAE phase before the adversarial terms.
  std::int64_t vae_phase_steps = 0;
  // From the adversarial start, the adversarial terms of L_Dec ramp linearly from 0 to
  // full weight over this many steps (0: full weight at once).
  std::int64_t adversarial_ramp_steps = 0;
  // Instrument: every N steps (0: never) an adversarial step also measures the L2 norm of
  // the gradient, for the decoder's parameters, of each term of L_Dec as it enters the sum
  // (gamma * pixel, gamma * feature, a * adversarial): statistics gnorm_pixel,
  // gnorm_feature, gnorm_adv (nan on steps that do not measure; per replica's shard under
  // MPI). Costs up to three extra backward passes on the steps it measures; results are
  // otherwise unchanged.
  std::int64_t term_norms_every = 0;
};

template <class T, class Enc = Encoder<T>, class Dec = Decoder<T>, class Disc = Discriminator<T>>
class VaeGanTrainer : public TrainerCore<VaeGanTrainer<T, Enc, Dec, Disc>, T> {
  using Core = TrainerCore<VaeGanTrainer<T, Enc, Dec, Disc>, T>;

 public:
  // d_updated / dec_updated: whether the step trained D / the decoder (any reason);
  // d_gated / dec_gated: whether equilibrium gating skipped it (0 without gating).
  static constexpr const char* kStatNames[] = {"loss_d",  "loss_e",    "loss_dec",    "rec",           "kl",
                                               "d_real",  "d_recon",   "d_prior",     "d_updated",     "dec_updated",
                                               "d_gated", "dec_gated", "gnorm_pixel", "gnorm_feature", "gnorm_adv"};
  static constexpr int kStatCount = 15;
  static_assert(kStatCount <= StepStats::kCapacity, "StepStats capacity");
  static constexpr const char* kKind = "vaegan";
  // The network slots: their names in checkpoints, exports and --lr-<name> flags.
  enum Network : unsigned { kEncoder = 0, kDecoder = 1, kDiscriminator = 2 };
  static constexpr const char* kNetworkNames[] = {"encoder", "decoder", "discriminator"};

  // Trains the networks given (moved in), from the weights they have unless `initial` says
  // InitialWeights::draw_from_seed; `seed` drives the noise (and those draws).
  VaeGanTrainer(Enc encoder, Dec decoder, Disc discriminator, const VaeGanOptions& options = {}, std::uint64_t seed = 1,
                InitialWeights initial = InitialWeights::keep)
      : Core(seed),
        options_(options),
        encoder_(std::move(encoder)),
        decoder_(std::move(decoder)),
        discriminator_(std::move(discriminator)),
        encoder_opt_(encoder_.parameters(), options.encoder_adam),
        decoder_opt_(decoder_.parameters(), options.decoder_adam),
        discriminator_opt_(discriminator_.parameters(), options.discriminator_adam) {
    Core::require_same_shape("VaeGanTrainer", "the decoder makes images of", decoder_.image_shape(),
                             "the discriminator takes", discriminator_.input_shape());
    Core::require_same_shape("VaeGanTrainer", "the decoder makes images of", decoder_.image_shape(),
                             "the encoder takes", encoder_.input_shape());
    Core::require_same_shape("VaeGanTrainer", "the encoder gives latent codes of", Shape{encoder_.latent_dim()},
                             "the decoder takes", decoder_.input_shape());
    validate(options_);
    this->add_network(kNetworkNames[kEncoder], encoder_, encoder_opt_, initial);
    this->add_network(kNetworkNames[kDecoder], decoder_, decoder_opt_, initial);
    this->add_network(kNetworkNames[kDiscriminator], discriminator_, discriminator_opt_, initial);
  }
  // The dense preset networks of `config` (models/presets.hpp).
  explicit VaeGanTrainer(const ModelConfig& config, const VaeGanOptions& options = {}, std::uint64_t seed = 1)
      : VaeGanTrainer(preset_encoder<T>(config), preset_decoder<T>(config), preset_discriminator<T>(config), options,
                      seed, InitialWeights::draw_from_seed) {
    config_ = config;
  }

  // Where step `step` falls in the schedule of the header comment.
  struct Phase {
    bool vae_only = false;            // a plain VAE step
    bool adversarial = true;          // adversarial terms on, D trains
    double adversarial_weight = 1.0;  // a
  };
  Phase phase_at(std::int64_t step) const {
    const std::int64_t start = std::max(options_.adversarial_warmup_steps, options_.vae_phase_steps);
    Phase p;
    p.vae_only = step < options_.vae_phase_steps;
    p.adversarial = step >= start;
    p.adversarial_weight = !p.adversarial ? 0.0
                           : options_.adversarial_ramp_steps <= 0
                               ? 1.0
                               : std::min(1.0, static_cast<double>(step - start + 1) / options_.adversarial_ramp_steps);
    return p;
  }

  // One training step on a batch of images [batch, ...image shape] with values in [0, 1].
  StepStats train_step(const Tensor<T>& images) {
    Tape<T>& tape = this->tape_;
    tape.reset();
    const Var<T> x = this->image_batch(tape, "VaeGanTrainer", images);
    const Phase phase = phase_at(this->step_);
    const PosteriorSample<T> q = this->sample_posterior(encoder_, x, options_);
    StepStats stats(kStatNames, kStatCount);
    stats.set("d_gated", 0.0);
    stats.set("dec_gated", 0.0);
    // A step without the discriminator (a VAE phase, or the warm-up without the feature
    // term) has no prior samples and no D pass, at a VAE step's cost.
    const bool use_discriminator =
        !phase.vae_only && (phase.adversarial || options_.feature_reconstruction_weight > 0.0);
    if (use_discriminator) adversarial_step(x, q, phase, stats);
    else reconstruction_step(x, q, phase, stats);
    return stats;
  }

  // The dense preset this trainer was built from, if it was.
  const std::optional<ModelConfig>& config() const { return config_; }
  const VaeGanOptions& options() const { return options_; }
  Enc& encoder() { return encoder_; }
  const Enc& encoder() const { return encoder_; }
  Dec& decoder() { return decoder_; }
  const Dec& decoder() const { return decoder_; }
  Disc& discriminator() { return discriminator_; }
  const Disc& discriminator() const { return discriminator_; }

 private:
  // The decoder's outputs for the posterior and the prior codes.
  struct Decoded {
    Var<T> recon_logits;  // Dec(z)
    Var<T> fake_images;   // sigmoid of [Dec(z); Dec(z_p)]
  };

  // The step without the discriminator: the VAE's losses in a VAE phase (pixel BCE at
  // weight 1, no gamma), else the warm-up's (weighted pixel reconstruction).
  void reconstruction_step(const Var<T>& x, const PosteriorSample<T>& q, const Phase& phase, StepStats& stats) {
    const ForwardContext ctx = ForwardContext::train(this->rng_);
    const Var<T> recon_logits = decoder_.forward(q.z, ctx);
    const Var<T> pixel_rec = bce_with_logits(recon_logits, x, Reduction::batch_mean);
    const Var<T> kl = kl_normal(q.mu, q.logvar);
    const Var<T> rec = phase.vae_only ? pixel_rec : weighted(pixel_rec, options_.pixel_reconstruction_weight);
    const Var<T> loss_dec = phase.vae_only ? rec : weighted(rec, options_.gamma);
    const Var<T> loss_e = add(weighted(kl, options_.kl_weight_at(this->step_)), rec);
    const Var<T> no_loss_d = this->tape_.full(Shape::scalar(), T(0));
    finish_step(no_loss_d, loss_e, loss_dec, pixel_rec, kl, false, true, stats);
  }

  // The full VAE-GAN step: decoder passes, one D pass over [x; x_r; x_p], the three losses.
  void adversarial_step(const Var<T>& x, const PosteriorSample<T>& q, const Phase& phase, StepStats& stats) {
    const Index batch = x.rows();
    const ForwardContext ctx = ForwardContext::train(this->rng_);
    const Decoded out = decode(q.z, batch, ctx);
    const Var<T> pixel_rec = bce_with_logits(out.recon_logits, x, Reduction::batch_mean);
    const Var<T> kl = kl_normal(q.mu, q.logvar);
    Var<T> rec = weighted(pixel_rec, options_.pixel_reconstruction_weight);

    LogitAndFeatures<T> d = discriminator_.forward_with_features(concat_rows(x, out.fake_images), ctx);
    auto logits = split_rows(d.logit, std::array<Index, 3>{batch, batch, batch});
    Var<T> feature_rec;
    if (options_.feature_reconstruction_weight > 0.0) {
      feature_rec = feature_error(x, out.fake_images, d.features, batch);
      // Pixel weight 0: the feature term alone (not a sum with a zero-weighted pixel term).
      const Var<T> feature_term = weighted(feature_rec, 0.5 * options_.feature_reconstruction_weight);
      rec = options_.pixel_reconstruction_weight == 0.0 ? feature_term : add(rec, feature_term);
    }
    const Var<T> loss_d_real = bce_with_logits(logits[0], static_cast<T>(options_.real_label));
    const Var<T> loss_d_recon = bce_with_logits(logits[1], T(0));
    const Var<T> loss_d_prior = bce_with_logits(logits[2], T(0));
    const Var<T> loss_d =
        add(add(weighted(loss_d_real, options_.d_real_weight), weighted(loss_d_recon, options_.d_recon_weight)),
            weighted(loss_d_prior, options_.d_prior_weight));
    Var<T> loss_dec = weighted(rec, options_.gamma);
    Var<T> adversarial;
    if (phase.adversarial) {
      adversarial = add(bce_with_logits(logits[1], T(1)), bce_with_logits(logits[2], T(1)));
      loss_dec = add(loss_dec, weighted(adversarial, phase.adversarial_weight));
    }
    bool train_d = phase.adversarial, train_dec = true;
    if (phase.adversarial && options_.equilibrium_gating)
      gate(loss_d_real, loss_d_recon, loss_d_prior, train_d, train_dec, stats);
    if (phase.adversarial && options_.term_norms_every > 0 && this->step_ % options_.term_norms_every == 0)
      measure_term_norms(pixel_rec, feature_rec, adversarial, phase, stats);
    stats.set("loss_d", loss_d.item());
    stats.set("d_real", mean_sigmoid(logits[0]));
    stats.set("d_recon", mean_sigmoid(logits[1]));
    stats.set("d_prior", mean_sigmoid(logits[2]));
    const Var<T> loss_e = add(weighted(kl, options_.kl_weight_at(this->step_)), rec);
    finish_step(loss_d, loss_e, loss_dec, pixel_rec, kl, train_d, train_dec, stats);
  }

  // Dec over z and z_p, as decoder_batch_norm says. The prior codes are drawn first either
  // way, so both modes consume the same noise.
  Decoded decode(const Var<T>& z, Index batch, const ForwardContext& ctx) {
    const Var<T> z_prior = this->normal_noise(batch, decoder_.latent_dim());
    if (options_.decoder_batch_norm == DecoderBatchNorm::separate) {
      const Var<T> recon_logits = decoder_.forward(z, ctx.without_running_stats());
      const Var<T> prior_logits = decoder_.forward(z_prior, ctx);
      return {recon_logits, sigmoid(concat_rows(recon_logits, prior_logits))};
    }
    // One pass over [z; z_p] (twice the rows per GEMM); L_E's gradient reaches only the z
    // rows, and the tape skips the z_p rows for it.
    const Var<T> decoded = decoder_.forward(concat_rows(z, z_prior), ctx);
    return {slice_rows(decoded, 0, batch), sigmoid(decoded)};  // fake images [x_r; x_p]
  }

  // The statistics every step reports, then the step skeleton (trainer_core.hpp).
  void finish_step(const Var<T>& loss_d, const Var<T>& loss_e, const Var<T>& loss_dec, const Var<T>& pixel_rec,
                   const Var<T>& kl, bool train_d, bool train_dec, StepStats& stats) {
    stats.set("loss_e", loss_e.item());
    stats.set("loss_dec", loss_dec.item());
    stats.set("rec", pixel_rec.item());
    stats.set("kl", kl.item());
    stats.set("d_updated", train_d ? 1.0 : 0.0);
    stats.set("dec_updated", train_dec ? 1.0 : 0.0);
    this->apply_routes(
        std::array<LossRoute<T>, 3>{
            LossRoute<T>{"L_D", loss_d, 1u << kDiscriminator, train_d},
            LossRoute<T>{"L_E", loss_e, 1u << kEncoder, true},
            LossRoute<T>{"L_Dec", loss_dec, 1u << kDecoder, train_dec},
        },
        stats);
  }

  // The instrument of term_norms_every: each L_Dec term's gradient for the decoder, taken
  // alone into the decoder's gradient buffer (which L_Dec's own backward overwrites later),
  // its norm scaled by the term's weight (the norm of w * g is |w| * |g|).
  void measure_term_norms(const Var<T>& pixel_rec, const Var<T>& feature_rec, const Var<T>& adversarial,
                          const Phase& phase, StepStats& stats) {
    auto norm_of = [&](const Var<T>& term, double weight) {
      ParameterSet<T>& params = decoder_.parameters();
      params.begin_overwrite();
      GradTarget<T> target(params);
      this->tape_.backward(term, &target, 1);
      params.end_overwrite();
      return std::abs(weight) * static_cast<double>(params.grads().matrix().norm());
    };
    if (options_.pixel_reconstruction_weight > 0.0)
      stats.set("gnorm_pixel", norm_of(pixel_rec, options_.gamma * options_.pixel_reconstruction_weight));
    if (options_.feature_reconstruction_weight > 0.0)
      stats.set("gnorm_feature", norm_of(feature_rec, options_.gamma * 0.5 * options_.feature_reconstruction_weight));
    stats.set("gnorm_adv", norm_of(adversarial, phase.adversarial_weight));
  }

  // Larsen's learned similarity: squared error between D's features of x and x_r, summed
  // over features, mean over the batch; features without dropout noise (Discriminator).
  Var<T> feature_error(const Var<T>& x, const Var<T>& fake_images, const Var<T>& pass_features, Index batch) {
    if (discriminator_.features_noisy()) {
      const Var<T> recon_images = slice_rows(fake_images, 0, batch);
      Var<T> f = discriminator_.features(concat_rows(x, recon_images), ForwardContext::train_without_noise());
      auto parts = split_rows(f, std::array<Index, 2>{batch, batch});
      return mse(parts[1], parts[0], Reduction::batch_mean);
    }
    auto parts = split_rows(pass_features, std::array<Index, 3>{batch, batch, batch});
    return mse(parts[1], parts[0], Reduction::batch_mean);
  }
  // On the whole batch's errors (averaged over data-parallel replicas), so that every
  // replica makes the same decision. With gate_on_excess_bce the real term's floor (the
  // entropy of its label) is taken off first.
  void gate(const Var<T>& loss_d_real, const Var<T>& loss_d_recon, const Var<T>& loss_d_prior, bool& train_d,
            bool& train_dec, StepStats& stats) const {
    std::array<double, 2> err{loss_d_real.item(), 0.5 * (loss_d_recon.item() + loss_d_prior.item())};
    this->mean_over_replicas(err);
    const double real_err = err[0] - (options_.gate_on_excess_bce ? label_entropy(options_.real_label) : 0.0);
    const double fake_err = err[1];
    const double lo = options_.equilibrium - options_.margin, hi = options_.equilibrium + options_.margin;
    if (real_err < lo || fake_err < lo) train_d = false;
    if (real_err > hi || fake_err > hi) train_dec = false;
    if (!train_d && !train_dec) train_d = train_dec = true;
    stats.set("d_gated", train_d ? 0.0 : 1.0);
    stats.set("dec_gated", train_dec ? 0.0 : 1.0);
  }
  // The lowest BCE a target y allows: -(y log y + (1 - y) log(1 - y)).
  static double label_entropy(double y) {
    auto term = [](double p) { return p > 0.0 ? -p * std::log(p) : 0.0; };
    return term(y) + term(1.0 - y);
  }
  static void validate(const VaeGanOptions& o) {
    auto fail = [](const std::string& what) { throw Error("VaeGanOptions: " + what); };
    if (!(o.gamma >= 0.0 && o.pixel_reconstruction_weight >= 0.0 && o.feature_reconstruction_weight >= 0.0))
      fail("gamma and the reconstruction weights must be >= 0");
    if (o.pixel_reconstruction_weight == 0.0 && o.feature_reconstruction_weight == 0.0)
      fail("pixel_reconstruction_weight and feature_reconstruction_weight are both 0: nothing would reconstruct");
    if (!(o.d_real_weight >= 0.0 && o.d_recon_weight >= 0.0 && o.d_prior_weight >= 0.0))
      fail("the discriminator loss weights must be >= 0");
    if (o.vae_phase_steps < 0 || o.adversarial_warmup_steps < 0 || o.adversarial_ramp_steps < 0 ||
        o.term_norms_every < 0)
      fail("vae_phase_steps, adversarial_warmup_steps, adversarial_ramp_steps and term_norms_every must be >= 0");
  }
  static Var<T> weighted(const Var<T>& v, double w) { return w == 1.0 ? v : scale(v, static_cast<T>(w)); }
  static double mean_sigmoid(const Var<T>& logits) {
    return static_cast<double>((T(1) / (T(1) + (-logits.array()).exp())).mean());
  }

  std::optional<ModelConfig> config_;
  VaeGanOptions options_;
  Enc encoder_;
  Dec decoder_;
  Disc discriminator_;
  Adam<T> encoder_opt_, decoder_opt_, discriminator_opt_;
};

// Class template argument deduction: VaeGanTrainer trainer(networks...).
template <class Enc, class Dec, class Disc>
VaeGanTrainer(Enc, Dec, Disc, const VaeGanOptions& = {}, std::uint64_t = 1, InitialWeights = InitialWeights::keep)
    -> VaeGanTrainer<typename Enc::Scalar, Enc, Dec, Disc>;

}  // namespace vaegan
