#pragma once
// Dropout(p) as a module: inverted dropout in train mode (ops/dropout.hpp), the identity
// in eval mode. Its noise comes from the forward context's Rng.
#include <string>

#include "vaegan/nn/module.hpp"
#include "vaegan/ops/dropout.hpp"

namespace vaegan {

template <class T>
class Dropout : public Module<T> {
 public:
  explicit Dropout(double p = 0.5) : p_(p) {
    if (!(p >= 0.0 && p < 1.0)) throw Error("Dropout: p must be in [0, 1), got " + std::to_string(p));
  }

  std::string type() const override { return "Dropout"; }
  Shape output_shape(const Shape& input) const override { return input; }
  Attributes attributes() const override { return {{"p", detail::format_double(p_)}}; }
  bool stochastic() const override { return p_ > 0.0; }
  Var<T> forward(const Var<T>& x, const ForwardContext& ctx) const override {
    if (!ctx.draws_noise() || p_ == 0.0) return x;
    if (ctx.rng == nullptr) throw Error("Dropout: a train-mode forward needs ForwardContext::rng");
    return dropout(x, p_, *ctx.rng, true);
  }
  double probability() const { return p_; }

 private:
  double p_;
};

}  // namespace vaegan
