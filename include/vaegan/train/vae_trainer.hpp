#pragma once
// VaeTrainer: the VAE step of docs/reference-workloads.md on any encoder and decoder the
// user composed.
//   (mu, logvar) = E(x);  z = mu + eps * exp(logvar / 2);  x_r = Dec(z)
//   L = rec(x_r, x) + kl_weight * KL   -> E and Dec
#include <array>
#include <optional>

#include "vaegan/losses/bce.hpp"
#include "vaegan/losses/kl.hpp"
#include "vaegan/models/decoder.hpp"
#include "vaegan/models/encoder.hpp"
#include "vaegan/models/presets.hpp"
#include "vaegan/ops/elementwise.hpp"
#include "vaegan/train/step_stats.hpp"
#include "vaegan/train/trainer_core.hpp"

namespace vaegan {

struct VaeOptions : PosteriorOptions {
  AdamOptions encoder_adam{};
  AdamOptions decoder_adam{};
};

template <class T, class Enc = Encoder<T>, class Dec = Decoder<T>>
class VaeTrainer : public TrainerCore<VaeTrainer<T, Enc, Dec>, T> {
  using Core = TrainerCore<VaeTrainer<T, Enc, Dec>, T>;

 public:
  static constexpr const char* kStatNames[] = {"loss", "rec", "kl"};
  static constexpr int kStatCount = 3;
  static constexpr const char* kKind = "vae";
  // The network slots: their names in checkpoints, exports and --lr-<name> flags.
  enum Network : unsigned { kEncoder = 0, kDecoder = 1 };
  static constexpr const char* kNetworkNames[] = {"encoder", "decoder"};

  VaeTrainer(Enc encoder, Dec decoder, const VaeOptions& options = {}, std::uint64_t seed = 1,
             InitialWeights initial = InitialWeights::keep)
      : Core(seed),
        options_(options),
        encoder_(std::move(encoder)),
        decoder_(std::move(decoder)),
        encoder_opt_(encoder_.parameters(), options.encoder_adam),
        decoder_opt_(decoder_.parameters(), options.decoder_adam) {
    Core::require_same_shape("VaeTrainer", "the decoder makes images of", decoder_.image_shape(), "the encoder takes",
                             encoder_.input_shape());
    Core::require_same_shape("VaeTrainer", "the encoder gives latent codes of", Shape{encoder_.latent_dim()},
                             "the decoder takes", decoder_.input_shape());
    this->add_network(kNetworkNames[kEncoder], encoder_, encoder_opt_, initial);
    this->add_network(kNetworkNames[kDecoder], decoder_, decoder_opt_, initial);
  }
  // The dense preset networks of `config` (models/presets.hpp).
  explicit VaeTrainer(const ModelConfig& config, const VaeOptions& options = {}, std::uint64_t seed = 1)
      : VaeTrainer(preset_encoder<T>(config), preset_decoder<T>(config), options, seed,
                   InitialWeights::draw_from_seed) {
    config_ = config;
  }

  StepStats train_step(const Tensor<T>& images) {
    Tape<T>& tape = this->tape_;
    tape.reset();
    const Var<T> x = this->image_batch(tape, "VaeTrainer", images);
    const PosteriorSample<T> q = this->sample_posterior(encoder_, x, options_);
    Var<T> rec = bce_with_logits(decoder_.forward(q.z, ForwardContext::train(this->rng_)), x, Reduction::batch_mean);
    Var<T> kl = kl_normal(q.mu, q.logvar);
    const double w = options_.kl_weight_at(this->step_);
    Var<T> loss = add(rec, w == 1.0 ? kl : scale(kl, static_cast<T>(w)));

    StepStats stats(kStatNames, kStatCount);
    stats.set("loss", loss.item());
    stats.set("rec", rec.item());
    stats.set("kl", kl.item());
    this->apply_routes(
        std::array<LossRoute<T>, 1>{
            LossRoute<T>{"L_VAE", loss, (1u << kEncoder) | (1u << kDecoder), true},
        },
        stats);
    return stats;
  }

  const std::optional<ModelConfig>& config() const { return config_; }
  const VaeOptions& options() const { return options_; }
  Enc& encoder() { return encoder_; }
  const Enc& encoder() const { return encoder_; }
  Dec& decoder() { return decoder_; }
  const Dec& decoder() const { return decoder_; }

 private:
  std::optional<ModelConfig> config_;
  VaeOptions options_;
  Enc encoder_;
  Dec decoder_;
  Adam<T> encoder_opt_, decoder_opt_;
};

// Class template argument deduction: VaeTrainer trainer(networks...).
template <class Enc, class Dec>
VaeTrainer(Enc, Dec, const VaeOptions& = {}, std::uint64_t = 1, InitialWeights = InitialWeights::keep)
    -> VaeTrainer<typename Enc::Scalar, Enc, Dec>;

}  // namespace vaegan
