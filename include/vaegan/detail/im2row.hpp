#pragma once
// The row layout of the convolutions (ops/conv2d.hpp, whose top comment gives the math):
// im2row, which gives every window position of an image one row of R [P, K], its adjoint
// row2im, the products R op(W) (through R built in scratch, or implicit: R's values read in
// place from a zero-padded copy of the image), and the weight gradient A^T R.
#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "vaegan/core/config.hpp"
#include "vaegan/core/parallel.hpp"
#include "vaegan/core/profile.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/detail/conv_geometry.hpp"
#include "vaegan/detail/conv_loops.hpp"
#include "vaegan/detail/gemm.hpp"

namespace vaegan {

namespace detail {

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

// pad = channels [c0, c1) of the image with their zero border, every value of pad written
// once: no zero-fill before the copy (a third of the copy's memory traffic). On AVX-512,
// float rows of at most 16 padded values are one masked load and one store each.
template <class T>
void pad_image(const ConvGeometry& g, const PaddedImage& pd, const T* image, Index c0, Index c1, T* pad) {
  const Index top = g.padding, left = g.padding, right = pd.width - g.width - left;
  for (Index c = c0; c < c1; ++c) {
    T* plane = pad + (c - c0) * pd.plane();
    const T* from = image + c * g.height * g.width;
    std::fill(plane, plane + top * pd.width, T(0));
#ifdef __AVX512F__
    if constexpr (std::is_same_v<T, float>) {
      if (pd.width <= 16) {
        const auto lanes = [](Index n) { return static_cast<__mmask16>((1u << n) - 1u); };
        const __mmask16 inside = static_cast<__mmask16>(lanes(left + g.width) & ~lanes(left)), row = lanes(pd.width);
        for (Index ih = 0; ih < g.height; ++ih)  // lanes [left, left + width) from the row, the rest 0
          _mm512_mask_storeu_ps(plane + (ih + top) * pd.width, row,
                                _mm512_maskz_loadu_ps(inside, from + ih * g.width - left));
        std::fill(plane + (top + g.height) * pd.width, plane + pd.plane(), T(0));
        continue;
      }
    }
#endif
    for (Index ih = 0; ih < g.height; ++ih) {
      T* to = plane + (ih + top) * pd.width;
      std::fill(to, to + left, T(0));
      std::copy_n(from + ih * g.width, g.width, to + left);
      std::fill(to + left + g.width, to + left + g.width + right, T(0));
    }
    std::fill(plane + (top + g.height) * pd.width, plane + pd.plane(), T(0));
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

// rows [P, L] = im2row of channels [c0, c1) of the images [a, e) (image s at images + s
// image_size, its rows at rows + (s - a) P L, L = (c1 - c0) kh kw: the columns
// [c0 kh kw, c1 kh kw) of the full rows), through this thread's padded buffer.
template <class T>
void im2row(const ConvGeometry& g, const T* images, Index a, Index e, Index c0, Index c1, T* rows) {
  const PaddedImage pd = padded(g);
  const Index channels = c1 - c0, length = channels * g.kh * g.kw;
  VAEGAN_PROFILE_SCOPE("im2row", g.str(), 0,
                       sizeof(T) * double((e - a) * (channels * g.height * g.width + g.positions() * length)));
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
  VAEGAN_PROFILE_SCOPE("pad copy", g.str(), 0, sizeof(T) * double((e - a) * (g.image_size() + size)));
  if (pads == nullptr) pads = conv_scratch<T, 1>((e - a) * size);
  thread_local std::vector<const T*> windows;
  windows.resize(static_cast<std::size_t>((e - a) * p));
  for (Index s = a; s < e; ++s) {
    T* pad = pads + (s - a) * size;
    pad_image(g, pd, images + s * g.image_size(), 0, g.channels, pad);
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
  VAEGAN_PROFILE_SCOPE("row2im", g.str(), 0,
                       sizeof(T) * double((e - a) * (g.positions() * g.window() + g.image_size())));
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
              for (Index s = first; s < last; ++s)
                pad_image(g, pd, images + s * g.image_size(), c0, c1, pads + (s - first) * size);
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
void weight_grad_rows(const ConvGeometry& g, const T* images, const T* padded_images, const T* a, Index m, Index s0,
                      Index s1, T* dw, T keep) {
  const Index k = g.window(), per_channel = g.kh * g.kw, p = g.positions();
  if (s0 == s1) {
    if (keep == T(0)) std::fill(dw, dw + m * k, T(0));
    return;
  }
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

}  // namespace detail

}  // namespace vaegan
