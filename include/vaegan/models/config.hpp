#pragma once
// ModelConfig: the knobs of the preset networks (`seed`, `mlp` and `conv` of
// docs/reference-workloads.md): architecture, widths, activations, image shape,
// discriminator dropout. models/presets.hpp composes the networks from it; the example
// programs store it in their checkpoints so a sampler can rebuild the model without flags.
// A user's own model needs none of this: the trainers take any composed networks.
//
// The `*_hidden` lists mean the width of each hidden layer for a dense architecture and the
// channels of each convolution for a conv one (DCGAN-style: kernel 4, stride 2, padding 1, so
// every layer halves or doubles the image side; see models/presets.hpp).
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "vaegan/core/activation_kind.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/shape.hpp"

namespace vaegan {

enum class Architecture { dense, conv };

inline const char* architecture_name(Architecture a) { return a == Architecture::conv ? "conv" : "dense"; }

struct ModelConfig {
  std::string preset = "custom";
  Architecture architecture = Architecture::dense;
  Shape image_shape = Shape{1, 28, 28};  // [C, H, W] of one image
  Index latent_dim = 32;
  std::vector<Index> encoder_hidden{512, 256};
  Activation encoder_activation = Activation::relu();
  std::vector<Index> decoder_hidden{256, 512};
  Activation decoder_activation = Activation::relu();
  std::vector<Index> discriminator_hidden{512, 256};
  Activation discriminator_activation = Activation::leaky_relu(0.2);
  double discriminator_dropout = 0.0;  // dropout after each hidden layer of the discriminator
  // The discriminator layer whose output is the VAE-GAN's feature space (Larsen's learned
  // similarity): 0, the last hidden block's activation; k >= 1, the k-th block's. Written
  // to checkpoints only when not 0, so configurations from before it read back unchanged.
  Index discriminator_feature_block = 0;

  Index image_dim() const { return image_shape.numel(); }

  // One line that identifies the architecture; checkpoints store it and compare on load.
  std::string describe() const {
    std::ostringstream s;
    auto widths = [&](const std::vector<Index>& v) {
      std::string out;
      for (std::size_t i = 0; i < v.size(); ++i) out += (i ? "-" : "") + std::to_string(v[i]);
      return out;
    };
    if (architecture == Architecture::conv) s << "conv ";
    s << "image=" << image_shape[0] << "x" << image_shape[1] << "x" << image_shape[2] << " latent=" << latent_dim
      << " encoder=" << widths(encoder_hidden) << ":" << encoder_activation.name()
      << " decoder=" << widths(decoder_hidden) << ":" << decoder_activation.name()
      << " discriminator=" << widths(discriminator_hidden) << ":" << discriminator_activation.name();
    if (discriminator_dropout > 0.0) s << " dropout=" << discriminator_dropout;
    if (discriminator_feature_block != 0) s << " features=" << discriminator_feature_block;
    return s.str();
  }

