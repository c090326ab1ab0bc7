#pragma once
// Sequential<T>: modules applied one after the other, itself a module (torch.nn.Sequential).
//
//   Sequential<float> trunk(Flatten<float>(), Dense<float>(784, 512), ReLU<float>(),
//                           Dropout<float>(0.3), Dense<float>(512, 256), ReLU<float>());
//
// Children are named by position ("0", "1", ...) unless add() gives a name; parameters are
// named <child>.<parameter> under the network's prefix ("trunk.1.weight"). When the network
// binds it, an activation layer right after a Dense, or a ReLU / LeakyReLU right after a
// batch norm, is fused into that layer (fewer passes over the output); the structure still
// lists both, as composed.
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vaegan/nn/activation_layer.hpp"
#include "vaegan/nn/dense.hpp"
#include "vaegan/nn/module.hpp"

// (A macro: static_assert takes a string literal.)
#define VAEGAN_SEQUENTIAL_MOVE_HINT                                                                             \
  "modules are moved into a Sequential or network, never copied (a layer's parameters belong to one network): " \
  "pass a temporary or std::move(the_layer); to have two, build two"

namespace vaegan {

template <class T>
class Sequential : public Module<T> {
 public:
  Sequential() = default;
  // Sequential(layer, layer, ...): each layer is moved in.
  template <class... Layers, class = std::enable_if_t<(sizeof...(Layers) > 0) &&
                                                      (std::is_base_of_v<Module<T>, std::decay_t<Layers>> && ...)>>
  explicit Sequential(Layers&&... layers) {
    static_assert((!std::is_lvalue_reference_v<Layers> && ...), VAEGAN_SEQUENTIAL_MOVE_HINT);
    (add(std::forward<Layers>(layers)), ...);
  }
  Sequential(Sequential&&) noexcept = default;
  Sequential& operator=(Sequential&&) noexcept = default;
  // Modules cannot be copied: a bound layer's parameters live in one network's set. The
  // copy is declared only to say so where it is asked for (its body is compiled only then).
  Sequential(const Sequential& other) : Module<T>() { static_assert(sizeof(other) == 0, VAEGAN_SEQUENTIAL_MOVE_HINT); }
  Sequential& operator=(const Sequential& other) {
    static_assert(sizeof(other) == 0, VAEGAN_SEQUENTIAL_MOVE_HINT);
    return *this;
  }
  // A multilayer perceptron on its own: Dense layers of the given widths, each followed by
  // its activation (identity: none), registered in `params` under <name><i>.weight and
  // initialized now.
  Sequential(ParameterSet<T>& params, const std::vector<Index>& widths, const std::vector<Activation>& activations,
             Rng& rng, const std::string& name = "layer", Init init = Init::automatic) {
    build_mlp(widths, activations, init);
    bind_named(params, name);
    reset_parameters(rng);
  }
  // The same with a ParameterSet of its own (parameters()).
  Sequential(const std::vector<Index>& widths, const std::vector<Activation>& activations, Rng& rng,
             const std::string& name = "layer", Init init = Init::automatic)
      : owned_(std::make_unique<ParameterSet<T>>(name)) {
    build_mlp(widths, activations, init);
    bind_named(*owned_, name);
    reset_parameters(rng);
  }

  // Appends a layer (moved in), named by its position or by `name`.
  template <class Layer, class = std::enable_if_t<std::is_base_of_v<Module<T>, std::decay_t<Layer>>>>
  Sequential& add(Layer&& layer) {
    return add(std::to_string(children_.size()), std::forward<Layer>(layer));
  }
  template <class Layer, class = std::enable_if_t<std::is_base_of_v<Module<T>, std::decay_t<Layer>>>>
  Sequential& add(const std::string& name, Layer&& layer) {
    static_assert(!std::is_lvalue_reference_v<Layer>, VAEGAN_SEQUENTIAL_MOVE_HINT);
    return add(name, std::unique_ptr<Module<T>>(std::make_unique<std::decay_t<Layer>>(std::forward<Layer>(layer))));
  }
  Sequential& add(const std::string& name, std::unique_ptr<Module<T>> layer) {
    if (bound_) throw Error("Sequential: cannot add layer '" + name + "' after the network was built");
    if (name.empty() || name.find('.') != std::string::npos)
      throw Error("Sequential: layer name '" + name + "' must be non-empty and contain no '.'");
    for (const auto& c : children_)
      if (c.name == name) throw Error("Sequential: two layers named '" + name + "'");
    children_.push_back({name, std::move(layer), false});
    return *this;
  }

