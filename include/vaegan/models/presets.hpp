#pragma once
// The presets of docs/reference-workloads.md (`seed`, `mlp`, `conv`, or any ModelConfig) as
// short functions that compose the three networks.
//
// Dense (`seed`, `mlp`):
//   encoder:       Flatten, (Dense, act) per hidden width; heads mu, logvar
//   decoder:       (Dense, act) per hidden width, Dense to C*H*W logits, Reshape [C, H, W]
//   discriminator: Flatten, (Dense, act[, Dropout]) per hidden width; head; features =
//                  the last hidden activation (before its dropout), or the
//                  config's discriminator_feature_block's
// Conv (`conv`, DCGAN-style; every conv is kernel 4, stride 2, padding 1, so it halves the
// image side, and every transposed conv doubles it; batch norm everywhere but at the
// image's end of each network, as DCGAN places it):
//   encoder:       (Conv, [BatchNorm2d,] act) per channel count, no batch norm on the first;
//                  Flatten; heads mu, logvar
//   decoder:       Dense to C0 x (H/2^n) x (W/2^n), BatchNorm1d, act, Reshape; then
//                  (ConvT, BatchNorm2d, act) to each next channel count; ConvT to the image's
//                  channels (logits)
//   discriminator: as the encoder's trunk[, Dropout after each act]; Flatten; head;
//                  features = the last conv activation (before its dropout), or the
//                  config's discriminator_feature_block's
// preset_encoder / preset_decoder / preset_discriminator pick by config.architecture.
#include <string>
#include <utility>
#include <vector>

#include "vaegan/models/config.hpp"
#include "vaegan/models/decoder.hpp"
#include "vaegan/models/discriminator.hpp"
#include "vaegan/models/encoder.hpp"
#include "vaegan/nn/activation_layer.hpp"
#include "vaegan/nn/batch_norm.hpp"
#include "vaegan/nn/conv2d.hpp"
#include "vaegan/nn/dense.hpp"
#include "vaegan/nn/dropout.hpp"
#include "vaegan/nn/reshape.hpp"
#include "vaegan/nn/sequential.hpp"

namespace vaegan {

namespace detail {
// (Dense, activation) for each width after `in`; returns the last width. `activations`,
// if given, receives each activation layer's position.
template <class T>
Index add_dense_stack(Sequential<T>& net, Index in, const std::vector<Index>& widths, const Activation& act,
                      double dropout = 0.0, std::vector<std::size_t>* activations = nullptr) {
  for (Index w : widths) {
    net.add(Dense<T>(in, w));
    if (activations) activations->push_back(net.size());
    net.add(ActivationLayer<T>(act));
    if (dropout > 0.0) net.add(Dropout<T>(dropout));
    in = w;
  }
  return in;
}

// (Conv k4 s2 p1, [BatchNorm2d,] activation[, Dropout]) for each channel count after
// `in_channels`; batch norm on all but the first (it sees the raw image).
template <class T>
void add_conv_stack(Sequential<T>& net, Index in_channels, const std::vector<Index>& channels, const Activation& act,
                    double dropout = 0.0, std::vector<std::size_t>* activations = nullptr) {
  for (std::size_t i = 0; i < channels.size(); ++i) {
    net.add(Conv2d<T>(in_channels, channels[i], 4, 2, 1));
    if (i > 0) net.add(BatchNorm2d<T>(channels[i]));
    if (activations) activations->push_back(net.size());
    net.add(ActivationLayer<T>(act));
    if (dropout > 0.0) net.add(Dropout<T>(dropout));
    in_channels = channels[i];
  }
}

// The position of the discriminator's feature layer: config.discriminator_feature_block's
// activation (0: the last block's).
inline std::size_t feature_block(const ModelConfig& c, const std::vector<std::size_t>& activations) {
  const Index k = c.discriminator_feature_block;
  return k == 0 ? activations.back() : activations.at(static_cast<std::size_t>(k - 1));
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
  std::vector<std::size_t> activations;
  detail::add_dense_stack(trunk, c.image_dim(), c.discriminator_hidden, c.discriminator_activation,
                          c.discriminator_dropout, &activations);
  // A hidden block's activation (the last one's by default): before its dropout.
  const std::string feature_layer = trunk.layer_name(detail::feature_block(c, activations));
  return Discriminator<T>(c.image_shape, std::move(trunk), feature_layer);
}

template <class T>
Encoder<T> conv_encoder(const ModelConfig& c) {
  c.validate();
  Sequential<T> trunk;
  detail::add_conv_stack(trunk, c.image_shape[0], c.encoder_hidden, c.encoder_activation);
  trunk.add(Flatten<T>());
  return Encoder<T>(c.image_shape, std::move(trunk), c.latent_dim);
}

template <class T>
Decoder<T> conv_decoder(const ModelConfig& c, const std::string& name = "decoder") {
  c.validate();
  const std::vector<Index>& channels = c.decoder_hidden;
  const Index factor = Index{1} << channels.size();
  const Shape start{channels[0], c.image_shape[1] / factor, c.image_shape[2] / factor};
  Sequential<T> net;
  net.add(Dense<T>(c.latent_dim, start.numel()));
  net.add(BatchNorm1d<T>(start.numel()));
  net.add(ActivationLayer<T>(c.decoder_activation));
  net.add(Reshape<T>(start));
  for (std::size_t i = 0; i + 1 < channels.size(); ++i) {
    net.add(ConvTranspose2d<T>(channels[i], channels[i + 1], 4, 2, 1));
    net.add(BatchNorm2d<T>(channels[i + 1]));
    net.add(ActivationLayer<T>(c.decoder_activation));
  }
  net.add(ConvTranspose2d<T>(channels.back(), c.image_shape[0], 4, 2, 1));  // logits
  return Decoder<T>(c.latent_dim, std::move(net), name);
}

template <class T>
Discriminator<T> conv_discriminator(const ModelConfig& c) {
  c.validate();
  Sequential<T> trunk;
  std::vector<std::size_t> activations;
  detail::add_conv_stack(trunk, c.image_shape[0], c.discriminator_hidden, c.discriminator_activation,
                         c.discriminator_dropout, &activations);
  // A conv block's activation (the last one's by default): before its dropout.
  const std::string feature_layer = trunk.layer_name(detail::feature_block(c, activations));
  trunk.add(Flatten<T>());
  return Discriminator<T>(c.image_shape, std::move(trunk), feature_layer);
}

// The networks of a preset configuration, dense or conv.
template <class T>
Encoder<T> preset_encoder(const ModelConfig& c) {
  return c.architecture == Architecture::conv ? conv_encoder<T>(c) : dense_encoder<T>(c);
}
template <class T>
Decoder<T> preset_decoder(const ModelConfig& c, const std::string& name = "decoder") {
  return c.architecture == Architecture::conv ? conv_decoder<T>(c, name) : dense_decoder<T>(c, name);
}
template <class T>
Discriminator<T> preset_discriminator(const ModelConfig& c) {
  return c.architecture == Architecture::conv ? conv_discriminator<T>(c) : dense_discriminator<T>(c);
}

}  // namespace vaegan
