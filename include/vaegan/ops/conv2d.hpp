#pragma once
// conv2d and conv_transpose2d: 2-D convolutions over NCHW batches, as PyTorch lays them out.
//
//   conv2d(x, w, b, s, p)                x [N, C_in, H, W], w [C_out, C_in, kH, kW], b [C_out]
//     -> y [N, C_out, Ho, Wo],           Ho = floor((H + 2p - kH) / s) + 1   (likewise Wo)
//   conv_transpose2d(x, w, b, s, p, op)  x [N, C_in, H, W], w [C_in, C_out, kH, kW], b [C_out]
//     -> y [N, C_out, Ho, Wo],           Ho = (H - 1) s - 2p + kH + op,  0 <= op < s
//
// Both are GEMMs over a column matrix. For an image of C channels, H x W, a kernel kH x kW,
// stride s and padding p, im2col builds col [C kH kW, Ho Wo] with
//   col[(c kH + i) kW + j, oh Wo + ow] = img[c, oh s - p + i, ow s - p + j]   (0 outside)
// and col2im is its adjoint: it adds every col element back into the pixel it was read
// from (pixels read by several windows receive the sum).
//
// conv2d, per sample n (x_n [C_in, H W], W viewed as a matrix [C_out, K], K = C_in kH kW):
//   col_n = im2col(x_n)                            [K, P], P = Ho Wo
//   y_n = W col_n + b 1^T                          [C_out, P]
// so with dY_n = dL/dy_n:
//   dW = sum_n dY_n col_n^T                        [C_out, K]
//   db = sum over n and P of dY_n                  [C_out]
//   dcol_n = W^T dY_n,  dX_n = col2im(dcol_n)      (the adjoint of x_n -> col_n)
//
// conv_transpose2d is the adjoint of conv2d in x (the gradient of a convolution with the
// same weight, viewed as w [C_in, C_out kH kW]: the conv geometry maps the output image
// [C_out, Ho, Wo] to the input grid H x W, since floor((Ho + 2p - kH) / s) + 1 = H when
// op < s). Per sample, with col2im / im2col over the output image:
//   col_n = W^T x_n                                [C_out kH kW, H W]
//   y_n = col2im(col_n) + b 1^T                    [C_out, Ho Wo]
// and backward (y_n is linear in col_n through col2im, whose adjoint is im2col):
//   dcol_n = im2col(dY_n)                          [C_out kH kW, H W]
//   dX_n = W dcol_n                                [C_in, H W]
//   dW = sum_n x_n dcol_n^T                        [C_in, C_out kH kW]
//   db = sum over n and Ho Wo of dY_n
//
// Memory: the column buffers live in the node's `saved` tensor (conv2d keeps col for dW and
// adds room for dcol when dX is asked for; conv_transpose2d reuses its forward col for the
// dcol of backward), so a step that records the same ops again allocates nothing.
// Threads: when one sample's product is too small for gemm's own threads, the samples run
// in parallel, each on one thread; otherwise one after the other with gemm threading each.
// Either way every sample's result comes from the same serial kernel order, so results do
// not depend on the thread count. dW sums the samples in order.
// Only the samples whose output gradient can be non-zero (tape.grad_rows) take part in the
// backward pass, as in linear().
#include <algorithm>
#include <string>
#include <utility>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/parallel.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/detail/gemm.hpp"

namespace vaegan {

namespace detail {

// The geometry of one im2col / col2im: an image of `channels` planes height x width, a
// kernel kh x kw moved with `stride` over the image padded by `padding`, giving out_h x
// out_w window positions. Column matrix: [channels kh kw, out_h out_w].
struct ConvGeometry {
  Index channels = 0, height = 0, width = 0;
  Index kh = 0, kw = 0, stride = 1, padding = 0;
  Index out_h = 0, out_w = 0;

  Index col_rows() const { return channels * kh * kw; }
  Index col_cols() const { return out_h * out_w; }
  Index image_size() const { return channels * height * width; }

