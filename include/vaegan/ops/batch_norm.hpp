#pragma once
// Batch normalization over the channels of x [N, C, ...] (as torch.nn.functional.batch_norm):
// x [N, F] normalizes each feature, x [N, C, H, W] each channel with statistics over N, H
// and W. Per channel c, over its M = N * H * W values (M = N for [N, F]):
//
// Training form, batch_norm(): batch statistics, the variance biased (divided by M):
//   mu = mean(x),  var = mean((x - mu)^2),  r = 1 / sqrt(var + eps)
//   xhat = (x - mu) r,  y = gamma xhat + beta
// Backward: with dxhat_i / dx_j = r (delta_ij - 1/M) - r xhat_i xhat_j / M (the second term
// from d var / dx_j = 2 (x_j - mu) / M through r), summing dy_i gamma over i gives
//   dx = gamma r (dy - mean(dy) - xhat mean(dy xhat))
//   dgamma = sum(dy xhat),  dbeta = sum(dy)
// The node saves mu and r per channel ([2, C] in node.saved) and recomputes xhat from x,
// so a repeated step reuses its buffers. Given running statistics, the forward also
// updates them as PyTorch does, with the unbiased variance (times M / (M - 1)):
//   running_mean = (1 - momentum) running_mean + momentum mu
//   running_var  = (1 - momentum) running_var  + momentum var M / (M - 1)
// A channel of one value (M = 1) has no variance: the training form refuses it.
//
// Evaluation form, batch_norm_eval(): the given (running) statistics, a per-channel affine
// map y = gamma (x - mean) r + beta with r = 1 / sqrt(var + eps). Backward:
//   dx = dy gamma r,  dgamma = sum(dy (x - mean) r),  dbeta = sum(dy)
// The node saves mean and r ([2, C]): later changes to the statistics do not reach it.
//
// Both forms can apply a rectifier to the normalized values, y = f(gamma xhat + beta) with f
// relu or leaky_relu (nn/batch_norm.hpp fuses the activation layer that follows a batch norm
// in a Sequential): the forward writes only y, and the backward recomputes the normalized
// value z from x (the saved per-channel scale and shift of the forward, so z is bit for bit
// the forward's) to take dz = dy f'(z) inside its two passes, which then read only dy and x.
// The results are bit for bit those of batch_norm followed by the activation op (f' from
// the sign of z, which is the sign of y, as ops/activation.hpp reads it), with two passes
// over memory fewer each way.
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/activation_kind.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/parallel.hpp"
#include "vaegan/core/profile.hpp"

