#pragma once
// Networks rebuilt from their NetworkStructure (nn/structure.hpp): how `vaegan sample` runs
// the decoder of a checkpoint whose model a program composed itself (no preset recorded).
// Every layer is made from its type and attributes, in the order and at the paths the
// structure lists, and the rebuilt network's own structure must equal the saved one, layer
// by layer and tensor by tensor; otherwise it throws IoError naming the first difference.
// Parameters and buffers are not set here: load them (load_weights, or the checkpoint's
// "<network>.params" / ".buffers") into the result.
//
//   const NetworkStructure saved = NetworkStructure::parse(reader.str("decoder.structure"));
//   Decoder<float> decoder = decoder_from_structure<float>(saved);
//
// Known layers: Dense (with its declared activation), Conv2d, ConvTranspose2d, BatchNorm1d,
// BatchNorm2d, ReLU, LeakyReLU, Sigmoid, Tanh, Softplus, Identity, Dropout, Flatten and
// Reshape, in one Sequential part (a Decoder's "net"), as the library's layers describe
// themselves.
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "vaegan/core/error.hpp"
#include "vaegan/models/decoder.hpp"
#include "vaegan/nn/activation_layer.hpp"
#include "vaegan/nn/batch_norm.hpp"
#include "vaegan/nn/conv2d.hpp"
#include "vaegan/nn/dense.hpp"
#include "vaegan/nn/dropout.hpp"
#include "vaegan/nn/reshape.hpp"
#include "vaegan/nn/sequential.hpp"
#include "vaegan/nn/structure.hpp"

namespace vaegan {

namespace detail {

// One attribute of a layer description, as text; throws naming the layer when absent.
inline const std::string& layer_attribute(const LayerDescription& l, const std::string& key) {
  for (const auto& [k, v] : l.attributes)
    if (k == key) return v;
  throw IoError("layer '" + l.path + "' (" + l.type + ") has no attribute '" + key + "'");
}
inline Index layer_index(const LayerDescription& l, const std::string& key) {
  const std::string& v = layer_attribute(l, key);
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno == ERANGE || x < 0 || x > (Index{1} << 40))
    throw IoError("layer '" + l.path + "': attribute " + key + "='" + v + "' is not a size");
  return static_cast<Index>(x);
}
inline double layer_number(const LayerDescription& l, const std::string& key) {
  const std::string& v = layer_attribute(l, key);
  char* end = nullptr;
  errno = 0;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || errno == ERANGE)
    throw IoError("layer '" + l.path + "': attribute " + key + "='" + v + "' is not a number");
  return x;
}

// "relu", "leaky_relu(0.2)", ... as Activation::name() writes them.
inline Activation activation_from_name(const std::string& name, const std::string& where) {
  if (name == "identity") return Activation::identity();
  if (name == "relu") return Activation::relu();
  if (name == "sigmoid") return Activation::sigmoid();
  if (name == "tanh") return Activation::tanh();
  if (name == "softplus") return Activation::softplus();
  const std::string leaky = "leaky_relu(";
  if (name.rfind(leaky, 0) == 0 && name.back() == ')') {
    const std::string slope = name.substr(leaky.size(), name.size() - leaky.size() - 1);
    char* end = nullptr;
    const double x = std::strtod(slope.c_str(), &end);
    if (!slope.empty() && *end == '\0') return Activation::leaky_relu(x);
  }
  throw IoError(where + ": unknown activation '" + name + "'");
}

}  // namespace detail