  // The window positions o in [0, count) that read a pixel inside [0, size) at kernel
  // offset k: 0 <= o stride - padding + k < size.
  std::pair<Index, Index> valid(Index k, Index size, Index count) const {
    const Index lo_num = padding - k;  // o stride >= padding - k
    const Index lo = lo_num <= 0 ? 0 : (lo_num + stride - 1) / stride;
    const Index hi_num = size - 1 + padding - k;  // o stride <= size - 1 + padding - k
    const Index hi = hi_num < 0 ? 0 : std::min(count, hi_num / stride + 1);
    return {std::min(lo, hi), hi};
  }
};

// col [C kh kw, out_h out_w] = im2col(image [C, height, width]).
template <class T>
void im2col(const ConvGeometry& g, const T* image, T* col) {
  const Index ow_count = g.out_w, plane = g.height * g.width;
  for (Index c = 0; c < g.channels; ++c)
    for (Index i = 0; i < g.kh; ++i)
      for (Index j = 0; j < g.kw; ++j) {
        T* row = col + ((c * g.kh + i) * g.kw + j) * g.col_cols();
        const auto [ow0, ow1] = g.valid(j, g.width, ow_count);
        for (Index oh = 0; oh < g.out_h; ++oh) {
          T* dst = row + oh * ow_count;
          const Index ih = oh * g.stride - g.padding + i;
          if (ih < 0 || ih >= g.height) {
            std::fill(dst, dst + ow_count, T(0));
            continue;
          }
          const T* src = image + c * plane + ih * g.width;
          std::fill(dst, dst + ow0, T(0));
          for (Index ow = ow0; ow < ow1; ++ow) dst[ow] = src[ow * g.stride - g.padding + j];
          std::fill(dst + ow1, dst + ow_count, T(0));
        }
      }
}

// image [C, height, width] += col2im(col [C kh kw, out_h out_w]): the adjoint of im2col.
template <class T>
void col2im_add(const ConvGeometry& g, const T* col, T* image) {
  const Index ow_count = g.out_w, plane = g.height * g.width;
  for (Index c = 0; c < g.channels; ++c)
    for (Index i = 0; i < g.kh; ++i)
      for (Index j = 0; j < g.kw; ++j) {
        const T* row = col + ((c * g.kh + i) * g.kw + j) * g.col_cols();
        const auto [ow0, ow1] = g.valid(j, g.width, ow_count);
        for (Index oh = 0; oh < g.out_h; ++oh) {
          const Index ih = oh * g.stride - g.padding + i;
          if (ih < 0 || ih >= g.height) continue;
          const T* src = row + oh * ow_count;
          T* dst = image + c * plane + ih * g.width;
          for (Index ow = ow0; ow < ow1; ++ow) dst[ow * g.stride - g.padding + j] += src[ow];
        }
      }
}

// Calls f(s) for the samples s in [begin, end). `work` is the multiply-adds of the one
// GEMM f makes per sample: below gemm's threading threshold that GEMM is serial, so the
// samples run in parallel (no nested thread teams); above it they run one after another
// and the GEMM uses the threads.
template <class F>
void for_each_sample(Index begin, Index end, Index work, F&& f) {
  if (work >= kGemmParallelWork) {
    for (Index s = begin; s < end; ++s) f(s);
    return;
  }
  const Index grain = std::max<Index>(1, kParallelGrain / std::max<Index>(work, 1));
  parallel_for(
      end - begin,
      [&](Index s0, Index s1) {
        for (Index s = s0; s < s1; ++s) f(begin + s);
      },
      grain);
}

// y [channels, plane] += bias per channel.
template <class T>
void add_channel_bias(T* y, const T* bias, Index channels, Index plane) {
  for (Index c = 0; c < channels; ++c) {
    const T v = bias[c];
    T* row = y + c * plane;
    for (Index q = 0; q < plane; ++q) row[q] += v;
  }
}

// db = (keep ? db : 0) + the sums of dY [N, channels, plane] over samples [s0, s1) and planes.
template <class T>
void channel_bias_grad(Tape<T>& tape, Node<T>& b, const T* dy, Index s0, Index s1, Index channels, Index plane) {
  T keep;
  T* db = tape.grad_for_write(b, &keep);
  for (Index c = 0; c < channels; ++c) {
    T total = T(0);
    for (Index s = s0; s < s1; ++s) total += ConstArrayMap<T>(dy + (s * channels + c) * plane, plane).sum();
    db[c] = keep == T(0) ? total : db[c] + total;
  }
}

// Stride and padding are the node's own fields (node.stride, node.padding).
template <class T>
struct Conv2dOp {
  static ConvGeometry geometry(const Node<T>& x, const Node<T>& w, const Node<T>& y) {
    ConvGeometry g;
    g.channels = x.shape[1];
    g.height = x.shape[2];
    g.width = x.shape[3];
    g.kh = w.shape[2];
    g.kw = w.shape[3];
    g.stride = y.stride;
    g.padding = y.padding;
    g.out_h = y.shape[2];
    g.out_w = y.shape[3];
    return g;
  }

