#pragma once
// VaeGanTrainer: the VAE-GAN step of docs/reference-workloads.md (after Larsen et al. 2016)
// on any encoder, decoder and discriminator the user composed.
//
//   (mu, logvar) = E(x);  z = mu + eps * exp(logvar / 2);  x_r = Dec(z);  x_p = Dec(z_p), z_p ~ N(0, I)
//   one D pass over [x; sigmoid(x_r); sigmoid(x_p)]
//   L_D   = BCE(D(x), 1) + BCE(D(x_r), 0) + BCE(D(x_p), 0)        -> D only
//   L_E   = kl_weight * KL + rec                                   -> E only
//   L_Dec = gamma * rec + BCE(D(x_r), 1) + BCE(D(x_p), 1)          -> Dec only
// with rec = pixel_weight * pixel BCE(x_r, x) + feature_weight * feature-space error.
// The defaults are the reference workload exactly; the knobs below are off by default.
//
//   VaeGanTrainer trainer(std::move(encoder), std::move(decoder), std::move(discriminator));
//   VaeGanTrainer<float> preset(model_preset("mlp"));   // the dense presets
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

struct VaeGanOptions : PosteriorOptions, AdversarialOptions {
  double gamma = 1.0;  // weight of reconstruction in L_Dec (vs the adversarial terms)
  double pixel_reconstruction_weight = 1.0;
  // Larsen's learned similarity: 0.5 * squared error between D's features of x and x_r
  // (the discriminator's feature layer, without dropout noise), summed over features,
  // mean over the batch. 0 = off.
  double feature_reconstruction_weight = 0.0;
  AdamOptions encoder_adam{};
  AdamOptions decoder_adam{};
  AdamOptions discriminator_adam{};
  // Larsen's equilibrium gating on D's per-term BCEs (real and fake): below
  // equilibrium - margin D is too strong and is not updated; above equilibrium + margin
  // D is too weak and the decoder is not updated; if both would be skipped, both train.
  bool equilibrium_gating = false;
  double equilibrium = 0.68;
  double margin = 0.35;
  // Adversarial terms (and D's training) off for the first N steps, as VQGAN does.
  std::int64_t adversarial_warmup_steps = 0;
};

template <class T, class Enc = Encoder<T>, class Dec = Decoder<T>, class Disc = Discriminator<T>>
class VaeGanTrainer : public TrainerCore<VaeGanTrainer<T, Enc, Dec, Disc>, T> {
  using Core = TrainerCore<VaeGanTrainer<T, Enc, Dec, Disc>, T>;

 public:
  static constexpr const char* kStatNames[] = {"loss_d", "loss_e",  "loss_dec", "rec",       "kl",
                                               "d_real", "d_recon", "d_prior",  "d_updated", "dec_updated"};
  static constexpr int kStatCount = 10;
  static constexpr const char* kKind = "vaegan";
  enum Network : unsigned { kEncoder = 0, kDecoder = 1, kDiscriminator = 2 };