// The layer a description describes (parameters not set).
template <class T>
std::unique_ptr<Module<T>> layer_from_description(const LayerDescription& l) {
  using detail::layer_index;
  using detail::layer_number;
  const std::string& type = l.type;
  if (type == "Dense") {
    Activation act = Activation::identity();
    for (const auto& [k, v] : l.attributes)
      if (k == "activation") act = detail::activation_from_name(v, "layer '" + l.path + "'");
    return std::make_unique<Dense<T>>(layer_index(l, "in"), layer_index(l, "out"), act);
  }
  if (type == "Conv2d")
    return std::make_unique<Conv2d<T>>(layer_index(l, "in"), layer_index(l, "out"), layer_index(l, "kernel"),
                                       layer_index(l, "stride"), layer_index(l, "padding"));
  if (type == "ConvTranspose2d")
    return std::make_unique<ConvTranspose2d<T>>(layer_index(l, "in"), layer_index(l, "out"), layer_index(l, "kernel"),
                                                layer_index(l, "stride"), layer_index(l, "padding"),
                                                layer_index(l, "output_padding"));
  if (type == "BatchNorm1d")
    return std::make_unique<BatchNorm1d<T>>(layer_index(l, "num_features"), layer_number(l, "eps"),
                                            layer_number(l, "momentum"));
  if (type == "BatchNorm2d")
    return std::make_unique<BatchNorm2d<T>>(layer_index(l, "num_features"), layer_number(l, "eps"),
                                            layer_number(l, "momentum"));
  if (type == "ReLU") return std::make_unique<ReLU<T>>();
  if (type == "LeakyReLU") return std::make_unique<LeakyReLU<T>>(layer_number(l, "negative_slope"));
  if (type == "Sigmoid") return std::make_unique<Sigmoid<T>>();
  if (type == "Tanh") return std::make_unique<Tanh<T>>();
  if (type == "Softplus") return std::make_unique<Softplus<T>>();
  if (type == "Identity") return std::make_unique<ActivationLayer<T>>(Activation::identity());
  if (type == "Dropout") return std::make_unique<Dropout<T>>(layer_number(l, "p"));
  if (type == "Flatten") return std::make_unique<Flatten<T>>();
  if (type == "Reshape") return std::make_unique<Reshape<T>>(l.output);
  throw IoError("layer '" + l.path + "': no layer of type '" + type + "' can be rebuilt from a structure");
}

// The Sequential of the layers at "<part>.<name>" (all of them must be), in order.
template <class T>
Sequential<T> sequential_from_structure(const NetworkStructure& s, const std::string& part) {
  Sequential<T> net;
  const std::string prefix = part + ".";
  for (const LayerDescription& l : s.layers) {
    if (l.path.rfind(prefix, 0) != 0)
      throw IoError("network '" + s.name + "': layer '" + l.path + "' is not in part '" + part +
                    "'; only a network of one Sequential part can be rebuilt from its structure");
    net.add(l.path.substr(prefix.size()), layer_from_description<T>(l));
  }
  return net;
}

// The decoder (or generator) a structure describes: latent codes [input] -> images
// [output], its layers in the part "net". Throws IoError when the rebuilt decoder's
// structure differs from `s`.
template <class T>
Decoder<T> decoder_from_structure(const NetworkStructure& s) {
  if (s.input.rank() != 1)
    throw IoError("network '" + s.name + "' takes samples of " + s.input.str() +
                  ", not latent codes [latent_dim]: it is not a decoder");
  std::optional<Decoder<T>> built;
  try {
    built.emplace(s.input[0], sequential_from_structure<T>(s, "net"), s.name);
  } catch (const IoError&) {
    throw;
  } catch (const Error& e) {  // layers whose shapes do not chain, a bad attribute value
    throw IoError("network '" + s.name + "' cannot be rebuilt from its structure: " + e.what());
  }
  Decoder<T> decoder = std::move(*built);
  std::string difference = decoder.structure().first_difference(s, "the saved structure");
  if (difference.empty() && decoder.structure().to_text() != s.to_text())
    difference = "its tensors' offsets or layouts differ from the saved ones";
  if (!difference.empty())
    throw IoError("network '" + s.name + "' cannot be rebuilt from its structure: " + difference);
  return decoder;
}

}  // namespace vaegan