  // inputs: x, w, b; saved: col [N, K, P], then dcol [N, K, P] once dX is asked for
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    Node<T>& w = tape.input(n, 1);
    Node<T>& b = tape.input(n, 2);
    const ConvGeometry g = geometry(x, w, n);
    const Index batch = x.shape[0], c_out = w.shape[0], k = g.col_rows(), p = g.col_cols();
    const auto [s0, s1] = tape.grad_rows(n);
    const T* dy = n.grad;
    if (x.needed) n.saved.resize(Shape{2 * batch * k * p});  // grows once; keeps col
    const T* col = n.saved.data();
    if (b.needed) channel_bias_grad(tape, b, dy, s0, s1, c_out, p);
    if (w.needed) {
      // dW = sum_n dY_n col_n^T
      T keep;
      T* dw = tape.grad_for_write(w, &keep);
      if (s0 == s1 && keep == T(0)) std::fill(dw, dw + w.numel(), T(0));
      for (Index s = s0; s < s1; ++s)
        gemm<T>(false, true, c_out, k, p, T(1), dy + s * c_out * p, p, col + s * k * p, p, s == s0 ? keep : T(1), dw,
                k);
    }
    if (x.needed) {
      // dX_n = col2im(W^T dY_n), samples [s0, s1) only
      T keep;
      T* dx = tape.grad_for_write_rows(x, s0, s1, &keep);
      T* dcol = n.saved.data() + batch * k * p;
      const T* wv = w.value;
      const Index image = g.image_size();
      for_each_sample(s0, s1, k * p * c_out, [&](Index s) {
        T* dcol_s = dcol + s * k * p;
        gemm<T>(true, false, k, p, c_out, T(1), wv, k, dy + s * c_out * p, p, T(0), dcol_s, p);
        T* dx_s = dx + s * image;
        if (keep == T(0)) std::fill(dx_s, dx_s + image, T(0));
        col2im_add(g, dcol_s, dx_s);
      });
    }
  }
};

// inputs: x, w, b; saved: col [N, C_out kH kW, H W] in forward, dcol in backward. The
// geometry is the conv one over the output image (see the top of this file).
template <class T>
struct ConvTranspose2dOp {
  static ConvGeometry geometry(const Node<T>& x, const Node<T>& w, const Node<T>& y) {
    ConvGeometry g;
    g.channels = w.shape[1];
    g.height = y.shape[2];
    g.width = y.shape[3];
    g.kh = w.shape[2];
    g.kw = w.shape[3];
    g.stride = y.stride;
    g.padding = y.padding;
    g.out_h = x.shape[2];
    g.out_w = x.shape[3];
    return g;
  }

  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    Node<T>& w = tape.input(n, 1);
    Node<T>& b = tape.input(n, 2);
    const ConvGeometry g = geometry(x, w, n);
    const Index c_in = x.shape[1], c_out = g.channels, k = g.col_rows(), p = g.col_cols();
    const Index image = g.image_size();  // one sample of y
    const auto [s0, s1] = tape.grad_rows(n);
    const T* dy = n.grad;
    if (b.needed) channel_bias_grad(tape, b, dy, s0, s1, c_out, g.height * g.width);
    if (!x.needed && !w.needed) return;
    T* dcol = n.saved.data();  // sized [N, K, P] by the forward pass
    const T* wv = w.value;
    T keep_x = T(0);
    T* dx = x.needed ? tape.grad_for_write_rows(x, s0, s1, &keep_x) : nullptr;
    // dcol_n = im2col(dY_n); dX_n = W dcol_n
    for_each_sample(s0, s1, x.needed ? c_in * p * k : k * p, [&](Index s) {
      T* dcol_s = dcol + s * k * p;
      im2col(g, dy + s * image, dcol_s);
      if (dx != nullptr) gemm<T>(false, false, c_in, p, k, T(1), wv, k, dcol_s, p, keep_x, dx + s * c_in * p, p);
    });
    if (w.needed) {
      // dW = sum_n x_n dcol_n^T
      T keep;
      T* dw = tape.grad_for_write(w, &keep);
      if (s0 == s1 && keep == T(0)) std::fill(dw, dw + w.numel(), T(0));
      for (Index s = s0; s < s1; ++s)
        gemm<T>(false, true, c_in, k, p, T(1), x.value + s * c_in * p, p, dcol + s * k * p, p, s == s0 ? keep : T(1),
                dw, k);
    }
  }
};