namespace vaegan {

namespace detail {

// x [N, C, ...] seen as N blocks of C channels of `inner` contiguous values each.
struct BatchNormLayout {
  Index batch = 0, channels = 0, inner = 0;
  Index per_channel() const { return batch * inner; }
  // parallel_for grain: enough channels per chunk to be worth a thread.
  Index channel_grain() const { return std::max<Index>(1, kParallelGrain / std::max<Index>(per_channel(), 1)); }
};

inline BatchNormLayout batch_norm_layout(const char* op, const Shape& x, const Shape& gamma, const Shape& beta) {
  if (x.rank() < 2)
    throw ShapeError(std::string(op) + ": x must be [N, C] or [N, C, H, W] (channels in dimension 1), got " + x.str());
  BatchNormLayout l;
  l.batch = x[0];
  l.channels = x[1];
  l.inner = l.channels > 0 ? x.cols() / l.channels : 0;
  if (gamma.numel() != l.channels || beta.numel() != l.channels)
    throw ShapeError(std::string(op) + ": gamma and beta need one value per channel (" + std::to_string(l.channels) +
                     " for x " + x.str() + "), got " + gamma.str() + " and " + beta.str());
  return l;
}

// The per-channel loops below. Each sum over a channel's M values runs in kBatchNormLanes
// interleaved double partial sums, added in a fixed order at the end: independent chains the
// compiler turns into vector additions (one serial chain of double additions would cost the
// add latency, about 4 cycles, per value). For x [N, C] (S = 1) a channel's values are C
// apart, so there the lanes are the channels instead: blocks of kBatchNormBlock channels,
// each row's block read contiguously. The order of every sum depends on the sizes only.
constexpr Index kBatchNormLanes = 8;
constexpr Index kBatchNormBlock = 256;

// Channels per sweep below (S > 1): their partial sums (kBatchNormLanes doubles each, two
// arrays: 2 KiB) stay in L1.
constexpr Index kBatchNormSweep = 16;

// The rectifiers batch norm applies itself, as ops/activation.hpp computes them.
inline bool fusable_rectifier(const Activation& f) {
  return f.kind == ActivationKind::identity || f.kind == ActivationKind::relu ||
         (f.kind == ActivationKind::leaky_relu && f.slope > 0.0);
}
inline void check_rectifier(const char* op, const Activation& f) {
  if (!fusable_rectifier(f))
    throw Error(std::string(op) +
                ": the activation applied in the same pass must be relu or leaky_relu with a slope > 0, "
                "got " +
                f.name() + "; apply it as its own op (activate) after the batch norm");
}
template <class T>
T rectify(ActivationKind kind, T slope, T z) {
  if (kind == ActivationKind::relu) return z > T(0) ? z : T(0);
  if (kind == ActivationKind::leaky_relu) return z > T(0) ? z : slope * z;
  return z;
}
// dy f'(z): relu passes dy where z > 0, else 0; leaky_relu slope dy there. Written as dy
// times a factor chosen between constants, which GCC vectorizes inside the backward's
// sums (a choice between dy and slope dy left those loops scalar, at three times the cost).
// The same values as ops/activation.hpp's (dy 1 = dy, dy slope = slope dy) for every
// finite dy, except that relu's 0 is -0 for a negative dy (equal as numbers); an infinite or
// NaN dy where z <= 0 gives NaN there, not 0 (a training step that meets one stops anyway).
template <class T>
T rectify_grad(ActivationKind kind, T slope, T z, T dy) {
  if (kind == ActivationKind::relu) return dy * (z > T(0) ? T(1) : T(0));
  if (kind == ActivationKind::leaky_relu) return dy * (z > T(0) ? T(1) : slope);
  return dy;
}

// Passed for w to channel_sums_sweep: only v is summed.
struct NoSecondSum {
  double operator()(Index, Index) const { return 0.0; }
};

// For channels [c0, c1) (c1 - c0 <= kBatchNormSweep, S > 1): sums_v[c - c0] = the sum over
// channel c's M values of v(i, c), i the value's index in x, and likewise sums_w with w(i, c)
// unless w is NoSecondSum. Each channel's values go into its kBatchNormLanes lanes in a
// fixed order (sample by sample, a sample's S values in order), added lane by lane at the
// end, so a channel's sum does not depend on which channels share its sweep. x is read in
// one sequential sweep, sample by sample (the channels' values of a sample are contiguous),
// not a channel at a time (N runs of S values, C S apart, each a new prefetch stream, and
// one chain of dependent additions): twice as fast on the conv preset's layers.
template <class V, class W>
void channel_sums_sweep(const BatchNormLayout& l, Index c0, Index c1, V&& v, double* sums_v, W&& w, double* sums_w) {
  constexpr bool second = !std::is_same_v<std::decay_t<W>, NoSecondSum>;
  const Index S = l.inner, stride = l.channels * S, full = S / kBatchNormLanes * kBatchNormLanes;
  double acc_v[kBatchNormSweep][kBatchNormLanes] = {}, acc_w[kBatchNormSweep][kBatchNormLanes] = {};
  for (Index b = 0; b < l.batch; ++b)
    for (Index c = c0; c < c1; ++c) {
      const Index base = b * stride + c * S;
      double* av = acc_v[c - c0];
      double* aw = acc_w[c - c0];
      for (Index s = 0; s < full; s += kBatchNormLanes)
        for (Index j = 0; j < kBatchNormLanes; ++j) {
          av[j] += v(base + s + j, c);
          if constexpr (second) aw[j] += w(base + s + j, c);
        }
      for (Index s = full; s < S; ++s) {
        av[s - full] += v(base + s, c);
        if constexpr (second) aw[s - full] += w(base + s, c);
      }
    }
  for (Index c = c0; c < c1; ++c) {
    double total_v = 0.0, total_w = 0.0;
    for (Index j = 0; j < kBatchNormLanes; ++j) {
      total_v += acc_v[c - c0][j];
      total_w += acc_w[c - c0][j];
    }
    sums_v[c - c0] = total_v;
    if constexpr (second) sums_w[c - c0] = total_w;
  }
}

// For x [N, C] (S = 1): sums[j] = sum over the rows of v(row b, channel c0 + j), j < count <= kBatchNormBlock.
template <class V>
void block_sums(const BatchNormLayout& l, Index c0, Index count, double* sums, V&& v) {
  for (Index j = 0; j < count; ++j) sums[j] = 0.0;
  for (Index b = 0; b < l.batch; ++b) {
    const Index base = b * l.channels + c0;
    for (Index j = 0; j < count; ++j) sums[j] += v(base + j, j);
  }
}

// mu[c] and var[c] (biased) of channels [c0, c1) of x, in double, two passes (mean, then
// squared deviations: no cancellation for large means).
template <class T>
void channel_moments(const BatchNormLayout& l, const T* x, Index c0, Index c1, double* mean, double* var) {
  const double m = static_cast<double>(l.per_channel());
  if (l.inner > 1) {
    for (Index cs = c0; cs < c1; cs += kBatchNormSweep) {
      const Index ce = std::min(c1, cs + kBatchNormSweep);
      double* mu = mean + (cs - c0);
      double* sq = var + (cs - c0);
      channel_sums_sweep(
          l, cs, ce, [&](Index i, Index) { return static_cast<double>(x[i]); }, mu, NoSecondSum{}, nullptr);
      for (Index c = cs; c < ce; ++c) mu[c - cs] /= m;
      channel_sums_sweep(
          l, cs, ce,
          [&](Index i, Index c) {
            const double d = static_cast<double>(x[i]) - mu[c - cs];
            return d * d;
          },
          sq, NoSecondSum{}, nullptr);
      for (Index c = cs; c < ce; ++c) sq[c - cs] /= m;
    }
    return;
  }
  for (Index cb = c0; cb < c1; cb += kBatchNormBlock) {
    const Index count = std::min(kBatchNormBlock, c1 - cb);
    double* mu = mean + (cb - c0);
    double* sq = var + (cb - c0);
    block_sums(l, cb, count, mu, [&](Index i, Index) { return static_cast<double>(x[i]); });
    for (Index j = 0; j < count; ++j) mu[j] /= m;
    block_sums(l, cb, count, sq, [&](Index i, Index j) {
      const double d = static_cast<double>(x[i]) - mu[j];
      return d * d;
    });
    for (Index j = 0; j < count; ++j) sq[j] /= m;
  }
}

// out = f(x * scale[c] + shift[c]) over channels [c0, c1), scale and shift indexed from c0,
// f the rectifier `kind` (identity: none).
template <class T>
void channel_affine(const BatchNormLayout& l, Index c0, Index c1, const T* scale, const T* shift, ActivationKind kind,
                    T slope, const T* x, T* out) {
  const Index S = l.inner, stride = l.channels * S;
  if (S > 1) {  // sample by sample: one sequential sweep over the channels' values
    for (Index b = 0; b < l.batch; ++b)
      for (Index c = c0; c < c1; ++c) {
        const T a = scale[c - c0], z = shift[c - c0];
        const Index base = b * stride + c * S;
        switch (kind) {  // a loop per rectifier, each vectorized
          case ActivationKind::relu:
            for (Index s = 0; s < S; ++s) out[base + s] = rectify(ActivationKind::relu, slope, x[base + s] * a + z);
            break;
          case ActivationKind::leaky_relu:
            for (Index s = 0; s < S; ++s)
              out[base + s] = rectify(ActivationKind::leaky_relu, slope, x[base + s] * a + z);
            break;
          default:
            for (Index s = 0; s < S; ++s) out[base + s] = x[base + s] * a + z;
        }
      }
    return;
  }
  for (Index b = 0; b < l.batch; ++b) {
    const Index base = b * l.channels;
    for (Index c = c0; c < c1; ++c) out[base + c] = rectify(kind, slope, x[base + c] * scale[c - c0] + shift[c - c0]);
  }
}

// dx = dz a[c] + x e[c] + z[c] (+ the old dx when add) over channels [c0, c1), indexed from
// c0; dz = grad.channel(c)(i) at x's index i (a functor per channel, its constants by value:
// then nothing the loop reads can alias dx, and it vectorizes).
template <class T, class Grad>
void batch_norm_dx(const BatchNormLayout& l, Index c0, Index c1, const T* a, const T* e, const T* z, const Grad& grad,
                   const T* x, T* dx, bool add) {
  const Index S = l.inner, stride = l.channels * S;
  if (S > 1) {  // sample by sample, as in channel_affine
    for (Index b = 0; b < l.batch; ++b)
      for (Index c = c0; c < c1; ++c) {
        const T ac = a[c - c0], ec = e[c - c0], zc = z[c - c0];
        const auto dz = grad.channel(c);
        const Index base = b * stride + c * S;
        if (add)
          for (Index s = 0; s < S; ++s) dx[base + s] += dz(base + s) * ac + x[base + s] * ec + zc;
        else
          for (Index s = 0; s < S; ++s) dx[base + s] = dz(base + s) * ac + x[base + s] * ec + zc;
      }
    return;
  }
  for (Index b = 0; b < l.batch; ++b) {
    const Index base = b * l.channels;
    if (add)
      for (Index c = c0; c < c1; ++c)
        dx[base + c] += grad.channel(c)(base + c) * a[c - c0] + x[base + c] * e[c - c0] + z[c - c0];
    else
      for (Index c = c0; c < c1; ++c)
        dx[base + c] = grad.channel(c)(base + c) * a[c - c0] + x[base + c] * e[c - c0] + z[c - c0];
  }
}

// The gradient reaching batch norm's normalized values: dy itself, or dy f'(z) through a
// fused rectifier, z = x scale[c] + shift[c] recomputed as the forward computed it.
template <class T>
struct PlainGrad {
  const T* dy;
  auto channel(Index) const {
    return [dy = dy](Index i) { return dy[i]; };
  }
};
template <class T, ActivationKind Kind>
struct RectifiedGrad {
  const T* dy;
  const T* x;
  const T* scale;
  const T* shift;
  T slope;
  auto channel(Index c) const {
    return [dy = dy, x = x, a = scale[c], z = shift[c], slope = slope](Index i) {
      return rectify_grad(Kind, slope, x[i] * a + z, dy[i]);
    };
  }
};

// The shared backward of both forms, from node.saved: per channel mu and r, then the scale
// and shift the forward applied ([4, C]). `batch_stats`: the training form, whose mu and r
// depend on x (the two mean terms of dx). grad: the gradient reaching the normalized
// value (PlainGrad, RectifiedGrad).
template <class T, class Grad>
void batch_norm_backward_with(Tape<T>& tape, Node<T>& n, bool batch_stats, const Grad& grad) {
  Node<T>& x = tape.input(n, 0);
  Node<T>& gamma = tape.input(n, 1);
  Node<T>& beta = tape.input(n, 2);
  const BatchNormLayout l = batch_norm_layout(n.op, n.shape, gamma.shape, beta.shape);
  const Index C = l.channels, M = l.per_channel();
  // at least x and dy read and dx written
  VAEGAN_PROFILE_SCOPE("batch_norm backward", n.shape.str(), 0, 3 * sizeof(T) * double(n.numel()));
  const T* mu = n.saved.data();
  const T* r = mu + C;
  const T* xv = x.value;
  T keep_g = T(0), keep_b = T(0), keep_x = T(0);
  T* dgamma = gamma.needed ? tape.grad_for_write(gamma, &keep_g) : nullptr;
  T* dbeta = beta.needed ? tape.grad_for_write(beta, &keep_b) : nullptr;
  T* dx = x.needed ? tape.grad_for_write(x, &keep_x) : nullptr;
  const T* g = gamma.value;
  parallel_for(
      C,
      [&](Index c0, Index c1) {
        for (Index cb = c0; cb < c1; cb += kBatchNormBlock) {
          const Index ce = std::min(c1, cb + kBatchNormBlock), count = ce - cb;
          // sum(dz) and sum(dz xhat) over each channel
          double sum_dy[kBatchNormBlock], sum_dy_xhat[kBatchNormBlock];
          if (l.inner > 1) {
            for (Index cs = cb; cs < ce; cs += kBatchNormSweep)
              channel_sums_sweep(
                  l, cs, std::min(ce, cs + kBatchNormSweep),
                  [&](Index i, Index c) { return static_cast<double>(grad.channel(c)(i)); }, sum_dy + (cs - cb),
                  [&](Index i, Index c) {
                    return static_cast<double>(grad.channel(c)(i)) * static_cast<double>((xv[i] - mu[c]) * r[c]);
                  },
                  sum_dy_xhat + (cs - cb));
          } else {
            block_sums(l, cb, count, sum_dy,
                       [&](Index i, Index j) { return static_cast<double>(grad.channel(cb + j)(i)); });
            block_sums(l, cb, count, sum_dy_xhat, [&](Index i, Index j) {
              return static_cast<double>(grad.channel(cb + j)(i)) *
                     static_cast<double>((xv[i] - mu[cb + j]) * r[cb + j]);
            });
          }
          for (Index c = cb; c < ce; ++c) {
            if (dgamma != nullptr) {
              const T v = static_cast<T>(sum_dy_xhat[c - cb]);
              dgamma[c] = keep_g == T(0) ? v : dgamma[c] + v;
            }
            if (dbeta != nullptr) {
              const T v = static_cast<T>(sum_dy[c - cb]);
              dbeta[c] = keep_b == T(0) ? v : dbeta[c] + v;
            }
          }
          if (dx == nullptr) continue;
          // dx = gamma r (dz - mean(dz) - xhat mean(dz xhat)), xhat = (x - mu) r; the eval
          // form: dx = gamma r dz. As dx = dz a + x e + z per channel:
          //   a = gamma r,  e = -gamma r^2 mean(dz xhat),  z = -gamma r mean(dz) - mu e
          T a[kBatchNormBlock], e[kBatchNormBlock], z[kBatchNormBlock];
          for (Index c = cb; c < ce; ++c) {
            const T scale = g[c] * r[c];
            const T mean_dy = batch_stats ? static_cast<T>(sum_dy[c - cb] / static_cast<double>(M)) : T(0);
            const T mean_dy_xhat = batch_stats ? static_cast<T>(sum_dy_xhat[c - cb] / static_cast<double>(M)) : T(0);
            a[c - cb] = scale;
            e[c - cb] = -scale * r[c] * mean_dy_xhat;
            z[c - cb] = -scale * mean_dy - mu[c] * e[c - cb];
          }
          batch_norm_dx(l, cb, ce, a, e, z, grad, xv, dx, keep_x != T(0));
        }
      },
      l.channel_grain());
}

template <class T>
void batch_norm_backward(Tape<T>& tape, Node<T>& n, bool batch_stats) {
  const Activation f = std::get<BatchNormAttrs>(n.attrs).activation;
  const T* dy = n.grad;
  if (f.kind == ActivationKind::identity) {
    batch_norm_backward_with(tape, n, batch_stats, PlainGrad<T>{dy});
    return;
  }
  // Through the rectifier: z = x scale + shift as the forward computed it.
  const Index C = n.shape[1];
  const T* scale = n.saved.data() + 2 * C;
  const T* shift = scale + C;
  const T* xv = tape.input(n, 0).value;
  const T slope = static_cast<T>(f.slope);
  if (f.kind == ActivationKind::relu)
    batch_norm_backward_with(tape, n, batch_stats, RectifiedGrad<T, ActivationKind::relu>{dy, xv, scale, shift, slope});
  else
    batch_norm_backward_with(tape, n, batch_stats,
                             RectifiedGrad<T, ActivationKind::leaky_relu>{dy, xv, scale, shift, slope});
}

// y = f(gamma (x - mu) r + beta) per channel, from mu and r in node.saved ([4, C]); the
// scale gamma r and shift beta - mu gamma r go to its rows 2 and 3 for the backward pass.
template <class T>
void batch_norm_apply(Node<T>& n, const T* xv, const T* gamma, const T* beta, const BatchNormLayout& l, Index c0,
                      Index c1) {
  T* mu = n.saved.data();
  T* r = mu + l.channels;
  T* scale = r + l.channels;
  T* shift = scale + l.channels;
  const Activation f = std::get<BatchNormAttrs>(n.attrs).activation;
  for (Index c = c0; c < c1; ++c) {
    scale[c] = gamma[c] * r[c];
    shift[c] = beta[c] - mu[c] * scale[c];
  }
  for (Index cb = c0; cb < c1; cb += kBatchNormBlock) {
    const Index ce = std::min(c1, cb + kBatchNormBlock);
    channel_affine(l, cb, ce, scale + cb, shift + cb, f.kind, static_cast<T>(f.slope), xv, n.value);
  }
}

template <class T>
struct BatchNormOp {
  // inputs: x, gamma, beta; saved: [mu; r; scale; shift] per channel
  static void backward(Tape<T>& tape, Node<T>& n) { batch_norm_backward(tape, n, true); }
};
template <class T>
struct BatchNormEvalOp {
  // inputs: x, gamma, beta; saved: [mean; r; scale; shift] per channel, of the statistics given
  static void backward(Tape<T>& tape, Node<T>& n) { batch_norm_backward(tape, n, false); }
};

}  // namespace detail

// Batch normalization with the batch's statistics (training mode). x [N, C] or
// [N, C, H, W], gamma and beta [C]. With running_mean and running_var (C values each), also
// updates them by `momentum` (the variance unbiased). Refuses a channel of one value.
// `activation`: identity, or relu / leaky_relu applied to the result in the same passes.
template <class T>
Var<T> batch_norm(const Var<T>& x, const Var<T>& gamma, const Var<T>& beta, double eps = 1e-5,
                  T* running_mean = nullptr, T* running_var = nullptr, double momentum = 0.1,
                  const Activation& activation = Activation::identity()) {
  const detail::BatchNormLayout l = detail::batch_norm_layout("batch_norm", x.shape(), gamma.shape(), beta.shape());
  const Index M = l.per_channel();
  if (M < 2)
    throw Error("batch_norm: expected more than 1 value per channel when training, got input " + x.shape().str() +
                " (" + std::to_string(M) +
                " value per channel): the variance of one sample is undefined; train with a batch of 2 or more, "
                "or normalize with the running statistics (eval mode)");
  if (!(eps >= 0.0)) throw Error("batch_norm: eps must be >= 0, got " + std::to_string(eps));
  detail::check_rectifier("batch_norm", activation);
  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("batch_norm", &detail::BatchNormOp<T>::backward, x.shape(), {x, gamma, beta});
  VAEGAN_PROFILE_SCOPE("batch_norm forward", n.shape.str(), 0, 2 * sizeof(T) * double(n.numel()));
  n.attrs = BatchNormAttrs{eps, running_mean != nullptr || running_var != nullptr ? momentum : 0.0, activation};
  const Index C = l.channels;
  n.saved.resize(Shape::matrix(4, C));
  T* mu = n.saved.data();
  T* r = mu + C;
  const T* xv = x.node().value;
  const T* g = gamma.node().value;
  const T* bt = beta.node().value;
  detail::parallel_for(
      C,
      [&](Index c0, Index c1) {
        for (Index cb = c0; cb < c1; cb += detail::kBatchNormBlock) {
          const Index ce = std::min(c1, cb + detail::kBatchNormBlock);
          double mean[detail::kBatchNormBlock], var[detail::kBatchNormBlock];
          detail::channel_moments(l, xv, cb, ce, mean, var);
          for (Index c = cb; c < ce; ++c) {
            const double m = mean[c - cb], v = var[c - cb];
            mu[c] = static_cast<T>(m);
            r[c] = static_cast<T>(1.0 / std::sqrt(v + eps));
            if (running_mean != nullptr)
              running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * m);
            if (running_var != nullptr)
              running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) +
                                              momentum * v * static_cast<double>(M) / static_cast<double>(M - 1));
          }
        }
        detail::batch_norm_apply(n, xv, g, bt, l, c0, c1);
      },
      l.channel_grain());
  return tape.last();
}

