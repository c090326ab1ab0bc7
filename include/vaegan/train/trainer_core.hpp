#pragma once
// TrainerCore<T>: the step skeleton shared by the GAN, VAE and VAE-GAN trainers.
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
#include "vaegan/ops/activation.hpp"
#include "vaegan/optim/adam.hpp"

namespace vaegan {

template <class T>
struct NetworkSlot {
  std::string name;  // "encoder", "decoder", "discriminator", "generator"
  ParameterSet<T>* params = nullptr;
  Adam<T>* optimizer = nullptr;
};

template <class T>
struct LossRoute {
  const char* name = "";   // "L_D", "L_E", ...
  Var<T> loss;
  unsigned networks = 0;   // bit i set: trains network slot i
  bool update = true;      // false: this step leaves those networks alone (gating, warm-up)
};

template <class T>
class TrainerCore {
 public:
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

 protected:
  explicit TrainerCore(std::uint64_t seed) : rng_(seed) {}

  void add_network(const std::string& name, ParameterSet<T>& params, Adam<T>& optimizer) {
    networks_.push_back({name, &params, &optimizer});
  }

  // A [rows, cols] leaf of standard normal noise drawn from the trainer's Rng.
  Var<T> normal_noise(Index rows, Index cols) {
    Var<T> z = tape_.full(Shape::matrix(rows, cols), T(0));
    rng_.fill_normal(z.node().value, rows * cols);
    return z;
  }

  static void check_images(const char* trainer, const Tensor<T>& images, Index image_dim) {
    if (images.shape().rank() != 2 || images.cols() != image_dim || images.rows() < 1)
      throw ShapeError(std::string(trainer) + ": images must be [batch, " + std::to_string(image_dim) + "], got " +
                       images.shape().str());
  }
  // sigmoid(Dec(z)) on the evaluation tape: images [n, image_dim] in [0, 1].
  void decode_images(const Decoder<T>& decoder, const Tensor<T>& z, Tensor<T>& images) {
    if (z.shape().rank() != 2 || z.cols() != decoder.latent_dim())
      throw ShapeError("generate: latent codes must be [n, " + std::to_string(decoder.latent_dim()) + "], got " +
                       z.shape().str());
    eval_tape_.reset();
    NoGradGuard<T> no_grad(eval_tape_);
    copy_out(sigmoid(decoder.forward(eval_tape_.constant(z))), images);
  }
  // sigmoid(Dec(mu(x))): reconstructions through the posterior mean, no sampling.
  void reconstruct_images(const Encoder<T>& encoder, const Decoder<T>& decoder, const Tensor<T>& x,
                          Tensor<T>& images) {
    check_images("reconstruct", x, decoder.image_dim());
    eval_tape_.reset();
    NoGradGuard<T> no_grad(eval_tape_);
    copy_out(sigmoid(decoder.forward(encoder.forward(eval_tape_.constant(x)).mu)), images);
  }
  // Posterior means mu(x) [n, latent_dim].
  void encode_means(const Encoder<T>& encoder, const Tensor<T>& x, Tensor<T>& mu) {
    eval_tape_.reset();
    NoGradGuard<T> no_grad(eval_tape_);
    copy_out(encoder.forward(eval_tape_.constant(x)).mu, mu);
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
                           std::to_string(static_cast<double>(r.loss.item())) + " (trains " + network_names(r.networks) +
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
                             networks_[i].name + " is not finite; lower the learning rates, or resume from the "
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
  static void copy_out(const Var<T>& v, Tensor<T>& out) {
    out.resize(v.shape());
    out.matrix() = v.value();
  }
  std::string network_names(unsigned mask) const {
    std::string s;
    for (std::size_t i = 0; i < networks_.size(); ++i)
      if (mask & (1u << i)) s += (s.empty() ? "" : " and ") + networks_[i].name;
    return s;
  }
};

}  // namespace vaegan
