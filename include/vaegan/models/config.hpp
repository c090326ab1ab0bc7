#pragma once
// ModelConfig: the widths and activations of the three networks, and the presets of
// REFERENCE-WORKLOADS.md (`seed` and `mlp`). Presets are runtime values, so a config can
// be printed, stored in a checkpoint and compared on load.
#include <sstream>
#include <string>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/ops/activation.hpp"

namespace vaegan {

struct ModelConfig {
  std::string preset = "custom";
  Index image_dim = 784;
  Index latent_dim = 32;
  std::vector<Index> encoder_hidden{512, 256};
  Activation encoder_activation = Activation::relu();
  std::vector<Index> decoder_hidden{256, 512};
  Activation decoder_activation = Activation::relu();
  std::vector<Index> discriminator_hidden{512, 256};
  Activation discriminator_activation = Activation::leaky_relu(0.2);

  // One line that identifies the architecture; checkpoints store it and compare on load.
  std::string describe() const {
    std::ostringstream s;
    auto widths = [&](const std::vector<Index>& v) {
      std::string out;
      for (std::size_t i = 0; i < v.size(); ++i) out += (i ? "-" : "") + std::to_string(v[i]);
      return out;
    };
    s << "image=" << image_dim << " latent=" << latent_dim << " encoder=" << widths(encoder_hidden) << ":"
      << encoder_activation.name() << " decoder=" << widths(decoder_hidden) << ":" << decoder_activation.name()
      << " discriminator=" << widths(discriminator_hidden) << ":" << discriminator_activation.name();
    return s.str();
  }

  void validate() const {
    auto positive = [](const std::vector<Index>& v) {
      for (Index w : v)
        if (w < 1) return false;
      return !v.empty();
    };
    if (image_dim < 1 || latent_dim < 1 || !positive(encoder_hidden) || !positive(decoder_hidden) ||
        !positive(discriminator_hidden))
      throw Error("ModelConfig: every width must be >= 1 and each network needs a hidden layer (" + describe() + ")");
  }
};

// The reference presets. Throws with the list of known names for anything else.
inline ModelConfig model_preset(const std::string& name) {
  ModelConfig c;
  c.preset = name;
  if (name == "mlp") {
    c.latent_dim = 32;
    c.encoder_hidden = {512, 256};
    c.decoder_hidden = {256, 512};
    c.discriminator_hidden = {512, 256};
  } else if (name == "seed") {
    c.latent_dim = 16;
    c.encoder_hidden = {128, 64, 32};
    c.decoder_hidden = {32, 64, 128};
    c.discriminator_hidden = {128, 64};
  } else {
    throw Error("unknown model preset '" + name + "': choose 'mlp' (default) or 'seed'");
  }
  return c;
}

}  // namespace vaegan
