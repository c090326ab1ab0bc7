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
#include <algorithm>
#include <cmath>
#include <string>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/parallel.hpp"

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

// The shared backward of both forms, from mu and r saved per channel ([2, C]) in node.saved.
// `batch_stats`: the training form, whose mu and r depend on x (the two mean terms of dx).
template <class T>
void batch_norm_backward(Tape<T>& tape, Node<T>& n, bool batch_stats) {
  Node<T>& x = tape.input(n, 0);
  Node<T>& gamma = tape.input(n, 1);
  Node<T>& beta = tape.input(n, 2);
  const BatchNormLayout l = batch_norm_layout(n.op, n.shape, gamma.shape, beta.shape);
  const Index C = l.channels, S = l.inner, stride = C * S, M = l.per_channel();
  const T* mu = n.saved.data();
  const T* r = mu + C;
  const T* xv = x.value;
  const T* dy = n.grad;
  T keep_g = T(0), keep_b = T(0), keep_x = T(0);
  T* dgamma = gamma.needed ? tape.grad_for_write(gamma, &keep_g) : nullptr;
  T* dbeta = beta.needed ? tape.grad_for_write(beta, &keep_b) : nullptr;
  T* dx = x.needed ? tape.grad_for_write(x, &keep_x) : nullptr;
  const T* g = gamma.value;
  parallel_for(
      C,
      [&](Index c0, Index c1) {
        for (Index c = c0; c < c1; ++c) {
          // sum(dy) and sum(dy xhat) over the channel
          double sum_dy = 0.0, sum_dy_xhat = 0.0;
          for (Index b = 0; b < l.batch; ++b) {
            const Index base = b * stride + c * S;
            for (Index s = 0; s < S; ++s) {
              const double d = static_cast<double>(dy[base + s]);
              sum_dy += d;
              sum_dy_xhat += d * static_cast<double>((xv[base + s] - mu[c]) * r[c]);
            }
          }
          if (dgamma != nullptr) {
            const T v = static_cast<T>(sum_dy_xhat);
            dgamma[c] = keep_g == T(0) ? v : dgamma[c] + v;
          }
          if (dbeta != nullptr) {
            const T v = static_cast<T>(sum_dy);
            dbeta[c] = keep_b == T(0) ? v : dbeta[c] + v;
          }
          if (dx == nullptr) continue;
          // dx = gamma r (dy - mean(dy) - xhat mean(dy xhat)); the eval form: dx = gamma r dy
          const T scale = g[c] * r[c];
          const T mean_dy = batch_stats ? static_cast<T>(sum_dy / static_cast<double>(M)) : T(0);
          const T mean_dy_xhat = batch_stats ? static_cast<T>(sum_dy_xhat / static_cast<double>(M)) : T(0);
          for (Index b = 0; b < l.batch; ++b) {
            const Index base = b * stride + c * S;
            for (Index s = 0; s < S; ++s) {
              const Index i = base + s;
              const T xhat = (xv[i] - mu[c]) * r[c];
              const T v = scale * (dy[i] - mean_dy - xhat * mean_dy_xhat);
              dx[i] = keep_x == T(0) ? v : dx[i] + v;
            }
          }
        }
      },
      l.channel_grain());
}

// y = gamma (x - mu) r + beta per channel, from mu and r in node.saved.
template <class T>
void batch_norm_apply(Node<T>& n, const T* xv, const T* gamma, const T* beta, const BatchNormLayout& l, Index c0,
                      Index c1) {
  const Index S = l.inner, stride = l.channels * S;
  const T* mu = n.saved.data();
  const T* r = mu + l.channels;
  for (Index c = c0; c < c1; ++c) {
    const T scale = gamma[c] * r[c];
    const T shift = beta[c] - mu[c] * scale;
    for (Index b = 0; b < l.batch; ++b) {
      const Index base = b * stride + c * S;
      for (Index s = 0; s < S; ++s) n.value[base + s] = xv[base + s] * scale + shift;
    }
  }
}

