// mnist_gan: trains the plain GAN baseline on MNIST (same generator and discriminator
// shapes as the VAE-GAN). `mnist_gan --help` lists the flags.
#include "common/train_main.hpp"

namespace {

struct GanSpec {
  using Trainer = vaegan::GanTrainer<examples::Scalar>;
  struct Options {
    vaegan::GanOptions trainer;
    double lr_generator = -1, lr_discriminator = -1;
    std::string generator_activation = "relu";
  };
  static constexpr const char* kProgram = "mnist_gan";
  static constexpr const char* kSummary = "Train a GAN on MNIST (the baseline the VAE-GAN is compared with).";
  static constexpr bool kReconstructs = false;

  static void add_flags(cli::Parser& p, Options& o) {
    auto& t = o.trainer;
    p.add("lr-generator", &o.lr_generator, "generator learning rate (-1: --lr)");
    p.add("lr-discriminator", &o.lr_discriminator, "discriminator learning rate (-1: --lr)");
    p.add("real-label", &t.real_label, "discriminator target for real images (< 1: label smoothing)");
    p.add("d-dropout", &t.discriminator_dropout, "dropout between the discriminator's hidden layers");
    p.add("generator-activation", &o.generator_activation, "hidden activation of the generator: relu or leaky_relu");
    p.require([&t] { return t.real_label > 0 && t.real_label <= 1; }, "--real-label must be in (0, 1]");
    p.require([&t] { return t.discriminator_dropout >= 0 && t.discriminator_dropout < 1; },
              "--d-dropout must be in [0, 1)");
    p.require([&o] { return o.generator_activation == "relu" || o.generator_activation == "leaky_relu"; },
              "--generator-activation must be relu or leaky_relu");
  }
  static void adjust_config(vaegan::ModelConfig& c, const Options& o) {
    if (o.generator_activation == "leaky_relu") c.decoder_activation = vaegan::Activation::leaky_relu(0.2);
  }
  static vaegan::GanOptions make_options(const examples::CommonFlags& f, const Options& o) {
    vaegan::GanOptions t = o.trainer;
    t.generator_adam = examples::adam(f, o.lr_generator);
    t.discriminator_adam = examples::adam(f, o.lr_discriminator);
    return t;
  }
};

}  // namespace

int main(int argc, char** argv) { return examples::run_training<GanSpec>(argc, argv); }
