// mnist_vaegan: trains a VAE-GAN (Larsen et al. 2016) on MNIST and writes samples,
// reconstructions, loss curves and checkpoints. `mnist_vaegan --help` lists the flags.
#include "common/train_main.hpp"

namespace {

struct VaeGanSpec {
  using Trainer = vaegan::VaeGanTrainer<examples::Scalar>;
  struct Options {
    vaegan::VaeGanOptions trainer;
    double lr_encoder = -1, lr_decoder = -1, lr_discriminator = -1;
  };
  static constexpr const char* kProgram = "mnist_vaegan";
  static constexpr const char* kSummary = "Train a VAE-GAN on MNIST: encoder + decoder (= generator) + discriminator.";
  static constexpr bool kReconstructs = true;

  static void add_flags(cli::Parser& p, Options& o) {
    auto& t = o.trainer;
    p.add("lr-encoder", &o.lr_encoder, "encoder learning rate (-1: --lr)");
    p.add("lr-decoder", &o.lr_decoder, "decoder learning rate (-1: --lr)");
    p.add("lr-discriminator", &o.lr_discriminator, "discriminator learning rate (-1: --lr)");
    p.add("gamma", &t.gamma, "weight of reconstruction vs adversarial loss in the decoder's loss");
    p.add("kl-weight", &t.kl_weight, "weight of the KL term in the encoder's loss");
    p.add("kl-warmup", &t.kl_warmup_steps, "steps over which the KL weight ramps up from 0");
    p.add("pixel-weight", &t.pixel_reconstruction_weight, "weight of the pixel-space reconstruction");
    p.add("feature-weight", &t.feature_reconstruction_weight,
          "weight of reconstruction in discriminator feature space (Larsen's learned similarity; 0: off)");
    p.add_switch("equilibrium", &t.equilibrium_gating, "Larsen's equilibrium gating of D and decoder updates");
    p.add("equilibrium-target", &t.equilibrium, "gating: target discriminator BCE");
    p.add("equilibrium-margin", &t.margin, "gating: band around the target");
    p.add("adversarial-warmup", &t.adversarial_warmup_steps, "steps before adversarial terms and D training start");
    p.add("real-label", &t.real_label, "discriminator target for real images (< 1: label smoothing)");
    p.add("d-dropout", &t.discriminator_dropout, "dropout between the discriminator's hidden layers");
    p.add("logvar-max", &t.logvar_max, "clamp on the encoder's log-variance (upper)");
    p.add("logvar-min", &t.logvar_min, "clamp on the encoder's log-variance (lower)");
    p.require([&t] { return t.gamma >= 0 && t.kl_weight >= 0 && t.feature_reconstruction_weight >= 0 &&
                            t.pixel_reconstruction_weight >= 0; },
              "--gamma, --kl-weight, --pixel-weight and --feature-weight must be >= 0");
    p.require([&t] { return t.real_label > 0 && t.real_label <= 1; }, "--real-label must be in (0, 1]");
    p.require([&t] { return t.discriminator_dropout >= 0 && t.discriminator_dropout < 1; },
              "--d-dropout must be in [0, 1)");
    p.require([&t] { return t.logvar_min < t.logvar_max; }, "--logvar-min must be below --logvar-max");
  }
  static void adjust_config(vaegan::ModelConfig&, const Options&) {}
  static vaegan::VaeGanOptions make_options(const examples::CommonFlags& f, const Options& o) {
    vaegan::VaeGanOptions t = o.trainer;
    t.encoder_adam = examples::adam(f, o.lr_encoder);
    t.decoder_adam = examples::adam(f, o.lr_decoder);
    t.discriminator_adam = examples::adam(f, o.lr_discriminator);
    return t;
  }
};

}  // namespace

int main(int argc, char** argv) { return examples::run_training<VaeGanSpec>(argc, argv); }
