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
//
// Data-parallel training (distribute(): one replica per process of a Communicator, each on
// its shard of every batch, docs/distributed.md) adds three things to the skeleton:
//   - before 1, the losses and step statistics are averaged over the replicas (one small
//     sum), so the finiteness check, the logs and every decision see the whole batch;
//   - in 2, each route's backward is seeded with 1/replicas and its networks' flat gradient
//     buffers are handed to the Communicator to sum over the replicas (at once, or in
//     flight while the next route's backward runs: MpiSums); the sums are awaited before
//     3, so 3 and 4 see the whole batch's gradient, the same on every replica, and every
//     replica's Adam takes the same step;
//   - non-trained state (batch norm's running statistics) is averaged likewise.
// Noise per batch element comes from the Rng's batch draws (core/rng.hpp), so the replicas
// together draw what one process would for the whole batch.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/format.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/distributed/communicator.hpp"
#include "vaegan/models/decoder.hpp"
#include "vaegan/models/encoder.hpp"
#include "vaegan/nn/module.hpp"
#include "vaegan/nn/structure.hpp"
#include "vaegan/ops/activation.hpp"
#include "vaegan/ops/clamp.hpp"
#include "vaegan/ops/reparam.hpp"
#include "vaegan/optim/adam.hpp"
#include "vaegan/train/step_stats.hpp"

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

// What a trainer does with the weights of the networks handed to it.
enum class InitialWeights {
  keep,            // train from the weights they have: pretrained, loaded, or as built
  draw_from_seed,  // draw fresh weights from the trainer's seed (the presets and the programs)
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