  // Trains the networks given (moved in); their initial weights are drawn from `seed`.
  VaeGanTrainer(Enc encoder, Dec decoder, Disc discriminator, const VaeGanOptions& options = {}, std::uint64_t seed = 1)
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
    this->add_network("encoder", encoder_, encoder_opt_);
    this->add_network("decoder", decoder_, decoder_opt_);
    this->add_network("discriminator", discriminator_, discriminator_opt_);
  }
  // The dense preset networks of `config` (models/presets.hpp).
  explicit VaeGanTrainer(const ModelConfig& config, const VaeGanOptions& options = {}, std::uint64_t seed = 1)
      : VaeGanTrainer(preset_encoder<T>(config), preset_decoder<T>(config), preset_discriminator<T>(config), options,
                      seed) {
    config_ = config;
  }

  // One training step on a batch of images [batch, ...image shape] with values in [0, 1].
  StepStats train_step(const Tensor<T>& images) {
    Tape<T>& tape = this->tape_;
    tape.reset();
    const Var<T> x = this->image_batch(tape, "VaeGanTrainer", images);
    const Index batch = x.rows();
    const bool adversarial = this->step_ >= options_.adversarial_warmup_steps;
    const ForwardContext ctx = ForwardContext::train(this->rng_);

    const PosteriorSample<T> q = this->sample_posterior(encoder_, x, options_);
    // During the adversarial warm-up without feature-space reconstruction the step is a
    // VAE step: no prior samples, no discriminator pass, at a VAE step's cost.
    const bool use_discriminator = adversarial || options_.feature_reconstruction_weight > 0.0;
    // With the discriminator, one decoder pass over [z; z_p] (twice the rows per GEMM);
    // L_E's gradient reaches only the z rows, and the tape skips the z_p rows for it.
    Var<T> recon_logits, fake_images;
    if (use_discriminator) {
      Var<T> decoded = decoder_.forward(concat_rows(q.z, this->normal_noise(batch, decoder_.latent_dim())), ctx);
      recon_logits = slice_rows(decoded, 0, batch);
      fake_images = sigmoid(decoded);  // [x_r; x_p]
    } else {
      recon_logits = decoder_.forward(q.z, ctx);
    }
    Var<T> pixel_rec = bce_with_logits(recon_logits, x, Reduction::batch_mean);
    Var<T> kl = kl_normal(q.mu, q.logvar);
    Var<T> rec = weighted(pixel_rec, options_.pixel_reconstruction_weight);

    StepStats stats(kStatNames, kStatCount);
    Var<T> loss_d = tape.full(Shape::scalar(), T(0));
    Var<T> loss_dec;
    bool train_d = false, train_dec = true;
    if (use_discriminator) {
      // One discriminator pass over real, reconstructed and prior-sampled images.
      LogitAndFeatures<T> d = discriminator_.forward_with_features(concat_rows(x, fake_images), ctx);
      auto logits = split_rows(d.logit, std::array<Index, 3>{batch, batch, batch});
      if (options_.feature_reconstruction_weight > 0.0) {
        Var<T> feature_rec = feature_error(x, fake_images, d.features, batch);
        rec = add(rec, weighted(feature_rec, 0.5 * options_.feature_reconstruction_weight));
      }
      Var<T> loss_d_real = bce_with_logits(logits[0], static_cast<T>(options_.real_label));
      Var<T> loss_d_recon = bce_with_logits(logits[1], T(0));
      Var<T> loss_d_prior = bce_with_logits(logits[2], T(0));
      loss_d = add(add(loss_d_real, loss_d_recon), loss_d_prior);
      loss_dec = weighted(rec, options_.gamma);
      if (adversarial)
        loss_dec = add(loss_dec, add(bce_with_logits(logits[1], T(1)), bce_with_logits(logits[2], T(1))));
      train_d = adversarial;
      if (adversarial && options_.equilibrium_gating) gate(loss_d_real, loss_d_recon, loss_d_prior, train_d, train_dec);
      stats.set("loss_d", loss_d.item());
      stats.set("d_real", mean_sigmoid(logits[0]));
      stats.set("d_recon", mean_sigmoid(logits[1]));
      stats.set("d_prior", mean_sigmoid(logits[2]));
    } else {
      loss_dec = weighted(rec, options_.gamma);
    }
    Var<T> loss_e = add(weighted(kl, options_.kl_weight_at(this->step_)), rec);

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
  // replica makes the same decision.
  void gate(const Var<T>& loss_d_real, const Var<T>& loss_d_recon, const Var<T>& loss_d_prior, bool& train_d,
            bool& train_dec) const {
    std::array<double, 2> err{loss_d_real.item(), 0.5 * (loss_d_recon.item() + loss_d_prior.item())};
    this->mean_over_replicas(err);
    const double real_err = err[0], fake_err = err[1];
    const double lo = options_.equilibrium - options_.margin, hi = options_.equilibrium + options_.margin;
    if (real_err < lo || fake_err < lo) train_d = false;
    if (real_err > hi || fake_err > hi) train_dec = false;
    if (!train_d && !train_dec) train_d = train_dec = true;
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
VaeGanTrainer(Enc, Dec, Disc, const VaeGanOptions& = {}, std::uint64_t = 1)
    -> VaeGanTrainer<typename Enc::Scalar, Enc, Dec, Disc>;

}  // namespace vaegan
