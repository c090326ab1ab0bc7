#pragma once
// GanTrainer: the GAN baseline step of docs/reference-workloads.md on any generator and
// discriminator the user composed.
//   z ~ N(0, I);  x_f = G(z);  one D pass over [x; sigmoid(x_f)]
//   L_D = BCE(D(x), 1) + BCE(D(x_f), 0)   -> D only
//   L_G = BCE(D(x_f), 1) (non-saturating) -> G only
// Knobs for a fair tuning budget (off by default = the reference step): one-sided label
// smoothing; dropout is a layer of the discriminator (ModelConfig for the presets).
#include <array>
#include <optional>

#include "vaegan/losses/bce.hpp"
#include "vaegan/models/decoder.hpp"
#include "vaegan/models/discriminator.hpp"
#include "vaegan/models/presets.hpp"
#include "vaegan/ops/activation.hpp"
#include "vaegan/ops/rows.hpp"
#include "vaegan/train/step_stats.hpp"
#include "vaegan/train/trainer_core.hpp"

namespace vaegan {

struct GanOptions : AdversarialOptions {
  AdamOptions generator_adam{};
  AdamOptions discriminator_adam{};
};

template <class T, class Gen = Generator<T>, class Disc = Discriminator<T>>
class GanTrainer : public TrainerCore<GanTrainer<T, Gen, Disc>, T> {
  using Core = TrainerCore<GanTrainer<T, Gen, Disc>, T>;

 public:
  static constexpr const char* kStatNames[] = {"loss_d", "loss_g", "d_real", "d_fake"};
  static constexpr int kStatCount = 4;
  static constexpr const char* kKind = "gan";
  // The network slots: their names in checkpoints, exports and --lr-<name> flags.
  enum Network : unsigned { kGenerator = 0, kDiscriminator = 1 };
  static constexpr const char* kNetworkNames[] = {"generator", "discriminator"};

  GanTrainer(Gen generator, Disc discriminator, const GanOptions& options = {}, std::uint64_t seed = 1,
             InitialWeights initial = InitialWeights::keep)
      : Core(seed),
        options_(options),
        generator_(std::move(generator)),
        discriminator_(std::move(discriminator)),
        generator_opt_(generator_.parameters(), options.generator_adam),
        discriminator_opt_(discriminator_.parameters(), options.discriminator_adam) {
    Core::require_same_shape("GanTrainer", "the generator makes images of", generator_.image_shape(),
                             "the discriminator takes", discriminator_.input_shape());
    this->add_network(kNetworkNames[kGenerator], generator_, generator_opt_, initial);
    this->add_network(kNetworkNames[kDiscriminator], discriminator_, discriminator_opt_, initial);
  }
  // The dense preset networks of `config` (models/presets.hpp).
  explicit GanTrainer(const ModelConfig& config, const GanOptions& options = {}, std::uint64_t seed = 1)
      : GanTrainer(preset_decoder<T>(config, "generator"), preset_discriminator<T>(config), options, seed,
                   InitialWeights::draw_from_seed) {
    config_ = config;
  }

  StepStats train_step(const Tensor<T>& images) {
    Tape<T>& tape = this->tape_;
    tape.reset();
    const Var<T> x = this->image_batch(tape, "GanTrainer", images);
    const Index batch = x.rows();
    const ForwardContext ctx = ForwardContext::train(this->rng_);
    Var<T> fake_logits = generator_.forward(this->normal_noise(batch, generator_.latent_dim()), ctx);
    Var<T> d = discriminator_.forward(concat_rows(x, sigmoid(fake_logits)), ctx);
    auto logits = split_rows(d, std::array<Index, 2>{batch, batch});

    Var<T> loss_d =
        add(bce_with_logits(logits[0], static_cast<T>(options_.real_label)), bce_with_logits(logits[1], T(0)));
    Var<T> loss_g = bce_with_logits(logits[1], T(1));

    StepStats stats(kStatNames, kStatCount);
    stats.set("loss_d", loss_d.item());
    stats.set("loss_g", loss_g.item());
    stats.set("d_real", static_cast<double>((T(1) / (T(1) + (-logits[0].array()).exp())).mean()));
    stats.set("d_fake", static_cast<double>((T(1) / (T(1) + (-logits[1].array()).exp())).mean()));
    this->apply_routes(
        std::array<LossRoute<T>, 2>{
            LossRoute<T>{"L_D", loss_d, 1u << kDiscriminator, true},
            LossRoute<T>{"L_G", loss_g, 1u << kGenerator, true},
        },
        stats);
    return stats;
  }

  const std::optional<ModelConfig>& config() const { return config_; }
  const GanOptions& options() const { return options_; }
  Gen& generator() { return generator_; }
  const Gen& generator() const { return generator_; }
  // The generator under the name the shared code uses (generate()).
  const Gen& decoder() const { return generator_; }
  Disc& discriminator() { return discriminator_; }
  const Disc& discriminator() const { return discriminator_; }

 private:
  std::optional<ModelConfig> config_;
  GanOptions options_;
  Gen generator_;
  Disc discriminator_;
  Adam<T> generator_opt_, discriminator_opt_;
};

// Class template argument deduction: GanTrainer trainer(networks...).
template <class Gen, class Disc>
GanTrainer(Gen, Disc, const GanOptions& = {}, std::uint64_t = 1, InitialWeights = InitialWeights::keep)
    -> GanTrainer<typename Gen::Scalar, Gen, Disc>;

}  // namespace vaegan
