#pragma once
// save_weights / load_weights: one network's parameters and buffers, without optimizer
// state, in the checkpoint container (io/checkpoint.hpp), written atomically. Sections:
//   weights.dtype        "float32" or "float64"
//   network.structure    the network's layers and tensors (nn/structure.hpp)
//   network.params       the flat parameter buffer
//   network.buffers      the flat buffer of non-trained state, when the network has any
//
//   save_weights("decoder.vgw", trainer.decoder());
//   load_weights("decoder.vgw", other_trainer.decoder());
//
// Trust: the container checks sizes and CRCs before anything is read; load_weights then
// checks the dtype, every tensor's name and shape, then every layer, then that the values
// are finite, and only then copies them in: a file that does not fit leaves the network
// as it was and the IoError names the file, the first tensor or layer that differs, and
// both shapes.
#include <algorithm>
#include <cmath>
#include <string>

#include "vaegan/core/error.hpp"
#include "vaegan/io/checkpoint_reader.hpp"
#include "vaegan/io/checkpoint_writer.hpp"
#include "vaegan/nn/structure.hpp"

namespace vaegan {

namespace detail {
template <class T>
constexpr const char* weights_dtype() {
  return sizeof(T) == 4 ? "float32" : "float64";
}
}  // namespace detail

template <class Network>
void save_weights(const std::string& path, const Network& network) {
  using T = typename Network::Scalar;
  CheckpointWriter w;
  w.add_string("weights.dtype", detail::weights_dtype<T>());
  w.add_string("network.structure", network.structure().to_text());
  w.add_tensor("network.params", network.parameters().values());
  if (network.parameters().buffers().numel() > 0) w.add_tensor("network.buffers", network.parameters().buffers());
  w.save(path);
}

template <class Network>
void load_weights(const std::string& path, Network& network) {
  using T = typename Network::Scalar;
  const CheckpointReader r(path);
  auto fail = [&](const std::string& why) -> void { throw IoError("weights file '" + path + "': " + why); };
  if (!r.has("weights.dtype") || !r.has("network.structure") || !r.has("network.params"))
    fail(
        "not a weights file (no weights.dtype, network.structure or network.params section); save_weights writes "
        "them");
  const std::string dtype = r.str("weights.dtype");
  if (dtype != detail::weights_dtype<T>())
    fail("holds " + dtype + " weights but this network uses " + detail::weights_dtype<T>());
  NetworkStructure saved;
  try {
    saved = NetworkStructure::parse(r.str("network.structure"));
  } catch (const Error& e) {
    fail(std::string(e.what()) + " (the file is damaged)");
  }
  const NetworkStructure mine = network.structure();
  const std::string who = "this " + mine.name;
  // Tensors first: the message a user needs is which tensor and both shapes.
  for (const auto* kind : {"parameter", "buffer"}) {
    const bool params = std::string(kind) == "parameter";
    const auto& a = params ? saved.parameters : saved.buffers;
    const auto& b = params ? mine.parameters : mine.buffers;
    for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
      if (i >= a.size())
        fail("has no " + std::string(kind) + " '" + b[i].name + "' " + b[i].shape.str() + " of " + who);
      if (i >= b.size())
        fail("holds the " + std::string(kind) + " '" + a[i].name + "' " + a[i].shape.str() + " that " + who + " lacks");
      if (a[i].name != b[i].name || a[i].shape != b[i].shape)
        fail(std::string(kind) + " " + std::to_string(i) + ": the file has '" + a[i].name + "' " + a[i].shape.str() +
             " where " + who + " has '" + b[i].name + "' " + b[i].shape.str() +
             "; load weights saved from a network of the same structure");
    }
  }
  if (const std::string diff = mine.first_difference(saved, "the file"); !diff.empty())
    fail(diff + "; load weights saved from a network of the same structure");
  ParameterSet<T>& set = network.parameters();
  Tensor<T> values = r.tensor<T>("network.params", set.values().shape());
  Tensor<T> buffers;
  if (set.buffers().numel() > 0) buffers = r.tensor<T>("network.buffers", set.buffers().shape());
  for (const Tensor<T>* t : {&values, &buffers})
    if (t->numel() > 0 && !all_finite(t->data(), t->numel()))
      fail("holds a NaN or infinity; the file was written from a diverged network or is damaged");
  std::copy(values.data(), values.data() + values.numel(), set.values().data());
  if (buffers.numel() > 0) std::copy(buffers.data(), buffers.data() + buffers.numel(), set.buffers().data());
}

}  // namespace vaegan