inline void check_conv_common(const char* op, const Shape& x, const Shape& w, const Shape& b, Index weight_in_dim,
                              Index stride, Index padding) {
  if (x.rank() != 4) throw ShapeError(std::string(op) + ": x must be a batch [N, C, H, W], got " + x.str());
  if (w.rank() != 4) throw ShapeError(std::string(op) + ": the weight must have rank 4, got " + w.str());
  if (x[1] != w[static_cast<int>(weight_in_dim)])
    throw_shape(op,
                std::string("x has ") + std::to_string(x[1]) + " channels, the weight takes " +
                    std::to_string(w[static_cast<int>(weight_in_dim)]),
                x, w);
  const Index c_out = weight_in_dim == 1 ? w[0] : w[1];
  if (b.numel() != c_out || b.rank() != 1) throw_shape(op, "the bias must be [C_out] of the weight", w, b);
  if (w[2] < 1 || w[3] < 1) throw ShapeError(std::string(op) + ": the kernel must be at least 1 x 1, got " + w.str());
  if (stride < 1 || padding < 0)
    throw ShapeError(std::string(op) + ": needs stride >= 1 and padding >= 0, got stride " + std::to_string(stride) +
                     ", padding " + std::to_string(padding));
}

}  // namespace detail

// y = conv(x, w) + b: x [N, C_in, H, W], w [C_out, C_in, kH, kW], b [C_out] ->
// [N, C_out, floor((H + 2p - kH) / s) + 1, floor((W + 2p - kW) / s) + 1], as torch.nn.functional.conv2d.
template <class T>
Var<T> conv2d(const Var<T>& x, const Var<T>& w, const Var<T>& b, Index stride = 1, Index padding = 0) {
  // Copies: record() may reallocate the node vector the shapes live in.
  const Shape xs = x.shape(), ws = w.shape(), bs = b.shape();
  detail::check_conv_common("conv2d", xs, ws, bs, 1, stride, padding);
  if (xs[2] + 2 * padding < ws[2] || xs[3] + 2 * padding < ws[3])
    throw ShapeError("conv2d: the kernel " + std::to_string(ws[2]) + " x " + std::to_string(ws[3]) +
                     " is larger than the padded input " + xs.str() + " (padding " + std::to_string(padding) + ")");
  detail::ConvGeometry g;
  g.channels = xs[1];
  g.height = xs[2];
  g.width = xs[3];
  g.kh = ws[2];
  g.kw = ws[3];
  g.stride = stride;
  g.padding = padding;
  g.out_h = (xs[2] + 2 * padding - ws[2]) / stride + 1;
  g.out_w = (xs[3] + 2 * padding - ws[3]) / stride + 1;
  const Index batch = xs[0], c_out = ws[0], k = g.col_rows(), p = g.col_cols(), image = g.image_size();

  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("conv2d", &detail::Conv2dOp<T>::backward, Shape{batch, c_out, g.out_h, g.out_w}, {x, w, b});
  n.stride = stride;
  n.padding = padding;
  n.saved.resize(Shape{std::max<Index>(batch * k * p, 1)});
  T* col = n.saved.data();
  T* y = n.value;
  const T* xv = x.node().value;
  const T* wv = w.node().value;
  const T* bias = b.node().value;
  detail::for_each_sample(0, batch, c_out * p * k, [&](Index s) {
    T* col_s = col + s * k * p;
    T* y_s = y + s * c_out * p;
    detail::im2col(g, xv + s * image, col_s);
    detail::gemm<T>(false, false, c_out, p, k, T(1), wv, k, col_s, p, T(0), y_s, p);  // y_n = W col_n
    detail::add_channel_bias(y_s, bias, c_out, p);
  });
  return tape.last();
}

