#pragma once
// VaeGanTrainer<T>: the VAE-GAN step of REFERENCE-WORKLOADS.md (after Larsen et al. 2016).
//
//   (mu, logvar) = E(x);  z = mu + eps * exp(logvar / 2);  x_r = Dec(z);  x_p = Dec(z_p), z_p ~ N(0, I)
//   one D pass over [x; sigmoid(x_r); sigmoid(x_p)]
//   L_D   = BCE(D(x), 1) + BCE(D(x_r), 0) + BCE(D(x_p), 0)        -> D only
//   L_E   = kl_weight * KL + rec                                   -> E only
//   L_Dec = gamma * rec + BCE(D(x_r), 1) + BCE(D(x_p), 1)          -> Dec only
// with rec = pixel_weight * pixel BCE(x_r, x) + feature_weight * feature-space error.
// The defaults are the reference workload exactly; the knobs below are off by default.
#include <array>
#include <cmath>

#include "vaegan/losses/bce.hpp"
#include "vaegan/losses/kl.hpp"
#include "vaegan/losses/mse.hpp"
#include "vaegan/models/decoder.hpp"
#include "vaegan/models/discriminator.hpp"
#include "vaegan/models/encoder.hpp"
#include "vaegan/ops/activation.hpp"
#include "vaegan/ops/clamp.hpp"
#include "vaegan/ops/elementwise.hpp"
#include "vaegan/ops/reduce.hpp"
#include "vaegan/ops/reparam.hpp"
#include "vaegan/ops/rows.hpp"
#include "vaegan/train/step_stats.hpp"
#include "vaegan/train/trainer_core.hpp"

namespace vaegan {

struct VaeGanOptions {
  double gamma = 1.0;                // weight of reconstruction in L_Dec (vs the adversarial terms)
  double kl_weight = 1.0;            // weight of KL in L_E
  std::int64_t kl_warmup_steps = 0;  // KL weight ramps linearly from 0 over this many steps
  double pixel_reconstruction_weight = 1.0;
  // Larsen's learned similarity: 0.5 * squared error between D's last hidden features of
  // x and x_r, summed over features, mean over the batch. 0 = off.
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
  // Clamp on the encoder's log-variance, so exp(logvar) in the KL cannot overflow.
  double logvar_min = -30.0;
  double logvar_max = 20.0;
  double real_label = 1.0;  // < 1: one-sided label smoothing for D
  double discriminator_dropout = 0.0;
};

template <class T>
class VaeGanTrainer : public TrainerCore<T> {
 public:
  static constexpr const char* kStatNames[] = {"loss_d", "loss_e",  "loss_dec", "rec",       "kl",
                                               "d_real", "d_recon", "d_prior",  "d_updated", "dec_updated"};
  static constexpr int kStatCount = 10;
  static constexpr const char* kKind = "vaegan";
  enum Network : unsigned { kEncoder = 0, kDecoder = 1, kDiscriminator = 2 };

  VaeGanTrainer(const ModelConfig& config, const VaeGanOptions& options = {}, std::uint64_t seed = 1)
      : TrainerCore<T>(seed),
        config_(config),
        options_(options),
        encoder_(config, this->rng_),
        decoder_(config, this->rng_),
        discriminator_(config, this->rng_),
        encoder_opt_(encoder_.parameters(), options.encoder_adam),
        decoder_opt_(decoder_.parameters(), options.decoder_adam),
        discriminator_opt_(discriminator_.parameters(), options.discriminator_adam) {
    discriminator_.set_dropout(options.discriminator_dropout);
    this->add_network("encoder", encoder_.parameters(), encoder_opt_);
    this->add_network("decoder", decoder_.parameters(), decoder_opt_);
    this->add_network("discriminator", discriminator_.parameters(), discriminator_opt_);
  }

