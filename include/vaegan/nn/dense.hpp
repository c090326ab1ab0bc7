#pragma once
// Dense<T>: y = act(x W + b), x [batch, in], W [in, out], b [out] -> y [batch, out], one
// fused op (linear(), ops/linear.hpp).
#include <algorithm>
#include <string>

#include "vaegan/autodiff/parameters.hpp"
#include "vaegan/autodiff/tape.hpp"
#include "vaegan/nn/init.hpp"
#include "vaegan/nn/module.hpp"
#include "vaegan/ops/linear.hpp"

namespace vaegan {

// A fully connected layer, act(x W + b): sample [in] -> [out]. Its activation is the one
// given here, or the activation layer that follows it in a Sequential (fused: one pass).
template <class T>
class Dense : public Module<T> {
 public:
  // A layer to compose: its parameters are registered when its network binds it.
  Dense(Index in, Index out, Activation act = Activation::identity(), Init init = Init::automatic)
      : in_(in), out_(out), act_(act), init_(init) {
    if (in < 1 || out < 1)
      throw ShapeError("Dense: widths must be >= 1, got " + std::to_string(in) + " -> " + std::to_string(out));
  }
  // A layer used on its own: registers "<name>.weight" [in, out] and "<name>.bias" [out]
  // in `params` now and initializes them.
  Dense(ParameterSet<T>& params, Index in, Index out, Activation act, Rng& rng, Init init = Init::automatic,
        const std::string& name = "dense")
      : Dense(in, out, act, init) {
    bind(params, name + ".");
    reset_parameters(rng);
  }

  std::string type() const override { return "Dense"; }
  Shape output_shape(const Shape& input) const override {
    if (input.rank() != 1 || input[0] != in_)
      throw ShapeError(
          detail::layer_label("Dense", path_) + " takes samples of [" + std::to_string(in_) + "], got " + input.str() +
          (input.rank() > 1 ? " (put a Flatten before it)" : " (the layer before it gives another width)"));
    return Shape{out_};
  }
  Attributes attributes() const override {
    Attributes a{{"in", std::to_string(in_)}, {"out", std::to_string(out_)}};
    if (act_.kind != ActivationKind::identity) a.emplace_back("activation", act_.name());
    return a;
  }
  void bind(ParameterSet<T>& params, const std::string& prefix) override {
    params_ = &params;
    path_ = prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1);
    weight_ = params.add(prefix + "weight", Shape::matrix(in_, out_), TorchLayout::transposed);
    bias_ = params.add(prefix + "bias", Shape::vector(out_));
  }
  // Weights by the init (automatic: from the activation applied after the layer), bias 0.
  void reset_parameters(Rng& rng) override {
    require_bound();
    initialize_weights(params_->value_ptr(weight_), in_, out_, resolve_init(init_, applied_activation()), rng);
    std::fill(params_->value_ptr(bias_), params_->value_ptr(bias_) + out_, T(0));
  }
  bool fuse_activation(const Activation& act) override {
    if (act_.kind != ActivationKind::identity || fused_.kind != ActivationKind::identity) return false;
    fused_ = act;
    return true;
  }

  Var<T> forward(const Var<T>& x, const ForwardContext& /*ctx*/) const override { return forward(x); }
  Var<T> forward(const Var<T>& x) const {
    require_bound();
    Tape<T>& tape = x.tape();
    if (x.cols() != in_)
      throw ShapeError(detail::layer_label("Dense", path_) + ": input has " + std::to_string(x.cols()) +
                       " features per sample, the layer expects " + std::to_string(in_) + " (input " + x.shape().str() +
                       ")");
    return linear(x, tape.parameter(*params_, weight_), tape.parameter(*params_, bias_), applied_activation());
  }
  Var<T> operator()(const Var<T>& x) const { return forward(x); }

  Index in_features() const { return in_; }
  Index out_features() const { return out_; }
  // The activation the layer computes: its own, or the one fused from the next layer.
  Activation applied_activation() const { return act_.kind != ActivationKind::identity ? act_ : fused_; }
  int weight_index() const { return weight_; }
  int bias_index() const { return bias_; }
  ParameterSet<T>& parameters() const {
    require_bound();
    return *params_;
  }

 private:
  void require_bound() const {
    if (params_ == nullptr)
      throw Error("Dense " + std::to_string(in_) + " -> " + std::to_string(out_) +
                  ": the layer is not part of a network yet; compose it into a Sequential and a model (or "
                  "construct it with a ParameterSet)");
  }

  ParameterSet<T>* params_ = nullptr;
  std::string path_;
  Index in_, out_;
  Activation act_;
  Activation fused_;
  Init init_;
  int weight_ = -1, bias_ = -1;
};

}  // namespace vaegan
