#pragma once
// BatchNorm1d<T> and BatchNorm2d<T>: batch normalization layers as in PyTorch
// (ops/batch_norm.hpp has the op and its derivation).
//
//   BatchNorm1d<float>(512)   samples [F]: x [N, F], statistics per feature over N
//   BatchNorm2d<float>(64)    samples [C, H, W]: x [N, C, H, W], per channel over N, H, W
//
// Parameters "weight" (gamma, initially 1) and "bias" (beta, 0); buffers "running_mean"
// (0), "running_var" (1) and "num_batches_tracked" (0, a count kept as one T): PyTorch's
// names, so a state dict maps one to one. In train mode a forward normalizes with the
// batch's statistics and updates the running ones, as PyTorch does:
//   running_mean = (1 - momentum) running_mean + momentum batch_mean
//   running_var  = (1 - momentum) running_var  + momentum unbiased_batch_var
//   num_batches_tracked += 1
// (a side effect of every train-mode forward, also one no optimizer step follows, unless
// its ForwardContext says update_running_stats = false; running_stats_momentum overrides
// the momentum for one pass). In eval
// mode it normalizes with the running statistics. A train-mode batch with one value per
// channel (a batch of 1 for BatchNorm1d) is refused: its variance is undefined.
// In a Sequential, a ReLU or LeakyReLU layer right after it is fused into it (the op applies
// the rectifier in its own passes: ops/batch_norm.hpp); the structure still lists both.
#include <algorithm>
#include <string>

#include "vaegan/autodiff/parameters.hpp"
#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/format.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/nn/module.hpp"
#include "vaegan/ops/batch_norm.hpp"

namespace vaegan {

namespace detail {

// The implementation both layers share; SampleRank is 1 ([F]) or 3 ([C, H, W]).
template <class T, int SampleRank>
class BatchNormLayer : public Module<T> {
  static_assert(SampleRank == 1 || SampleRank == 3, "BatchNorm: samples are [F] or [C, H, W]");

 public:
  explicit BatchNormLayer(Index num_features, double eps = 1e-5, double momentum = 0.1)
      : num_features_(num_features), eps_(eps), momentum_(momentum) {
    if (num_features < 1) throw Error(kind() + ": num_features must be >= 1, got " + std::to_string(num_features));
    if (!(eps > 0.0)) throw Error(kind() + ": eps must be > 0, got " + format_double(eps));
    if (!(momentum >= 0.0 && momentum <= 1.0))
      throw Error(kind() + ": momentum must be in [0, 1], got " + format_double(momentum));
  }

  std::string type() const override { return kind(); }
  Shape output_shape(const Shape& input) const override {
    if (input.rank() != SampleRank)
      throw ShapeError(layer_label(kind(), path_) + " takes samples of " + sample_text() + ", got " + input.str() +
                       (SampleRank == 1 ? (input.rank() == 3 ? " (use BatchNorm2d for images)" : "")
                                        : (input.rank() == 1 ? " (use BatchNorm1d for feature vectors)" : "")));
    if (input[0] != num_features_)
      throw ShapeError(layer_label(kind(), path_) + " normalizes " + std::to_string(num_features_) + " " + unit() +
                       ", got samples of " + input.str() + " (" + std::to_string(input[0]) + " " + unit() + ")");
    return input;
  }
  Attributes attributes() const override {
    return {{"num_features", std::to_string(num_features_)},
            {"eps", format_double(eps_)},
            {"momentum", format_double(momentum_)}};
  }
  void bind(ParameterSet<T>& params, const std::string& prefix) override {
    params_ = &params;
    path_ = prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1);
    const Shape c = Shape::vector(num_features_);
    weight_ = params.add(prefix + "weight", c);
    bias_ = params.add(prefix + "bias", c);
    running_mean_ = params.add_buffer(prefix + "running_mean", c);
    running_var_ = params.add_buffer(prefix + "running_var", c);
    num_batches_tracked_ = params.add_buffer(prefix + "num_batches_tracked", Shape::scalar());
    reset_state();
  }
  // weight 1, bias 0, and fresh running statistics (as PyTorch's reset_parameters); draws
  // nothing from rng.
  void reset_parameters(Rng& /*rng*/) override {
    require_bound();
    reset_state();
  }

