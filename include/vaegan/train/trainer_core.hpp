#pragma once
// TrainerCore<Derived, T>: what the GAN, VAE and VAE-GAN trainers share: the step
// skeleton, the options every method has, the posterior sample, and generate / encode /
// reconstruct (through the derived trainer's encoder() and decoder()).
//
// A trainer's step records its forward pass on the tape and hands the skeleton a list of
// loss routes: (loss, the networks that loss trains, whether to update them this step).
// The skeleton then
//   1. checks every loss is finite,
//   2. for each route: zeroes the networks' gradients and runs backward with exactly those
//      networks as targets (so each loss's gradient reaches only its own networks),
//   3. checks the gradients are finite,
//   4. steps each updated network's Adam — only after every backward, so every loss
//      sees the networks as they were before this step's update.
// A non-finite loss or gradient throws NumericError naming the step, the loss and the
// network, before any parameter changes.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/models/decoder.hpp"
#include "vaegan/models/encoder.hpp"
#include "vaegan/nn/module.hpp"
#include "vaegan/nn/structure.hpp"
#include "vaegan/ops/activation.hpp"
#include "vaegan/ops/clamp.hpp"
#include "vaegan/ops/reparam.hpp"
#include "vaegan/optim/adam.hpp"

namespace vaegan {

// The options of every method with an encoder: the KL term and its warm-up, and the clamp
// on the encoder's log-variance (so exp(logvar) in the KL cannot overflow).
struct PosteriorOptions {
  double kl_weight = 1.0;
  std::int64_t kl_warmup_steps = 0;  // the KL weight ramps linearly from 0 over this many steps
  double logvar_min = -30.0;
  double logvar_max = 20.0;

  double kl_weight_at(std::int64_t step) const {
    if (kl_warmup_steps <= 0) return kl_weight;
    return kl_weight * std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(kl_warmup_steps));
  }
};

// The options of every method with a discriminator.
struct AdversarialOptions {
  double real_label = 1.0;  // < 1: one-sided label smoothing for D
};

// The reparameterized sample of the posterior q(z | x).
template <class T>
struct PosteriorSample {
  Var<T> mu, logvar, z;  // logvar clamped
};

template <class T>
struct NetworkSlot {
  std::string name;  // "encoder", "decoder", "discriminator", "generator"
  ParameterSet<T>* params = nullptr;
  Adam<T>* optimizer = nullptr;
  NetworkStructure structure;  // checkpoints record it and compare it on load
};

template <class T>
struct LossRoute {
  const char* name = "";  // "L_D", "L_E", ...
  Var<T> loss;
  unsigned networks = 0;  // bit i set: trains network slot i
  bool update = true;     // false: this step leaves those networks alone (gating, warm-up)
};

template <class Derived, class T>
class TrainerCore {
 public:
  using Scalar = T;

  TrainerCore(const TrainerCore&) = delete;
  TrainerCore& operator=(const TrainerCore&) = delete;

  std::int64_t step() const { return step_; }
  std::int64_t epoch() const { return epoch_; }
  void set_epoch(std::int64_t e) { epoch_ = e; }
  void set_step(std::int64_t s) { step_ = s; }
  Rng& rng() { return rng_; }
  Tape<T>& tape() { return tape_; }
  const std::vector<NetworkSlot<T>>& networks() const { return networks_; }
  // Debug mode: every op's output and every gradient is checked, and a NaN or infinity
  // stops the step naming the first op that produced it (see Tape::set_check_numerics).
  // Costs a few percent of a step; results are unchanged.
  void set_check_numerics(bool on) { tape_.set_check_numerics(on); }
  bool check_numerics() const { return tape_.check_numerics(); }

  // Sample shape of the images the trainer takes and makes, e.g. [1, 28, 28].
  const Shape& image_shape() const { return self().decoder().image_shape(); }
  Index latent_dim() const { return self().decoder().latent_dim(); }
  // Images [n, ...image shape] in [0, 1] decoded from latent codes z [n, latent_dim].
  void generate(const Tensor<T>& z, Tensor<T>& images) {
    const auto& decoder = self().decoder();
    if (z.shape().rank() != 2 || z.cols() != decoder.latent_dim())
      throw ShapeError("generate: latent codes must be [n, " + std::to_string(decoder.latent_dim()) + "], got " +
                       z.shape().str());
    eval_tape_.reset();
    NoGradGuard<T> no_grad(eval_tape_);
    copy_out(sigmoid(decoder.forward(eval_tape_.constant(z))), images);
  }
  // Reconstructions sigmoid(Dec(mu(x))) of images x [n, ...image shape] through the
  // posterior mean, no sampling (a trainer with an encoder).
  void reconstruct(const Tensor<T>& x, Tensor<T>& images) {
    eval_tape_.reset();
    NoGradGuard<T> no_grad(eval_tape_);
    const Var<T> images_in = image_batch(eval_tape_, "reconstruct", x);
    copy_out(sigmoid(self().decoder().forward(self().encoder().forward(images_in).mu)), images);
  }
  // Posterior means mu(x) [n, latent_dim] of images x (a trainer with an encoder).
  void encode(const Tensor<T>& x, Tensor<T>& mu) {
    eval_tape_.reset();
    NoGradGuard<T> no_grad(eval_tape_);
    copy_out(self().encoder().forward(image_batch(eval_tape_, "encode", x)).mu, mu);
  }

 protected:
  explicit TrainerCore(std::uint64_t seed) : rng_(seed) {}

