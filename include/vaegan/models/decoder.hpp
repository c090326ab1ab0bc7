#pragma once
// Decoder<T, Net>: latent codes [N, latent_dim] -> image logits [N, ...image shape];
// sigmoid of the logits is the image. The user's network is the whole decoder, in one
// flat ParameterSet named "decoder". In a VAE-GAN the decoder is the GAN's generator;
// Generator<T> below is a Decoder under the GAN's name.
//
//   Decoder decoder(32, Sequential<float>(Dense<float>(32, 256), ReLU<float>(), Dense<float>(256, 784),
//                                         Reshape<float>(Shape{1, 28, 28})));
#include <algorithm>
#include <string>
#include <utility>

#include "vaegan/nn/network.hpp"
#include "vaegan/nn/sequential.hpp"

namespace vaegan {

template <class T, class Net = Sequential<T>>
class Decoder : public NetworkBase<T> {
 public:
  Decoder(Index latent_dim, Net net, const std::string& name = "decoder")
      : NetworkBase<T>(name, Shape{std::max<Index>(latent_dim, 1)}) {
    if (latent_dim < 1) throw ShapeError(name + ": latent_dim must be >= 1, got " + std::to_string(latent_dim));
    net_ = this->add_part("net", std::move(net), Shape{latent_dim});
    this->set_output_shape(net_->output_shape(Shape{latent_dim}));
    this->initialize_default();
  }

  // Logits [N, ...image shape].
  Var<T> forward(const Var<T>& z, const ForwardContext& ctx) const { return net_->forward(z, ctx); }
  Index latent_dim() const { return this->input_shape()[0]; }
  // The sample shape of the images it makes.
  const Shape& image_shape() const { return this->output_shape(); }
  Net& net() { return *net_; }

 private:
  Net* net_ = nullptr;
};

template <class Net>
Decoder(Index, Net) -> Decoder<typename Net::Scalar, Net>;
template <class Net>
Decoder(Index, Net, const std::string&) -> Decoder<typename Net::Scalar, Net>;

// Generator<T, Net>: the GAN's name for a decoder, named "generator". A class rather than
// an alias so that C++17 deduces its arguments as it does Decoder's (C++17 has no class
// template argument deduction for alias templates):
//   Generator generator(64, Sequential<float>(...));
// A Decoder converts to a Generator (the presets build decoders), and a Generator is a
// Decoder wherever one is asked for.
template <class T, class Net = Sequential<T>>
class Generator : public Decoder<T, Net> {
 public:
  Generator(Index latent_dim, Net net, const std::string& name = "generator")
      : Decoder<T, Net>(latent_dim, std::move(net), name) {}
  Generator(Decoder<T, Net>&& decoder) : Decoder<T, Net>(std::move(decoder)) {}  // NOLINT: implicit on purpose
};

template <class Net>
Generator(Index, Net) -> Generator<typename Net::Scalar, Net>;
template <class Net>
Generator(Index, Net, const std::string&) -> Generator<typename Net::Scalar, Net>;

}  // namespace vaegan
