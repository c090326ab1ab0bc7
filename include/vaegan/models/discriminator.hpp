#pragma once
// Discriminator<T>: image [batch, image_dim] -> one logit per row. forward_with_features()
// also returns the last hidden layer, for reconstruction in the discriminator's feature
// space (Larsen et al.'s learned similarity). Optional dropout between hidden layers.
#include <memory>

#include "vaegan/models/config.hpp"
#include "vaegan/nn/sequential.hpp"

namespace vaegan {

template <class T>
struct LogitAndFeatures {
  Var<T> logit;     // [batch, 1]
  Var<T> features;  // [batch, last hidden width]
};

template <class T>
class Discriminator {
 public:
  Discriminator(const ModelConfig& config, Rng& rng) : params_(std::make_unique<ParameterSet<T>>("discriminator")) {
    config.validate();
    std::vector<Index> widths{config.image_dim};
    widths.insert(widths.end(), config.discriminator_hidden.begin(), config.discriminator_hidden.end());
    trunk_ = std::make_unique<Sequential<T>>(
        *params_, widths, std::vector<Activation>(widths.size() - 1, config.discriminator_activation), rng, "trunk");
    head_ = std::make_unique<Dense<T>>(*params_, widths.back(), 1, Activation::identity(), rng, Init::xavier_uniform,
                                       "head");
  }

  // Dropout with probability p after every hidden layer while training (0 = off).
  void set_dropout(double p) { dropout_ = p, trunk_->set_dropout(p); }
  double dropout_probability() const { return dropout_; }

  LogitAndFeatures<T> forward_with_features(const Var<T>& x, Rng& rng, bool training = true) const {
    Var<T> h = trunk_->forward(x, rng, training);
    if (dropout_ > 0.0) h = dropout(h, dropout_, rng, training);
    return {head_->forward(h), h};
  }
  Var<T> forward(const Var<T>& x, Rng& rng, bool training = true) const {
    return forward_with_features(x, rng, training).logit;
  }
  // Evaluation (no dropout).
  Var<T> forward(const Var<T>& x) const { return head_->forward(trunk_->forward(x)); }

  ParameterSet<T>& parameters() const { return *params_; }

 private:
  std::unique_ptr<ParameterSet<T>> params_;
  std::unique_ptr<Sequential<T>> trunk_;
  std::unique_ptr<Dense<T>> head_;
  double dropout_ = 0.0;
};

}  // namespace vaegan
