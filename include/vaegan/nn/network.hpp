#pragma once
// NetworkBase<T>: one network of a model: its modules ("parts": a trunk, heads) and the
// one flat ParameterSet they all live in, so Adam is one pass, a checkpoint one blob and
// an allreduce one call per network. Encoder, Decoder and Discriminator derive from it;
// Network<T, Net> is the plain case, one module and nothing else (a classifier, a critic).
//
// Parts are held on the heap, so moving a network (into a trainer) keeps every layer's
// view of the parameter set valid.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vaegan/autodiff/parameters.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/nn/module.hpp"
#include "vaegan/nn/sequential.hpp"
#include "vaegan/nn/structure.hpp"

namespace vaegan {

// Networks draw these initial weights until a trainer (or reset_parameters) draws others.
inline constexpr std::uint64_t kDefaultInitSeed = 0x5eedULL;

template <class T>
class NetworkBase {
 public:
  using Scalar = T;

  NetworkBase(NetworkBase&&) noexcept = default;
  NetworkBase& operator=(NetworkBase&&) noexcept = default;
  virtual ~NetworkBase() = default;

  ParameterSet<T>& parameters() const { return *params_; }
  const std::string& name() const { return params_->name(); }
  // Sample shapes (no batch dimension).
  const Shape& input_shape() const { return input_; }
  const Shape& output_shape() const { return output_; }

  // Draws every part's initial values from `rng`, parts in the order they were added.
  void reset_parameters(Rng& rng) {
    for (auto& p : parts_) p.module->reset_parameters(rng);
  }
  // True when a train-mode forward draws noise (a dropout layer somewhere).
  bool stochastic() const {
    for (const auto& p : parts_)
      if (p.module->stochastic()) return true;
    return false;
  }
  NetworkStructure structure() const {
    NetworkStructure s;
    s.name = name();
    s.input = input_;
    s.output = output_;
    for (const auto& p : parts_) p.module->describe(p.name, p.input, s.layers);
    s.parameters = params_->slices();
    s.buffers = params_->buffer_slices();
    return s;
  }

 protected:
  NetworkBase(const std::string& name, const Shape& input)
      : params_(std::make_unique<ParameterSet<T>>(name)), input_(input) {
    if (input.rank() < 1 || input.rank() > 3 || input.numel() < 1)
      throw ShapeError(name + ": the sample shape must have rank 1 to 3 ([features] or [C, H, W]), got " + input.str());
  }

  // Takes `module` over as the part `name` fed samples of `input`: checks the shapes fit
  // (ShapeError naming the network and the layer), binds its parameters under "name.",
  // and returns a pointer that stays valid when the network moves.
  template <class M>
  M* add_part(const std::string& name, M module, const Shape& input) {
    auto owned = std::make_unique<M>(std::move(module));
    M* raw = owned.get();
    try {
      (void)raw->output_shape(input);
    } catch (const ShapeError& e) {
      throw ShapeError(params_->name() + " (part '" + name + "', fed " + input.str() + "): " + e.what());
    }
    raw->bind(*params_, name + ".");
    parts_.push_back({name, input, std::move(owned)});
    return raw;
  }
  Shape part_output(const std::string& name) const {
    for (const auto& p : parts_)
      if (p.name == name) return p.module->output_shape(p.input);
    throw Error(params_->name() + ": no part '" + name + "'");
  }
  void set_output_shape(const Shape& s) { output_ = s; }
  // Initial weights for a network used on its own; trainers draw them again from their seed.
  void initialize_default() {
    Rng rng(kDefaultInitSeed);
    reset_parameters(rng);
  }

 private:
  struct Part {
    std::string name;
    Shape input;
    std::unique_ptr<Module<T>> module;
  };
  std::unique_ptr<ParameterSet<T>> params_;
  Shape input_, output_;
  std::vector<Part> parts_;
};

// A network of one module: Network<float> critic("critic", Shape{784}, Sequential<float>(...)).
template <class T, class Net = Sequential<T>>
class Network : public NetworkBase<T> {
 public:
  Network(const std::string& name, const Shape& input, Net net) : NetworkBase<T>(name, input) {
    net_ = this->add_part("net", std::move(net), input);
    this->set_output_shape(net_->output_shape(input));
    this->initialize_default();
  }
  Var<T> forward(const Var<T>& x, const ForwardContext& ctx) const { return net_->forward(x, ctx); }
  Net& net() { return *net_; }

 private:
  Net* net_ = nullptr;
};

}  // namespace vaegan
