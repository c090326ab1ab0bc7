#pragma once
// Encoder<T, Net>: images [N, ...image shape] -> the Gaussian posterior q(z | x) as
// (mu, logvar), each [N, latent_dim]: the user's trunk (any module ending in [features])
// and two linear heads "mu" and "logvar", all in one flat ParameterSet named "encoder".
//
//   Encoder encoder(Shape{1, 28, 28}, Sequential<float>(Flatten<float>(), Dense<float>(784, 256),
//                                                        ReLU<float>()), /*latent_dim=*/32);
#include <string>
#include <utility>

#include "vaegan/nn/dense.hpp"
#include "vaegan/nn/network.hpp"
#include "vaegan/nn/sequential.hpp"

namespace vaegan {

template <class T>
struct Gaussian {
  Var<T> mu;
  Var<T> logvar;
};

template <class T, class Net = Sequential<T>>
class Encoder : public NetworkBase<T> {
 public:
  Encoder(const Shape& image, Net trunk, Index latent_dim) : NetworkBase<T>("encoder", image) {
    if (latent_dim < 1) throw ShapeError("encoder: latent_dim must be >= 1, got " + std::to_string(latent_dim));
    trunk_ = this->add_part("trunk", std::move(trunk), image);
    const Shape features = trunk_->output_shape(image);
    if (features.rank() != 1)
      throw ShapeError("encoder: the trunk must end in samples of [features] for the heads, got " + features.str() +
                       " (end it with a Flatten)");
    mu_ =
        this->add_part("mu", Dense<T>(features[0], latent_dim, Activation::identity(), Init::xavier_uniform), features);
    logvar_ = this->add_part("logvar", Dense<T>(features[0], latent_dim, Activation::identity(), Init::xavier_uniform),
                             features);
    this->set_output_shape(Shape{latent_dim});
    this->initialize_default();
  }

  Gaussian<T> forward(const Var<T>& x, const ForwardContext& ctx) const {
    const Var<T> h = trunk_->forward(x, ctx);
    return {mu_->forward(h), logvar_->forward(h)};
  }
  Index latent_dim() const { return mu_->out_features(); }
  Net& trunk() { return *trunk_; }

 private:
  Net* trunk_ = nullptr;
  Dense<T>* mu_ = nullptr;
  Dense<T>* logvar_ = nullptr;
};

template <class Net>
Encoder(const Shape&, Net, Index) -> Encoder<typename Net::Scalar, Net>;

}  // namespace vaegan
