#pragma once
// Matmul FLOPs per training step of the docs/reference-workloads.md steps: the minimum the
// workload needs, counted analytically from the model's widths so that vaegan and the
// PyTorch reference (benchmarks/reference/step_torch.py, same formula) report GFLOP/s of
// identical work. Elementwise ops, losses and Adam are not counted (they are O(params) or
// O(batch x width), a few percent of the matmuls for these shapes).
//
// For a network's layers applied to R rows (samples), each GEMM is 2 * R * positions * in * out,
// a layer being (positions, in, out):
//   Linear(in -> out)                               (1, in, out)
//   Conv2d(c_in -> c_out, k) to an Ho x Wo output    (Ho Wo, c_in k k, c_out)   y = W col
//   ConvTranspose2d(c_in -> c_out, k) on H x W       (H W, c_in, c_out k k)     col = W^T x
// (ops/conv2d.hpp: one GEMM per sample; its weight and input gradients are GEMMs of the
// same size). Batch norm, like every elementwise op, is not counted.
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
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <vaegan/models/config.hpp>

namespace vaegan_bench {

// One layer's GEMM per sample: rows of output positions x (in, out).
struct Gemm {
  double positions, in, out;
};
using Layers = std::vector<Gemm>;

inline Layers chain(double in, const std::vector<vaegan::Index>& hidden, double out) {
  Layers layers;
  double width = in;
  for (vaegan::Index h : hidden) {
    layers.push_back({1.0, width, static_cast<double>(h)});
    width = static_cast<double>(h);
  }
  layers.push_back({1.0, width, out});
  return layers;
}

inline double layer_sum(const Layers& layers, double rows, bool include_first) {
  double flops = 0;
  for (std::size_t i = include_first ? 0 : 1; i < layers.size(); ++i)
    flops += 2.0 * rows * layers[i].positions * layers[i].in * layers[i].out;
  return flops;
}

// The step formula on the three networks' GEMMs: e = encoder (trunk, then the mu and
// logvar heads), g = decoder / generator, d = discriminator.
inline double step_flops(const Layers& e, const Layers& g, const Layers& d, const std::string& step,
                         vaegan::Index batch) {
  const double b = static_cast<double>(batch);
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

// The dense presets (`seed`, `mlp`, or any ModelConfig of widths).
inline double conv_step_flops(const std::vector<vaegan::Index>& encoder_channels,
                              const std::vector<vaegan::Index>& decoder_channels,
                              const std::vector<vaegan::Index>& discriminator_channels, vaegan::Index image_channels,
                              vaegan::Index height, vaegan::Index width, vaegan::Index latent, const std::string& step,
                              vaegan::Index batch, vaegan::Index kernel, vaegan::Index stride, vaegan::Index padding);

inline double step_flops(const vaegan::ModelConfig& m, const std::string& step, vaegan::Index batch) {
  if (m.architecture == vaegan::Architecture::conv)  // presets.hpp: every conv is k4 s2 p1
    return conv_step_flops(m.encoder_hidden, m.decoder_hidden, m.discriminator_hidden, m.image_shape[0],
                           m.image_shape[1], m.image_shape[2], m.latent_dim, step, batch, 4, 2, 1);
  const double image = static_cast<double>(m.image_dim()), latent = static_cast<double>(m.latent_dim);
  // Encoder: trunk layers, then the two heads (last hidden -> latent).
  Layers e = chain(image, m.encoder_hidden, latent);
  e.push_back(e.back());
  const Layers g = chain(latent, m.decoder_hidden, image);
  const Layers d = chain(image, m.discriminator_hidden, 1.0);
  return step_flops(e, g, d, step, batch);
}

namespace detail {
// Conv2d layers (kernel k, stride s, padding p) through `channels` from [c, h, w]; updates
// c, h, w to the last output.
inline Layers conv_stack(const std::vector<vaegan::Index>& channels, vaegan::Index& c, vaegan::Index& h,
                         vaegan::Index& w, vaegan::Index k, vaegan::Index s, vaegan::Index p) {
  Layers layers;
  for (vaegan::Index c_out : channels) {
    if (h + 2 * p < k || w + 2 * p < k || (h + 2 * p - k) % s != 0 || (w + 2 * p - k) % s != 0)
      throw std::invalid_argument("conv_step_flops: the image does not divide into whole windows");
    h = (h + 2 * p - k) / s + 1;
    w = (w + 2 * p - k) / s + 1;
    layers.push_back({static_cast<double>(h * w), static_cast<double>(c * k * k), static_cast<double>(c_out)});
    c = c_out;
  }
  return layers;
}
}  // namespace detail

// The conv networks of docs/reference-workloads.md (as models/presets.hpp composes them for
// a conv ModelConfig, whose *_hidden lists are these channel counts), for an image [C, H, W]:
//   encoder        Conv(C -> e1) Conv(e1 -> e2) ... , Flatten (F_e), heads F_e -> latent twice
//   discriminator  Conv(C -> d1) Conv(d1 -> d2) ... , Flatten (F_d), Linear(F_d -> 1)
//   decoder        Linear(latent -> g1 x h x w), ConvTranspose2d(g1 -> g2) ... , and a last
//                  ConvTranspose2d(g_last -> C), which gives [C, H, W] back
// every conv and transposed conv with the same kernel, stride and padding. Batch norm and
// activations add no GEMM.
inline double conv_step_flops(const std::vector<vaegan::Index>& encoder_channels,
                              const std::vector<vaegan::Index>& decoder_channels,
                              const std::vector<vaegan::Index>& discriminator_channels, vaegan::Index image_channels,
                              vaegan::Index height, vaegan::Index width, vaegan::Index latent, const std::string& step,
                              vaegan::Index batch, vaegan::Index kernel = 4, vaegan::Index stride = 2,
                              vaegan::Index padding = 1) {
  if (encoder_channels.empty() || decoder_channels.empty() || discriminator_channels.empty())
    throw std::invalid_argument("conv_step_flops: every network needs at least one channel count");
  const vaegan::Index k = kernel, s = stride, p = padding;
  const double z = static_cast<double>(latent);

  vaegan::Index c = image_channels, h = height, w = width;
  Layers e = detail::conv_stack(encoder_channels, c, h, w, k, s, p);
  const double enc_features = static_cast<double>(c * h * w);
  e.push_back({1.0, enc_features, z});  // mu
  e.push_back({1.0, enc_features, z});  // logvar

  c = image_channels, h = height, w = width;
  Layers d = detail::conv_stack(discriminator_channels, c, h, w, k, s, p);
  d.push_back({1.0, static_cast<double>(c * h * w), 1.0});

  // The decoder's first image size: each transposed conv maps h to (h - 1) s - 2p + k,
  // so undo that from the image's size back through every one of them.
  h = height, w = width;
  for (std::size_t i = 0; i < decoder_channels.size(); ++i) {
    if ((h + 2 * p - k) % s != 0 || (w + 2 * p - k) % s != 0 || h + 2 * p - k < 0 || w + 2 * p - k < 0)
      throw std::invalid_argument("conv_step_flops: no decoder start size gives the image size");
    h = (h + 2 * p - k) / s + 1;
    w = (w + 2 * p - k) / s + 1;
  }
  c = decoder_channels[0];
  Layers g{{1.0, z, static_cast<double>(c * h * w)}};
  for (std::size_t i = 0; i < decoder_channels.size(); ++i) {
    const vaegan::Index c_out = i + 1 < decoder_channels.size() ? decoder_channels[i + 1] : image_channels;
    g.push_back({static_cast<double>(h * w), static_cast<double>(c), static_cast<double>(c_out * k * k)});
    h = (h - 1) * s - 2 * p + k;
    w = (w - 1) * s - 2 * p + k;
    c = c_out;
  }
  return step_flops(e, g, d, step, batch);
}

// The same with one channel list: encoder and discriminator through `channels`, the
// decoder through them reversed (as the `conv` preset: channels {32, 64}, image {1, 28, 28},
// latent 32, kernel 4, stride 2, padding 1; benchmarks/reference/step_torch.py's
// conv_gemms()). For a conv ModelConfig m:
//   conv_step_flops(m.encoder_hidden, m.decoder_hidden, m.discriminator_hidden, m.image_shape[0],
//                   m.image_shape[1], m.image_shape[2], m.latent_dim, step, batch)
inline double conv_step_flops(const std::vector<vaegan::Index>& channels, vaegan::Index image_channels,
                              vaegan::Index height, vaegan::Index width, vaegan::Index latent, const std::string& step,
                              vaegan::Index batch, vaegan::Index kernel = 4, vaegan::Index stride = 2,
                              vaegan::Index padding = 1) {
  const std::vector<vaegan::Index> reversed(channels.rbegin(), channels.rend());
  return conv_step_flops(channels, reversed, channels, image_channels, height, width, latent, step, batch, kernel,
                         stride, padding);
}

}  // namespace vaegan_bench