  // A line-based text form ("key=value" per line) that parse() reads back exactly;
  // checkpoints store it so a sampler can rebuild the networks without flags.
  std::string serialize() const {
    std::ostringstream s;
    auto widths = [](const std::vector<Index>& v) {
      std::string out;
      for (std::size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + std::to_string(v[i]);
      return out;
    };
    auto act = [](const Activation& a) {
      std::ostringstream o;
      o.precision(17);
      o << static_cast<int>(a.kind) << ":" << a.slope;
      return o.str();
    };
    std::ostringstream dropout;
    dropout.precision(17);
    dropout << discriminator_dropout;
    s << "preset=" << preset << "\narchitecture=" << architecture_name(architecture)
      << "\nimage_shape=" << image_shape[0] << "," << image_shape[1] << "," << image_shape[2]
      << "\nlatent_dim=" << latent_dim << "\nencoder_hidden=" << widths(encoder_hidden)
      << "\nencoder_activation=" << act(encoder_activation) << "\ndecoder_hidden=" << widths(decoder_hidden)
      << "\ndecoder_activation=" << act(decoder_activation) << "\ndiscriminator_hidden=" << widths(discriminator_hidden)
      << "\ndiscriminator_activation=" << act(discriminator_activation) << "\ndiscriminator_dropout=" << dropout.str()
      << "\n";
    if (discriminator_feature_block != 0) s << "discriminator_feature_block=" << discriminator_feature_block << "\n";
    return s.str();
  }
  static ModelConfig parse(const std::string& text) {
    ModelConfig c;
    std::istringstream in(text);
    std::string line;
    std::set<std::string> seen;
    auto fail = [](const std::string& why) -> void {
      throw Error("ModelConfig::parse: " + why + " (the stored model configuration is damaged)");
    };
    auto parse_index = [&](const std::string& v) -> Index {
      std::size_t used = 0;
      long long x = 0;
      try {
        x = std::stoll(v, &used);
      } catch (const std::exception&) {
        fail("'" + v + "' is not a number");
      }
      if (used != v.size() || x < 1 || x > (Index{1} << 24)) fail("width '" + v + "' out of range");
      return static_cast<Index>(x);
    };
    auto parse_widths = [&](const std::string& v) {
      std::vector<Index> out;
      std::istringstream parts(v);
      std::string part;
      while (std::getline(parts, part, ',')) out.push_back(parse_index(part));
      if (out.empty()) fail("empty width list");
      return out;
    };
    auto parse_act = [&](const std::string& v) {
      const auto colon = v.find(':');
      if (colon == std::string::npos) fail("activation '" + v + "' has no ':'");
      const int kind = std::atoi(v.substr(0, colon).c_str());
      if (kind < 0 || kind > static_cast<int>(ActivationKind::softplus)) fail("unknown activation '" + v + "'");
      return Activation{static_cast<ActivationKind>(kind), std::atof(v.substr(colon + 1).c_str())};
    };
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const auto eq = line.find('=');
      if (eq == std::string::npos) fail("line '" + line + "' has no '='");
      const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
      if (!seen.insert(key).second) fail("key '" + key + "' appears twice");
      if (key == "preset") c.preset = value;
      else if (key == "architecture") {
        if (value == "dense") c.architecture = Architecture::dense;
        else if (value == "conv") c.architecture = Architecture::conv;
        else fail("unknown architecture '" + value + "'");
      } else if (key == "image_shape") {
        const std::vector<Index> d = parse_widths(value);
        if (d.size() != 3) fail("image_shape '" + value + "' is not C,H,W");
        c.image_shape = Shape{d[0], d[1], d[2]};
      } else if (key == "latent_dim") c.latent_dim = parse_index(value);
      else if (key == "encoder_hidden") c.encoder_hidden = parse_widths(value);
      else if (key == "encoder_activation") c.encoder_activation = parse_act(value);
      else if (key == "decoder_hidden") c.decoder_hidden = parse_widths(value);
      else if (key == "decoder_activation") c.decoder_activation = parse_act(value);
      else if (key == "discriminator_hidden") c.discriminator_hidden = parse_widths(value);
      else if (key == "discriminator_activation") c.discriminator_activation = parse_act(value);
      else if (key == "discriminator_dropout") {
        char* end = nullptr;
        c.discriminator_dropout = std::strtod(value.c_str(), &end);
        if (value.empty() || *end != '\0') fail("discriminator_dropout '" + value + "' is not a number");
      } else if (key == "discriminator_feature_block") c.discriminator_feature_block = parse_index(value);
      else fail("unknown key '" + key + "'");
    }
    // `architecture` came later: a configuration without it is a dense one.
    // `discriminator_feature_block` is written only when not 0.
    const std::size_t required = 10 + seen.count("architecture") + seen.count("discriminator_feature_block");
    if (seen.size() != required)
      fail("expected " + std::to_string(required) + " keys, found " + std::to_string(seen.size()));
    c.validate();
    return c;
  }

  bool operator==(const ModelConfig& o) const { return serialize() == o.serialize(); }
  bool operator!=(const ModelConfig& o) const { return !(*this == o); }

  void validate() const {
    auto positive = [](const std::vector<Index>& v) {
      for (Index w : v)
        if (w < 1) return false;
      return !v.empty();
    };
    if (!(discriminator_dropout >= 0.0 && discriminator_dropout < 1.0))
      throw Error("ModelConfig: discriminator_dropout must be in [0, 1), got " + std::to_string(discriminator_dropout));
    if (discriminator_feature_block < 0 ||
        discriminator_feature_block > static_cast<Index>(discriminator_hidden.size()))
      throw Error("ModelConfig: discriminator_feature_block must be 0 (the last hidden block) or 1.." +
                  std::to_string(discriminator_hidden.size()) + " (one of the discriminator's hidden blocks), got " +
                  std::to_string(discriminator_feature_block));
    if (image_shape.rank() != 3 || image_shape.numel() < 1 || latent_dim < 1 || !positive(encoder_hidden) ||
        !positive(decoder_hidden) || !positive(discriminator_hidden))
      throw Error("ModelConfig: every width must be >= 1 and each network needs a hidden layer (" + describe() + ")");
    if (architecture == Architecture::conv) {
      // Each conv layer halves the side (kernel 4, stride 2, padding 1), each transposed
      // conv doubles it: the image side must divide by 2^layers for every network.
      auto check_side = [&](const char* net, std::size_t layers) {
        const Index factor = Index{1} << layers;
        if (layers > 16 || image_shape[1] % factor != 0 || image_shape[2] % factor != 0)
          throw Error(std::string("ModelConfig: the conv ") + net + " has " + std::to_string(layers) +
                      " layers, each halving the image side, so the image's height and width must divide by " +
                      std::to_string(factor) + "; got " + std::to_string(image_shape[1]) + "x" +
                      std::to_string(image_shape[2]) + " (use fewer channels entries or resize the images)");
      };
      check_side("encoder", encoder_hidden.size());
      check_side("decoder", decoder_hidden.size());
      check_side("discriminator", discriminator_hidden.size());
    }
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
  } else if (name == "conv") {
    c.architecture = Architecture::conv;
    c.latent_dim = 32;
    c.encoder_hidden = {32, 64};  // channels: Conv(1->32), Conv(32->64)
    c.encoder_activation = Activation::leaky_relu(0.2);
    c.decoder_hidden = {64, 32};  // Dense(32 -> 64x7x7), ConvT(64->32), ConvT(32->1)
    c.discriminator_hidden = {32, 64};
  } else {
    throw Error("unknown model preset '" + name + "': choose 'mlp' (default), 'seed' or 'conv'");
  }
  return c;
}

}  // namespace vaegan
