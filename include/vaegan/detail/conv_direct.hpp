#pragma once
// Direct kernels for the column layout's smallest windows (ops/conv2d.hpp): float on
// AVX-512, stride 2, images at most 32 wide with at most 16 window positions a row
// (col_vector_suits), and at most 16 values a window: the first and last layers of the
// reference models (one channel, a 4 x 4 kernel, 28 x 28 images).
//
// There the column layout's GEMMs have k = 16, and the col matrix they read or write is as
// large as the 32-channel tensor on the other side: for batch 192, 2.4 MB written by im2col
// and read back by the product (or the weight gradient), much of the time of these layers
// in a whole step, where that traffic goes through L3. Here the K window rows ("taps") of
// one output row are built in registers from the image rows by permutes (StrideTwoTaps,
// as im2col_s2 does) and used at once:
//   direct_product      y = W col(image) + b (+ y): conv2d's forward, conv_transpose2d's
//                       input gradient. Bit for bit im2col then small_nn: each element
//                       sums its taps in the same order, then the bias, then y.
//   direct_weight_grad  dW = sum over samples of A_s col(image_s)^T: both ops' weight
//                       gradients (A: dY for conv2d, x for conv_transpose2d). Each
//                       sample's col^T [P, 16] (a transpose of the taps) goes through L1,
//                       A's values are broadcast from its rows; dW's rows are 16-lane
//                       accumulators, one lane per tap.
//                       The samples go in fixed chunks summed in order, so results do not
//                       depend on the thread count (nor equal small_nt's, which sums in
//                       another order).
// No col is kept between the forward and backward passes: the weight gradient builds the
// taps again from the image (about a third of its time, 0.2 of 0.6 ms for conv1 at batch
// 192 on Zen 4, against 1.07 ms for small_nt reading a stored col).
#include <algorithm>

#include "vaegan/core/config.hpp"
#include "vaegan/core/parallel.hpp"
#include "vaegan/detail/conv_geometry.hpp"
#include "vaegan/detail/conv_loops.hpp"
#include "vaegan/detail/im2col.hpp"

namespace vaegan {

namespace detail {

// Whether this build has the direct kernels for T (the ops test it with if constexpr, so
// other builds never call them): where the column layout has its unpacked AVX-512 kernels.
// And whether they run a geometry.
template <class T>
constexpr bool kDirectColumns = kUnpackedColumns<T>;
template <class T>
bool direct_columns([[maybe_unused]] const ConvGeometry& g) {
#ifdef __AVX512F__
  if constexpr (kDirectColumns<T>) return col_vector_suits(g) && g.window() <= 16;
#endif
  return false;
}

// Samples per chunk of direct_weight_grad: fixed by the sizes, never by the thread count.
constexpr Index kDirectGradChunk = 8;

// Floats of the shared buffer direct_weight_grad needs for `samples` samples and m rows.
inline Index direct_weight_grad_buffer(Index samples, Index m) {
  return (samples + kDirectGradChunk - 1) / kDirectGradChunk * m * 16;
}

#ifdef __AVX512F__
// tap[t], t = (c kh + i) kw + j < K: window row t of output row oh of `image`; the rest zero.
inline void output_row_taps(const ConvGeometry& g, const StrideTwoTaps& taps, const float* image, Index oh,
                            __m512 (&tap)[16]) {
  for (Index t = g.window(); t < 16; ++t) tap[t] = _mm512_setzero_ps();
  for (Index c = 0; c < g.channels; ++c)
    for (Index i = 0; i < g.kh; ++i)
      taps.row(g.kw, image_row(g, image, c, oh * 2 - g.padding + i), tap + (c * g.kh + i) * g.kw);
}

// Rows [0, Rows) of y's output row oh: sum over t < k of w[r k + t] tap[t], + bias[r], + y.
// The taps' loop is unrolled whole (each tap stays in a register), each tap past k skipped.
template <int Rows>
inline void direct_rows(const __m512 (&tap)[16], Index k, const float* w, const float* bias, float* y, Index p,
                        __mmask16 out, bool accumulate) {
  __m512 acc[Rows];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) acc[r] = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int t = 0; t < 16; ++t) {
    if (t >= k) break;
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(w[r * k + t]), tap[t], acc[r]);
  }
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) {
    float* dst = y + r * p;
    __m512 v = _mm512_add_ps(acc[r], _mm512_set1_ps(bias != nullptr ? bias[r] : 0.0f));
    if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(out, dst));
    _mm512_mask_storeu_ps(dst, out, v);
  }
}

