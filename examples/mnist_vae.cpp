// mnist_vae: trains the plain VAE on MNIST (same encoder and decoder shapes as the
// VAE-GAN). `mnist_vae --help` lists the flags.
#include "common/train_main.hpp"

namespace {

struct VaeSpec {
  using Trainer = vaegan::VaeTrainer<examples::Scalar>;
  struct Options {
    vaegan::VaeOptions trainer;
    double lr_encoder = -1, lr_decoder = -1;
  };
  static constexpr const char* kProgram = "mnist_vae";
  static constexpr const char* kSummary = "Train a VAE on MNIST.";
  static constexpr bool kReconstructs = true;

  static void add_flags(cli::Parser& p, Options& o) {
    auto& t = o.trainer;
    p.add("lr-encoder", &o.lr_encoder, "encoder learning rate (-1: --lr)");
    p.add("lr-decoder", &o.lr_decoder, "decoder learning rate (-1: --lr)");
    p.add("kl-weight", &t.kl_weight, "weight of the KL term");
    p.add("kl-warmup", &t.kl_warmup_steps, "steps over which the KL weight ramps up from 0");
    p.require([&t] { return t.kl_weight >= 0; }, "--kl-weight must be >= 0");
  }
  static void adjust_config(vaegan::ModelConfig&, const Options&) {}
  static vaegan::VaeOptions make_options(const examples::CommonFlags& f, const Options& o) {
    vaegan::VaeOptions t = o.trainer;
    t.encoder_adam = examples::adam(f, o.lr_encoder);
    t.decoder_adam = examples::adam(f, o.lr_decoder);
    return t;
  }
};

}  // namespace

int main(int argc, char** argv) { return examples::run_training<VaeSpec>(argc, argv); }
