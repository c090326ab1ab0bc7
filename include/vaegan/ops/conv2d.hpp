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
// copy of dY added in backward; columns: col, and dcol added in backward) and per-thread
// scratch buffers for a chunk's pieces and a padded image, so a step that records the same
// ops again allocates nothing.
// Threads: row layout: chunks of samples run in parallel, each chunk's GEMMs serial; the
// weight gradient's blocks of channels run in parallel, each over the chunks in order.
// Column layout: when one sample's product is too small for gemm's own threads, the samples
// run in parallel, each on one thread; otherwise one after the other with gemm threading
// each; dW sums the samples in order. Chunks are fixed by the sizes, and every element is
// computed in the same order whatever the thread count, so results do not depend on it.
// Only the samples whose output gradient can be non-zero (tape.grad_rows) take part in the
// backward pass, as in linear().
#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/parallel.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/detail/gemm.hpp"

namespace vaegan {

namespace detail {

// The geometry of one im2row / row2im: an image of `channels` planes height x width, a
// kernel kh x kw moved with `stride` over the image padded by `padding`, giving out_h x
// out_w window positions. Row matrix: [out_h out_w, channels kh kw].
struct ConvGeometry {
  Index channels = 0, height = 0, width = 0;
  Index kh = 0, kw = 0, stride = 1, padding = 0;
  Index out_h = 0, out_w = 0;

  Index window() const { return channels * kh * kw; }  // K: the length of a row
  Index positions() const { return out_h * out_w; }    // P: rows per sample
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

