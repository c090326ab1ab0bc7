#pragma once
// The three training methods as "specs": trainer type, options, and the flags that set
// them. `vaegan train --model M` uses one spec with no flag prefix; the
// compare study uses all three with prefixes ("gan-lr", "vaegan-gamma", ...), so the
// same flag means the same thing everywhere.
#include <map>
#include <optional>
#include <string>

#include <vaegan/vaegan.hpp>

#include "cli.hpp"

namespace examples {

using Scalar = float;

// Adam settings every method has (docs/reference-workloads.md defaults), and a learning
// rate per network keyed by the trainer's network names (Trainer::kNetworkNames):
// --lr-encoder, --lr-discriminator, ... A network without its own rate takes --lr.
struct AdamFlags {
  double lr = 2e-4;
  double beta1 = 0.5;
  double beta2 = 0.999;
  std::map<std::string, std::optional<double>> network_lr;

  template <class Trainer>
  void add(cli::Parser& p, const std::string& prefix) {
    p.add(prefix + "lr", &lr, "Adam learning rate of every network without a rate of its own");
    for (const char* network : Trainer::kNetworkNames) {
      std::optional<double>& rate = network_lr[network];
      p.add(prefix + "lr-" + network, &rate,
            std::string(network) + "'s learning rate" + (rate ? "" : " (unset: --" + prefix + "lr)"));
    }
    p.add(prefix + "beta1", &beta1, "Adam beta1");
    p.add(prefix + "beta2", &beta2, "Adam beta2");
    p.require(
        [this] {
          for (const auto& [network, rate] : network_lr)
            if (rate && !(*rate > 0)) return false;
          return lr > 0 && beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1;
        },
        "--" + prefix + "lr and the --" + prefix + "lr-<network> rates must be > 0, --" + prefix + "beta1 and --" +
            prefix + "beta2 in [0, 1)");
  }
  // Adam options of one network: its own rate, else the shared one.
  vaegan::AdamOptions for_network(const char* network) const {
    vaegan::AdamOptions o;
    const auto own = network_lr.find(network);
    o.lr = own != network_lr.end() && own->second ? *own->second : lr;
    o.beta1 = beta1;
    o.beta2 = beta2;
    return o;
  }
};

struct VaeGanSpec {
  using Trainer = vaegan::VaeGanTrainer<Scalar>;
  struct Options {
    AdamFlags adam;
    vaegan::VaeGanOptions trainer;
    double discriminator_dropout = 0.0;       // a layer of the preset discriminator (ModelConfig)
    std::string decoder_activation = "relu";  // of the preset decoder (ModelConfig)
    std::int64_t feature_block = 0;           // the preset discriminator's feature layer (ModelConfig)
    std::string decoder_batch_norm = "joint";
  };
  static constexpr const char* kName = "vaegan";
  static constexpr const char* kTitle = "VAE-GAN";
  static constexpr bool kHasReference = true;
  static constexpr const char* kSummary =
      "Train a VAE-GAN (the reference step's settings): encoder + decoder (= generator) + discriminator.";
  static constexpr bool kReconstructs = true;

  // The reference step of docs/reference-workloads.md.
  static Options defaults() { return {}; }

