#pragma once
// conv2d and conv_transpose2d: 2-D convolutions over NCHW batches, as PyTorch lays them out.
//
//   conv2d(x, w, b, s, p)                x [N, C_in, H, W], w [C_out, C_in, kH, kW], b [C_out]
//     -> y [N, C_out, Ho, Wo],           Ho = floor((H + 2p - kH) / s) + 1   (likewise Wo)
//   conv_transpose2d(x, w, b, s, p, op)  x [N, C_in, H, W], w [C_in, C_out, kH, kW], b [C_out]
//     -> y [N, C_out, Ho, Wo],           Ho = (H - 1) s - 2p + kH + op,  0 <= op < s
//
// Both are GEMMs over a matrix of the image's windows, in one of two layouts, chosen per
// layer by the sizes (use_rows below). For an image of C channels, H x W, a kernel kH x kW,
// stride s and padding p, with Ho x Wo window positions (P = Ho Wo) of K = C kH kW values:
//
// Rows (position-major; the layers with many values per window, K > C_small):
//   im2row gives every window position q = oh Wo + ow one row of R [P, K],
//     R[q, (c kH + i) kW + j] = img[c, oh s - p + i, ow s - p + j]   (0 outside)
//   and row2im is its adjoint: it adds every element back into the pixel it was read from
//   (pixels read by several windows receive the sum). Stacked over the samples, R [N P, K]
//   is the left operand of GEMMs over the whole batch whose right operand, packed once, is
//   the weight. X^T [N P, C] is the position-major (NHWC) copy of an NCHW tensor [N, C, P].
//   conv2d, W viewed as [C_out, K] (K = C_in kH kW), with dY = dL/dy:
//     R = im2row(x);  Y^T = R W^T;  y = (Y^T)^T + b
//     dW = (dY^T)^T R;  dR = dY^T W;  dX = row2im(dR);  db = sum over n and P of dY
//     (dX by stride phases where the sizes suit: input_grad_phases, no row2im)
//   conv_transpose2d, W viewed as [C_in, K] (K = C_out kH kW), im2row / row2im over the
//   output image (its window positions are the input's pixels, P = H W):
//     R = X^T W;  y = row2im(R) + b
//     dR = im2row(dY);  dX^T = dR W^T;  dW = (X^T)^T dR;  db = sum over n and Ho Wo of dY
//
// Columns (channel-major, per sample; the layers with few values per window, K <= C_small,
//   such as a first layer on grey images): im2col gives col [K, P] = R^T per sample and
//   col2im is its adjoint, and the products run per sample with the output in place:
//   conv2d:            y_n = W col_n + b;  dW = sum_n dY_n col_n^T;  dX_n = col2im(W^T dY_n)
//   conv_transpose2d:  y_n = col2im(W^T x_n) + b;  dcol_n = im2col(dY_n);
//                      dX_n = W dcol_n;  dW = sum_n x_n dcol_n^T
//
// conv_transpose2d is the adjoint of conv2d in x (the gradient of a convolution with the
// same weight, viewed as w [C_in, C_out kH kW]: the conv geometry maps the output image
// [C_out, Ho, Wo] to the input grid H x W, since floor((Ho + 2p - kH) / s) + 1 = H when
// op < s); y is linear in R through row2im, whose adjoint is im2row.
//
// Why two layouts (docs/performance.md has the measurements): in the row layout every
// product runs over L2-sized chunks of the batch against the weight packed once (or, for
// dW, over blocks of dW's columns), and its long side is the N P rows, a multiple of the
// kernel's 12-row strips up to a few rows; the per-sample products of the column layout
// pack the large col once per sample and waste up to a third of the kernel's 32-wide tiles
// on P = 49 or 196 columns. R itself is never stored: each pass builds the rows it needs a
// chunk at a time in cache (im2row from a zero-padded copy of each image: plain copies). The row layout pays for two
// NCHW <-> NHWC copies of the C_small-channel tensor (y and dY for conv2d, x and dX for conv_transpose2d; C_small
// values per position against K for R), which outweigh its gains when K is small: the
// column layout writes y in place and its GEMMs are cheap there.
//
// Memory: the node's `saved` tensor (rows: X^T of conv_transpose2d from the forward pass;
// for conv2d the padded copies of x where the product is implicit, then dY^T and a padded
// copy of dY added in backward; columns: conv2d's col, conv_transpose2d's dcol, or for the
// direct kernels the weight gradient's per-chunk sums) and per-thread scratch buffers for a
// chunk's pieces, a padded image and one sample's col, so a step that records the same ops
// again allocates nothing.
// Threads: row layout: chunks of samples run in parallel, each chunk's GEMMs serial; the
// weight gradient's blocks of channels run in parallel, each over the chunks in order.
// Column layout: when one sample's product is too small for gemm's own threads, the samples
// run in parallel, each on one thread; otherwise one after the other with gemm threading
// each; dW sums the samples in order. Chunks are fixed by the sizes, and every element is
// computed in the same order whatever the thread count, so results do not depend on it.
// Only the samples whose output gradient can be non-zero (tape.grad_rows) take part in the
// backward pass, as in linear().
//
// The kernels are in detail/: the window geometry (conv_geometry.hpp), the loops and layout
// copies both layouts share (conv_loops.hpp), the row layout (im2row.hpp), the column layout
// (im2col.hpp), its direct kernels for the smallest windows (conv_direct.hpp) and conv2d's
// input gradient by phases (conv_phases.hpp). Here: the two ops,
// each one's forward beside its backward.
#include <algorithm>
#include <string>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/profile.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/detail/conv_direct.hpp"
#include "vaegan/detail/conv_geometry.hpp"
#include "vaegan/detail/conv_loops.hpp"
#include "vaegan/detail/conv_phases.hpp"
#include "vaegan/detail/gemm.hpp"
#include "vaegan/detail/im2col.hpp"
#include "vaegan/detail/im2row.hpp"