  // The kernel offsets k in [lo, hi) whose pixel o stride - padding + k lies inside
  // [0, size) for window position o (of a kernel `extent` wide).
  std::pair<Index, Index> inside(Index o, Index size, Index extent) const {
    const Index first = o * stride - padding;
    return {std::clamp<Index>(-first, 0, extent), std::clamp<Index>(size - first, 0, extent)};
  }
};

// The row layout works on a zero-padded copy of one image, [C, height + 2p, width + 2p]
// (a per-thread scratch buffer, in L1 for the reference models): every window then lies
// inside it, so im2row is plain copies of kernel rows and row2im plain additions, without a
// bounds test per value (and the image itself is written once, without a zero-fill).
struct PaddedImage {
  Index height = 0, width = 0;  // padded sizes
  Index plane() const { return height * width; }
};
inline PaddedImage padded(const ConvGeometry& g) {
  // (out - 1) stride + kernel <= size + 2 padding for both ops' geometries; max() for safety.
  return {std::max(g.height + 2 * g.padding, (g.out_h - 1) * g.stride + g.kh),
          std::max(g.width + 2 * g.padding, (g.out_w - 1) * g.stride + g.kw)};
}

// pad = channels [c0, c1) of the image, zero-padded. The border of pad must be zero already
// (copies of other images of the same geometry leave it zero).
template <class T>
void copy_into_padded(const ConvGeometry& g, const PaddedImage& pd, const T* image, Index c0, Index c1, T* pad) {
  for (Index c = c0; c < c1; ++c)
    for (Index ih = 0; ih < g.height; ++ih) {
      // Rows of a few values: fixed-size copies of 4 (vector moves) instead of a memcpy call each.
      const T* from = image + (c * g.height + ih) * g.width;
      T* to = pad + (c - c0) * pd.plane() + (ih + g.padding) * pd.width + g.padding;
      Index iw = 0;
      for (; iw + 4 <= g.width; iw += 4) std::memcpy(to + iw, from + iw, 4 * sizeof(T));
      for (; iw < g.width; ++iw) to[iw] = from[iw];
    }
}

// rows [out_h out_w, C kh kw] = im2row of the padded image: row q = (oh, ow) holds, per
// channel c and kernel row i, the kw pixels (oh s + i, ow s + j) of pad. KW is the kernel
// width when known at compile time (4 for the reference models; one vector move), 0 when not.
template <int KW, class T>
void im2row_impl(const ConvGeometry& g, const PaddedImage& pd, Index channels, const T* pad, T* rows) {
  const Index kw = KW > 0 ? KW : g.kw, kh = g.kh;
  T* dst = rows;
  for (Index oh = 0; oh < g.out_h; ++oh)
    for (Index ow = 0; ow < g.out_w; ++ow) {
      const T* window = pad + oh * g.stride * pd.width + ow * g.stride;
      if constexpr (KW == 4) {
        if (kh == 4) {  // the reference models' 4 x 4 kernel: four vector moves per channel
          const Index w1 = pd.width, w2 = 2 * pd.width, w3 = 3 * pd.width;
          for (Index c = 0; c < channels; ++c, window += pd.plane(), dst += 16) {
            std::memcpy(dst, window, sizeof(T) * 4);
            std::memcpy(dst + 4, window + w1, sizeof(T) * 4);
            std::memcpy(dst + 8, window + w2, sizeof(T) * 4);
            std::memcpy(dst + 12, window + w3, sizeof(T) * 4);
          }
          continue;
        }
      }
      for (Index c = 0; c < channels; ++c, window += pd.plane())
        for (Index i = 0; i < kh; ++i, dst += kw) {
          if constexpr (KW > 0) std::memcpy(dst, window + i * pd.width, sizeof(T) * KW);
          else std::copy(window + i * pd.width, window + i * pd.width + kw, dst);
        }
    }
}

// pad += row2im(rows): the adjoint of im2row_impl. Windows of neighbouring positions
// overlap when kw > stride; the positions of one row of windows are visited in
// ceil(kw / stride) interleaved passes (every second one for k4 s2) so that consecutive
// read-add-writes of a pixel row never overlap (a load that overlaps a store still in
// flight waits for it: a store-forwarding stall).
template <int KW, class T>
void row2im_impl(const ConvGeometry& g, const PaddedImage& pd, const T* rows, T* pad) {
  const Index kw = KW > 0 ? KW : g.kw, kh = g.kh, k = g.window();
  const Index passes = std::max<Index>(1, (kw + g.stride - 1) / g.stride);
  for (Index oh = 0; oh < g.out_h; ++oh) {
    const T* row_block = rows + oh * g.out_w * k;  // the rows of this line of windows
    for (Index c = 0; c < g.channels; ++c)
      for (Index i = 0; i < kh; ++i) {
        T* line = pad + c * pd.plane() + (oh * g.stride + i) * pd.width;
        const T* src0 = row_block + (c * kh + i) * kw;
        for (Index pass = 0; pass < passes; ++pass)
          for (Index ow = pass; ow < g.out_w; ow += passes) {
            const T* src = src0 + ow * k;
            T* dst = line + ow * g.stride;
            if constexpr (KW > 0) {
              T v[KW];
              for (Index j = 0; j < KW; ++j) v[j] = dst[j] + src[j];
              for (Index j = 0; j < KW; ++j) dst[j] = v[j];
            } else {
              for (Index j = 0; j < kw; ++j) dst[j] += src[j];
            }
          }
      }
  }
}

// A per-thread scratch buffer of at least n values (grown, never shrunk: a repeated step
// allocates nothing). Slot 0 holds a chunk's products, slot 1 a padded image.
template <class T, int Slot>
T* conv_scratch(Index n) {
  thread_local Tensor<T> buffer;
  if (buffer.numel() < n) buffer.resize(Shape{n});
  return buffer.data();
}

// rows [P, L] = im2row of channels [c0, c1) of the images [a, e) (image s at images + s
// image_size, its rows at rows + (s - a) P L, L = (c1 - c0) kh kw: the columns
// [c0 kh kw, c1 kh kw) of the full rows), through this thread's padded buffer.
template <class T>
void im2row(const ConvGeometry& g, const T* images, Index a, Index e, Index c0, Index c1, T* rows) {
  const PaddedImage pd = padded(g);
  const Index channels = c1 - c0, length = channels * g.kh * g.kw;
  T* pad = conv_scratch<T, 1>(channels * pd.plane());
  std::fill(pad, pad + channels * pd.plane(), T(0));
  for (Index s = a; s < e; ++s) {
    copy_into_padded(g, pd, images + s * g.image_size(), c0, c1, pad);
    T* dst = rows + (s - a) * g.positions() * length;
    if (g.kw == 4) im2row_impl<4>(g, pd, channels, pad, dst);
    else im2row_impl<0>(g, pd, channels, pad, dst);
  }
}

// Implicit GEMM (PackedB::multiply_implicit): R's value (q, k) read in place from a padded
// image, at the window of position q plus the offset of kernel tap k. The offsets of the
// taps, k = (c kh + i) kw + j -> c plane + i width + j in a padded image, in the calling
// thread's buffer (grown once), read by the threads of the chunk loop.
inline const Index* tap_offsets(const ConvGeometry& g) {
  const PaddedImage pd = padded(g);
  thread_local std::vector<Index> offsets;
  offsets.resize(static_cast<std::size_t>(g.window()));
  for (Index c = 0; c < g.channels; ++c)
    for (Index i = 0; i < g.kh; ++i)
      for (Index j = 0; j < g.kw; ++j)
        offsets[static_cast<std::size_t>((c * g.kh + i) * g.kw + j)] = c * pd.plane() + i * pd.width + j;
  return offsets.data();
}

// The values of one zero-padded image.
inline Index padded_image_values(const ConvGeometry& g) { return g.channels * padded(g).plane(); }

// Zero-padded copies of the images [a, e) in `pads` (this thread's scratch when null), and per
// window position of those images (row (s - a) P + q) a pointer to its window in them (this
// thread's buffer).
template <class T>
const T* const* padded_windows(const ConvGeometry& g, const T* images, Index a, Index e, T* pads = nullptr) {
  const PaddedImage pd = padded(g);
  const Index size = g.channels * pd.plane(), p = g.positions();
  if (pads == nullptr) pads = conv_scratch<T, 1>((e - a) * size);
  std::fill(pads, pads + (e - a) * size, T(0));
  thread_local std::vector<const T*> windows;
  windows.resize(static_cast<std::size_t>((e - a) * p));
  for (Index s = a; s < e; ++s) {
    T* pad = pads + (s - a) * size;
    copy_into_padded(g, pd, images + s * g.image_size(), 0, g.channels, pad);
    for (Index oh = 0; oh < g.out_h; ++oh)
      for (Index ow = 0; ow < g.out_w; ++ow)
        windows[static_cast<std::size_t>((s - a) * p + oh * g.out_w + ow)] =
            pad + oh * g.stride * pd.width + ow * g.stride;
  }
  return windows.data();
}

// c [(e - a) P, n] = R op(W) for the images [a, e), R = im2row(images), op(W) the packed
// weight: implicit where it allows (R never built; the padded images go to `pads` when given),
// else through R built in `r` ((e - a) P K values of scratch).
template <class T>
void window_product(const ConvGeometry& g, const PackedB<T>& weight, const Index* offsets, const T* images, Index a,
                    Index e, T* r, T* c, Index ldc, T* pads = nullptr) {
  const Index rows = (e - a) * g.positions();
  if (offsets != nullptr) {
    weight.multiply_implicit(rows, padded_windows(g, images, a, e, pads), offsets, T(1), T(0), c, ldc);
    return;
  }
  im2row(g, images, a, e, 0, g.channels, r);
  weight.multiply(false, rows, r, g.window(), T(1), T(0), c, ldc);
}

// For the images [a, e): image = row2im(rows) (its rows at rows + (s - a) P K), combined
// with the image's old values as `mode` says: overwrite, add, or overwrite plus bias[c].
enum class Row2imMode { write, add, write_bias };
template <class T>
void row2im(const ConvGeometry& g, const T* rows, Index a, Index e, T* images, Row2imMode mode,
            const T* bias = nullptr) {
  const PaddedImage pd = padded(g);
  T* pad = conv_scratch<T, 1>(g.channels * pd.plane());
  for (Index s = a; s < e; ++s) {
    std::fill(pad, pad + g.channels * pd.plane(), T(0));
    const T* src = rows + (s - a) * g.positions() * g.window();
    if (g.kw == 4) row2im_impl<4>(g, pd, src, pad);
    else row2im_impl<0>(g, pd, src, pad);
    T* image = images + s * g.image_size();
    for (Index c = 0; c < g.channels; ++c) {
      const T b = mode == Row2imMode::write_bias ? bias[c] : T(0);
      for (Index ih = 0; ih < g.height; ++ih) {
        const T* from = pad + c * pd.plane() + (ih + g.padding) * pd.width + g.padding;
        T* to = image + (c * g.height + ih) * g.width;
        if (mode == Row2imMode::add)
          for (Index iw = 0; iw < g.width; ++iw) to[iw] += from[iw];
        else
          for (Index iw = 0; iw < g.width; ++iw) to[iw] = from[iw] + b;
      }
    }
  }
}

// col [C kh kw, out_h out_w] = im2col(image [C, height, width]).
template <class T>
void im2col_generic(const ConvGeometry& g, const T* image, T* col) {
  const Index ow_count = g.out_w, plane = g.height * g.width;
  for (Index c = 0; c < g.channels; ++c)
    for (Index i = 0; i < g.kh; ++i)
      for (Index j = 0; j < g.kw; ++j) {
        T* row = col + ((c * g.kh + i) * g.kw + j) * g.positions();
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
void col2im_add_generic(const ConvGeometry& g, const T* col, T* image) {
  const Index ow_count = g.out_w, plane = g.height * g.width;
  for (Index c = 0; c < g.channels; ++c)
    for (Index i = 0; i < g.kh; ++i)
      for (Index j = 0; j < g.kw; ++j) {
        const T* row = col + ((c * g.kh + i) * g.kw + j) * g.positions();
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

#ifdef __AVX512F__
// im2col and col2im for float, stride 2, images at most 32 wide and at most 16 window
// positions per row (the 28 x 28 images of the reference models): one output row of a
// kernel tap (lanes ow <- image column 2 ow - p + j) is a permutation of the two vectors
// that hold an image row, so each (channel, kernel row, output row) costs two loads and
// then one permute and one store per kernel column, where the generic loops make out_w
// strided scalar copies.
inline bool col_vector_suits(const ConvGeometry& g) {
  return g.stride == 2 && g.width <= 32 && g.out_w <= 16 && g.kw <= 16;
}

inline void im2col_s2(const ConvGeometry& g, const float* image, float* col) {
  const Index plane = g.height * g.width, p = g.positions();
  const __mmask16 out = avx512::lanes(g.out_w), m0 = avx512::lanes(g.width), m1 = avx512::lanes(g.width - 16);
  __m512i index[16];
  __mmask16 valid[16];
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  for (Index j = 0; j < g.kw; ++j) {
    index[j] = _mm512_add_epi32(even, _mm512_set1_epi32(static_cast<int>(j - g.padding)));
    valid[j] =
        static_cast<__mmask16>(_mm512_cmpge_epi32_mask(index[j], _mm512_setzero_si512()) &
                               _mm512_cmplt_epi32_mask(index[j], _mm512_set1_epi32(static_cast<int>(g.width))) & out);
  }
  for (Index c = 0; c < g.channels; ++c)
    for (Index i = 0; i < g.kh; ++i) {
      float* taps = col + (c * g.kh + i) * g.kw * p;  // rows (c, i, j) of col, p apart
      for (Index oh = 0; oh < g.out_h; ++oh) {
        const Index ih = oh * 2 - g.padding + i;
        float* dst = taps + oh * g.out_w;
        if (ih < 0 || ih >= g.height) {
          for (Index j = 0; j < g.kw; ++j) _mm512_mask_storeu_ps(dst + j * p, out, _mm512_setzero_ps());
          continue;
        }
        const float* row = image + c * plane + ih * g.width;
        const __m512 v0 = _mm512_maskz_loadu_ps(m0, row), v1 = _mm512_maskz_loadu_ps(m1, row + 16);
        for (Index j = 0; j < g.kw; ++j)
          _mm512_mask_storeu_ps(dst + j * p, out, _mm512_maskz_permutex2var_ps(valid[j], v0, index[j], v1));
      }
    }
}

inline void col2im_add_s2(const ConvGeometry& g, const float* col, float* image) {
  const Index plane = g.height * g.width, p = g.positions();
  const __mmask16 out = avx512::lanes(g.out_w), m0 = avx512::lanes(g.width), m1 = avx512::lanes(g.width - 16);
  // Image lane k (of the row's two vectors) receives output lane (k + p - j) / 2 of tap j
  // when k + p - j is even and that lane is a window position.
  __m512i index[16][2];
  __mmask16 valid[16][2];
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  for (Index j = 0; j < g.kw; ++j)
    for (int half = 0; half < 2; ++half) {
      const __m512i shifted = _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(16 * half + g.padding - j)));
      const __m512i ow = _mm512_srai_epi32(shifted, 1);
      index[j][half] = ow;
      valid[j][half] = static_cast<__mmask16>(
          _mm512_cmpeq_epi32_mask(_mm512_and_si512(shifted, _mm512_set1_epi32(1)), _mm512_setzero_si512()) &
          _mm512_cmpge_epi32_mask(shifted, _mm512_setzero_si512()) &
          _mm512_cmplt_epi32_mask(ow, _mm512_set1_epi32(static_cast<int>(g.out_w))));
    }
  for (Index c = 0; c < g.channels; ++c)
    for (Index i = 0; i < g.kh; ++i) {
      const float* taps = col + (c * g.kh + i) * g.kw * p;
      for (Index oh = 0; oh < g.out_h; ++oh) {
        const Index ih = oh * 2 - g.padding + i;
        if (ih < 0 || ih >= g.height) continue;
        __m512 r0 = _mm512_setzero_ps(), r1 = _mm512_setzero_ps();
        for (Index j = 0; j < g.kw; ++j) {
          const __m512 t = _mm512_maskz_loadu_ps(out, taps + j * p + oh * g.out_w);
          r0 = _mm512_add_ps(r0, _mm512_maskz_permutexvar_ps(valid[j][0], index[j][0], t));
          r1 = _mm512_add_ps(r1, _mm512_maskz_permutexvar_ps(valid[j][1], index[j][1], t));
        }
        float* row = image + c * plane + ih * g.width;
        _mm512_mask_storeu_ps(row, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, row), r0));
        _mm512_mask_storeu_ps(row + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, row + 16), r1));
      }
    }
}
#endif