  static void add_flags(cli::Parser& p, Options& o, const std::string& prefix = "") {
    auto& t = o.trainer;
    o.adam.add<Trainer>(p, prefix);
    p.add(prefix + "gamma", &t.gamma, "weight of reconstruction vs adversarial loss in the decoder's loss");
    p.add(prefix + "kl-weight", &t.kl_weight, "weight of the KL term in the encoder's loss");
    p.add(prefix + "kl-warmup", &t.kl_warmup_steps, "steps over which the KL weight ramps up from 0");
    p.add(prefix + "pixel-weight", &t.pixel_reconstruction_weight, "weight of the pixel-space reconstruction");
    p.add(prefix + "feature-weight", &t.feature_reconstruction_weight,
          "weight of reconstruction in discriminator feature space (Larsen's learned similarity; 0: off)");
    p.add_switch(prefix + "equilibrium", &t.equilibrium_gating, "Larsen's equilibrium gating of D and decoder updates");
    p.add(prefix + "equilibrium-target", &t.equilibrium, "gating: target discriminator BCE");
    p.add(prefix + "equilibrium-margin", &t.margin, "gating: band around the target");
    p.add(prefix + "adversarial-warmup", &t.adversarial_warmup_steps,
          "steps before adversarial terms and D training start");
    p.add(prefix + "real-label", &t.real_label, "discriminator target for real images (< 1: label smoothing)");
    p.add(prefix + "d-dropout", &o.discriminator_dropout, "dropout after each hidden layer of the discriminator");
    p.add(prefix + "logvar-max", &t.logvar_max, "clamp on the encoder's log-variance (upper)");
    p.add(prefix + "logvar-min", &t.logvar_min, "clamp on the encoder's log-variance (lower)");
    p.add(prefix + "d-real-weight", &t.d_real_weight, "weight of real images in the discriminator's loss");
    p.add(prefix + "d-recon-weight", &t.d_recon_weight, "weight of reconstructions in the discriminator's loss");
    p.add(prefix + "d-prior-weight", &t.d_prior_weight, "weight of prior samples in the discriminator's loss");
    p.add(prefix + "decoder-bn", &o.decoder_batch_norm,
          "decoder batch norm: joint (one pass over posterior and prior codes) or separate (a pass each; running "
          "statistics from the prior codes)");
    p.add(prefix + "decoder-activation", &o.decoder_activation, "hidden activation of the decoder: relu or leaky_relu");
    p.add(prefix + "feature-block", &o.feature_block,
          "discriminator block whose activation is the feature space (0: the last)");
    p.add_switch(prefix + "gate-on-excess", &t.gate_on_excess_bce,
                 "gating: take the real label's BCE floor off D's real error, so gating can fire under smoothing");
    p.add(prefix + "vae-phase", &t.vae_phase_steps, "steps of plain VAE training before the adversarial terms");
    p.add(prefix + "adversarial-ramp", &t.adversarial_ramp_steps,
          "steps over which the adversarial terms ramp up from 0 once they start");
    p.add(prefix + "term-norms-every", &t.term_norms_every,
          "measure the decoder gradient norm of each loss term every N steps (0: never; costs backward passes)");
    p.require(
        [&t] {
          return t.gamma >= 0 && t.kl_weight >= 0 && t.feature_reconstruction_weight >= 0 &&
                 t.pixel_reconstruction_weight >= 0 && t.kl_warmup_steps >= 0 && t.adversarial_warmup_steps >= 0 &&
                 t.d_real_weight >= 0 && t.d_recon_weight >= 0 && t.d_prior_weight >= 0 && t.vae_phase_steps >= 0 &&
                 t.adversarial_ramp_steps >= 0 && t.term_norms_every >= 0;
        },
        "--" + prefix + "gamma, kl-weight, pixel-weight, feature-weight, the d-*-weights, the warm-ups, vae-phase, " +
            "adversarial-ramp and term-norms-every must be >= 0");
    p.require([&t] { return t.pixel_reconstruction_weight > 0 || t.feature_reconstruction_weight > 0; },
              "--" + prefix + "pixel-weight and --" + prefix + "feature-weight are both 0: nothing would reconstruct");
    p.require([&o] { return o.decoder_batch_norm == "joint" || o.decoder_batch_norm == "separate"; },
              "--" + prefix + "decoder-bn must be joint or separate");
    p.require([&o] { return o.decoder_activation == "relu" || o.decoder_activation == "leaky_relu"; },
              "--" + prefix + "decoder-activation must be relu or leaky_relu");
    p.require([&o] { return o.feature_block >= 0; }, "--" + prefix + "feature-block must be >= 0");
    p.require([&t] { return t.real_label > 0 && t.real_label <= 1; }, "--" + prefix + "real-label must be in (0, 1]");
    p.require([&o] { return o.discriminator_dropout >= 0 && o.discriminator_dropout < 1; },
              "--" + prefix + "d-dropout must be in [0, 1)");
    p.require([&t] { return t.logvar_min < t.logvar_max; }, "--" + prefix + "logvar-min must be below logvar-max");
  }
  static void adjust_config(vaegan::ModelConfig& c, const Options& o) {
    c.discriminator_dropout = o.discriminator_dropout;
    if (o.decoder_activation == "leaky_relu") c.decoder_activation = vaegan::Activation::leaky_relu(0.2);
    c.discriminator_feature_block = o.feature_block;
  }
  static vaegan::VaeGanOptions make_options(const Options& o) {
    vaegan::VaeGanOptions t = o.trainer;
    t.decoder_batch_norm =
        o.decoder_batch_norm == "separate" ? vaegan::DecoderBatchNorm::separate : vaegan::DecoderBatchNorm::joint;
    t.encoder_adam = o.adam.for_network(Trainer::kNetworkNames[Trainer::kEncoder]);
    t.decoder_adam = o.adam.for_network(Trainer::kNetworkNames[Trainer::kDecoder]);
    t.discriminator_adam = o.adam.for_network(Trainer::kNetworkNames[Trainer::kDiscriminator]);
    return t;
  }
};

struct GanSpec {
  using Trainer = vaegan::GanTrainer<Scalar>;
  struct Options {
    AdamFlags adam;
    vaegan::GanOptions trainer;
    double discriminator_dropout = 0.0;  // a layer of the preset discriminator (ModelConfig)
    std::string generator_activation = "relu";
  };
  static constexpr const char* kName = "gan";
  static constexpr const char* kTitle = "GAN";
  static constexpr bool kHasReference = false;
  static constexpr const char* kSummary = "Train a GAN (the baseline the VAE-GAN is compared with).";
  static constexpr bool kReconstructs = false;

