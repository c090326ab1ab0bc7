#pragma once
// SGD with momentum, as PyTorch computes it (dampening 0):
//   g' = g + wd p;   buf = momentum buf + g'   (buf = g' on the first step)
//   p -= lr * (nesterov ? g' + momentum buf : buf)
#include <cstdint>

#include "vaegan/autodiff/parameters.hpp"
#include "vaegan/core/parallel.hpp"

namespace vaegan {

struct SgdOptions {
  double lr = 1e-2;
  double momentum = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

template <class T>
class Sgd {
 public:
  explicit Sgd(ParameterSet<T>& params, SgdOptions options = {}) : params_(&params), options_(options) {
    if (!(options.lr >= 0.0) || !(options.momentum >= 0.0) || !(options.weight_decay >= 0.0))
      throw Error("Sgd: need lr >= 0, momentum >= 0 and weight_decay >= 0");
    // As in PyTorch: Nesterov without momentum would silently be plain SGD.
    if (options.nesterov && options.momentum == 0.0) throw Error("Sgd: nesterov needs momentum > 0");
    momentum_buffer_.resize(Shape{params.size()});
    momentum_buffer_.set_zero();
  }

  void step() {
    if (momentum_buffer_.numel() != params_->size())
      throw Error("Sgd: the parameter set '" + params_->name() + "' changed size after the optimizer was made");
    const T lr = static_cast<T>(options_.lr), mu = static_cast<T>(options_.momentum);
    const T wd = static_cast<T>(options_.weight_decay);
    const bool first = steps_ == 0;
    const bool nesterov = options_.nesterov;
    T* p = params_->values().data();
    const T* g = params_->grads().data();
    T* buf = momentum_buffer_.data();
    detail::parallel_for(params_->size(), [&](Index s, Index e) {
      const Index n = e - s;
      ArrayMap<T> pa(p + s, n), ba(buf + s, n);
      ConstArrayMap<T> ga(g + s, n);
      if (mu == T(0)) {
        pa -= lr * (ga + wd * pa);
        return;
      }
      if (first) ba = ga + wd * pa;
      else ba = mu * ba + ga + wd * pa;
      if (nesterov) pa -= lr * (ga + wd * pa + mu * ba);
      else pa -= lr * ba;
    });
    ++steps_;
  }
  void zero_grad() { params_->zero_grad(); }

  std::int64_t steps() const { return steps_; }
  void set_steps(std::int64_t t) { steps_ = t; }
  Tensor<T>& momentum_buffer() { return momentum_buffer_; }
  const SgdOptions& options() const { return options_; }

 private:
  ParameterSet<T>* params_;
  SgdOptions options_;
  Tensor<T> momentum_buffer_;
  std::int64_t steps_ = 0;
};

}  // namespace vaegan