// y [m, P] = W [m, K] col(image) (+ bias[r] per row when bias) (+ y when accumulate).
inline void direct_product(const ConvGeometry& g, Index m, const float* w, const float* image, const float* bias,
                           float* y, bool accumulate) {
  const Index k = g.window(), p = g.positions();
  const StrideTwoTaps taps(g);
  __m512 tap[16];
  for (Index oh = 0; oh < g.out_h; ++oh) {
    output_row_taps(g, taps, image, oh, tap);
    float* row = y + oh * g.out_w;
    Index r = 0;
    for (; r + 8 <= m; r += 8)
      direct_rows<8>(tap, k, w + r * k, bias ? bias + r : nullptr, row + r * p, p, taps.out, accumulate);
    for (; r + 4 <= m; r += 4)
      direct_rows<4>(tap, k, w + r * k, bias ? bias + r : nullptr, row + r * p, p, taps.out, accumulate);
    for (; r < m; ++r)
      direct_rows<1>(tap, k, w + r * k, bias ? bias + r : nullptr, row + r * p, p, taps.out, accumulate);
  }
}

// col^T [P, 16] of one image: row q holds window q's K values, then zeros.
inline void transposed_columns(const ConvGeometry& g, const float* image, float* colt) {
  const StrideTwoTaps taps(g);
  __m512 tap[16];
  for (Index oh = 0; oh < g.out_h; ++oh) {
    output_row_taps(g, taps, image, oh, tap);
    transpose16(tap);  // tap[ow] now holds window (oh, ow)'s taps
    for (Index ow = 0; ow < g.out_w; ++ow) _mm512_storeu_ps(colt + (oh * g.out_w + ow) * 16, tap[ow]);
  }
}

// Rows [0, Rows) of dW's partial sums (16 taps each) += sum over q < p of a[r p + q] colt[q]:
// A's values broadcast straight from its rows (no transpose of A: that cost as much as
// these FMAs), 8 rows at a time (their pointers stay in registers).
template <int Rows>
inline void direct_grad_rows(Index p, const float* a, const float* colt, float* partial) {
  __m512 acc[Rows];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) acc[r] = _mm512_loadu_ps(partial + r * 16);
  for (Index q = 0; q < p; ++q) {
    const __m512 c = _mm512_loadu_ps(colt + q * 16);
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r * p + q]), c, acc[r]);
  }
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) _mm512_storeu_ps(partial + r * 16, acc[r]);
}

// dW [m, K] = (keep ? dW : 0) + sum over samples s in [s0, s1) of A_s col(image_s)^T, with
// A_s = a + s a_step ([m, P]) and image_s = images + s image_step. `buffer`:
// direct_weight_grad_buffer(s1 - s0, m) floats, shared by the threads.
inline void direct_weight_grad(const ConvGeometry& g, Index m, const float* a, Index a_step, const float* images,
                               Index image_step, Index s0, Index s1, float* dw, bool keep, float* buffer) {
  const Index k = g.window(), p = g.positions();
  const Index chunks = (s1 - s0 + kDirectGradChunk - 1) / kDirectGradChunk;
  parallel_for(
      chunks,
      [&](Index c0, Index c1) {
        float* colt = conv_scratch<float, 0>(p * 16);
        for (Index chunk = c0; chunk < c1; ++chunk) {
          float* partial = buffer + chunk * m * 16;
          std::fill(partial, partial + m * 16, 0.0f);
          const Index first = s0 + chunk * kDirectGradChunk, last = std::min(s1, first + kDirectGradChunk);
          for (Index s = first; s < last; ++s) {
            transposed_columns(g, images + s * image_step, colt);
            const float* as = a + s * a_step;
            Index r = 0;
            for (; r + 8 <= m; r += 8) direct_grad_rows<8>(p, as + r * p, colt, partial + r * 16);
            for (; r < m; ++r) direct_grad_rows<1>(p, as + r * p, colt, partial + r * 16);
          }
        }
      },
      1);
  // The chunks' sums, added in order.
  for (Index r = 0; r < m; ++r)
    for (Index t = 0; t < k; ++t) {
      float sum = keep ? dw[r * k + t] : 0.0f;
      for (Index chunk = 0; chunk < chunks; ++chunk) sum += buffer[(chunk * m + r) * 16 + t];
      dw[r * k + t] = sum;
    }
}
#endif

}  // namespace detail

}  // namespace vaegan