// The transposed convolution (the gradient of conv2d in its input): x [N, C_in, H, W],
// w [C_in, C_out, kH, kW], b [C_out] -> [N, C_out, (H - 1) s - 2p + kH + op, (W - 1) s - 2p + kW + op],
// as torch.nn.functional.conv_transpose2d. output_padding (op) must be smaller than the stride.
template <class T>
Var<T> conv_transpose2d(const Var<T>& x, const Var<T>& w, const Var<T>& b, Index stride = 1, Index padding = 0,
                        Index output_padding = 0) {
  const Shape xs = x.shape(), ws = w.shape(), bs = b.shape();
  detail::check_conv_common("conv_transpose2d", xs, ws, bs, 0, stride, padding);
  if (output_padding < 0 || output_padding >= stride)
    throw ShapeError("conv_transpose2d: output_padding must be >= 0 and smaller than the stride, got output_padding " +
                     std::to_string(output_padding) + ", stride " + std::to_string(stride));
  detail::ConvGeometry g;
  g.channels = ws[1];
  g.height = (xs[2] - 1) * stride - 2 * padding + ws[2] + output_padding;
  g.width = (xs[3] - 1) * stride - 2 * padding + ws[3] + output_padding;
  g.kh = ws[2];
  g.kw = ws[3];
  g.stride = stride;
  g.padding = padding;
  g.out_h = xs[2];
  g.out_w = xs[3];
  if (xs[2] < 1 || xs[3] < 1 || g.height < 1 || g.width < 1)
    throw ShapeError("conv_transpose2d: input " + xs.str() + " with kernel " + std::to_string(ws[2]) + " x " +
                     std::to_string(ws[3]) + ", stride " + std::to_string(stride) + ", padding " +
                     std::to_string(padding) + " gives an output of " + std::to_string(g.height) + " x " +
                     std::to_string(g.width));
  const Index batch = xs[0], c_in = xs[1], c_out = g.channels, k = g.col_rows(), p = g.col_cols();
  const Index image = g.image_size();

  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("conv_transpose2d", &detail::ConvTranspose2dOp<T>::backward,
                           Shape{batch, c_out, g.height, g.width}, {x, w, b});
  n.stride = stride;
  n.padding = padding;
  n.saved.resize(Shape{std::max<Index>(batch * k * p, 1)});
  T* col = n.saved.data();
  T* y = n.value;
  const T* xv = x.node().value;
  const T* wv = w.node().value;
  const T* bias = b.node().value;
  detail::for_each_sample(0, batch, k * p * c_in, [&](Index s) {
    T* col_s = col + s * k * p;
    T* y_s = y + s * image;
    detail::gemm<T>(true, false, k, p, c_in, T(1), wv, k, xv + s * c_in * p, p, T(0), col_s, p);  // col_n = W^T x_n
    std::fill(y_s, y_s + image, T(0));
    detail::col2im_add(g, col_s, y_s);
    detail::add_channel_bias(y_s, bias, c_out, g.height * g.width);
  });
  return tape.last();
}

}  // namespace vaegan
