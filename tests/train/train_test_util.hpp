#pragma once
// Helpers for the trainer tests: a tiny model, a tiny learnable dataset, and bit-for-bit
// snapshots of a trainer's whole state (parameters, both Adam moments, Adam step counts,
// Rng, step, epoch) so two trainers can be compared with memcmp.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "io/temp_dir.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/core/tensor.hpp"
#include "vaegan/data/dataset.hpp"
#include "vaegan/io/checkpoint.hpp"
#include "vaegan/models/config.hpp"
#include "vaegan/train/checkpointing.hpp"
#include "vaegan/train/fit.hpp"
#include "vaegan/train/gan_trainer.hpp"
#include "vaegan/train/vae_trainer.hpp"
#include "vaegan/train/vaegan_trainer.hpp"

namespace vaegan::train_test {

// A model small enough that a hundred steps take milliseconds: one hidden layer per network.
inline ModelConfig tiny_config(Index image_dim = 16, Index latent_dim = 4, Index hidden = 32) {
  ModelConfig c;
  c.preset = "tiny-test";
  c.image_shape = vaegan::Shape{1, 1, image_dim};
  c.latent_dim = latent_dim;
  c.encoder_hidden = {hidden};
  c.decoder_hidden = {hidden};
  c.discriminator_hidden = {hidden};
  return c;
}

// The conv preset at 8 x 8 with two or three channels per layer: every conv layer and
// batch norm of the real preset, small enough for gradient checks in double.
inline ModelConfig small_conv_config() {
  ModelConfig c = model_preset("conv");
  c.preset = "small-conv-test";
  c.image_shape = Shape{1, 8, 8};
  c.latent_dim = 3;
  c.encoder_hidden = {2, 3};
  c.decoder_hidden = {3, 2};
  c.discriminator_hidden = {2, 3};
  return c;
}

// `count` binary images of `dim` pixels, cycling through `prototypes` random on/off
// patterns: a dataset a tiny autoencoder can learn and a tiny discriminator can recognise.
template <class T>
Tensor<T> binary_images(Index count, Index dim, std::uint64_t seed, Index prototypes = 4) {
  Rng rng(seed);
  Tensor<T> protos(Shape::matrix(prototypes, dim));
  for (Index i = 0; i < protos.numel(); ++i) protos[i] = rng.uniform() < 0.5 ? T(0) : T(1);
  Tensor<T> images(Shape::matrix(count, dim));
  for (Index r = 0; r < count; ++r)
    for (Index c = 0; c < dim; ++c) images(r, c) = protos(r % prototypes, c);
  return images;
}

// An ImageDataset of binary_images, as if the images were `dim` x 1.
template <class T>
ImageDataset<T> binary_dataset(Index count, Index dim, std::uint64_t seed) {
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(count));
  for (Index i = 0; i < count; ++i) labels[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i % 4);
  return ImageDataset<T>(binary_images<T>(count, dim, seed), std::move(labels), 1, dim);
}

// Same shape and the same bytes (NaN payloads and signed zeros included).
template <class T>
bool bit_identical(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), sizeof(T) * static_cast<std::size_t>(a.numel())) == 0;
}

// One network's state, copied out.
template <class T>
struct NetworkState {
  std::string name;
  Tensor<T> params, m, v;
  std::int64_t adam_steps = 0;
};

// A trainer's whole state, copied out.
template <class T>
struct TrainerState {
  std::vector<NetworkState<T>> networks;
  Rng::State rng;
  std::int64_t step = 0, epoch = 0;
};

template <class T, class Trainer>
TrainerState<T> snapshot(Trainer& trainer) {
  TrainerState<T> s;
  for (const auto& net : trainer.networks())
    s.networks.push_back({net.name, net.params->values(), net.optimizer->first_moment(), net.optimizer->second_moment(),
                          net.optimizer->steps()});
  s.rng = trainer.rng().state();
  s.step = trainer.step();
  s.epoch = trainer.epoch();
  return s;
}

// CHECKs that two snapshots agree bit for bit, naming what differs.
template <class T>
void check_same_state(const TrainerState<T>& a, const TrainerState<T>& b) {
  REQUIRE(a.networks.size() == b.networks.size());
  for (std::size_t i = 0; i < a.networks.size(); ++i) {
    const NetworkState<T>& x = a.networks[i];
    const NetworkState<T>& y = b.networks[i];
    INFO("network " << x.name);
    CHECK(x.name == y.name);
    CHECK(bit_identical(x.params, y.params));
    CHECK(bit_identical(x.m, y.m));
    CHECK(bit_identical(x.v, y.v));
    CHECK(x.adam_steps == y.adam_steps);
  }
  CHECK(a.rng == b.rng);
  CHECK(a.step == b.step);
  CHECK(a.epoch == b.epoch);
}

// True if every network's parameters are bit-identical in both snapshots.
template <class T>
bool same_parameters(const TrainerState<T>& a, const TrainerState<T>& b) {
  if (a.networks.size() != b.networks.size()) return false;
  for (std::size_t i = 0; i < a.networks.size(); ++i)
    if (!bit_identical(a.networks[i].params, b.networks[i].params)) return false;
  return true;
}

// The scalar type of a trainer, from its networks' parameter sets.
template <class Trainer>
using ScalarOf = std::remove_reference_t<decltype(*std::declval<Trainer&>().networks()[0].params->values().data())>;

// Copies the checkpoint `from` into `to` section by section. `edit(name, reader, writer)`
// sees every section first: it returns true when it has written a replacement (or wants
// the section dropped), false to have it copied unchanged.
inline void rewrite_checkpoint(
    const std::string& from, const std::string& to,
    const std::function<bool(const std::string&, const CheckpointReader&, CheckpointWriter&)>& edit) {
  const CheckpointReader r(from);
  CheckpointWriter w;
  for (const std::string& name : r.names()) {
    if (edit(name, r, w)) continue;
    switch (r.type(name)) {
      case SectionType::bytes: w.add_bytes(name, r.bytes(name)); break;
      case SectionType::string: w.add_string(name, r.str(name)); break;
      case SectionType::u64: w.add_u64(name, r.u64(name)); break;
      case SectionType::i64: w.add_i64(name, r.i64(name)); break;
      case SectionType::f64: w.add_f64(name, r.f64(name)); break;
      case SectionType::tensor_f32: w.add_tensor(name, r.tensor<float>(name, r.tensor_shape(name))); break;
      case SectionType::tensor_f64: w.add_tensor(name, r.tensor<double>(name, r.tensor_shape(name))); break;
    }
  }
  w.save(to);
}

}  // namespace vaegan::train_test