namespace vaegan {

namespace detail {

// db = the sums of dY [N, channels, plane] over samples [s0, s1) and planes, added to b's gradient.
template <class T>
void bias_grad(Tape<T>& tape, Node<T>& b, const T* dy, Index s0, Index s1, Index channels, Index plane) {
  VAEGAN_PROFILE_SCOPE("conv bias grad", b.shape.str(), 0, sizeof(T) * double((s1 - s0) * channels * plane));
  T keep;
  T* db = tape.grad_for_write(b, &keep);
  channel_sums(dy, s0, s1, channels, plane, db, keep);
}

// The layout a convolution's products use (see the top of this file): rows when a window
// holds more values than the small-grid side has channels (C_out for conv2d, C_in for
// conv_transpose2d), columns otherwise.
inline bool use_rows(const ConvGeometry& g, Index small_channels) { return g.window() > small_channels; }

// attrs: ConvAttrs (stride, padding). inputs: x, w, b; saved: rows: dY^T [N P, C_out] in backward; columns: col [N, K,
// P] (none for the direct kernels: the sums of their weight gradient in backward).
template <class T>
struct Conv2dOp {
  // The windows move over x, one per pixel of y.
  static ConvGeometry geometry(const Node<T>& x, const Node<T>& w, const Node<T>& y) {
    const ConvAttrs& a = std::get<ConvAttrs>(y.attrs);
    return conv_geometry(x.shape[1], x.shape, y.shape, w.shape, a.stride, a.padding);
  }

  // Whether the row layout's forward pass keeps the padded copies of x in `saved`: where its
  // product is implicit (the weight's width C_out decides).
  static bool keeps_padded_input(Index c_out) { return PackedB<T>::implicit_for(c_out); }