  Var<T> forward(const Var<T>& x, const ForwardContext& ctx) const override {
    require_bound();
    const Shape& s = x.shape();
    if (s.rank() != SampleRank + 1 || s[1] != num_features_)
      throw ShapeError(layer_label(kind(), path_) + ": expects a batch of " + batch_text() + ", got " + s.str());
    Tape<T>& tape = x.tape();
    Var<T> gamma = tape.parameter(*params_, weight_);
    Var<T> beta = tape.parameter(*params_, bias_);
    T* mean = params_->buffer_ptr(running_mean_);
    T* var = params_->buffer_ptr(running_var_);
    if (!ctx.training()) return batch_norm_eval(x, gamma, beta, mean, var, eps_, fused_);
    const Index per_channel = x.shape().numel() / num_features_;
    if (per_channel < 2)
      throw Error(layer_label(kind(), path_) + ": expected more than 1 value per channel when training, got input " +
                  x.shape().str() +
                  ": the variance of one sample is undefined; train with a batch of 2 or more, "
                  "or run it in eval mode (running statistics)");
    if (!ctx.update_running_stats)
      return batch_norm(x, gamma, beta, eps_, static_cast<T*>(nullptr), static_cast<T*>(nullptr), 0.0, fused_);
    const double momentum = ctx.running_stats_momentum >= 0.0 ? ctx.running_stats_momentum : momentum_;
    Var<T> y = batch_norm(x, gamma, beta, eps_, mean, var, momentum, fused_);
    params_->buffer_ptr(num_batches_tracked_)[0] += T(1);
    return y;
  }

  // Takes over a ReLU or LeakyReLU layer that follows it in a Sequential (once).
  bool fuse_activation(const Activation& act) override {
    if (fused_.kind != ActivationKind::identity || act.kind == ActivationKind::identity ||
        !detail::fusable_rectifier(act))
      return false;
    fused_ = act;
    return true;
  }

  Index num_features() const { return num_features_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  int weight_index() const { return weight_; }
  int bias_index() const { return bias_; }
  // Buffer indices (ParameterSet::buffer_ptr).
  int running_mean_index() const { return running_mean_; }
  int running_var_index() const { return running_var_; }
  int num_batches_tracked_index() const { return num_batches_tracked_; }
  ParameterSet<T>& parameters() const {
    require_bound();
    return *params_;
  }

 private:
  static std::string kind() { return SampleRank == 1 ? "BatchNorm1d" : "BatchNorm2d"; }
  static std::string sample_text() { return SampleRank == 1 ? "[features]" : "[channels, height, width]"; }
  static std::string batch_text() { return SampleRank == 1 ? "[N, features]" : "[N, channels, height, width]"; }
  static std::string unit() { return SampleRank == 1 ? "features" : "channels"; }

  void require_bound() const {
    if (params_ == nullptr)
      throw Error(kind() + "(" + std::to_string(num_features_) +
                  "): the layer is not part of a network yet; compose it into a Sequential and a network");
  }
  void reset_state() {
    const Index n = num_features_;
    std::fill(params_->value_ptr(weight_), params_->value_ptr(weight_) + n, T(1));
    std::fill(params_->value_ptr(bias_), params_->value_ptr(bias_) + n, T(0));
    std::fill(params_->buffer_ptr(running_mean_), params_->buffer_ptr(running_mean_) + n, T(0));
    std::fill(params_->buffer_ptr(running_var_), params_->buffer_ptr(running_var_) + n, T(1));
    params_->buffer_ptr(num_batches_tracked_)[0] = T(0);
  }

  ParameterSet<T>* params_ = nullptr;
  std::string path_;
  Index num_features_;
  double eps_, momentum_;
  int weight_ = -1, bias_ = -1;
  int running_mean_ = -1, running_var_ = -1, num_batches_tracked_ = -1;
  Activation fused_;  // the rectifier of the layer after it, applied here (identity: none)
};

}  // namespace detail

// Batch normalization of feature vectors: samples [F], x [N, F] (torch.nn.BatchNorm1d).
template <class T>
class BatchNorm1d : public detail::BatchNormLayer<T, 1> {
 public:
  using detail::BatchNormLayer<T, 1>::BatchNormLayer;
};

// Batch normalization of images per channel: samples [C, H, W], x [N, C, H, W]
// (torch.nn.BatchNorm2d).
template <class T>
class BatchNorm2d : public detail::BatchNormLayer<T, 3> {
 public:
  using detail::BatchNormLayer<T, 3>::BatchNormLayer;
};

}  // namespace vaegan
