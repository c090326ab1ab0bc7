#pragma once
// Sequential<T>: a stack of Dense layers built from a list of widths and activations,
//   Sequential<float> mlp(params, {784, 512, 256, 1}, {relu, relu, identity}, rng);
// Layers live in a ParameterSet: pass one to share a network's flat buffer between several
// stacks (an encoder's trunk and heads), or let the Sequential own its own.
// Optional dropout after every hidden layer (not after the last one).
#include <memory>
#include <string>
#include <vector>

#include "vaegan/nn/dense.hpp"
#include "vaegan/ops/dropout.hpp"

namespace vaegan {

template <class T>
class Sequential {
 public:
  Sequential(ParameterSet<T>& params, const std::vector<Index>& widths, const std::vector<Activation>& activations,
             Rng& rng, const std::string& name = "layer", Init init = Init::automatic)
      : params_(&params) {
    build(widths, activations, rng, name, init);
  }
  // Owns its parameters.
  Sequential(const std::vector<Index>& widths, const std::vector<Activation>& activations, Rng& rng,
             const std::string& name = "layer", Init init = Init::automatic)
      : owned_(std::make_unique<ParameterSet<T>>(name)), params_(owned_.get()) {
    build(widths, activations, rng, name, init);
  }

  Var<T> forward(const Var<T>& x) const {
    Var<T> h = x;
    for (const auto& layer : layers_) h = layer.forward(h);
    return h;
  }
  // With dropout (probability set by set_dropout) after each hidden layer when training.
  Var<T> forward(const Var<T>& x, Rng& rng, bool training) const {
    Var<T> h = x;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      h = layers_[i].forward(h);
      if (dropout_ > 0.0 && i + 1 < layers_.size()) h = dropout(h, dropout_, rng, training);
    }
    return h;
  }
  Var<T> operator()(const Var<T>& x) const { return forward(x); }

  void set_dropout(double p) {
    if (!(p >= 0.0 && p < 1.0)) throw Error("Sequential::set_dropout: p must be in [0, 1), got " + std::to_string(p));
    dropout_ = p;
  }
  double dropout_probability() const { return dropout_; }
  const std::vector<Dense<T>>& layers() const { return layers_; }
  Index in_features() const { return layers_.front().in_features(); }
  Index out_features() const { return layers_.back().out_features(); }
  ParameterSet<T>& parameters() const { return *params_; }

 private:
  void build(const std::vector<Index>& widths, const std::vector<Activation>& activations, Rng& rng,
             const std::string& name, Init init) {
    if (widths.size() < 2) throw ShapeError("Sequential: needs at least two widths (input and output)");
    if (activations.size() != widths.size() - 1)
      throw ShapeError("Sequential: " + std::to_string(widths.size()) + " widths need " +
                       std::to_string(widths.size() - 1) + " activations, got " + std::to_string(activations.size()));
    layers_.reserve(widths.size() - 1);
    for (std::size_t i = 0; i + 1 < widths.size(); ++i)
      layers_.emplace_back(*params_, widths[i], widths[i + 1], activations[i], rng, init,
                           name + std::to_string(i));
  }

  std::unique_ptr<ParameterSet<T>> owned_;
  ParameterSet<T>* params_;
  std::vector<Dense<T>> layers_;
  double dropout_ = 0.0;
};

}  // namespace vaegan