  static void forward(Node<T>& n, const Node<T>& x, const Node<T>& w, const Node<T>& b) {
    const ConvGeometry g = geometry(x, w, n);
    const Index batch = x.shape[0], c_out = w.shape[0], k = g.window(), p = g.positions(), image = g.image_size();
    VAEGAN_PROFILE_SCOPE("conv2d forward", profile::layer(x.shape, n.shape), conv_flops(g, batch, c_out), 0);
    T* y = n.value;
    const T* xv = x.value;
    const T* wv = w.value;
    const T* bias = b.value;
    if (use_rows(g, c_out)) {
      // R = im2row(x); Y^T = R W^T; y = (Y^T)^T + b, per chunk of samples (R only in scratch:
      // the backward pass builds it again)
      const PackedB<T> weight_t(true, c_out, k, wv, k);
      const Index* offsets = weight_t.implicit() ? tap_offsets(g) : nullptr;
      // Chunks by what stays in cache: R when built; else the padded images the implicit
      // product reads (8 samples for conv2 of the conv preset: 392 rows, whole 8- and 12-row
      // strips, where R's size gave 2 samples, 98 rows, ending in a 2-row strip).
      const Index per_sample = offsets != nullptr ? padded_image_values(g) : p * k;
      // The implicit product's padded copies of x stay in `saved`: the backward pass reads
      // R's values for dW from them (keeps_padded_input).
      T* pads = nullptr;
      if (offsets != nullptr) {
        n.saved.resize(Shape{batch * per_sample});
        pads = n.saved.data();
      }
      for_sample_chunks(0, batch, samples_per_chunk(batch, per_sample), [&](Index a, Index e) {
        T* yt = conv_scratch<T, 0>((e - a) * p * (c_out + (offsets != nullptr ? 0 : k)));
        window_product(g, weight_t, offsets, xv, a, e, yt + (e - a) * p * c_out, yt, c_out,
                       pads != nullptr ? pads + a * per_sample : nullptr);
        VAEGAN_PROFILE_SCOPE("layout copy", profile::layer(x.shape, n.shape), 0,
                             2 * sizeof(T) * double((e - a) * p * c_out));
        for (Index s = a; s < e; ++s)
          from_position_major(yt + (s - a) * p * c_out, c_out, p, bias, false, y + s * c_out * p);
      });
      return;
    }
    if constexpr (kDirectColumns<T>) {
      if (direct_columns<T>(g)) {  // y_n = W col(x_n) + b, no col (conv_direct.hpp)
        for_each_sample(0, batch, c_out * p * k, false,
                        [&](Index s) { direct_product(g, c_out, wv, xv + s * image, bias, y + s * c_out * p, false); });
        return;
      }
    }
    // col_n = im2col(x_n); y_n = W col_n + b
    n.saved.resize(Shape{std::max<Index>(batch * p * k, 1)});
    T* saved = n.saved.data();
    for_each_sample(0, batch, c_out * p * k, !kUnpackedColumns<T>, [&](Index s) {
      T* col_s = saved + s * k * p;
      im2col(g, xv + s * image, col_s);
      column_product(false, c_out, p, k, wv, col_s, y + s * c_out * p, false, bias);
    });
  }

  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    Node<T>& w = tape.input(n, 1);
    Node<T>& b = tape.input(n, 2);
    const ConvGeometry g = geometry(x, w, n);
    const Index c_out = w.shape[0], p = g.positions();
    const auto [s0, s1] = tape.grad_rows(n);
    if (b.needed) bias_grad(tape, b, n.grad, s0, s1, c_out, p);
    if (!w.needed && !x.needed) return;
    if (use_rows(g, c_out)) backward_rows(tape, n, g, s0, s1);
    else backward_columns(tape, n, g, s0, s1);
  }