  static Options defaults() { return {}; }

  static void add_flags(cli::Parser& p, Options& o, const std::string& prefix = "") {
    auto& t = o.trainer;
    o.adam.add<Trainer>(p, prefix);
    p.add(prefix + "real-label", &t.real_label, "discriminator target for real images (< 1: label smoothing)");
    p.add(prefix + "d-dropout", &o.discriminator_dropout, "dropout after each hidden layer of the discriminator");
    p.add(prefix + "generator-activation", &o.generator_activation,
          "hidden activation of the generator: relu or leaky_relu");
    p.require([&t] { return t.real_label > 0 && t.real_label <= 1; }, "--" + prefix + "real-label must be in (0, 1]");
    p.require([&o] { return o.discriminator_dropout >= 0 && o.discriminator_dropout < 1; },
              "--" + prefix + "d-dropout must be in [0, 1)");
    p.require([&o] { return o.generator_activation == "relu" || o.generator_activation == "leaky_relu"; },
              "--" + prefix + "generator-activation must be relu or leaky_relu");
  }
  static void adjust_config(vaegan::ModelConfig& c, const Options& o) {
    if (o.generator_activation == "leaky_relu") c.decoder_activation = vaegan::Activation::leaky_relu(0.2);
    c.discriminator_dropout = o.discriminator_dropout;
  }
  static vaegan::GanOptions make_options(const Options& o) {
    vaegan::GanOptions t = o.trainer;
    t.generator_adam = o.adam.for_network(Trainer::kNetworkNames[Trainer::kGenerator]);
    t.discriminator_adam = o.adam.for_network(Trainer::kNetworkNames[Trainer::kDiscriminator]);
    return t;
  }
};

struct VaeSpec {
  using Trainer = vaegan::VaeTrainer<Scalar>;
  struct Options {
    AdamFlags adam;
    vaegan::VaeOptions trainer;
  };
  static constexpr const char* kName = "vae";
  static constexpr const char* kTitle = "VAE";
  static constexpr bool kHasReference = false;
  static constexpr const char* kSummary = "Train a VAE: encoder + decoder.";
  static constexpr bool kReconstructs = true;

  static Options defaults() { return {}; }

  static void add_flags(cli::Parser& p, Options& o, const std::string& prefix = "") {
    auto& t = o.trainer;
    o.adam.add<Trainer>(p, prefix);
    p.add(prefix + "kl-weight", &t.kl_weight, "weight of the KL term");
    p.add(prefix + "kl-warmup", &t.kl_warmup_steps, "steps over which the KL weight ramps up from 0");
    p.require([&t] { return t.kl_weight >= 0 && t.kl_warmup_steps >= 0; },
              "--" + prefix + "kl-weight and kl-warmup must be >= 0");
  }
  static void adjust_config(vaegan::ModelConfig&, const Options&) {}
  static vaegan::VaeOptions make_options(const Options& o) {
    vaegan::VaeOptions t = o.trainer;
    t.encoder_adam = o.adam.for_network(Trainer::kNetworkNames[Trainer::kEncoder]);
    t.decoder_adam = o.adam.for_network(Trainer::kNetworkNames[Trainer::kDecoder]);
    return t;
  }
};

}  // namespace examples
