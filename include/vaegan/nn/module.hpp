#pragma once
// Module<T>: the contract every layer and every composition of layers keeps.
//
// A module maps a batch [N, ...sample shape] to a batch [N, ...output sample shape] by
// recording ops on the tape of its input. Shapes in this contract are per sample (the
// batch dimension left out): a Dense(784, 512) takes [784] and gives [512].
//
// Requires (what a network built from modules relies on):
//   type()               the layer type's name, e.g. "Dense"; checkpoints and exports store it
//   output_shape(in)     the sample shape of the output for a sample shape `in`; throws
//                        ShapeError naming the layer and both shapes when `in` does not fit
//   forward(x, ctx)      records the layer on x's tape; ctx says train or eval mode and
//                        holds the noise source of stochastic layers (dropout)
// May override (the defaults suit a layer without parameters):
//   bind(params, prefix) registers the parameters (and buffers) in the network's one flat
//                        ParameterSet under prefix + their names ("trunk.0." + "weight");
//                        called once, before the first forward
//   reset_parameters(r)  draws fresh initial values from r
//   attributes()         what the structure description records besides the shapes
//   describe(...)        one LayerDescription per layer; compositions list their children
//   stochastic()         true when train-mode output depends on ctx.rng (dropout)
//   activation()         non-null for a pure element-wise activation layer, so a
//   fuse_activation(a)   Sequential can fuse it into the layer before it (Dense computes
//                        act(x W + b) in one pass): the previous layer returns true when it
//                        took `a` over
// A user's layer derives from Module<T> and plugs into Sequential, the models and the
// trainers as it is (the README's library tour has one).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vaegan/autodiff/parameters.hpp"
#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/activation_kind.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/format.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/core/shape.hpp"

namespace vaegan {

enum class Mode { train, eval };

// What a forward pass needs besides its input.
struct ForwardContext {
  Mode mode = Mode::eval;
  Rng* rng = nullptr;  // noise of stochastic layers; needed in train mode only
  // False: stochastic layers pass values through (as in eval) while the rest stays in
  // train mode. Larsen's feature-space loss compares features without dropout noise.
  bool noise = true;
  // Batch norm in train mode normalizes with the batch's statistics either way; these say
  // whether the pass also updates the running statistics, and with which momentum (< 0:
  // the layer's own). A VAE-GAN keeps its posterior codes out of the decoder's running
  // statistics with the first; recalibration averages over batches with the second.
  bool update_running_stats = true;
  double running_stats_momentum = -1.0;

  bool training() const { return mode == Mode::train; }
  bool draws_noise() const { return mode == Mode::train && noise; }
  static ForwardContext train(Rng& rng) { return {Mode::train, &rng, true}; }
  // Train mode for a network without stochastic layers (Dropout asks for an Rng).
  static ForwardContext train() { return {Mode::train, nullptr, true}; }
  static ForwardContext train_without_noise() { return {Mode::train, nullptr, false}; }
  static ForwardContext eval() { return {Mode::eval, nullptr, false}; }
  // This context, its running statistics left alone.
  ForwardContext without_running_stats() const {
    ForwardContext c = *this;
    c.update_running_stats = false;
    return c;
  }
};

// Named attributes of a layer ("in" -> "784", "p" -> "0.3"), in a fixed order.
using Attributes = std::vector<std::pair<std::string, std::string>>;

// One layer of a network's structure: where it sits, what it is, what it maps.
struct LayerDescription {
  std::string path;  // e.g. "trunk.2"; its parameters are named path + ".weight"
  std::string type;  // e.g. "Dense"
  Attributes attributes;
  Shape input, output;  // per sample
};

template <class T>
class Module {
 public:
  using Scalar = T;

  Module() = default;
  Module(const Module&) = delete;  // bound layers are referred to by their network
  Module& operator=(const Module&) = delete;
  Module(Module&&) noexcept = default;
  Module& operator=(Module&&) noexcept = default;
  virtual ~Module() = default;

  virtual std::string type() const = 0;
  virtual Shape output_shape(const Shape& input) const = 0;
  virtual Var<T> forward(const Var<T>& x, const ForwardContext& ctx) const = 0;

  virtual void bind(ParameterSet<T>& /*params*/, const std::string& /*prefix*/) {}
  virtual void reset_parameters(Rng& /*rng*/) {}
  virtual Attributes attributes() const { return {}; }
  virtual void describe(const std::string& path, const Shape& input, std::vector<LayerDescription>& out) const {
    out.push_back({path, type(), attributes(), input, output_shape(input)});
  }
  virtual bool stochastic() const { return false; }
  virtual const Activation* activation() const { return nullptr; }
  virtual bool fuse_activation(const Activation& /*act*/) { return false; }
};

namespace detail {
// "Dense 'trunk.0'" or "Dense" when the layer has no name yet: for messages.
inline std::string layer_label(const std::string& type, const std::string& path) {
  return path.empty() ? type : type + " '" + path + "'";
}
}  // namespace detail

}  // namespace vaegan
