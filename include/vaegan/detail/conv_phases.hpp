#pragma once
// conv2d's input gradient by stride phases, which ops/conv2d.hpp uses in the row layout
// where the sizes suit.
//
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
#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

#include "vaegan/core/config.hpp"
#include "vaegan/detail/conv_geometry.hpp"
#include "vaegan/detail/conv_loops.hpp"
#include "vaegan/detail/gemm.hpp"

namespace vaegan {

namespace detail {

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

#ifdef __AVX512F__
// write_phase_pixels for stride 2 and at most 16 pixels per phase row, float: per row of the
// phase, 16 channels at a time, the [pixels, 16] block is transposed in registers
// (conv_loops.hpp) and each channel's pixels are spread to every second lane and written
// with one masked store per 8 pixels, which leaves the other phase's pixels between them
// untouched: no scalar loads of one value per cache line, no scalar stores.
inline void write_phase_pixels_stride2(const ConvGeometry& g, const PhaseAxis& rows, const PhaseAxis& cols, Index a,
                                       Index b, const float* from, bool accumulate, float* image) {
  const Index c_in = g.channels, plane = g.height * g.width, q_count = cols.pixels;
  const __m512i low = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  const __m512i high = _mm512_add_epi32(low, _mm512_set1_epi32(8));
  // lane 2k holds pixel k (of the first 8) and 2k of the second store pixel 8 + k
  const Index first = std::min<Index>(q_count, 8), second = q_count - first;
  const auto even_lanes = [](Index pixels) {
    unsigned mask = 0;
    for (Index k = 0; k < pixels; ++k) mask |= 1u << (2 * k);
    return static_cast<__mmask16>(mask);
  };
  const __mmask16 mask_first = even_lanes(first), mask_second = even_lanes(second);
  for (Index m = 0; m < rows.pixels; ++m) {
    const float* row = from + m * q_count * c_in;
    float* line = image + (m * 2 + a) * g.width + b;
    for (Index c0 = 0; c0 < c_in; c0 += 16) {
      const Index c1 = std::min(c_in, c0 + 16);
      __m512 r[16];
      load_block16(row + c0, c_in, q_count, c1 - c0, r);
      transpose16(r);
      for (Index c = c0; c < c1; ++c) {
        float* out = line + c * plane;
        __m512 v = _mm512_permutexvar_ps(low, r[c - c0]);
        if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask_first, out), v);
        _mm512_mask_storeu_ps(out, mask_first, v);
        if (second > 0) {
          __m512 w = _mm512_permutexvar_ps(high, r[c - c0]);
          if (accumulate) w = _mm512_add_ps(_mm512_maskz_loadu_ps(mask_second, out + 16), w);
          _mm512_mask_storeu_ps(out + 16, mask_second, w);
        }
      }
    }
  }
}
#endif

// dX's pixels of phase (a, b) of sample s (`image`, [C_in, H, W]) = (or += when accumulate)
// `from`, the phase's dX^T [positions, C_in], a row of the phase at a time (its values for
// every channel in L1).
template <class T>
void write_phase_pixels(const ConvGeometry& g, const PhaseAxis& rows, const PhaseAxis& cols, Index a, Index b,
                        const T* from, bool accumulate, T* image) {
  const Index c_in = g.channels, st = g.stride, plane = g.height * g.width;
#ifdef __AVX512F__
  if constexpr (std::is_same_v<T, float>) {
    if (st == 2 && cols.pixels <= 16) {
      write_phase_pixels_stride2(g, rows, cols, a, b, from, accumulate, image);
      return;
    }
  }
#endif
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
  const Index c_in = g.channels, st = g.stride, plane = g.height * g.width;
  const PaddedGrad pg = padded_grad(g, c_out);
  const PhaseWeights<T> phases = phase_weights(g, pg, w, c_out);
  // Each phase writes every st-th pixel of dX's lines: a chunk of samples goes through all
  // the phases on one thread, its dX and padded dY staying in L2 (about 512 KiB) while the
  // phases run over them one after another (phase by phase over the whole batch, dX's lines
  // would go through memory st^2 times), and a call is one parallel region (a region per
  // phase and group of samples scaled to 1.35x on two threads). Chunks: at least 8 when
  // the batch allows, so the threads share them evenly; fixed by the sizes, and each pixel
  // is the same sum whatever chunk or thread computes it.
  const Index chunk = samples_per_chunk(s1 - s0, (c_in * plane + pg.size + 1) / 2);
  for_sample_chunks(s0, s1, chunk, [&](Index first, Index last) {
    for (Index s = first; s < last; ++s) pad_output_grad(g, pg, c_out, dy, s, padded + (s - s0) * pg.size);
    for (Index f = 0; f < st * st; ++f) {
      const Index a = f / st, b = f % st;
      const PhaseAxis& rows = phases.rows(f);
      const PhaseAxis& cols = phases.cols(f);
      if (rows.pixels == 0 || cols.pixels == 0) continue;
      const Index positions = rows.pixels * cols.pixels;
      if (rows.taps == 0 || cols.taps == 0) {  // pixels no window reads (stride larger than kernel)
        if (!accumulate)
          for (Index s = first; s < last; ++s)
            for (Index c = 0; c < c_in; ++c)
              for (Index m = 0; m < rows.pixels; ++m)
                for (Index q = 0; q < cols.pixels; ++q)
                  dx[(s * c_in + c) * plane + (m * st + a) * g.width + q * st + b] = T(0);
        continue;
      }
      // Packed by this thread, into its own buffer: a 32-wide panel of K_f rows per chunk.
      const PackedB<T> packed(false, c_in, phases.start(f + 1) - phases.start(f),
                              phases.weights + phases.start(f) * c_in, c_in);
      const Index* offset = phases.offsets + phases.start(f);
      // Window (m, n) starts at padded row m + shift - (T - 1) + top (likewise columns).
      const Index row0 = rows.shift - (rows.taps - 1) + pg.top, col0 = cols.shift - (cols.taps - 1) + pg.left;
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
    }
  });
}

}  // namespace detail

}  // namespace vaegan