  static void backward_rows(Tape<T>& tape, Node<T>& n, const ConvGeometry& g, Index s0, Index s1) {
    Node<T>& x = tape.input(n, 0);
    Node<T>& w = tape.input(n, 1);
    const Index batch = x.shape[0], c_out = w.shape[0], k = g.window(), p = g.positions();
    const T* dy = n.grad;
    // saved: the forward pass's padded copies of x (keeps_padded_input), dY^T, then (for
    // the phases) the padded copy of dY
    const Index pads = keeps_padded_input(c_out) ? batch * padded_image_values(g) : 0;
    const bool by_phases = x.needed && input_grad_by_phases<T>(g);
    n.saved.resize(Shape{pads + batch * p * c_out + (by_phases ? padded_values_for_phases(g, c_out, s1 - s0) : 0)});
    const T* padded_x = pads > 0 ? n.saved.data() : nullptr;
    T* dyt = n.saved.data() + pads;
    // dY^T feeds dW and the row2im path; the phases read dY itself (a discriminator's
    // backward pass for the generator's loss asks for dX alone: no copy there)
    if (w.needed || !by_phases) {
      VAEGAN_PROFILE_SCOPE("layout copy", profile::layer(n.shape, n.shape), 0,
                           2 * sizeof(T) * double((s1 - s0) * p * c_out));
      for_samples(s0, s1, c_out * p,
                  [&](Index s) { to_position_major(dy + s * c_out * p, c_out, p, dyt + s * p * c_out); });
    }
    // dW = (dY^T)^T R over the samples' rows
    if (w.needed) {
      VAEGAN_PROFILE_SCOPE("conv2d weight grad", profile::layer(x.shape, n.shape), conv_flops(g, s1 - s0, c_out), 0);
      T keep_w;
      T* dw = tape.grad_for_write(w, &keep_w);
      weight_grad_rows(g, x.value, padded_x, dyt, c_out, s0, s1, dw, keep_w);
    }
    if (!x.needed) return;
    VAEGAN_PROFILE_SCOPE("conv2d input grad", profile::layer(x.shape, n.shape), conv_flops(g, s1 - s0, c_out), 0);
    T keep;
    T* dx = tape.grad_for_write_rows(x, s0, s1, &keep);
    if (by_phases) {
      input_grad_phases(g, w.value, c_out, dy, s0, s1, dx, keep != T(0), dyt + batch * p * c_out);
      return;
    }
    // dR = dY^T W and dX = row2im(dR), per chunk of samples (dR stays in cache)
    const PackedB<T> weight(false, k, c_out, w.value, k);
    for_sample_chunks(s0, s1, samples_per_chunk(batch, p * k), [&](Index a, Index e) {
      T* dr = conv_scratch<T, 0>((e - a) * p * k);
      weight.multiply(false, (e - a) * p, dyt + a * p * c_out, c_out, T(1), T(0), dr, k);
      row2im(g, dr, a, e, dx, keep == T(0) ? Row2imMode::write : Row2imMode::add);
    });
  }

