#pragma once
// Encoder<T>: image [batch, image_dim] -> (mu, logvar), each [batch, latent_dim].
// A trunk of Dense layers and two linear heads, all in one ParameterSet (one flat buffer).
#include <memory>
#include <utility>

#include "vaegan/models/config.hpp"
#include "vaegan/nn/sequential.hpp"

namespace vaegan {

template <class T>
struct Gaussian {
  Var<T> mu;
  Var<T> logvar;
};

template <class T>
class Encoder {
 public:
  Encoder(const ModelConfig& config, Rng& rng) : params_(std::make_unique<ParameterSet<T>>("encoder")) {
    config.validate();
    std::vector<Index> widths{config.image_dim};
    widths.insert(widths.end(), config.encoder_hidden.begin(), config.encoder_hidden.end());
    trunk_ = std::make_unique<Sequential<T>>(
        *params_, widths, std::vector<Activation>(widths.size() - 1, config.encoder_activation), rng, "trunk");
    const Index h = widths.back();
    mu_head_ = std::make_unique<Dense<T>>(*params_, h, config.latent_dim, Activation::identity(), rng,
                                          Init::xavier_uniform, "mu");
    logvar_head_ = std::make_unique<Dense<T>>(*params_, h, config.latent_dim, Activation::identity(), rng,
                                              Init::xavier_uniform, "logvar");
  }

  Gaussian<T> forward(const Var<T>& x) const {
    const Var<T> h = trunk_->forward(x);
    return {mu_head_->forward(h), logvar_head_->forward(h)};
  }

  ParameterSet<T>& parameters() const { return *params_; }
  Index latent_dim() const { return mu_head_->out_features(); }

 private:
  std::unique_ptr<ParameterSet<T>> params_;
  std::unique_ptr<Sequential<T>> trunk_;
  std::unique_ptr<Dense<T>> mu_head_, logvar_head_;
};

}  // namespace vaegan