  // Registers a network slot (in the order of the step's routes and of checkpoints) and
  // draws the network's initial weights from the trainer's seed.
  template <class Network>
  void add_network(const std::string& name, Network& network, Adam<T>& optimizer) {
    network.reset_parameters(rng_);
    networks_.push_back({name, &network.parameters(), &optimizer, network.structure()});
  }
  // Refuses networks that do not fit together, naming both shapes.
  static void require_same_shape(const char* trainer, const std::string& what_a, const Shape& a,
                                 const std::string& what_b, const Shape& b) {
    if (a != b)
      throw ShapeError(std::string(trainer) + ": " + what_a + " " + a.str() + " but " + what_b + " " + b.str() +
                       "; compose networks whose shapes fit");
  }

  // The batch `images` as a constant of shape [n, ...image shape] on `tape`: images come as
  // [n, ...image shape] or flat [n, C*H*W] rows.
  Var<T> image_batch(Tape<T>& tape, const char* who, const Tensor<T>& images) const {
    const Shape& image = image_shape();
    const Shape& s = images.shape();
    bool fits = s.rank() >= 2 && s.rows() >= 1 && s.cols() == image.numel();
    if (fits && s.rank() != 2) {
      fits = s.rank() == image.rank() + 1;
      for (int i = 0; fits && i < image.rank(); ++i) fits = s[i + 1] == image[i];
    }
    if (!fits)
      throw ShapeError(std::string(who) + ": images must be [batch, " + image.str().substr(1) + " (or [batch, " +
                       std::to_string(image.numel()) + "]), got " + s.str());
    return tape.constant(images.data(), image.batched(s.rows()));
  }

  // (mu, clamped logvar) = E(x);  z = mu + eps * exp(logvar / 2)
  template <class Enc>
  PosteriorSample<T> sample_posterior(const Enc& encoder, const Var<T>& x, const PosteriorOptions& o) {
    const ForwardContext ctx = ForwardContext::train(rng_);
    Gaussian<T> q = encoder.forward(x, ctx);
    Var<T> logvar = clamp(q.logvar, static_cast<T>(o.logvar_min), static_cast<T>(o.logvar_max));
    return {q.mu, logvar, reparameterize(q.mu, logvar, rng_)};
  }

  // A [rows, cols] leaf of standard normal noise drawn from the trainer's Rng.
  Var<T> normal_noise(Index rows, Index cols) {
    Var<T> z = tape_.full(Shape::matrix(rows, cols), T(0));
    rng_.fill_normal(z.node().value, rows * cols);
    return z;
  }

  template <std::size_t N>
  void apply_routes(const std::array<LossRoute<T>, N>& routes) {
    if (tape_.check_numerics()) {
      try {
        tape_.check_recorded_values();
      } catch (const NumericError& e) {
        throw NumericError("step " + std::to_string(step_) + ": forward pass: " + e.what());
      }
    }
    for (const auto& r : routes)
      if (!std::isfinite(static_cast<double>(r.loss.item())))
        throw NumericError("step " + std::to_string(step_) + ": loss " + r.name + " is " +
                           std::to_string(static_cast<double>(r.loss.item())) + " (trains " +
                           network_names(r.networks) +
                           "); lower the learning rates, or resume from the last checkpoint");
    for (const auto& r : routes) {
      if (!r.update) continue;
      std::array<GradTarget<T>, 8> targets;
      std::size_t count = 0;
      // Each network is trained by at most one route per step, so clearing here is safe.
      // Overwrite mode clears without a pass over the gradient buffer.
      for (std::size_t i = 0; i < networks_.size(); ++i)
        if (r.networks & (1u << i)) {
          networks_[i].params->begin_overwrite();
          targets[count++] = GradTarget<T>(*networks_[i].params);
        }
      auto end_overwrite = [&] {
        for (std::size_t i = 0; i < networks_.size(); ++i)
          if (r.networks & (1u << i)) networks_[i].params->end_overwrite();
      };
      try {
        tape_.backward(r.loss, targets.data(), count);
      } catch (const NumericError& e) {  // debug mode: name the step and the route
        end_overwrite();
        throw NumericError("step " + std::to_string(step_) + ": backward of " + r.name + " (trains " +
                           network_names(r.networks) + "): " + e.what());
      } catch (...) {
        end_overwrite();
        throw;
      }
      end_overwrite();
      for (std::size_t i = 0; i < networks_.size(); ++i)
        if ((r.networks & (1u << i)) && !networks_[i].params->grads_finite())
          throw NumericError("step " + std::to_string(step_) + ": the gradient of " + r.name + " for the " +
                             networks_[i].name +
                             " is not finite; lower the learning rates, or resume from the "
                             "last checkpoint");
    }
    for (const auto& r : routes) {
      if (!r.update) continue;
      for (std::size_t i = 0; i < networks_.size(); ++i)
        if (r.networks & (1u << i)) networks_[i].optimizer->step();
    }
    ++step_;
  }

  Tape<T> tape_;       // the training step's tape
  Tape<T> eval_tape_;  // sampling and evaluation, so they never disturb the step's buffers
  Rng rng_;
  std::vector<NetworkSlot<T>> networks_;
  std::int64_t step_ = 0;
  std::int64_t epoch_ = 0;

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  const Derived& self() const { return static_cast<const Derived&>(*this); }
  static void copy_out(const Var<T>& v, Tensor<T>& out) {
    out.resize(v.shape());
    std::copy(v.node().value, v.node().value + v.numel(), out.data());
  }
  std::string network_names(unsigned mask) const {
    std::string s;
    for (std::size_t i = 0; i < networks_.size(); ++i)
      if (mask & (1u << i)) s += (s.empty() ? "" : " and ") + networks_[i].name;
    return s;
  }
};

}  // namespace vaegan