  // ---- Module ---------------------------------------------------------------------------
  std::string type() const override { return "Sequential"; }
  Shape output_shape(const Shape& input) const override {
    Shape s = input;
    for (const auto& c : children_) {
      try {
        s = c.module->output_shape(s);
      } catch (const ShapeError& e) {
        throw ShapeError("layer '" + c.name + "' (" + c.module->type() + "): " + e.what());
      }
    }
    return s;
  }
  void bind(ParameterSet<T>& params, const std::string& prefix) override {
    if (bound_) throw Error("Sequential: the layers are part of a network already");
    if (children_.empty()) throw Error("Sequential: no layers; add some before building a network of it");
    fuse_activations();
    for (auto& c : children_) c.module->bind(params, prefix + c.name + ".");
    bound_ = true;
  }
  void reset_parameters(Rng& rng) override {
    for (auto& c : children_) c.module->reset_parameters(rng);
  }
  void describe(const std::string& path, const Shape& input, std::vector<LayerDescription>& out) const override {
    Shape s = input;
    for (const auto& c : children_) {
      c.module->describe(path.empty() ? c.name : path + "." + c.name, s, out);
      s = c.module->output_shape(s);
    }
  }
  bool stochastic() const override {
    for (const auto& c : children_)
      if (c.module->stochastic()) return true;
    return false;
  }
  Var<T> forward(const Var<T>& x, const ForwardContext& ctx) const override { return forward_to(x, ctx, -1, nullptr); }
  Var<T> operator()(const Var<T>& x, const ForwardContext& ctx) const { return forward(x, ctx); }

  // The forward pass, and the output of child `capture` into *captured on the way;
  // with stop_at_capture, the layers after it are not run (the return value is *captured).
  Var<T> forward_to(const Var<T>& x, const ForwardContext& ctx, int capture, Var<T>* captured,
                    bool stop_at_capture = false) const {
    Var<T> h = x;
    for (std::size_t i = 0; i < children_.size(); ++i) {
      if (!children_[i].fused_into_previous) h = children_[i].module->forward(h, ctx);
      if (static_cast<int>(i) == capture) {
        *captured = h;
        if (stop_at_capture) break;
      }
    }
    return h;
  }
  // True when a child at or before position `last` draws noise in train mode.
  bool stochastic_through(int last) const {
    for (int i = 0; i <= last && i < static_cast<int>(children_.size()); ++i)
      if (children_[static_cast<std::size_t>(i)].module->stochastic()) return true;
    return false;
  }

  // ---- children ------------------------------------------------------------------------
  std::size_t size() const { return children_.size(); }
  const Module<T>& layer(std::size_t i) const { return *children_.at(i).module; }
  Module<T>& layer(std::size_t i) { return *children_.at(i).module; }
  const std::string& layer_name(std::size_t i) const { return children_.at(i).name; }
  // The position of the child named `name`; throws listing the names if there is none.
  int index_of(const std::string& name) const {
    for (std::size_t i = 0; i < children_.size(); ++i)
      if (children_[i].name == name) return static_cast<int>(i);
    std::string names;
    for (const auto& c : children_) names += (names.empty() ? "" : ", ") + c.name;
    throw Error("Sequential: no layer named '" + name + "' (layers: " + names + ")");
  }
  // Keeps child i's own output (its activation is not fused into it), so forward_to can
  // capture it. Call before the network is built.
  void keep_output(int i) {
    if (bound_) throw Error("Sequential::keep_output: call it before the network is built");
    keep_output_.push_back(i);
  }

  // The parameters of a Sequential built with its own set (the MLP constructor above).
  ParameterSet<T>& parameters() const {
    if (!owned_) throw Error("Sequential::parameters: this Sequential is part of a network; ask the network");
    return *owned_;
  }
  // The Dense layers, in order (for code that walks an MLP).
  std::vector<const Dense<T>*> dense_layers() const {
    std::vector<const Dense<T>*> out;
    for (const auto& c : children_)
      if (const auto* d = dynamic_cast<const Dense<T>*>(c.module.get())) out.push_back(d);
    return out;
  }

 private:
  struct Child {
    std::string name;
    std::unique_ptr<Module<T>> module;
    bool fused_into_previous = false;
  };

  void fuse_activations() {
    for (std::size_t i = 1; i < children_.size(); ++i) {
      const Activation* act = children_[i].module->activation();
      if (act == nullptr || children_[i - 1].fused_into_previous) continue;
      bool keep = false;
      for (int k : keep_output_) keep = keep || k == static_cast<int>(i) - 1;
      if (!keep && children_[i - 1].module->fuse_activation(*act)) children_[i].fused_into_previous = true;
    }
  }
  void build_mlp(const std::vector<Index>& widths, const std::vector<Activation>& activations, Init init) {
    if (widths.size() < 2) throw ShapeError("Sequential: needs at least two widths (input and output)");
    if (activations.size() != widths.size() - 1)
      throw ShapeError("Sequential: " + std::to_string(widths.size()) + " widths need " +
                       std::to_string(widths.size() - 1) + " activations, got " + std::to_string(activations.size()));
    for (std::size_t i = 0; i + 1 < widths.size(); ++i) add(Dense<T>(widths[i], widths[i + 1], activations[i], init));
  }
  // The MLP constructors' names: "<name><i>.weight", as before composition existed.
  void bind_named(ParameterSet<T>& params, const std::string& name) {
    for (std::size_t i = 0; i < children_.size(); ++i) children_[i].name = name + std::to_string(i);
    bind(params, "");
  }

  std::vector<Child> children_;
  std::vector<int> keep_output_;
  std::unique_ptr<ParameterSet<T>> owned_;
  bool bound_ = false;
};

}  // namespace vaegan

#undef VAEGAN_SEQUENTIAL_MOVE_HINT
