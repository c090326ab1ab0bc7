#pragma once
// VaeTrainer<T>: the VAE step of REFERENCE-WORKLOADS.md.
//   (mu, logvar) = E(x);  z = mu + eps * exp(logvar / 2);  x_r = Dec(z)
//   L = rec(x_r, x) + kl_weight * KL   -> E and Dec
#include <array>
#include <cmath>

#include "vaegan/losses/bce.hpp"
#include "vaegan/losses/kl.hpp"
#include "vaegan/models/decoder.hpp"
#include "vaegan/models/encoder.hpp"
#include "vaegan/ops/activation.hpp"
#include "vaegan/ops/clamp.hpp"
#include "vaegan/ops/elementwise.hpp"
#include "vaegan/ops/reparam.hpp"
#include "vaegan/train/step_stats.hpp"
#include "vaegan/train/trainer_core.hpp"

namespace vaegan {

struct VaeOptions {
  double kl_weight = 1.0;
  std::int64_t kl_warmup_steps = 0;  // KL weight ramps linearly from 0 over this many steps
  AdamOptions encoder_adam{};
  AdamOptions decoder_adam{};
  double logvar_min = -30.0;
  double logvar_max = 20.0;
};

template <class T>
class VaeTrainer : public TrainerCore<T> {
 public:
  static constexpr const char* kStatNames[] = {"loss", "rec", "kl"};
  static constexpr int kStatCount = 3;
  static constexpr const char* kKind = "vae";
  enum Network : unsigned { kEncoder = 0, kDecoder = 1 };

  VaeTrainer(const ModelConfig& config, const VaeOptions& options = {}, std::uint64_t seed = 1)
      : TrainerCore<T>(seed),
        config_(config),
        options_(options),
        encoder_(config, this->rng_),
        decoder_(config, this->rng_),
        encoder_opt_(encoder_.parameters(), options.encoder_adam),
        decoder_opt_(decoder_.parameters(), options.decoder_adam) {
    this->add_network("encoder", encoder_.parameters(), encoder_opt_);
    this->add_network("decoder", decoder_.parameters(), decoder_opt_);
  }

  StepStats train_step(const Tensor<T>& images) {
    this->check_images("VaeTrainer", images, config_.image_dim);
    Tape<T>& tape = this->tape_;
    tape.reset();
    Var<T> x = tape.constant(images);
    Gaussian<T> q = encoder_.forward(x);
    Var<T> logvar = clamp(q.logvar, static_cast<T>(options_.logvar_min), static_cast<T>(options_.logvar_max));
    Var<T> z = reparameterize(q.mu, logvar, this->rng_);
    Var<T> rec = bce_with_logits(decoder_.forward(z), x, Reduction::batch_mean);
    Var<T> kl = kl_normal(q.mu, logvar);
    double w = options_.kl_weight;
    if (options_.kl_warmup_steps > 0)
      w *= std::min(1.0, static_cast<double>(this->step_ + 1) / options_.kl_warmup_steps);
    Var<T> loss = add(rec, w == 1.0 ? kl : scale(kl, static_cast<T>(w)));

    StepStats stats(kStatNames, kStatCount);
    stats.set(0, loss.item());
    stats.set(1, rec.item());
    stats.set(2, kl.item());
    this->apply_routes(std::array<LossRoute<T>, 1>{
        LossRoute<T>{"L_VAE", loss, (1u << kEncoder) | (1u << kDecoder), true},
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
  const VaeOptions& options() const { return options_; }
  Encoder<T>& encoder() { return encoder_; }
  Decoder<T>& decoder() { return decoder_; }

 private:

  ModelConfig config_;
  VaeOptions options_;
  Encoder<T> encoder_;
  Decoder<T> decoder_;
  Adam<T> encoder_opt_, decoder_opt_;
};

}  // namespace vaegan
