#pragma once
// Adam (Kingma & Ba 2015) over one ParameterSet's flat buffer, as PyTorch computes it:
//   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// Weight decay, if set, is added to the gradient first (PyTorch's L2 form).
// One vectorized pass over parameters, gradients and both moments, in L1-sized blocks.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "vaegan/autodiff/parameters.hpp"
#include "vaegan/core/parallel.hpp"
#include "vaegan/core/profile.hpp"

namespace vaegan {

struct AdamOptions {
  double lr = 2e-4;
  double beta1 = 0.5;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

template <class T>
class Adam {
  static constexpr Index kBlock = 1024;

 public:
  explicit Adam(ParameterSet<T>& params, AdamOptions options = {}) : params_(&params), options_(options) {
    if (!(options.lr >= 0.0) || !(options.beta1 >= 0.0 && options.beta1 < 1.0) ||
        !(options.beta2 >= 0.0 && options.beta2 < 1.0) || !(options.eps >= 0.0) || !(options.weight_decay >= 0.0))
      throw Error("Adam: need lr >= 0, betas in [0, 1), eps >= 0, weight_decay >= 0");
    m_.resize(Shape{params.size()});
    v_.resize(Shape{params.size()});
    m_.set_zero();
    v_.set_zero();
  }

  void step() {
    if (m_.numel() != params_->size())
      throw Error("Adam: the parameter set '" + params_->name() + "' changed size after the optimizer was made");
    ++steps_;
    // reads the values, gradients and both moments, writes all but the gradients
    VAEGAN_PROFILE_SCOPE("adam", params_->name(), 0, 7 * sizeof(T) * double(params_->size()));
    const T b1 = static_cast<T>(options_.beta1), b2 = static_cast<T>(options_.beta2);
    const double bc1 = 1.0 - std::pow(options_.beta1, static_cast<double>(steps_));
    const double bc2 = 1.0 - std::pow(options_.beta2, static_cast<double>(steps_));
    const T step_size = static_cast<T>(options_.lr / bc1);
    const T inv_sqrt_bc2 = static_cast<T>(1.0 / std::sqrt(bc2));
    const T eps = static_cast<T>(options_.eps), wd = static_cast<T>(options_.weight_decay);
    T* p = params_->values().data();
    const T* g = params_->grads().data();
    T* m = m_.data();
    T* v = v_.data();
    detail::parallel_for(params_->size(), [&](Index s, Index e) {
      // Three vector statements per block of kBlock elements: the block's four arrays
      // (16 KB in float) stay in L1 between them, so memory sees one pass.
      for (Index b = s; b < e; b += kBlock) {
        const Index n = std::min(kBlock, e - b);
        ArrayMap<T> pa(p + b, n), ma(m + b, n), va(v + b, n);
        ConstArrayMap<T> ga(g + b, n);
        if (wd != T(0)) {
          ma = b1 * ma + (T(1) - b1) * (ga + wd * pa);
          va = b2 * va + (T(1) - b2) * (ga + wd * pa).square();
        } else {
          ma = b1 * ma + (T(1) - b1) * ga;
          va = b2 * va + (T(1) - b2) * ga.square();
        }
        pa -= step_size * ma / (va.sqrt() * inv_sqrt_bc2 + eps);
      }
    });
  }
  void zero_grad() { params_->zero_grad(); }

  const AdamOptions& options() const { return options_; }
  void set_lr(double lr) { options_.lr = lr; }
  std::int64_t steps() const { return steps_; }
  // State for checkpoints: both moments and the step count.
  Tensor<T>& first_moment() { return m_; }
  Tensor<T>& second_moment() { return v_; }
  const Tensor<T>& first_moment() const { return m_; }
  const Tensor<T>& second_moment() const { return v_; }
  void set_steps(std::int64_t t) { steps_ = t; }
  ParameterSet<T>& parameters() const { return *params_; }

 private:
  ParameterSet<T>* params_;
  AdamOptions options_;
  Tensor<T> m_, v_;
  std::int64_t steps_ = 0;
};

}  // namespace vaegan
