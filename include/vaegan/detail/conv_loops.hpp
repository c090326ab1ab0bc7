#pragma once
// The loops and buffers both layouts of the convolutions (ops/conv2d.hpp) share: per-thread
// scratch, the loops over samples and chunks of samples (fixed by the sizes, never by the
// thread count, so results do not depend on it), the NCHW <-> NHWC copies, and the bias.
#include <algorithm>
#include <type_traits>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "vaegan/core/config.hpp"
#include "vaegan/core/parallel.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/core/tensor.hpp"
#include "vaegan/detail/gemm.hpp"

namespace vaegan {

namespace detail {

// A per-thread scratch buffer of at least n values (grown, never shrunk: a repeated step
// allocates nothing). Slot 0 holds a chunk's products, slot 1 a padded image.
template <class T, int Slot>
T* conv_scratch(Index n) {
  thread_local Tensor<T> buffer;
  if (buffer.numel() < n) buffer.resize(Shape{n});
  return buffer.data();
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

#ifdef __AVX512F__
// The 16 x 16 block in registers: r[i] = row i of a block with `rows` rows of `cols` values
// (the rest zero) read from src (rows ld apart); transpose16 then makes r[j] its column j.
inline void load_block16(const float* src, Index ld, Index rows, Index cols, __m512 r[16]) {
  const __mmask16 mask = static_cast<__mmask16>((1u << cols) - 1u);
  for (Index i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_maskz_loadu_ps(mask, src + i * ld) : _mm512_setzero_ps();
}
// In-register transpose: unpacks of row pairs, then 2 x 2 blocks of pairs, then the 128-bit
// lanes twice (the usual 64 shuffles).
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 16; i += 8)
    for (int j = 0; j < 4; ++j) {
      t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
      t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xDD);
    }
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
    r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xDD);
  }
}
#endif

// xt [P, C] = x [C, P]^T for one sample (NCHW -> NHWC).
template <class T>
void to_position_major(const T* x, Index channels, Index plane, T* xt) {
  constexpr Index B = kTransposeBlock;
  for (Index q0 = 0; q0 < plane; q0 += B) {
    const Index q1 = std::min(plane, q0 + B);
    for (Index c0 = 0; c0 < channels; c0 += B) {
      const Index c1 = std::min(channels, c0 + B);
#ifdef __AVX512F__
      if constexpr (std::is_same_v<T, float>) {  // registers: whole lines both ways
        __m512 r[16];
        load_block16(x + c0 * plane + q0, plane, c1 - c0, q1 - q0, r);
        transpose16(r);
        const __mmask16 mask = static_cast<__mmask16>((1u << (c1 - c0)) - 1u);
        for (Index q = q0; q < q1; ++q) _mm512_mask_storeu_ps(xt + q * channels + c0, mask, r[q - q0]);
        continue;
      }
#endif
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
#ifdef __AVX512F__
      if constexpr (std::is_same_v<T, float>) {
        __m512 r[16];
        load_block16(xt + q0 * channels + c0, channels, q1 - q0, c1 - c0, r);
        transpose16(r);
        const __mmask16 mask = static_cast<__mmask16>((1u << (q1 - q0)) - 1u);
        for (Index c = c0; c < c1; ++c) {
          float* row = y + c * plane + q0;
          __m512 v = r[c - c0];
          // the scalar loop's sums exactly (x + 0 included: it turns -0 into +0)
          v = accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(mask, row), v)
                         : _mm512_add_ps(v, _mm512_set1_ps(bias != nullptr ? bias[c] : 0.f));
          _mm512_mask_storeu_ps(row, mask, v);
        }
        continue;
      }
#endif
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
// Channels go to threads in chunks; each channel's sum runs in the same order on any thread.
template <class T>
void channel_sums(const T* dy, Index s0, Index s1, Index channels, Index plane, T* db, T keep) {
  const Index per_channel = std::max<Index>((s1 - s0) * plane, 1);
  parallel_for(
      channels,
      [&](Index c0, Index c1) {
        for (Index c = c0; c < c1; ++c) {
          T total = T(0);
          for (Index s = s0; s < s1; ++s) total += ConstArrayMap<T>(dy + (s * channels + c) * plane, plane).sum();
          db[c] = keep == T(0) ? total : db[c] + total;
        }
      },
      std::max<Index>(1, kParallelGrain / per_channel));
}

}  // namespace detail

}  // namespace vaegan