  // One training step on a batch of images [batch, image_dim] with values in [0, 1].
  StepStats train_step(const Tensor<T>& images) {
    this->check_images("VaeGanTrainer", images, config_.image_dim);
    Tape<T>& tape = this->tape_;
    tape.reset();
    const Index batch = images.rows();
    const bool adversarial = this->step_ >= options_.adversarial_warmup_steps;

    Var<T> x = tape.constant(images);
    Gaussian<T> q = encoder_.forward(x);
    Var<T> logvar = clamp(q.logvar, static_cast<T>(options_.logvar_min), static_cast<T>(options_.logvar_max));
    Var<T> z = reparameterize(q.mu, logvar, this->rng_);
    // During the adversarial warm-up without feature-space reconstruction the step is a
    // VAE step: no prior samples, no discriminator pass, at a VAE step's cost.
    const bool use_discriminator = adversarial || options_.feature_reconstruction_weight > 0.0;
    // With the discriminator, one decoder pass over [z; z_p] (twice the rows per GEMM);
    // L_E's gradient reaches only the z rows, and the tape skips the z_p rows for it.
    Var<T> recon_logits, fake_images;
    if (use_discriminator) {
      Var<T> decoded = decoder_.forward(concat_rows(z, this->normal_noise(batch, config_.latent_dim)));
      recon_logits = slice_rows(decoded, 0, batch);
      fake_images = sigmoid(decoded);  // [x_r; x_p]
    } else {
      recon_logits = decoder_.forward(z);
    }
    Var<T> pixel_rec = bce_with_logits(recon_logits, x, Reduction::batch_mean);
    Var<T> kl = kl_normal(q.mu, logvar);
    Var<T> rec = weighted(pixel_rec, options_.pixel_reconstruction_weight);

    Var<T> loss_d = tape.full(Shape::scalar(), T(0));
    Var<T> loss_dec;
    bool train_d = false, train_dec = true;
    double d_real_mean = std::nan(""), d_recon_mean = std::nan(""), d_prior_mean = std::nan("");
    if (use_discriminator) {
      // One discriminator pass over real, reconstructed and prior-sampled images.
      LogitAndFeatures<T> d = discriminator_.forward_with_features(concat_rows(x, fake_images), this->rng_, true);
      auto logits = split_rows(d.logit, std::array<Index, 3>{batch, batch, batch});
      if (options_.feature_reconstruction_weight > 0.0) {
        auto features = split_rows(d.features, std::array<Index, 3>{batch, batch, batch});
        Var<T> feature_rec = mse(features[1], features[0], Reduction::batch_mean);  // sum over features
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
      if (adversarial && options_.equilibrium_gating) {
        const double real_err = loss_d_real.item();
        const double fake_err = 0.5 * (loss_d_recon.item() + loss_d_prior.item());
        const double lo = options_.equilibrium - options_.margin, hi = options_.equilibrium + options_.margin;
        if (real_err < lo || fake_err < lo) train_d = false;
        if (real_err > hi || fake_err > hi) train_dec = false;
        if (!train_d && !train_dec) train_d = train_dec = true;
      }
      d_real_mean = mean_sigmoid(logits[0]);
      d_recon_mean = mean_sigmoid(logits[1]);
      d_prior_mean = mean_sigmoid(logits[2]);
    } else {
      loss_dec = weighted(rec, options_.gamma);
    }
    Var<T> loss_e = add(weighted(kl, current_kl_weight()), rec);

    StepStats stats(kStatNames, kStatCount);
    stats.set(0, use_discriminator ? static_cast<double>(loss_d.item()) : std::nan(""));
    stats.set(1, loss_e.item());
    stats.set(2, loss_dec.item());
    stats.set(3, pixel_rec.item());
    stats.set(4, kl.item());
    stats.set(5, d_real_mean);
    stats.set(6, d_recon_mean);
    stats.set(7, d_prior_mean);
    stats.set(8, train_d ? 1.0 : 0.0);
    stats.set(9, train_dec ? 1.0 : 0.0);

    this->apply_routes(std::array<LossRoute<T>, 3>{
        LossRoute<T>{"L_D", loss_d, 1u << kDiscriminator, train_d},
        LossRoute<T>{"L_E", loss_e, 1u << kEncoder, true},
        LossRoute<T>{"L_Dec", loss_dec, 1u << kDecoder, train_dec},
    });
    return stats;
  }

  // Images [n, image_dim] in [0, 1] decoded from latent codes z [n, latent_dim].
  void generate(const Tensor<T>& z, Tensor<T>& images) { this->decode_images(decoder_, z, images); }
  // Reconstructions of images x [n, image_dim] through the posterior mean.
  void reconstruct(const Tensor<T>& x, Tensor<T>& images) { this->reconstruct_images(encoder_, decoder_, x, images); }
  // Posterior means [n, latent_dim] of images x.
  void encode(const Tensor<T>& x, Tensor<T>& mu) { this->encode_means(encoder_, x, mu); }

  const ModelConfig& config() const { return config_; }
  const VaeGanOptions& options() const { return options_; }
  Encoder<T>& encoder() { return encoder_; }
  Decoder<T>& decoder() { return decoder_; }
  Discriminator<T>& discriminator() { return discriminator_; }

 private:
  double current_kl_weight() const {
    if (options_.kl_warmup_steps <= 0) return options_.kl_weight;
    const double ramp = std::min(1.0, static_cast<double>(this->step_ + 1) / options_.kl_warmup_steps);
    return options_.kl_weight * ramp;
  }
  static Var<T> weighted(const Var<T>& v, double w) { return w == 1.0 ? v : scale(v, static_cast<T>(w)); }
  static double mean_sigmoid(const Var<T>& logits) {
    return static_cast<double>((T(1) / (T(1) + (-logits.array()).exp())).mean());
  }

  ModelConfig config_;
  VaeGanOptions options_;
  Encoder<T> encoder_;
  Decoder<T> decoder_;
  Discriminator<T> discriminator_;
  Adam<T> encoder_opt_, decoder_opt_, discriminator_opt_;
};

}  // namespace vaegan