  static void backward_columns(Tape<T>& tape, Node<T>& n, const ConvGeometry& g, Index s0, Index s1) {
    Node<T>& x = tape.input(n, 0);
    Node<T>& w = tape.input(n, 1);
    const Index c_out = w.shape[0], k = g.window(), p = g.positions();
    const T* dy = n.grad;
    const bool direct = direct_columns<T>(g);
    // dW = sum_n dY_n col_n^T (col from the forward pass, or built again by the direct kernel)
    if (w.needed) {
      VAEGAN_PROFILE_SCOPE("conv2d weight grad", profile::layer(x.shape, n.shape), conv_flops(g, s1 - s0, c_out), 0);
      T keep_w;
      T* dw = tape.grad_for_write(w, &keep_w);
      if constexpr (kDirectColumns<T>) {
        if (direct) {
          n.saved.resize(Shape{direct_weight_grad_buffer(s1 - s0, c_out)});
          direct_weight_grad(g, c_out, dy, c_out * p, x.value, g.image_size(), s0, s1, dw, keep_w != T(0),
                             n.saved.data());
        }
      }
      if (!direct) column_weight_grad(c_out, k, p, s0, s1, dy, c_out * p, n.saved.data(), k * p, dw, keep_w);
    }
    if (!x.needed) return;
    // dX_n = col2im(W^T dY_n), samples [s0, s1) only
    VAEGAN_PROFILE_SCOPE("conv2d input grad", profile::layer(x.shape, n.shape), conv_flops(g, s1 - s0, c_out), 0);
    T keep;
    T* dx = tape.grad_for_write_rows(x, s0, s1, &keep);
    const T* wv = w.value;
    const Index image = g.image_size();
    // dcol_n in the thread's scratch: col2im reads it back at once, from cache
    for_each_sample(s0, s1, k * p * c_out, !kUnpackedColumns<T>, [&](Index s) {
      T* dcol_s = conv_scratch<T, 0>(k * p);
      column_product(true, k, p, c_out, wv, dy + s * c_out * p, dcol_s, false, static_cast<const T*>(nullptr));
      T* dx_s = dx + s * image;
      if (keep == T(0)) std::fill(dx_s, dx_s + image, T(0));
      col2im_add(g, dcol_s, dx_s);
    });
  }
};

// attrs: ConvAttrs. inputs: x, w, b; saved: rows: X^T [N P, C_in]; columns: dcol [N, K,
// P] in backward (the direct kernels: the sums of their weight gradient). The geometry is the
// conv one over the output image (see the top of this file).
template <class T>
struct ConvTranspose2dOp {
  // The adjoint's windows: they move over y (C_out channels), one per pixel of x.
  static ConvGeometry geometry(const Node<T>& x, const Node<T>& w, const Node<T>& y) {
    const ConvAttrs& a = std::get<ConvAttrs>(y.attrs);
    return conv_geometry(w.shape[1], y.shape, x.shape, w.shape, a.stride, a.padding);
  }

  static void forward(Node<T>& n, const Node<T>& x, const Node<T>& w, const Node<T>& b) {
    const ConvGeometry g = geometry(x, w, n);
    const Index batch = x.shape[0], c_in = x.shape[1], c_out = g.channels, k = g.window(), p = g.positions();
    const Index image = g.image_size(), plane = g.height * g.width;
    VAEGAN_PROFILE_SCOPE("conv_transpose2d forward", profile::layer(x.shape, n.shape), conv_flops(g, batch, c_in), 0);
    T* y = n.value;
    const T* xv = x.value;
    const T* wv = w.value;
    const T* bias = b.value;
    if (use_rows(g, c_in)) {
      n.saved.resize(Shape{std::max<Index>(batch * p * c_in, 1)});
      T* xt = n.saved.data();
      // X^T = x^T (kept for dW); R = X^T W; y = b + row2im(R), per chunk of samples
      const PackedB<T> weight(false, k, c_in, wv, k);
      for_sample_chunks(0, batch, samples_per_chunk(batch, p * k), [&](Index a, Index e) {
        {
          VAEGAN_PROFILE_SCOPE("layout copy", profile::layer(x.shape, n.shape), 0,
                               2 * sizeof(T) * double((e - a) * p * c_in));
          for (Index s = a; s < e; ++s) to_position_major(xv + s * c_in * p, c_in, p, xt + s * p * c_in);
        }
        T* r = conv_scratch<T, 0>((e - a) * p * k);
        weight.multiply(false, (e - a) * p, xt + a * p * c_in, c_in, T(1), T(0), r, k);
        row2im(g, r, a, e, y, Row2imMode::write_bias, bias);
      });
      return;
    }
    // col_n = W^T x_n (in the thread's scratch: col2im reads it back at once); y_n = col2im(col_n) + b
    for_each_sample(0, batch, k * p * c_in, !kUnpackedColumns<T>, [&](Index s) {
      T* col_s = conv_scratch<T, 0>(k * p);
      T* y_s = y + s * image;
      column_product(true, k, p, c_in, wv, xv + s * c_in * p, col_s, false, static_cast<const T*>(nullptr));
      std::fill(y_s, y_s + image, T(0));
      col2im_add(g, col_s, y_s);
      add_channel_bias(y_s, bias, c_out, plane);
    });
  }

  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    Node<T>& w = tape.input(n, 1);
    Node<T>& b = tape.input(n, 2);
    const ConvGeometry g = geometry(x, w, n);
    const auto [s0, s1] = tape.grad_rows(n);
    if (b.needed) bias_grad(tape, b, n.grad, s0, s1, g.channels, g.height * g.width);
    if (!x.needed && !w.needed) return;
    if (use_rows(g, x.shape[1])) backward_rows(tape, n, g, s0, s1);
    else backward_columns(tape, n, g, s0, s1);
  }

