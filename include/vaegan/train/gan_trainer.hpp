#pragma once
// GanTrainer<T>: the GAN baseline step of REFERENCE-WORKLOADS.md.
//   z ~ N(0, I);  x_f = G(z);  one D pass over [x; sigmoid(x_f)]
//   L_D = BCE(D(x), 1) + BCE(D(x_f), 0)   -> D only
//   L_G = BCE(D(x_f), 1) (non-saturating) -> G only
// Knobs for a fair tuning budget (all off by default = the reference step): one-sided
// label smoothing, discriminator dropout, generator hidden activation (via ModelConfig).
#include <array>

#include "vaegan/losses/bce.hpp"
#include "vaegan/models/decoder.hpp"
#include "vaegan/models/discriminator.hpp"
#include "vaegan/ops/activation.hpp"
#include "vaegan/ops/rows.hpp"
#include "vaegan/train/step_stats.hpp"
#include "vaegan/train/trainer_core.hpp"

namespace vaegan {

struct GanOptions {
  AdamOptions generator_adam{};
  AdamOptions discriminator_adam{};
  double real_label = 1.0;  // < 1: one-sided label smoothing
  double discriminator_dropout = 0.0;
};

template <class T>
class GanTrainer : public TrainerCore<T> {
 public:
  static constexpr const char* kStatNames[] = {"loss_d", "loss_g", "d_real", "d_fake"};
  static constexpr int kStatCount = 4;
  static constexpr const char* kKind = "gan";
  enum Network : unsigned { kGenerator = 0, kDiscriminator = 1 };

  GanTrainer(const ModelConfig& config, const GanOptions& options = {}, std::uint64_t seed = 1)
      : TrainerCore<T>(seed),
        config_(config),
        options_(options),
        generator_(config, this->rng_),
        discriminator_(config, this->rng_),
        generator_opt_(generator_.parameters(), options.generator_adam),
        discriminator_opt_(discriminator_.parameters(), options.discriminator_adam) {
    discriminator_.set_dropout(options.discriminator_dropout);
    this->add_network("generator", generator_.parameters(), generator_opt_);
    this->add_network("discriminator", discriminator_.parameters(), discriminator_opt_);
  }

  StepStats train_step(const Tensor<T>& images) {
    this->check_images("GanTrainer", images, config_.image_dim);
    Tape<T>& tape = this->tape_;
    tape.reset();
    const Index batch = images.rows();
    Var<T> x = tape.constant(images);
    Var<T> fake_logits = generator_.forward(this->normal_noise(batch, config_.latent_dim));
    Var<T> d = discriminator_.forward(concat_rows(x, sigmoid(fake_logits)), this->rng_, true);
    auto logits = split_rows(d, std::array<Index, 2>{batch, batch});

    Var<T> loss_d = add(bce_with_logits(logits[0], static_cast<T>(options_.real_label)),
                        bce_with_logits(logits[1], T(0)));
    Var<T> loss_g = bce_with_logits(logits[1], T(1));

    StepStats stats(kStatNames, kStatCount);
    stats.set(0, loss_d.item());
    stats.set(1, loss_g.item());
    stats.set(2, static_cast<double>((T(1) / (T(1) + (-logits[0].array()).exp())).mean()));
    stats.set(3, static_cast<double>((T(1) / (T(1) + (-logits[1].array()).exp())).mean()));
    this->apply_routes(std::array<LossRoute<T>, 2>{
        LossRoute<T>{"L_D", loss_d, 1u << kDiscriminator, true},
        LossRoute<T>{"L_G", loss_g, 1u << kGenerator, true},
    });
    return stats;
  }

  // Images [n, image_dim] in [0, 1] decoded from latent codes z [n, latent_dim].
  void generate(const Tensor<T>& z, Tensor<T>& images) { this->decode_images(generator_, z, images); }

  const ModelConfig& config() const { return config_; }
  const GanOptions& options() const { return options_; }
  Generator<T>& generator() { return generator_; }
  Discriminator<T>& discriminator() { return discriminator_; }

 private:
  ModelConfig config_;
  GanOptions options_;
  Generator<T> generator_;
  Discriminator<T> discriminator_;
  Adam<T> generator_opt_, discriminator_opt_;
};

}  // namespace vaegan