// Batch normalization with given statistics (eval mode: the running mean and variance, C
// values each): y = gamma (x - mean) / sqrt(var + eps) + beta, per channel; `activation` as
// for batch_norm.
template <class T>
Var<T> batch_norm_eval(const Var<T>& x, const Var<T>& gamma, const Var<T>& beta, const T* mean, const T* var,
                       double eps = 1e-5, const Activation& activation = Activation::identity()) {
  const detail::BatchNormLayout l =
      detail::batch_norm_layout("batch_norm_eval", x.shape(), gamma.shape(), beta.shape());
  if (!(eps >= 0.0)) throw Error("batch_norm_eval: eps must be >= 0, got " + std::to_string(eps));
  detail::check_rectifier("batch_norm_eval", activation);
  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("batch_norm_eval", &detail::BatchNormEvalOp<T>::backward, x.shape(), {x, gamma, beta});
  n.attrs = BatchNormAttrs{eps, 0.0, activation};
  const Index C = l.channels;
  n.saved.resize(Shape::matrix(4, C));
  T* mu = n.saved.data();
  T* r = mu + C;
  for (Index c = 0; c < C; ++c) {
    mu[c] = mean[c];
    r[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(var[c]) + eps));
  }
  const T* xv = x.node().value;
  const T* g = gamma.node().value;
  const T* bt = beta.node().value;
  detail::parallel_for(
      C, [&](Index c0, Index c1) { detail::batch_norm_apply(n, xv, g, bt, l, c0, c1); }, l.channel_grain());
  return tape.last();
}

}  // namespace vaegan
