#pragma once
// The column layout of the convolutions (ops/conv2d.hpp, whose top comment gives the math):
// im2col, which gives one image's windows as the columns of col [K, P], its adjoint col2im
// (both with AVX-512 versions for float at stride 2 on small images), and the per-sample
// products col and dW are made of.
#include <algorithm>
#include <type_traits>

#include "vaegan/core/config.hpp"
#include "vaegan/core/parallel.hpp"
#include "vaegan/core/profile.hpp"
#include "vaegan/detail/conv_geometry.hpp"
#include "vaegan/detail/conv_loops.hpp"
#include "vaegan/detail/gemm.hpp"

namespace vaegan {

namespace detail {

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

// The kernel taps of one image row at stride 2 (im2col_s2 and the direct kernels of
// conv_direct.hpp share it): tap j's lane ow holds the row's column 2 ow - p + j, zero
// where that lies outside the image or ow >= out_w; one permute of the two vectors that
// hold the row per tap.
struct StrideTwoTaps {
  __m512i index[16];
  __mmask16 valid[16];
  __mmask16 out, m0, m1;  // lanes: window positions of a row; the row's two vectors

  explicit StrideTwoTaps(const ConvGeometry& g)
      : out(avx512::lanes(g.out_w)), m0(avx512::lanes(g.width)), m1(avx512::lanes(g.width - 16)) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    for (Index j = 0; j < g.kw; ++j) {
      index[j] = _mm512_add_epi32(even, _mm512_set1_epi32(static_cast<int>(j - g.padding)));
      valid[j] =
          static_cast<__mmask16>(_mm512_cmpge_epi32_mask(index[j], _mm512_setzero_si512()) &
                                 _mm512_cmplt_epi32_mask(index[j], _mm512_set1_epi32(static_cast<int>(g.width))) & out);
    }
  }

  // tap[j] for j < kw from image row `row` (nullptr: a row outside the image, all zero).
  void row(Index kw, const float* row, __m512* tap) const {
    if (row == nullptr) {
      for (Index j = 0; j < kw; ++j) tap[j] = _mm512_setzero_ps();
      return;
    }
    const __m512 v0 = _mm512_maskz_loadu_ps(m0, row), v1 = _mm512_maskz_loadu_ps(m1, row + 16);
    for (Index j = 0; j < kw; ++j) tap[j] = _mm512_maskz_permutex2var_ps(valid[j], v0, index[j], v1);
  }
};

// Image row ih of channel c, or nullptr where ih lies outside the image.
inline const float* image_row(const ConvGeometry& g, const float* image, Index c, Index ih) {
  return ih < 0 || ih >= g.height ? nullptr : image + (c * g.height + ih) * g.width;
}

inline void im2col_s2(const ConvGeometry& g, const float* image, float* col) {
  const Index p = g.positions();
  const StrideTwoTaps taps(g);
  __m512 tap[16];
  for (Index c = 0; c < g.channels; ++c)
    for (Index i = 0; i < g.kh; ++i) {
      float* rows = col + (c * g.kh + i) * g.kw * p;  // rows (c, i, j) of col, p apart
      for (Index oh = 0; oh < g.out_h; ++oh) {
        taps.row(g.kw, image_row(g, image, c, oh * 2 - g.padding + i), tap);
        for (Index j = 0; j < g.kw; ++j) _mm512_mask_storeu_ps(rows + j * p + oh * g.out_w, taps.out, tap[j]);
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
  VAEGAN_PROFILE_SCOPE("im2col", g.str(), 0, sizeof(T) * double(g.image_size() + g.window() * g.positions()));
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
  VAEGAN_PROFILE_SCOPE("col2im", g.str(), 0, sizeof(T) * double(2 * g.image_size() + g.window() * g.positions()));
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
void column_weight_grad(Index m, Index n, Index len, Index s0, Index s1, const T* a, Index a_step, const T* b,
                        Index b_step, T* dw, T keep) {
  if (s0 == s1) {
    if (keep == T(0)) std::fill(dw, dw + m * n, T(0));
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

}  // namespace detail

}  // namespace vaegan