  static void backward_rows(Tape<T>& tape, Node<T>& n, const ConvGeometry& g, Index s0, Index s1) {
    Node<T>& x = tape.input(n, 0);
    Node<T>& w = tape.input(n, 1);
    const Index batch = x.shape[0], c_in = x.shape[1], k = g.window(), p = g.positions();
    const T* dy = n.grad;
    if (x.needed) {
      // dR = im2row(dY); dX^T = dR W^T and dx = (dX^T)^T, per chunk of samples
      VAEGAN_PROFILE_SCOPE("conv_transpose2d input grad", profile::layer(x.shape, n.shape),
                           conv_flops(g, s1 - s0, c_in), 0);
      T keep_x;
      T* dx = tape.grad_for_write_rows(x, s0, s1, &keep_x);
      const PackedB<T> weight_t(true, c_in, k, w.value, k);
      const Index* offsets = weight_t.implicit() ? tap_offsets(g) : nullptr;
      for_sample_chunks(s0, s1, samples_per_chunk(batch, p * k), [&](Index a, Index e) {
        T* dxt = conv_scratch<T, 0>((e - a) * p * (c_in + (offsets != nullptr ? 0 : k)));
        window_product(g, weight_t, offsets, dy, a, e, dxt + (e - a) * p * c_in, dxt, c_in);
        VAEGAN_PROFILE_SCOPE("layout copy", profile::layer(x.shape, n.shape), 0,
                             2 * sizeof(T) * double((e - a) * p * c_in));
        for (Index s = a; s < e; ++s)
          from_position_major(dxt + (s - a) * p * c_in, c_in, p, static_cast<const T*>(nullptr), keep_x != T(0),
                              dx + s * c_in * p);
      });
    }
    // dW = (X^T)^T dR over the samples' rows (dR built again, a block at a time)
    if (w.needed) {
      VAEGAN_PROFILE_SCOPE("conv_transpose2d weight grad", profile::layer(x.shape, n.shape),
                           conv_flops(g, s1 - s0, x.shape[1]), 0);
      T keep_w;
      T* dw = tape.grad_for_write(w, &keep_w);
      weight_grad_rows(g, dy, static_cast<const T*>(nullptr), n.saved.data(), c_in, s0, s1, dw, keep_w);
    }
  }

