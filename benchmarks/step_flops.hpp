#pragma once
// Matmul FLOPs per training step of the docs/reference-workloads.md steps: the minimum the
// workload needs, counted analytically from the model's widths so that vaegan and the
// PyTorch reference (benchmarks/reference/step_torch.py, same formula) report GFLOP/s of
// identical work. Elementwise ops, losses and Adam are not counted (they are O(params) or
// O(batch x width), a few percent of the matmuls for these shapes).
//
// For a network's layers (in, out) applied to R rows, each GEMM is 2 * R * in * out:
//   fwd(net, R)        forward of every layer
//   dW(net, R)         weight gradients of every layer (same sum)
//   dX(net, R, first)  input gradients, without the first layer unless `first` (the data
//                      or the noise needs no gradient; a generated image or a latent does)
// The encoder is its trunk plus both heads (mu, logvar); its first layer is the trunk's.
// With B the batch (one D pass over the stacked rows, as the reference file says):
//   GAN    = fwd(G,B) + fwd(D,2B) + dW(D,2B) + dX(D,2B,no) + dX(D,B,yes) + dW(G,B) + dX(G,B,no)
//   VAE    = fwd(E,B) + fwd(Dec,B) + dW(Dec,B) + dX(Dec,B,yes) + dW(E,B) + dX(E,B,no)
//   VAEGAN = fwd(E,B) + fwd(Dec,2B) + fwd(D,3B) + dW(D,3B) + dX(D,3B,no)          (L_D)
//          + dX(Dec,B,yes) + dW(E,B) + dX(E,B,no)                               (L_E)
//          + dX(D,2B,yes) + dW(Dec,2B) + dX(Dec,2B,no)                          (L_Dec)
#include <string>
#include <utility>
#include <vector>

#include <vaegan/models/config.hpp>

namespace vaegan_bench {

using Layers = std::vector<std::pair<double, double>>;  // (in, out) per layer

inline Layers chain(double in, const std::vector<vaegan::Index>& hidden, double out) {
  Layers layers;
  double width = in;
  for (vaegan::Index h : hidden) {
    layers.emplace_back(width, static_cast<double>(h));
    width = static_cast<double>(h);
  }
  layers.emplace_back(width, out);
  return layers;
}

inline double layer_sum(const Layers& layers, double rows, bool include_first) {
  double flops = 0;
  for (std::size_t i = include_first ? 0 : 1; i < layers.size(); ++i)
    flops += 2.0 * rows * layers[i].first * layers[i].second;
  return flops;
}

inline double step_flops(const vaegan::ModelConfig& m, const std::string& step, vaegan::Index batch) {
  const double b = static_cast<double>(batch);
  const double image = static_cast<double>(m.image_dim()), latent = static_cast<double>(m.latent_dim);
  // Encoder: trunk layers, then the two heads (last hidden -> latent).
  Layers e = chain(image, m.encoder_hidden, latent);
  e.emplace_back(e.back());
  const Layers g = chain(latent, m.decoder_hidden, image);
  const Layers d = chain(image, m.discriminator_hidden, 1.0);
  auto fwd = [](const Layers& n, double r) { return layer_sum(n, r, true); };
  auto dw = fwd;
  auto dx = [](const Layers& n, double r, bool first) { return layer_sum(n, r, first); };
  if (step == "gan")
    return fwd(g, b) + fwd(d, 2 * b) + dw(d, 2 * b) + dx(d, 2 * b, false) + dx(d, b, true) + dw(g, b) + dx(g, b, false);
  if (step == "vae") return fwd(e, b) + fwd(g, b) + dw(g, b) + dx(g, b, true) + dw(e, b) + dx(e, b, false);
  return fwd(e, b) + fwd(g, 2 * b) + fwd(d, 3 * b) + dw(d, 3 * b) + dx(d, 3 * b, false)  // L_D
         + dx(g, b, true) + dw(e, b) + dx(e, b, false)                                   // L_E
         + dx(d, 2 * b, true) + dw(g, 2 * b) + dx(g, 2 * b, false);                      // L_Dec
}

}  // namespace vaegan_bench
