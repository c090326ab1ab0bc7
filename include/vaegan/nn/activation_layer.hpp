#pragma once
// Activation layers: ReLU, LeakyReLU, Sigmoid, Tanh, Softplus as modules (names as in
// PyTorch's torch.nn). In a Sequential, one that follows a Dense is fused into it (the
// Dense computes act(x W + b) in one pass); elsewhere it records its own op.
#include <string>

#include "vaegan/nn/module.hpp"
#include "vaegan/ops/activation.hpp"

namespace vaegan {

template <class T>
class ActivationLayer : public Module<T> {
 public:
  explicit ActivationLayer(Activation act) : act_(act) {
    if (act.kind == ActivationKind::leaky_relu && !(act.slope > 0.0))
      throw Error("LeakyReLU: the slope must be > 0 (the backward pass reads the sign from the output)");
  }

  std::string type() const override {
    switch (act_.kind) {
      case ActivationKind::identity: return "Identity";
      case ActivationKind::relu: return "ReLU";
      case ActivationKind::leaky_relu: return "LeakyReLU";
      case ActivationKind::sigmoid: return "Sigmoid";
      case ActivationKind::tanh: return "Tanh";
      case ActivationKind::softplus: return "Softplus";
    }
    return "Activation";
  }
  Shape output_shape(const Shape& input) const override { return input; }
  Attributes attributes() const override {
    if (act_.kind == ActivationKind::leaky_relu) return {{"negative_slope", detail::format_double(act_.slope)}};
    return {};
  }
  const Activation* activation() const override { return &act_; }
  Var<T> forward(const Var<T>& x, const ForwardContext& /*ctx*/) const override {
    return act_.kind == ActivationKind::identity ? x : activate(x, act_);
  }

 private:
  Activation act_;
};

template <class T>
struct ReLU : ActivationLayer<T> {
  ReLU() : ActivationLayer<T>(Activation::relu()) {}
};
template <class T>
struct LeakyReLU : ActivationLayer<T> {
  explicit LeakyReLU(double negative_slope = 0.01) : ActivationLayer<T>(Activation::leaky_relu(negative_slope)) {}
};
template <class T>
struct Sigmoid : ActivationLayer<T> {
  Sigmoid() : ActivationLayer<T>(Activation::sigmoid()) {}
};
template <class T>
struct Tanh : ActivationLayer<T> {
  Tanh() : ActivationLayer<T>(Activation::tanh()) {}
};
template <class T>
struct Softplus : ActivationLayer<T> {
  Softplus() : ActivationLayer<T>(Activation::softplus()) {}
};

}  // namespace vaegan
