#pragma once
// Weight initialization.
//   he_normal:      N(0, 2 / fan_in)                      for ReLU-family layers (He et al. 2015)
//   xavier_uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out))  for sigmoid/tanh/linear (Glorot 2010)
#include <cmath>

#include "vaegan/core/rng.hpp"
#include "vaegan/ops/activation.hpp"

namespace vaegan {

enum class Init { automatic, he_normal, xavier_uniform, zeros };

// The init `automatic` stands for, given the layer's activation.
inline Init resolve_init(Init init, const Activation& act) {
  if (init != Init::automatic) return init;
  return (act.kind == ActivationKind::relu || act.kind == ActivationKind::leaky_relu) ? Init::he_normal
                                                                                      : Init::xavier_uniform;
}

template <class T>
void initialize_weights(T* w, Index fan_in, Index fan_out, Init init, Rng& rng) {
  const Index n = fan_in * fan_out;
  switch (init) {
    case Init::automatic:  // resolved by the caller; treat like Xavier
    case Init::xavier_uniform: {
      const double a = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
      rng.fill_uniform(w, n, -a, a);
      break;
    }
    case Init::he_normal: rng.fill_normal(w, n, 0.0, std::sqrt(2.0 / static_cast<double>(fan_in))); break;
    case Init::zeros: std::fill(w, w + n, T(0)); break;
  }
}

}  // namespace vaegan
