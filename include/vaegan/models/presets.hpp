#pragma once
// The dense presets of docs/reference-workloads.md (`seed`, `mlp`, or any ModelConfig) as
// short functions that compose the three networks:
//   encoder:       Flatten, (Dense, act) per hidden width; heads mu, logvar
//   decoder:       (Dense, act) per hidden width, Dense to C*H*W logits, Reshape [C, H, W]
//   discriminator: Flatten, (Dense, act[, Dropout]) per hidden width; head; features =
//                  the last hidden activation (before its dropout)
#include <string>
#include <utility>
#include <vector>

#include "vaegan/models/config.hpp"
#include "vaegan/models/decoder.hpp"
#include "vaegan/models/discriminator.hpp"
#include "vaegan/models/encoder.hpp"
#include "vaegan/nn/activation_layer.hpp"
#include "vaegan/nn/dense.hpp"
#include "vaegan/nn/dropout.hpp"
#include "vaegan/nn/reshape.hpp"
#include "vaegan/nn/sequential.hpp"

namespace vaegan {

namespace detail {
// (Dense, activation) for each width after `in`; returns the last width.
template <class T>
Index add_dense_stack(Sequential<T>& net, Index in, const std::vector<Index>& widths, const Activation& act,
                      double dropout = 0.0) {
  for (Index w : widths) {
    net.add(Dense<T>(in, w));
    net.add(ActivationLayer<T>(act));
    if (dropout > 0.0) net.add(Dropout<T>(dropout));
    in = w;
  }
  return in;
}
}  // namespace detail

template <class T>
Encoder<T> dense_encoder(const ModelConfig& c) {
  c.validate();
  Sequential<T> trunk;
  trunk.add(Flatten<T>());
  detail::add_dense_stack(trunk, c.image_dim(), c.encoder_hidden, c.encoder_activation);
  return Encoder<T>(c.image_shape, std::move(trunk), c.latent_dim);
}

template <class T>
Decoder<T> dense_decoder(const ModelConfig& c, const std::string& name = "decoder") {
  c.validate();
  Sequential<T> net;
  const Index last = detail::add_dense_stack(net, c.latent_dim, c.decoder_hidden, c.decoder_activation);
  net.add(Dense<T>(last, c.image_dim()));  // logits
  net.add(Reshape<T>(c.image_shape));
  return Decoder<T>(c.latent_dim, std::move(net), name);
}

template <class T>
Discriminator<T> dense_discriminator(const ModelConfig& c) {
  c.validate();
  Sequential<T> trunk;
  trunk.add(Flatten<T>());
  detail::add_dense_stack(trunk, c.image_dim(), c.discriminator_hidden, c.discriminator_activation,
                          c.discriminator_dropout);
  // The last hidden activation: before its dropout, when there is one.
  const std::size_t features = trunk.size() - (c.discriminator_dropout > 0.0 ? 2 : 1);
  const std::string feature_layer = trunk.layer_name(features);
  return Discriminator<T>(c.image_shape, std::move(trunk), feature_layer);
}

}  // namespace vaegan