template <class T>
struct BatchNormOp {
  // inputs: x, gamma, beta; saved: [mu; r] per channel
  static void backward(Tape<T>& tape, Node<T>& n) { batch_norm_backward(tape, n, true); }
};
template <class T>
struct BatchNormEvalOp {
  // inputs: x, gamma, beta; saved: [mean; r] per channel, of the statistics given
  static void backward(Tape<T>& tape, Node<T>& n) { batch_norm_backward(tape, n, false); }
};

}  // namespace detail

// Batch normalization with the batch's statistics (training mode). x [N, C] or
// [N, C, H, W], gamma and beta [C]. With running_mean and running_var (C values each), also
// updates them by `momentum` (the variance unbiased). Refuses a channel of one value.
template <class T>
Var<T> batch_norm(const Var<T>& x, const Var<T>& gamma, const Var<T>& beta, double eps = 1e-5,
                  T* running_mean = nullptr, T* running_var = nullptr, double momentum = 0.1) {
  const detail::BatchNormLayout l = detail::batch_norm_layout("batch_norm", x.shape(), gamma.shape(), beta.shape());
  const Index M = l.per_channel();
  if (M < 2)
    throw Error("batch_norm: expected more than 1 value per channel when training, got input " + x.shape().str() +
                " (" + std::to_string(M) +
                " value per channel): the variance of one sample is undefined; train with a batch of 2 or more, "
                "or normalize with the running statistics (eval mode)");
  if (!(eps >= 0.0)) throw Error("batch_norm: eps must be >= 0, got " + std::to_string(eps));
  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("batch_norm", &detail::BatchNormOp<T>::backward, x.shape(), {x, gamma, beta});
  n.scalar = static_cast<T>(eps);
  const Index C = l.channels, S = l.inner, stride = C * S;
  n.saved.resize(Shape::matrix(2, C));
  T* mu = n.saved.data();
  T* r = mu + C;
  const T* xv = x.node().value;
  const T* g = gamma.node().value;
  const T* bt = beta.node().value;
  detail::parallel_for(
      C,
      [&](Index c0, Index c1) {
        for (Index c = c0; c < c1; ++c) {
          // Two passes (mean, then squared deviations): no cancellation for large means.
          double sum = 0.0;
          for (Index b = 0; b < l.batch; ++b)
            for (Index s = 0; s < S; ++s) sum += static_cast<double>(xv[b * stride + c * S + s]);
          const double mean = sum / static_cast<double>(M);
          double squares = 0.0;
          for (Index b = 0; b < l.batch; ++b)
            for (Index s = 0; s < S; ++s) {
              const double d = static_cast<double>(xv[b * stride + c * S + s]) - mean;
              squares += d * d;
            }
          const double var = squares / static_cast<double>(M);
          mu[c] = static_cast<T>(mean);
          r[c] = static_cast<T>(1.0 / std::sqrt(var + eps));
          if (running_mean != nullptr)
            running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
          if (running_var != nullptr)
            running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) +
                                            momentum * var * static_cast<double>(M) / static_cast<double>(M - 1));
        }
        detail::batch_norm_apply(n, xv, g, bt, l, c0, c1);
      },
      l.channel_grain());
  return tape.last();
}

// Batch normalization with given statistics (eval mode: the running mean and variance, C
// values each): y = gamma (x - mean) / sqrt(var + eps) + beta, per channel.
template <class T>
Var<T> batch_norm_eval(const Var<T>& x, const Var<T>& gamma, const Var<T>& beta, const T* mean, const T* var,
                       double eps = 1e-5) {
  const detail::BatchNormLayout l =
      detail::batch_norm_layout("batch_norm_eval", x.shape(), gamma.shape(), beta.shape());
  if (!(eps >= 0.0)) throw Error("batch_norm_eval: eps must be >= 0, got " + std::to_string(eps));
  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("batch_norm_eval", &detail::BatchNormEvalOp<T>::backward, x.shape(), {x, gamma, beta});
  n.scalar = static_cast<T>(eps);
  const Index C = l.channels;
  n.saved.resize(Shape::matrix(2, C));
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
