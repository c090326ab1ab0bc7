#pragma once
// Decoder<T>: latent [batch, latent_dim] -> image logits [batch, image_dim]; sigmoid of
// the logits is the image. In a VAE-GAN the decoder is the GAN's generator, and the code
// says so: Generator<T> is the same type.
#include <memory>

#include "vaegan/models/config.hpp"
#include "vaegan/nn/sequential.hpp"

namespace vaegan {

template <class T>
class Decoder {
 public:
  Decoder(const ModelConfig& config, Rng& rng) : params_(std::make_unique<ParameterSet<T>>("decoder")) {
    config.validate();
    std::vector<Index> widths{config.latent_dim};
    widths.insert(widths.end(), config.decoder_hidden.begin(), config.decoder_hidden.end());
    widths.push_back(config.image_dim);
    std::vector<Activation> acts(widths.size() - 1, config.decoder_activation);
    acts.back() = Activation::identity();  // logits
    net_ = std::make_unique<Sequential<T>>(*params_, widths, acts, rng, "layer");
  }

  // Logits [batch, image_dim].
  Var<T> forward(const Var<T>& z) const { return net_->forward(z); }

  ParameterSet<T>& parameters() const { return *params_; }
  Index latent_dim() const { return net_->in_features(); }
  Index image_dim() const { return net_->out_features(); }

 private:
  std::unique_ptr<ParameterSet<T>> params_;
  std::unique_ptr<Sequential<T>> net_;
};

template <class T>
using Generator = Decoder<T>;

}  // namespace vaegan