  static void backward_columns(Tape<T>& tape, Node<T>& n, const ConvGeometry& g, Index s0, Index s1) {
    Node<T>& x = tape.input(n, 0);
    Node<T>& w = tape.input(n, 1);
    const Index c_in = x.shape[1], k = g.window(), p = g.positions(), image = g.image_size();
    const T* dy = n.grad;
    const T* wv = w.value;
    T keep_x = T(0);
    T* dx = x.needed ? tape.grad_for_write_rows(x, s0, s1, &keep_x) : nullptr;
    if constexpr (kDirectColumns<T>) {
      if (direct_columns<T>(g)) {  // no dcol (conv_direct.hpp)
        if (dx != nullptr) {
          // dX_n = W im2col(dY_n)
          VAEGAN_PROFILE_SCOPE("conv_transpose2d input grad", profile::layer(x.shape, n.shape),
                               conv_flops(g, s1 - s0, c_in), 0);
          for_each_sample(s0, s1, c_in * p * k, false, [&](Index s) {
            direct_product(g, c_in, wv, dy + s * image, nullptr, dx + s * c_in * p, keep_x != T(0));
          });
        }
        if (w.needed) {
          // dW = sum_n x_n im2col(dY_n)^T
          VAEGAN_PROFILE_SCOPE("conv_transpose2d weight grad", profile::layer(x.shape, n.shape),
                               conv_flops(g, s1 - s0, c_in), 0);
          T keep_w;
          T* dw = tape.grad_for_write(w, &keep_w);
          n.saved.resize(Shape{direct_weight_grad_buffer(s1 - s0, c_in)});
          direct_weight_grad(g, c_in, x.value, c_in * p, dy, image, s0, s1, dw, keep_w != T(0), n.saved.data());
        }
        return;
      }
    }
    n.saved.resize(Shape{std::max<Index>(x.shape[0] * k * p, 1)});  // grows once
    T* dcol = n.saved.data();
    // dcol_n = im2col(dY_n); dX_n = W dcol_n
    VAEGAN_PROFILE_SCOPE("conv_transpose2d input grad", profile::layer(x.shape, n.shape),
                         x.needed ? conv_flops(g, s1 - s0, c_in) : 0, 0);
    for_each_sample(s0, s1, x.needed ? c_in * p * k : k * p, x.needed && !kUnpackedColumns<T>, [&](Index s) {
      T* dcol_s = dcol + s * k * p;
      im2col(g, dy + s * image, dcol_s);
      if (dx != nullptr)
        column_product(false, c_in, p, k, wv, dcol_s, dx + s * c_in * p, keep_x != T(0),
                       static_cast<const T*>(nullptr));
    });
    // dW = sum_n x_n dcol_n^T
    if (w.needed) {
      VAEGAN_PROFILE_SCOPE("conv_transpose2d weight grad", profile::layer(x.shape, n.shape),
                           conv_flops(g, s1 - s0, c_in), 0);
      T keep_w;
      T* dw = tape.grad_for_write(w, &keep_w);
      column_weight_grad(c_in, k, p, s0, s1, x.value, c_in * p, dcol, k * p, dw, keep_w);
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
  const Index out_h = detail::conv_output_size(xs[2], ws[2], stride, padding);
  const Index out_w = detail::conv_output_size(xs[3], ws[3], stride, padding);

  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("conv2d", &detail::Conv2dOp<T>::backward, Shape{xs[0], ws[0], out_h, out_w}, {x, w, b});
  n.attrs = ConvAttrs{stride, padding};
  detail::Conv2dOp<T>::forward(n, x.node(), w.node(), b.node());
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
  const Index height = detail::conv_transpose_output_size(xs[2], ws[2], stride, padding, output_padding);
  const Index width = detail::conv_transpose_output_size(xs[3], ws[3], stride, padding, output_padding);
  if (xs[2] < 1 || xs[3] < 1 || height < 1 || width < 1)
    throw ShapeError("conv_transpose2d: input " + xs.str() + " with kernel " + std::to_string(ws[2]) + " x " +
                     std::to_string(ws[3]) + ", stride " + std::to_string(stride) + ", padding " +
                     std::to_string(padding) + " gives an output of " + std::to_string(height) + " x " +
                     std::to_string(width));

  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("conv_transpose2d", &detail::ConvTranspose2dOp<T>::backward,
                           Shape{xs[0], ws[1], height, width}, {x, w, b});
  n.attrs = ConvAttrs{stride, padding};
  detail::ConvTranspose2dOp<T>::forward(n, x.node(), w.node(), b.node());
  return tape.last();
}

}  // namespace vaegan