  // Makes this trainer replica comm.rank() of comm.size(): from now on each train_step
  // takes this replica's shard of the batch (Batches with BatchOptions::shard) and the
  // step averages over all replicas (see the header comment). Every replica must be built
  // the same way with the same seed, and `comm` must outlive the trainer's training.
  void distribute(Communicator& comm) {
    comm_ = comm.size() > 1 ? &comm : nullptr;
    rng_.set_shard(comm.rank(), comm.size());
  }
  Communicator* communicator() const { return comm_; }
  int replicas() const { return comm_ ? comm_->size() : 1; }
  // Debug: every `every` steps (0: never) check that all replicas hold bit-identical
  // parameters, and throw naming the network and the step if not.
  void set_replica_check_every(std::int64_t every) { replica_check_every_ = every; }
  // Whether any replica passed true (the value itself without replicas): how fit() stops
  // every replica at the same step when their clocks disagree.
  bool any_replica(bool value) const { return comm_ ? comm_->any(value) : value; }

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
    copy_out(sigmoid(decoder.forward(eval_tape_.constant(z), ForwardContext::eval())), images);
  }
  // Reconstructions sigmoid(Dec(mu(x))) of images x [n, ...image shape] through the
  // posterior mean, no sampling (a trainer with an encoder).
  void reconstruct(const Tensor<T>& x, Tensor<T>& images) {
    eval_tape_.reset();
    NoGradGuard<T> no_grad(eval_tape_);
    const Var<T> images_in = image_batch(eval_tape_, "reconstruct", x);
    copy_out(sigmoid(self().decoder().forward(self().encoder().forward(images_in, ForwardContext::eval()).mu,
                                              ForwardContext::eval())),
             images);
  }
  // Posterior means mu(x) [n, latent_dim] of images x (a trainer with an encoder).
  void encode(const Tensor<T>& x, Tensor<T>& mu) {
    eval_tape_.reset();
    NoGradGuard<T> no_grad(eval_tape_);
    copy_out(self().encoder().forward(image_batch(eval_tape_, "encode", x), ForwardContext::eval()).mu, mu);
  }

 protected:
  explicit TrainerCore(std::uint64_t seed) : rng_(seed) {}

  // Registers a network slot (in the order of the step's routes and of checkpoints);
  // with InitialWeights::draw_from_seed, draws the network's weights from the trainer's
  // seed (the draws come before any training noise, slot by slot).
  template <class Network>
  void add_network(const std::string& name, Network& network, Adam<T>& optimizer, InitialWeights initial) {
    if (initial == InitialWeights::draw_from_seed) network.reset_parameters(rng_);
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
    check_image_values(who, images);
    return tape.constant(images.data(), image.batched(s.rows()));
  }

  // Images are targets of a BCE in [0, 1]: a NaN or infinity, or pixels in 0..255, would
  // train silently into nonsense (a reconstruction loss of 1e8) or stop a step later with
  // a message about learning rates. Refused here instead, naming the image, the pixel and
  // the value. One pass over the batch, no allocation unless it throws.
  void check_image_values(const char* who, const Tensor<T>& images) const {
    const Index per_image = images.shape().numel() / std::max<Index>(images.rows(), 1);
    const T* v = images.data();
    for (Index i = 0; i < images.numel(); ++i) {
      if (v[i] >= T(0) && v[i] <= T(1)) continue;
      const std::string where = std::string(who) + " (step " + std::to_string(step_) + "): image " +
                                std::to_string(i / per_image) + " of the batch has " + detail::format_double(v[i]) +
                                " at pixel " + std::to_string(i % per_image);
      if (!std::isfinite(static_cast<double>(v[i])))
        throw NumericError(where + ": the batch is not finite; check the data (nothing was trained on it)");
      throw Error(where + ": images must have values in [0, 1]" +
                  (v[i] > T(1) && v[i] <= T(255) ? " (8-bit pixels? divide them by 255)" : "") +
                  "; nothing was trained on this batch");
    }
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
    rng_.batch_fill_normal(z.node().value, rows * cols);
    return z;
  }

  // The step skeleton of the header comment; `stats` (the step's statistics) are averaged
  // over the replicas too.
  template <std::size_t N>
  void apply_routes(const std::array<LossRoute<T>, N>& routes, StepStats& stats) {
    if (tape_.check_numerics()) {
      try {
        tape_.check_recorded_values();
      } catch (const NumericError& e) {
        throw NumericError("step " + std::to_string(step_) + ": forward pass: " + e.what());
      }
    }
    std::array<double, N> losses;
    for (std::size_t i = 0; i < N; ++i) losses[i] = static_cast<double>(routes[i].loss.item());
    if (comm_) {
      average_over_replicas(losses, stats);
      start_buffer_sums();
    }
    for (std::size_t i = 0; i < N; ++i)
      if (!std::isfinite(losses[i]))
        throw NumericError("step " + std::to_string(step_) + ": loss " + routes[i].name + " is " +
                           std::to_string(losses[i]) + " (trains " + network_names(routes[i].networks) +
                           "); the batch was finite and in [0, 1] (checked on entry), so the weights diverged: "
                           "lower the learning rates, or resume from the last checkpoint");
    const T seed = static_cast<T>(1.0 / replicas());
    for (const auto& r : routes) {
      if (!r.update) continue;
      backward_route(r, seed);
      if (comm_)
        for_each_network(r.networks,
                         [&](NetworkSlot<T>& n) { comm_->start_sum(n.params->grads().data(), n.params->size()); });
    }
    if (comm_) {
      comm_->wait_all();
      finish_buffer_sums();
    }
    for (const auto& r : routes)
      if (r.update) check_gradients(r);
    for (const auto& r : routes)
      if (r.update) for_each_network(r.networks, [](NetworkSlot<T>& n) { n.optimizer->step(); });
    ++step_;
    if (comm_ && replica_check_every_ > 0 && step_ % replica_check_every_ == 0) check_replicas_agree();
  }

  // Replaces local values by their mean over the replicas (no-op without replicas).
  template <std::size_t K>
  void mean_over_replicas(std::array<double, K>& values) const {
    if (!comm_) return;
    comm_->sum(values.data(), static_cast<int>(K));
    for (double& v : values) v /= comm_->size();
  }

  Tape<T> tape_;       // the training step's tape
  Tape<T> eval_tape_;  // sampling and evaluation, so they never disturb the step's buffers
  Rng rng_;
  std::vector<NetworkSlot<T>> networks_;
  std::int64_t step_ = 0;
  std::int64_t epoch_ = 0;

 private:
  template <class F>
  void for_each_network(unsigned mask, F&& f) {
    for (std::size_t i = 0; i < networks_.size(); ++i)
      if (mask & (1u << i)) f(networks_[i]);
  }

  // Step 2 for one route: its loss's gradient into exactly its networks' buffers.
  void backward_route(const LossRoute<T>& r, T seed) {
    std::array<GradTarget<T>, 8> targets;
    std::size_t count = 0;
    // Each network is trained by at most one route per step, so clearing here is safe.
    // Overwrite mode clears without a pass over the gradient buffer.
    for_each_network(r.networks, [&](NetworkSlot<T>& n) {
      n.params->begin_overwrite();
      targets[count++] = GradTarget<T>(*n.params);
    });
    auto end_overwrite = [&] { for_each_network(r.networks, [](NetworkSlot<T>& n) { n.params->end_overwrite(); }); };
    try {
      tape_.backward(r.loss, targets.data(), count, seed);
    } catch (const NumericError& e) {  // debug mode: name the step and the route
      end_overwrite();
      throw NumericError("step " + std::to_string(step_) + ": backward of " + r.name + " (trains " +
                         network_names(r.networks) + "): " + e.what());
    } catch (...) {
      end_overwrite();
      throw;
    }
    end_overwrite();
  }

  // Step 3 for one route (after the replicas' sums: the same verdict on every replica).
  void check_gradients(const LossRoute<T>& r) {
    for_each_network(r.networks, [&](NetworkSlot<T>& n) {
      if (!n.params->grads_finite())
        throw NumericError("step " + std::to_string(step_) + ": the gradient of " + r.name + " for the " + n.name +
                           " is not finite; lower the learning rates, or resume from the last checkpoint");
    });
  }

  // The route losses and the step statistics, averaged in one small sum.
  template <std::size_t N>
  void average_over_replicas(std::array<double, N>& losses, StepStats& stats) const {
    std::array<double, N + StepStats::kCapacity> values{};
    for (std::size_t i = 0; i < N; ++i) values[i] = losses[i];
    for (int i = 0; i < stats.size(); ++i) values[N + static_cast<std::size_t>(i)] = stats.value(i);
    mean_over_replicas(values);
    for (std::size_t i = 0; i < N; ++i) losses[i] = values[i];
    for (int i = 0; i < stats.size(); ++i) stats.set(i, values[N + static_cast<std::size_t>(i)]);
  }

  // Non-trained state changed by this step's forward pass (batch norm's running
  // statistics): summed alongside the gradients, then divided into the mean.
  void start_buffer_sums() {
    for (auto& n : networks_)
      if (n.params->buffers().numel() > 0) comm_->start_sum(n.params->buffers().data(), n.params->buffers().numel());
  }
  void finish_buffer_sums() {
    const T inv = static_cast<T>(1.0 / comm_->size());
    for (auto& n : networks_) {
      Tensor<T>& b = n.params->buffers();
      for (Index i = 0; i < b.numel(); ++i) b[i] *= inv;
    }
  }

  // The replica check: a hash of each network's parameter bytes, compared over replicas.
  void check_replicas_agree() {
    for (auto& n : networks_) {
      const auto* bytes = reinterpret_cast<const unsigned char*>(n.params->values().data());
      std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
      for (std::size_t i = 0; i < sizeof(T) * static_cast<std::size_t>(n.params->size()); ++i)
        h = (h ^ bytes[i]) * 1099511628211ULL;
      if (!comm_->all_equal(h))
        throw Error("step " + std::to_string(step_) + ": the replicas' " + n.name +
                    " parameters differ; every replica must be built the same way from the same seed and "
                    "checkpoint (a bug if they were: please report it)");
    }
  }

  Communicator* comm_ = nullptr;  // null: one process (or a group of one)
  std::int64_t replica_check_every_ = 0;

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
