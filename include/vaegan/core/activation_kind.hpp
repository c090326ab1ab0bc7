#pragma once
// Activation: which element-wise nonlinearity a layer or op applies (a value type: ops
// record it in their tape node, layers and checkpoints store it). The functions
// themselves and their derivatives are in ops/activation.hpp.
#include <string>

#include "vaegan/core/format.hpp"

namespace vaegan {

enum class ActivationKind { identity = 0, relu, leaky_relu, sigmoid, tanh, softplus };

struct Activation {
  ActivationKind kind = ActivationKind::identity;
  double slope = 0.0;  // leaky_relu only

  static Activation identity() { return {ActivationKind::identity, 0.0}; }
  static Activation relu() { return {ActivationKind::relu, 0.0}; }
  static Activation leaky_relu(double slope = 0.2) { return {ActivationKind::leaky_relu, slope}; }
  static Activation sigmoid() { return {ActivationKind::sigmoid, 0.0}; }
  static Activation tanh() { return {ActivationKind::tanh, 0.0}; }
  static Activation softplus() { return {ActivationKind::softplus, 0.0}; }

  bool operator==(const Activation& o) const { return kind == o.kind && slope == o.slope; }
  std::string name() const {
    switch (kind) {
      case ActivationKind::identity: return "identity";
      case ActivationKind::relu: return "relu";
      case ActivationKind::leaky_relu: return "leaky_relu(" + detail::format_double(slope) + ")";
      case ActivationKind::sigmoid: return "sigmoid";
      case ActivationKind::tanh: return "tanh";
      case ActivationKind::softplus: return "softplus";
    }
    return "?";
  }
};

}  // namespace vaegan