// col = im2col(image) and image += col2im(col), through the vector versions where they suit.
template <class T>
void im2col(const ConvGeometry& g, const T* image, T* col) {
#ifdef __AVX512F__
  if constexpr (std::is_same_v<T, float>) {
    if (col_vector_suits(g)) {
      im2col_s2(g, image, col);
      return;
    }
  }
#endif
  im2col_generic(g, image, col);
}
template <class T>
void col2im_add(const ConvGeometry& g, const T* col, T* image) {
#ifdef __AVX512F__
  if constexpr (std::is_same_v<T, float>) {
    if (col_vector_suits(g)) {
      col2im_add_s2(g, col, image);
      return;
    }
  }
#endif
  col2im_add_generic(g, col, image);
}

// Calls f(s) for the samples s in [begin, end). `work` is the multiply-adds of f's product
// per sample. When that product is a detail::gemm (gemm_threads), it threads itself from
// kGemmParallelWork on: above that the samples run one after another (no nested thread
// teams); otherwise (and always for a serial product) the samples run in parallel.
template <class F>
void for_each_sample(Index begin, Index end, Index work, bool gemm_threads, F&& f) {
  if (gemm_threads && work >= kGemmParallelWork) {
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

// Values of a row matrix per chunk of samples: an L2-sized piece (256 KiB of float), so
// the rows a chunk's GEMM writes are still in cache when row2im reads them, and the rows
// im2row writes when the GEMM packs them.
constexpr Index kConvChunkValues = Index{1} << 16;

// Samples per chunk for rows of `per_sample` values: about kConvChunkValues values, and at
// least 8 chunks when the batch allows, so the threads share them evenly. Depends on the
// sizes only, never on the thread count (so neither do the results).
inline Index samples_per_chunk(Index batch, Index per_sample) {
  const Index by_size = std::max<Index>(1, kConvChunkValues / std::max<Index>(per_sample, 1));
  return std::max<Index>(1, std::min(by_size, batch / 8));
}

// Calls f(a, b) for the consecutive chunks [a, b) of `chunk` samples that cover [begin, end),
// the chunks in parallel (each on one thread).
template <class F>
void for_sample_chunks(Index begin, Index end, Index chunk, F&& f) {
  const Index count = (end - begin + chunk - 1) / chunk;
  parallel_for(
      count,
      [&](Index c0, Index c1) {
        for (Index c = c0; c < c1; ++c) f(begin + c * chunk, std::min(end, begin + (c + 1) * chunk));
      },
      1);
}

// Calls f(s) for the samples s in [begin, end), in parallel over fixed chunks of samples
// (about kParallelGrain values of `per_sample` each).
template <class F>
void for_samples(Index begin, Index end, Index per_sample, F&& f) {
  const Index grain = std::max<Index>(1, kParallelGrain / std::max<Index>(per_sample, 1));
  parallel_for(
      end - begin,
      [&](Index s0, Index s1) {
        for (Index s = s0; s < s1; ++s) f(begin + s);
      },
      grain);
}

// The layout copies below go through 16 x 16 blocks: both sides then touch whole cache
// lines, where an element-wise transpose writes one value per line per pass (for a buffer
// not in cache, a read-for-ownership miss per store).
constexpr Index kTransposeBlock = 16;

// xt [P, C] = x [C, P]^T for one sample (NCHW -> NHWC).
template <class T>
void to_position_major(const T* x, Index channels, Index plane, T* xt) {
  constexpr Index B = kTransposeBlock;
  for (Index q0 = 0; q0 < plane; q0 += B) {
    const Index q1 = std::min(plane, q0 + B);
    for (Index c0 = 0; c0 < channels; c0 += B) {
      const Index c1 = std::min(channels, c0 + B);
      for (Index q = q0; q < q1; ++q)
        for (Index c = c0; c < c1; ++c) xt[q * channels + c] = x[c * plane + q];
    }
  }
}

// y [C, P] = xt [P, C]^T (+ bias per channel, when given) for one sample (NHWC -> NCHW);
// with accumulate, y += instead.
template <class T>
void from_position_major(const T* xt, Index channels, Index plane, const T* bias, bool accumulate, T* y) {
  constexpr Index B = kTransposeBlock;
  for (Index c0 = 0; c0 < channels; c0 += B) {
    const Index c1 = std::min(channels, c0 + B);
    for (Index q0 = 0; q0 < plane; q0 += B) {
      const Index q1 = std::min(plane, q0 + B);
      for (Index c = c0; c < c1; ++c) {
        T* row = y + c * plane;
        if (accumulate) {
          for (Index q = q0; q < q1; ++q) row[q] += xt[q * channels + c];
        } else {
          const T b = bias != nullptr ? bias[c] : T(0);
          for (Index q = q0; q < q1; ++q) row[q] = xt[q * channels + c] + b;
        }
      }
    }
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

// Columns of R per block of the weight gradient (whole channels): about 256.
constexpr Index kWeightGradColumns = 256;

// weight_grad_rows through the implicit kernel: dW^T [K, m] = sum over chunks of R^T A, with
// R^T's element (tap t, row r of the chunk) read in place from the chunk's padded images
// (window pointer: tap t's place in them; offset: row r's window), A's rows packed as B.
// Neither R nor its packed copy is built (1.6 M values each per batch for conv2 of the conv
// preset; A packed is 15 times smaller), and the 512 taps give full 12-row strips where
// dW's 64 rows ended in a 4-row one. Blocks of taps (whole channels) run in parallel, each
// over the chunks in order, as in weight_grad_rows.
template <class T>
void weight_grad_implicit(const ConvGeometry& g, const T* images, const T* padded_images, const T* a, Index m, Index s0,
                          Index s1, Index block_channels, Index chunk, T* dw, T keep) {
  const Index k = g.window(), per_channel = g.kh * g.kw, p = g.positions();
  const PaddedImage pd = padded(g);
  const Index blocks = (g.channels + block_channels - 1) / block_channels;
  T* dwt = conv_scratch<T, 2>(k * m);  // dW^T, on this thread: the blocks write its rows
  parallel_for(
      blocks,
      [&](Index b0, Index b1) {
        for (Index block = b0; block < b1; ++block) {
          const Index c0 = block * block_channels, c1 = std::min(g.channels, c0 + block_channels);
          const Index taps = (c1 - c0) * per_channel;
          // The chunk's padded images: the forward pass's copies when kept, else this block's
          // channels copied here.
          const Index size = padded_images != nullptr ? padded_image_values(g) : (c1 - c0) * pd.plane();
          T* pads = padded_images != nullptr ? nullptr : conv_scratch<T, 1>(chunk * size);
          const Index channel0 = padded_images != nullptr ? c0 : 0;
          thread_local std::vector<const T*> windows;
          thread_local std::vector<Index> offsets;
          windows.resize(static_cast<std::size_t>(taps));
          offsets.resize(static_cast<std::size_t>(chunk * p));
          for (Index s = 0; s < chunk; ++s)
            for (Index oh = 0; oh < g.out_h; ++oh)
              for (Index ow = 0; ow < g.out_w; ++ow)
                offsets[static_cast<std::size_t>((s * g.out_h + oh) * g.out_w + ow)] =
                    s * size + oh * g.stride * pd.width + ow * g.stride;
          for (Index first = s0; first < s1; first += chunk) {
            const Index last = std::min(s1, first + chunk);
            const T* base = padded_images != nullptr ? padded_images + first * size : pads;
            if (padded_images == nullptr) {
              std::fill(pads, pads + (last - first) * size, T(0));
              for (Index s = first; s < last; ++s)
                copy_into_padded(g, pd, images + s * g.image_size(), c0, c1, pads + (s - first) * size);
            }
            for (Index c = 0; c < c1 - c0; ++c)
              for (Index i = 0; i < g.kh; ++i)
                for (Index j = 0; j < g.kw; ++j)
                  windows[static_cast<std::size_t>((c * g.kh + i) * g.kw + j)] =
                      base + (channel0 + c) * pd.plane() + i * pd.width + j;
            const PackedB<T> rows_of_a(false, m, (last - first) * p, a + first * p * m, m);
            rows_of_a.multiply_implicit(taps, windows.data(), offsets.data(), T(1), first == s0 ? T(0) : T(1),
                                        dwt + c0 * per_channel * m, m);
          }
        }
      },
      1);
  for (Index i = 0; i < m; ++i)
    for (Index t = 0; t < k; ++t) dw[i * k + t] = keep == T(0) ? dwt[t * m + i] : dw[i * k + t] + dwt[t * m + i];
}

// dW [m, K] = (keep ? dW : 0) + sum over the samples s in [s0, s1) of A_s^T R_s, with
// R_s = im2row(image s) [P, K] and A_s the position-major rows [P, m] of sample s in `a`.
// R is never stored: blocks of whole channels (about kWeightGradColumns columns of R and of
// dW) run in parallel, each building its columns of R a chunk of samples at a time in the
// thread's scratch and adding the chunks' products in order. Blocks and chunks are fixed by
// the sizes, so each dW element is the same sum whatever the thread count.
template <class T>
void weight_grad_rows(Tape<T>& tape, Node<T>& w, const ConvGeometry& g, const T* images, const T* padded_images,
                      const T* a, Index m, Index s0, Index s1) {
  T keep;
  T* dw = tape.grad_for_write(w, &keep);
  if (s0 == s1) {
    if (keep == T(0)) std::fill(dw, dw + w.numel(), T(0));
    return;
  }
  const Index k = g.window(), per_channel = g.kh * g.kw, p = g.positions();
  const Index block_channels = std::max<Index>(1, kWeightGradColumns / per_channel);
  const Index blocks = (g.channels + block_channels - 1) / block_channels;
  const Index chunk = std::max<Index>(1, kConvChunkValues / (p * block_channels * per_channel));
  if (PackedB<T>::implicit_for(m)) {
    weight_grad_implicit(g, images, padded_images, a, m, s0, s1, block_channels, chunk, dw, keep);
    return;
  }
  parallel_for(
      blocks,
      [&](Index b0, Index b1) {
        for (Index block = b0; block < b1; ++block) {
          const Index c0 = block * block_channels, c1 = std::min(g.channels, c0 + block_channels);
          const Index cols = (c1 - c0) * per_channel;
          const GemmKernel kernel = gemm_kernel_for<T>(m, cols);
          T* r = conv_scratch<T, 0>(chunk * p * cols);
          for (Index first = s0; first < s1; first += chunk) {
            const Index last = std::min(s1, first + chunk);
            im2row(g, images, first, last, c0, c1, r);
            gemm_serial(kernel, true, false, m, cols, (last - first) * p, T(1), a + first * p * m, m, r, cols,
                        first == s0 ? keep : T(1), dw + c0 * per_channel, k);
          }
        }
      },
      1);
}

// The column layout's per-sample products. On AVX-512 builds, float runs them with the
// unpacked kernels of detail/gemm_avx512.hpp (small_nn, small_nt: operands read in place,
// no packing, which would cost as much as the product for k = 16), always one sample per
// thread; elsewhere with gemm.
#ifdef __AVX512F__
template <class T>
constexpr bool kUnpackedColumns = std::is_same_v<T, float>;
#else
template <class T>
constexpr bool kUnpackedColumns = false;
#endif

// C[m, n] = op(A) B (+ C when accumulate, + bias[i] per row when bias), op(A) = A [m, k] or,
// with trans_a, A^T of A [k, m]; B [k, n] and C [m, n] row-major.
template <class T>
void column_product(bool trans_a, Index m, Index n, Index k, const T* a, const T* b, T* c, bool accumulate,
                    const T* bias) {
#ifdef __AVX512F__
  if constexpr (std::is_same_v<T, float>) {
    avx512::small_nn(m, n, k, a, trans_a ? 1 : k, trans_a ? m : 1, b, n, c, n, accumulate, bias);
    return;
  }
#endif
  gemm<T>(trans_a, false, m, n, k, T(1), a, trans_a ? m : k, b, n, accumulate ? T(1) : T(0), c, n);
  if (bias != nullptr) add_channel_bias(c, bias, m, n);
}

// dW [m, n] = (keep ? dW : 0) + sum over the samples s in [s0, s1) of A_s B_s^T, with
// A_s = a + s a_step ([m, len]) and B_s = b + s b_step ([n, len]), rows len apart. The
// AVX-512 kernel runs tiles of dW in parallel, each summing over every sample in order;
// elsewhere one gemm per sample, in order.
template <class T>
void column_weight_grad(Tape<T>& tape, Node<T>& w, Index m, Index n, Index len, Index s0, Index s1, const T* a,
                        Index a_step, const T* b, Index b_step) {
  T keep;
  T* dw = tape.grad_for_write(w, &keep);
  if (s0 == s1) {
    if (keep == T(0)) std::fill(dw, dw + w.numel(), T(0));
    return;
  }
#ifdef __AVX512F__
  if constexpr (std::is_same_v<T, float>) {
    parallel_for(
        avx512::small_nt_tiles(m, n),
        [&](Index t0, Index t1) {
          avx512::small_nt(t0, t1, m, n, len, s1 - s0, a + s0 * a_step, len, a_step, b + s0 * b_step, len, b_step, dw,
                           n, keep != T(0));
        },
        1);
    return;
  }
#endif
  for (Index s = s0; s < s1; ++s)
    gemm<T>(false, true, m, n, len, T(1), a + s * a_step, len, b + s * b_step, len, s == s0 ? keep : T(1), dw, n);
}

// ---- conv2d's input gradient by stride phases ----------------------------------------------
// dX = row2im(dY^T W) makes the GEMM write K = C_in kh kw values per window position and
// row2im add them back into the image: for conv2 of the conv preset, 1.6 M values per
// batch of 64 through memory, an eighth of the layer's time. The same dX, gathered instead:
// a pixel y (one axis; the other is alike) is read by the taps i with y + p - i = oh s, so
// the pixels of one phase y = m s + a share their taps, i = i0 + t s (i0 = (a + p) mod s,
// t < T = ceil((kh - i0) / s)), at the window positions oh = m + d0 - t (d0 = (a + p - i0) / s).
// Per phase (a, b), dX is then a stride-1 correlation of dY with those taps:
//   dX^T[(m, n), c] = sum over (co, ti, tj) of dYpad[co, m + ti + top_a, n + tj + left_b]
//                                              W[co, c, i0 + (T - 1 - ti) s, j0 + (U - 1 - tj) s]
// an implicit GEMM over one zero-padded copy of dY (positions outside [0, out) read zeros),
// whose output is dX's pixels of that phase, C_in wide: no row2im. Same products, same
// multiply-adds; each pixel's sum in another order than row2im's (tests compare with double).
// Used where the implicit kernel runs and C_in fills its 32-wide tiles (at most a fifth of
// the columns wasted); elsewhere the row2im path.

// One axis of the phases: for pixel phase a (pixels a, a + s, ...), its first tap i0, its
// tap count, the window shift d0, and how many pixels it has.
struct PhaseAxis {
  Index first_tap = 0, taps = 0, shift = 0, pixels = 0;
};
inline PhaseAxis phase_axis(Index a, Index kernel, Index stride, Index padding, Index size) {
  PhaseAxis ax;
  ax.first_tap = (a + padding) % stride;
  ax.taps = ax.first_tap < kernel ? (kernel - ax.first_tap + stride - 1) / stride : 0;
  ax.shift = (a + padding - ax.first_tap) / stride;
  ax.pixels = a < size ? (size - a + stride - 1) / stride : 0;
  return ax;
}

// The zero border dY needs on each side of one axis so that every phase's windows lie inside:
// before: taps - 1 - shift; after: pixels - 1 + shift - (out - 1).
inline std::pair<Index, Index> phase_border(Index kernel, Index stride, Index padding, Index size, Index out) {
  Index before = 0, after = 0;
  for (Index a = 0; a < stride; ++a) {
    const PhaseAxis ax = phase_axis(a, kernel, stride, padding, size);
    if (ax.taps == 0 || ax.pixels == 0) continue;
    before = std::max(before, ax.taps - 1 - ax.shift);
    after = std::max(after, ax.pixels - 1 + ax.shift - (out - 1));
  }
  return {before, after};
}

template <class T>
bool input_grad_by_phases(const ConvGeometry& g) {
#ifdef __AVX512F__
  if constexpr (std::is_same_v<T, float>) {
    const Index c_in = g.channels, tiles = (c_in + avx512::kTileCols - 1) / avx512::kTileCols;
    return gemm_kernel_for<T>(avx512::kTileRows, c_in) == GemmKernel::avx512 &&
           5 * tiles * avx512::kTileCols <= 6 * c_in;
  }
#endif
  (void)g;
  return false;
}

// The padded copy of dY the phases read: [C_out, out_h + top + bottom, out_w + left + right]
// per sample, dY in it at (top, left).
struct PaddedGrad {
  Index top = 0, left = 0, height = 0, width = 0, size = 0;
};
inline PaddedGrad padded_grad(const ConvGeometry& g, Index c_out) {
  const auto [top, bottom] = phase_border(g.kh, g.stride, g.padding, g.height, g.out_h);
  const auto [left, right] = phase_border(g.kw, g.stride, g.padding, g.width, g.out_w);
  PaddedGrad pg;
  pg.top = top;
  pg.left = left;
  pg.height = g.out_h + top + bottom;
  pg.width = g.out_w + left + right;
  pg.size = c_out * pg.height * pg.width;
  return pg;
}

// The size of the padded copy of dY for `samples` samples.
inline Index padded_values_for_phases(const ConvGeometry& g, Index c_out, Index samples) {
  return samples * padded_grad(g, c_out).size;
}

// Every phase's axes and weight: phase f = a st + b (pixels (a, b) mod st). Its weight
// [K_f, C_in], K_f = C_out T U, is rows [start(f), start(f + 1)) of `weights`, in the tap
// order (co, ti, tj) of its windows, and offset[r] is tap r's place in a padded dY image.
// Built once per backward pass, in the calling thread's buffers.
template <class T>
struct PhaseWeights {
  const PhaseAxis* axes;  // rows and columns of phase f at 2 f and 2 f + 1
  const Index* starts;
  const Index* offsets;
  T* weights;
  const PhaseAxis& rows(Index f) const { return axes[2 * f]; }
  const PhaseAxis& cols(Index f) const { return axes[2 * f + 1]; }
  Index start(Index f) const { return starts[f]; }
};

template <class T>
PhaseWeights<T> phase_weights(const ConvGeometry& g, const PaddedGrad& pg, const T* w, Index c_out) {
  const Index c_in = g.channels, st = g.stride, kk = g.kh * g.kw, phases = st * st;
  thread_local std::vector<PhaseAxis> axes;
  thread_local std::vector<Index> starts, offsets;
  axes.resize(static_cast<std::size_t>(2 * phases));
  starts.assign(static_cast<std::size_t>(phases + 1), 0);
  for (Index f = 0; f < phases; ++f) {
    const PhaseAxis rows = phase_axis(f / st, g.kh, st, g.padding, g.height);
    const PhaseAxis cols = phase_axis(f % st, g.kw, st, g.padding, g.width);
    axes[static_cast<std::size_t>(2 * f)] = rows;
    axes[static_cast<std::size_t>(2 * f + 1)] = cols;
    starts[static_cast<std::size_t>(f + 1)] = starts[static_cast<std::size_t>(f)] + c_out * rows.taps * cols.taps;
  }
  const Index total = starts[static_cast<std::size_t>(phases)];
  offsets.resize(static_cast<std::size_t>(std::max<Index>(total, 1)));
  PhaseWeights<T> pw{axes.data(), starts.data(), offsets.data(), conv_scratch<T, 2>(std::max<Index>(total * c_in, 1))};
  for (Index f = 0; f < phases; ++f) {
    const PhaseAxis& rows = pw.rows(f);
    const PhaseAxis& cols = pw.cols(f);
    for (Index co = 0; co < c_out; ++co)
      for (Index ti = 0; ti < rows.taps; ++ti)
        for (Index tj = 0; tj < cols.taps; ++tj) {
          const Index r = pw.start(f) + (co * rows.taps + ti) * cols.taps + tj;
          const Index i = rows.first_tap + (rows.taps - 1 - ti) * st, j = cols.first_tap + (cols.taps - 1 - tj) * st;
          for (Index c = 0; c < c_in; ++c) pw.weights[r * c_in + c] = w[(co * c_in + c) * kk + i * g.kw + j];
          offsets[static_cast<std::size_t>(r)] = (co * pg.height + ti) * pg.width + tj;
        }
  }
  return pw;
}

// pad = sample s of dy [N, C_out, out_h, out_w], zero-padded as pg says.
template <class T>
void pad_output_grad(const ConvGeometry& g, const PaddedGrad& pg, Index c_out, const T* dy, Index s, T* pad) {
  std::fill(pad, pad + pg.size, T(0));
  for (Index c = 0; c < c_out; ++c)
    for (Index oh = 0; oh < g.out_h; ++oh)
      std::copy_n(dy + ((s * c_out + c) * g.out_h + oh) * g.out_w, g.out_w,
                  pad + (c * pg.height + oh + pg.top) * pg.width + pg.left);
}

// dX's pixels of phase (a, b) of sample s (`image`, [C_in, H, W]) = (or += when accumulate)
// `from`, the phase's dX^T [positions, C_in], a row of the phase at a time (its values for
// every channel in L1).
template <class T>
void write_phase_pixels(const ConvGeometry& g, const PhaseAxis& rows, const PhaseAxis& cols, Index a, Index b,
                        const T* from, bool accumulate, T* image) {
  const Index c_in = g.channels, st = g.stride, plane = g.height * g.width;
  for (Index m = 0; m < rows.pixels; ++m) {
    const T* row = from + m * cols.pixels * c_in;
    T* line = image + (m * st + a) * g.width + b;
    for (Index c = 0; c < c_in; ++c, line += plane)
      for (Index q = 0; q < cols.pixels; ++q) {
        const T v = row[q * c_in + c];
        line[q * st] = accumulate ? line[q * st] + v : v;
      }
  }
}

// dx (images [s0, s1) of g's geometry; written, or added to when accumulate) = conv2d's input
// gradient for the output gradient dy [N, C_out, out_h, out_w] and weight w [C_out, C_in, kh, kw],
// by phases (above). `padded`: padded_values_for_phases(g, C_out, s1 - s0) values of scratch.
template <class T>
void input_grad_phases(const ConvGeometry& g, const T* w, Index c_out, const T* dy, Index s0, Index s1, T* dx,
                       bool accumulate, T* padded) {
  const Index c_in = g.channels, st = g.stride, kk = g.kh * g.kw, plane = g.height * g.width;
  const PaddedGrad pg = padded_grad(g, c_out);
  const PhaseWeights<T> phases = phase_weights(g, pg, w, c_out);
  // Each phase writes every st-th pixel of dX's lines: the samples go in groups whose dX and
  // padded dY stay in L2 (about 512 KiB) while the phases run over them one after another
  // (phase by phase over the whole batch, dX's lines would go through memory st^2 times).
  // The threads take chunks of a group: about an L2's rows of the average phase.
  const Index chunk = samples_per_chunk(s1 - s0, plane * c_out * kk / (st * st * st * st));
  const Index group = std::max(chunk, 2 * kConvChunkValues / (c_in * plane + pg.size) / chunk * chunk);
  for (Index g0 = s0; g0 < s1; g0 += group) {
    const Index g1 = std::min(s1, g0 + group);
    for_samples(g0, g1, pg.size, [&](Index s) { pad_output_grad(g, pg, c_out, dy, s, padded + (s - s0) * pg.size); });
    for (Index f = 0; f < st * st; ++f) {
      const Index a = f / st, b = f % st;
      const PhaseAxis& rows = phases.rows(f);
      const PhaseAxis& cols = phases.cols(f);
      if (rows.pixels == 0 || cols.pixels == 0) continue;
      const Index positions = rows.pixels * cols.pixels;
      if (rows.taps == 0 || cols.taps == 0) {  // pixels no window reads (stride larger than kernel)
        if (!accumulate)
          for_samples(g0, g1, c_in * positions, [&](Index s) {
            for (Index c = 0; c < c_in; ++c)
              for (Index m = 0; m < rows.pixels; ++m)
                for (Index q = 0; q < cols.pixels; ++q)
                  dx[(s * c_in + c) * plane + (m * st + a) * g.width + q * st + b] = T(0);
          });
        continue;
      }
      const PackedB<T> packed(false, c_in, phases.start(f + 1) - phases.start(f),
                              phases.weights + phases.start(f) * c_in, c_in);
      const Index* offset = phases.offsets + phases.start(f);
      // Window (m, n) starts at padded row m + shift - (T - 1) + top (likewise columns).
      const Index row0 = rows.shift - (rows.taps - 1) + pg.top, col0 = cols.shift - (cols.taps - 1) + pg.left;
      for_sample_chunks(g0, g1, chunk, [&](Index first, Index last) {
        const Index count = (last - first) * positions;
        thread_local std::vector<const T*> windows;
        windows.resize(static_cast<std::size_t>(count));
        for (Index s = first; s < last; ++s)
          for (Index m = 0; m < rows.pixels; ++m)
            for (Index q = 0; q < cols.pixels; ++q)
              windows[static_cast<std::size_t>((s - first) * positions + m * cols.pixels + q)] =
                  padded + (s - s0) * pg.size + (m + row0) * pg.width + q + col0;
        T* out = conv_scratch<T, 0>(count * c_in);
        packed.multiply_implicit(count, windows.data(), offset, T(1), T(0), out, c_in);
        for (Index s = first; s < last; ++s)
          write_phase_pixels(g, rows, cols, a, b, out + (s - first) * positions * c_in, accumulate,
                             dx + s * c_in * plane);
      });
    }
  }
}

// The layout a convolution's products use (see the top of this file): rows when a window
// holds more values than the small-grid side has channels (C_out for conv2d, C_in for
// conv_transpose2d), columns otherwise.
inline bool use_rows(const ConvGeometry& g, Index small_channels) { return g.window() > small_channels; }

// Stride and padding are the node's own fields (node.stride, node.padding).
// inputs: x, w, b; saved: rows: dY^T [N P, C_out] in backward; columns: col [N, K, P],
// then dcol [N, K, P] in backward once dX is asked for.
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

  // Whether the row layout's forward pass keeps the padded copies of x in `saved`: where its
  // product is implicit (the weight's width C_out decides).
  static bool keeps_padded_input(Index c_out) { return PackedB<T>::implicit_for(c_out); }

  static void forward(Node<T>& n, const Node<T>& x, const Node<T>& w, const Node<T>& b) {
    const ConvGeometry g = geometry(x, w, n);
    const Index batch = x.shape[0], c_out = w.shape[0], k = g.window(), p = g.positions(), image = g.image_size();
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
        for (Index s = a; s < e; ++s)
          from_position_major(yt + (s - a) * p * c_out, c_out, p, bias, false, y + s * c_out * p);
      });
      return;
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
    if (b.needed) channel_bias_grad(tape, b, n.grad, s0, s1, c_out, p);
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
    for_samples(s0, s1, c_out * p,
                [&](Index s) { to_position_major(dy + s * c_out * p, c_out, p, dyt + s * p * c_out); });
    // dW = (dY^T)^T R over the samples' rows
    if (w.needed) weight_grad_rows(tape, w, g, x.value, padded_x, dyt, c_out, s0, s1);
    if (!x.needed) return;
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
    const Index batch = x.shape[0], c_out = w.shape[0], k = g.window(), p = g.positions();
    const T* dy = n.grad;
    if (x.needed) n.saved.resize(Shape{2 * batch * k * p});  // grows once; keeps col
    const T* col = n.saved.data();
    // dW = sum_n dY_n col_n^T
    if (w.needed) column_weight_grad(tape, w, c_out, k, p, s0, s1, dy, c_out * p, col, k * p);
    if (!x.needed) return;
    // dX_n = col2im(W^T dY_n), samples [s0, s1) only
    T keep;
    T* dx = tape.grad_for_write_rows(x, s0, s1, &keep);
    T* dcol = n.saved.data() + batch * k * p;
    const T* wv = w.value;
    const Index image = g.image_size();
    for_each_sample(s0, s1, k * p * c_out, !kUnpackedColumns<T>, [&](Index s) {
      T* dcol_s = dcol + s * k * p;
      column_product(true, k, p, c_out, wv, dy + s * c_out * p, dcol_s, false, static_cast<const T*>(nullptr));
      T* dx_s = dx + s * image;
      if (keep == T(0)) std::fill(dx_s, dx_s + image, T(0));
      col2im_add(g, dcol_s, dx_s);
    });
  }
};

// inputs: x, w, b; saved: rows: X^T [N P, C_in]; columns:
// col [N, K, P], reused for dcol in backward. The geometry is the conv one over the output
// image (see the top of this file).
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

  static void forward(Node<T>& n, const Node<T>& x, const Node<T>& w, const Node<T>& b) {
    const ConvGeometry g = geometry(x, w, n);
    const Index batch = x.shape[0], c_in = x.shape[1], c_out = g.channels, k = g.window(), p = g.positions();
    const Index image = g.image_size(), plane = g.height * g.width;
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
        for (Index s = a; s < e; ++s) to_position_major(xv + s * c_in * p, c_in, p, xt + s * p * c_in);
        T* r = conv_scratch<T, 0>((e - a) * p * k);
        weight.multiply(false, (e - a) * p, xt + a * p * c_in, c_in, T(1), T(0), r, k);
        row2im(g, r, a, e, y, Row2imMode::write_bias, bias);
      });
      return;
    }
    n.saved.resize(Shape{std::max<Index>(batch * k * p, 1)});
    T* col = n.saved.data();
    // col_n = W^T x_n; y_n = col2im(col_n) + b
    for_each_sample(0, batch, k * p * c_in, !kUnpackedColumns<T>, [&](Index s) {
      T* col_s = col + s * k * p;
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
    if (b.needed) channel_bias_grad(tape, b, n.grad, s0, s1, g.channels, g.height * g.width);
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
      T keep_x;
      T* dx = tape.grad_for_write_rows(x, s0, s1, &keep_x);
      const PackedB<T> weight_t(true, c_in, k, w.value, k);
      const Index* offsets = weight_t.implicit() ? tap_offsets(g) : nullptr;
      for_sample_chunks(s0, s1, samples_per_chunk(batch, p * k), [&](Index a, Index e) {
        T* dxt = conv_scratch<T, 0>((e - a) * p * (c_in + (offsets != nullptr ? 0 : k)));
        window_product(g, weight_t, offsets, dy, a, e, dxt + (e - a) * p * c_in, dxt, c_in);
        for (Index s = a; s < e; ++s)
          from_position_major(dxt + (s - a) * p * c_in, c_in, p, static_cast<const T*>(nullptr), keep_x != T(0),
                              dx + s * c_in * p);
      });
    }
    // dW = (X^T)^T dR over the samples' rows (dR built again, a block at a time)
    if (w.needed) weight_grad_rows(tape, w, g, dy, static_cast<const T*>(nullptr), n.saved.data(), c_in, s0, s1);
  }

  static void backward_columns(Tape<T>& tape, Node<T>& n, const ConvGeometry& g, Index s0, Index s1) {
    Node<T>& x = tape.input(n, 0);
    Node<T>& w = tape.input(n, 1);
    const Index c_in = x.shape[1], k = g.window(), p = g.positions(), image = g.image_size();
    const T* dy = n.grad;
    T* dcol = n.saved.data();  // sized [N, K, P] by the forward pass
    const T* wv = w.value;
    T keep_x = T(0);
    T* dx = x.needed ? tape.grad_for_write_rows(x, s0, s1, &keep_x) : nullptr;
    // dcol_n = im2col(dY_n); dX_n = W dcol_n
    for_each_sample(s0, s1, x.needed ? c_in * p * k : k * p, x.needed && !kUnpackedColumns<T>, [&](Index s) {
      T* dcol_s = dcol + s * k * p;
      im2col(g, dy + s * image, dcol_s);
      if (dx != nullptr)
        column_product(false, c_in, p, k, wv, dcol_s, dx + s * c_in * p, keep_x != T(0),
                       static_cast<const T*>(nullptr));
    });
    // dW = sum_n x_n dcol_n^T
    if (w.needed) column_weight_grad(tape, w, c_in, k, p, s0, s1, x.value, c_in * p, dcol, k * p);
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
  const Index out_h = (xs[2] + 2 * padding - ws[2]) / stride + 1, out_w = (xs[3] + 2 * padding - ws[3]) / stride + 1;

  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("conv2d", &detail::Conv2dOp<T>::backward, Shape{xs[0], ws[0], out_h, out_w}, {x, w, b});
  n.stride = stride;
  n.padding = padding;
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
  const Index height = (xs[2] - 1) * stride - 2 * padding + ws[2] + output_padding;
  const Index width = (xs[3] - 1) * stride - 2 * padding + ws[3] + output_padding;
  if (xs[2] < 1 || xs[3] < 1 || height < 1 || width < 1)
    throw ShapeError("conv_transpose2d: input " + xs.str() + " with kernel " + std::to_string(ws[2]) + " x " +
                     std::to_string(ws[3]) + ", stride " + std::to_string(stride) + ", padding " +
                     std::to_string(padding) + " gives an output of " + std::to_string(height) + " x " +
                     std::to_string(width));

  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("conv_transpose2d", &detail::ConvTranspose2dOp<T>::backward,
                           Shape{xs[0], ws[1], height, width}, {x, w, b});
  n.stride = stride;
  n.padding = padding;
  detail::ConvTranspose2dOp<T>::forward(n, x.node(), w.node(), b.node());
  return tape.last();
}

}  // namespace vaegan
