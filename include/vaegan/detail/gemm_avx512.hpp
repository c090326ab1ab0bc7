#pragma once
// Serial single-precision GEMM for AVX-512 machines: packed panels and a 12 x 32 register
// tile. detail/gemm.hpp uses it for float products when built with AVX-512F
// (-march=native on such a CPU), unless the product is too narrow for the tile.
//
// Why not Eigen's kernel for these: Eigen 3.4's gebp kernel (a 48 x 4 tile), as GCC 12
// compiles it, folds the lhs loads into every FMA, so each step along k issues 12
// full-width loads and 4 broadcasts for 12 FMAs. The load ports, not the FMA units, set
// the pace: 0.80 of OpenBLAS's sgemm on Zen 4 for the `mlp` preset's forward+backward
// GEMMs. The tile here loads two 16-float rows of op(B) once per step and broadcasts 12
// values of op(A): 14 loads for 24 FMAs, with 24 accumulators in the 32 zmm registers
// (0.99 of OpenBLAS on the same GEMMs; bench_dense_compare, docs/benchmarks.md). Packing
// goes through 16 x 16 register transposes wherever the source is strided.
//
// Loop nest, for C[m, n] row-major:
//   for each block of kDepthBlock along k:
//     pack op(B)[kc, n] as [n / 32][kc][32] panels, zero-padded   (read from L2 below)
//     for each strip of 12 rows of op(A): pack it as [kc][12]     (stays in L1)
//       for each 32-column panel: the tile of C gets alpha * strip * panel, plus beta * C
//       from the first k block (C is not read when beta is 0, so NaN in C cannot leak).
// Every element of C sums its products in the same order whatever the tile, the panel or
// the thread it falls in, so results do not depend on the thread count.
#ifdef __AVX512F__
#include <immintrin.h>

#include <algorithm>

#include "vaegan/core/config.hpp"

namespace vaegan::detail::avx512 {

constexpr Index kTileRows = 12;     // rows of C per tile: broadcasts of op(A)
constexpr Index kTileCols = 32;     // columns of C per tile: two 16-float vectors of op(B)
constexpr Index kDepthBlock = 256;  // k per packed block (128 to 512 measured the same)

// The register tiles below are compiled once, the same way, whatever translation unit
// includes this header. Without this GCC may clone a tile for the constant arguments of one
// TU's callers (IPA-CP), and the clone's register allocation differs: 12 window pointers
// plus the loop's state need more than the 15 general registers, so what gets spilled
// changes. Measured (docs/performance.md, "Why the fused batch norm looked slower"): the
// implicit tile ran 14% slower as a clone, 54% of a conv VAE-GAN step. noinline keeps the
// tiles out of their callers for the same reason.
#if defined(__GNUC__) && !defined(__clang__)
#define VAEGAN_REGISTER_TILE __attribute__((noinline, noclone))
#else
#define VAEGAN_REGISTER_TILE __attribute__((noinline))
#endif

// Products too narrow to fill half a tile waste most of it; gemm.hpp sends them to Eigen.
inline bool suits(Index m, Index n) { return m >= kTileRows / 2 && n >= kTileCols / 2; }

// Floats of packing space gemm() needs for op(A) and op(B).
inline Index a_pack_size(Index k) { return kTileRows * std::min(k, kDepthBlock); }
inline Index b_pack_size(Index n, Index k) {
  return (n + kTileCols - 1) / kTileCols * kTileCols * std::min(k, kDepthBlock);
}

// Mask of the first `count` lanes of a 16-float vector (count may be <= 0 or >= 16).
inline __mmask16 lanes(Index count) {
  if (count <= 0) return 0;
  if (count >= 16) return 0xFFFF;
  return static_cast<__mmask16>((1u << count) - 1u);
}

// In-register transpose: afterwards r[q] holds element q of every input row (r[q][j] = r_in[j][q]).
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  // Interleave row pairs, then pairs of pairs, within each 128-bit lane: u[4g + p] lane L
  // holds element 4L + p of rows 4g .. 4g+3.
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; ++g) {
    const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
    u[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // Then gather the 128-bit lanes: two rounds of lane shuffles between row groups.
  for (int i = 0; i < 2; ++i)
    for (int p = 0; p < 4; ++p) {
      t[8 * i + p] = _mm512_shuffle_f32x4(u[8 * i + p], u[8 * i + 4 + p], 0x88);
      t[8 * i + 4 + p] = _mm512_shuffle_f32x4(u[8 * i + p], u[8 * i + 4 + p], 0xdd);
    }
  for (int q = 0; q < 8; ++q) {
    r[q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0x88);
    r[8 + q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0xdd);
  }
}

// op(B)[kc, nc] -> panels [ceil(nc / 32)][kc][32], columns past nc zero.
inline void pack_b(bool trans_b, const float* b, Index ldb, Index kc, Index nc, float* out) {
  for (Index j0 = 0; j0 < nc; j0 += kTileCols) {
    const Index width = std::min(kTileCols, nc - j0);
    float* panel = out + (j0 / kTileCols) * kc * kTileCols;
    if (!trans_b) {
      // Row k of op(B) is contiguous: two masked vector copies per k.
      const __mmask16 m0 = lanes(width), m1 = lanes(width - 16);
      for (Index k = 0; k < kc; ++k) {
        const float* src = b + k * ldb + j0;
        _mm512_store_ps(panel + k * kTileCols, _mm512_maskz_loadu_ps(m0, src));
        _mm512_store_ps(panel + k * kTileCols + 16, _mm512_maskz_loadu_ps(m1, src + 16));
      }
    } else {
      // B stored [n, k]: column j of op(B) is row j of B. Copy 16 x 16 blocks through a
      // register transpose; element-wise copying strides 128 bytes per store and cost
      // about a tenth of a Dense backward pass.
      for (Index jb = 0; jb < kTileCols; jb += 16) {
        for (Index kb = 0; kb < kc; kb += 16) {
          const Index depth = std::min<Index>(16, kc - kb);
          const __mmask16 mask = lanes(depth);
          __m512 r[16];
          for (Index j = 0; j < 16; ++j)
            r[j] = jb + j < width ? _mm512_maskz_loadu_ps(mask, b + (j0 + jb + j) * ldb + kb) : _mm512_setzero_ps();
          transpose16(r);
          for (Index q = 0; q < depth; ++q) _mm512_store_ps(panel + (kb + q) * kTileCols + jb, r[q]);
        }
      }
    }
  }
}

// Rows [0, rows) of op(A) over kc -> one strip [kc][12], rows past `rows` zero.
inline void pack_a(bool trans_a, const float* a, Index lda, Index rows, Index kc, float* out) {
  if (trans_a) {
    // A stored [k, m]: the strip's 12 values for one k are contiguous: one masked vector
    // load (zeros past `rows`) and one 12-lane store per k.
    const __mmask16 load = lanes(rows), store = lanes(kTileRows);
    for (Index k = 0; k < kc; ++k)
      _mm512_mask_storeu_ps(out + k * kTileRows, store, _mm512_maskz_loadu_ps(load, a + k * lda));
  } else {
    // Row i of op(A) is contiguous along k: 16 x 16 blocks through the register transpose
    // (rows 12 to 15 zero, not stored). Matters when n is one or two panels wide, where
    // packing A is a large part of the work.
    const __mmask16 strip = lanes(kTileRows);
    for (Index kb = 0; kb < kc; kb += 16) {
      const Index depth = std::min<Index>(16, kc - kb);
      const __mmask16 mask = lanes(depth);
      __m512 r[16];
      for (Index i = 0; i < 16; ++i)
        r[i] = i < rows ? _mm512_maskz_loadu_ps(mask, a + i * lda + kb) : _mm512_setzero_ps();
      transpose16(r);
      for (Index q = 0; q < depth; ++q) _mm512_mask_storeu_ps(out + (kb + q) * kTileRows, strip, r[q]);
    }
  }
}

// A tile's epilogue: C = alpha acc + beta C on the tile's first k block (C not read when
// beta is 0), C += alpha acc on the later ones; `rows` x `cols` of the Rows x 32 tile.
template <int Rows>
inline void store_tile(const __m512 (&acc)[Rows][2], float* c, Index ldc, Index rows, Index cols, float alpha,
                       float beta, bool first) {
  const __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16);
  const __m512 va = _mm512_set1_ps(alpha);
  const bool read_c = !(first && beta == 0.0f);
  const __m512 vb = _mm512_set1_ps(first ? beta : 1.0f);
  for (Index r = 0; r < rows; ++r) {
    float* row = c + r * ldc;
    __m512 v0 = _mm512_mul_ps(va, acc[r][0]);
    __m512 v1 = _mm512_mul_ps(va, acc[r][1]);
    if (read_c) {
      v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), v0);
      v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), v1);
    }
    _mm512_mask_storeu_ps(row, m0, v0);
    _mm512_mask_storeu_ps(row + 16, m1, v1);
  }
}

// C[rows, cols] (rows <= Rows <= 12, cols <= 32) = alpha * strip * panel + (first ? beta * C : C).
// Rows is the register tile's height: 12 for full strips; 8 or 4 for a last strip of at
// most that many rows, which would otherwise spend 12 rows of FMAs on a few real ones
// (batch 64 ends in a 4-row strip: a tenth of the work). Each element's sum over k runs
// in the same order for every Rows, so results do not depend on where a strip ends.
template <int Rows>
VAEGAN_REGISTER_TILE inline void tile_rows(Index kc, const float* strip, const float* panel, float* c, Index ldc,
                                           Index rows, Index cols, float alpha, float beta, bool first) {
  __m512 acc[Rows][2];
#pragma GCC unroll 12
  for (int r = 0; r < Rows; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (Index k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(panel + k * kTileCols);
    const __m512 b1 = _mm512_load_ps(panel + k * kTileCols + 16);
#pragma GCC unroll 12
    for (int r = 0; r < Rows; ++r) {
      const __m512 av = _mm512_set1_ps(strip[k * kTileRows + r]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  store_tile<Rows>(acc, c, ldc, rows, cols, alpha, beta, first);
}

inline void tile(Index kc, const float* strip, const float* panel, float* c, Index ldc, Index rows, Index cols,
                 float alpha, float beta, bool first) {
  if (rows > 8) tile_rows<kTileRows>(kc, strip, panel, c, ldc, rows, cols, alpha, beta, first);
  else if (rows > 4) tile_rows<8>(kc, strip, panel, c, ldc, rows, cols, alpha, beta, first);
  else tile_rows<4>(kc, strip, panel, c, ldc, rows, cols, alpha, beta, first);
}

// Implicit GEMM: the same tile, with op(A) read in place instead of from a packed strip:
// A[r][k] = window[r][offset[k]] (one pointer per row of C, one offset per k). A
// convolution's window matrix R is such an A (window: the padded image at the window of row
// r's position; offset: kernel tap k's place in it), so it is never built. Each element of
// C sums over k in the same order as tile_rows.
template <int Rows>
VAEGAN_REGISTER_TILE inline void tile_implicit_rows(Index kc, const float* const* window, const Index* offset,
                                                    const float* panel, float* c, Index ldc, Index rows, Index cols,
                                                    float alpha, float beta, bool first) {
  __m512 acc[Rows][2];
  const float* w[Rows];
#pragma GCC unroll 12
  for (int r = 0; r < Rows; ++r) {
    acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    w[r] = window[r < rows ? r : rows - 1];
  }
  for (Index k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(panel + k * kTileCols);
    const __m512 b1 = _mm512_load_ps(panel + k * kTileCols + 16);
    const Index o = offset[k];
#pragma GCC unroll 12
    for (int r = 0; r < Rows; ++r) {
      const __m512 av = _mm512_set1_ps(w[r][o]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  store_tile<Rows>(acc, c, ldc, rows, cols, alpha, beta, first);
}

// C[m, n] = alpha * A op(B) + beta * C with A[r][k] = window[r][offset[k]] and op(B) packed
// whole by pack_b (depth block k0 at b_packed + ceil(n / 32) 32 k0), serial.
inline void gemm_implicit(Index m, Index n, Index k, float alpha, const float* const* window, const Index* offset,
                          const float* b_packed, float beta, float* c, Index ldc) {
  const Index panels = (n + kTileCols - 1) / kTileCols;
  for (Index k0 = 0; k0 < k; k0 += kDepthBlock) {
    const Index kc = std::min(kDepthBlock, k - k0);
    for (Index i0 = 0; i0 < m; i0 += kTileRows) {
      const Index rows = std::min(kTileRows, m - i0);
      for (Index j0 = 0; j0 < n; j0 += kTileCols) {
        const float* panel = b_packed + panels * kTileCols * k0 + (j0 / kTileCols) * kc * kTileCols;
        float* tile_c = c + i0 * ldc + j0;
        const Index cols = std::min(kTileCols, n - j0);
        if (rows > 8)
          tile_implicit_rows<kTileRows>(kc, window + i0, offset + k0, panel, tile_c, ldc, rows, cols, alpha, beta,
                                        k0 == 0);
        else if (rows > 4)
          tile_implicit_rows<8>(kc, window + i0, offset + k0, panel, tile_c, ldc, rows, cols, alpha, beta, k0 == 0);
        else tile_implicit_rows<4>(kc, window + i0, offset + k0, panel, tile_c, ldc, rows, cols, alpha, beta, k0 == 0);
      }
    }
  }
}

// Rows [row_begin, row_end) of C for depth block [k0, k0 + kc), against all n columns of
// b_pack (packed by pack_b for that block): 12-row strips of op(A) packed into a_pack,
// each run against every 32-column panel. The first block applies beta, later ones add.
inline void multiply_strips(bool trans_a, const float* a, Index lda, Index row_begin, Index row_end, Index k0, Index kc,
                            Index n, const float* b_pack, float alpha, float beta, float* c, Index ldc, float* a_pack) {
  for (Index i0 = row_begin; i0 < row_end; i0 += kTileRows) {
    const Index rows = std::min(kTileRows, row_end - i0);
    pack_a(trans_a, trans_a ? a + k0 * lda + i0 : a + i0 * lda + k0, lda, rows, kc, a_pack);
    for (Index j0 = 0; j0 < n; j0 += kTileCols)
      tile(kc, a_pack, b_pack + (j0 / kTileCols) * kc * kTileCols, c + i0 * ldc + j0, ldc, rows,
           std::min(kTileCols, n - j0), alpha, beta, k0 == 0);
  }
}

// C[m, n] = alpha * op(A) * op(B) + beta * C, serial; same conventions as detail::gemm.
// a_pack / b_pack: a_pack_size(k) and b_pack_size(n, k) floats, 64-byte aligned.
inline void gemm(bool trans_a, bool trans_b, Index m, Index n, Index k, float alpha, const float* a, Index lda,
                 const float* b, Index ldb, float beta, float* c, Index ldc, float* a_pack, float* b_pack) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (Index i = 0; i < m; ++i) {
      float* row = c + i * ldc;
      if (beta == 0.0f) std::fill(row, row + n, 0.0f);
      else if (beta != 1.0f)
        for (Index j = 0; j < n; ++j) row[j] *= beta;
    }
    return;
  }
  for (Index k0 = 0; k0 < k; k0 += kDepthBlock) {
    const Index kc = std::min(kDepthBlock, k - k0);
    pack_b(trans_b, trans_b ? b + k0 : b + k0 * ldb, ldb, kc, n, b_pack);
    multiply_strips(trans_a, a, lda, 0, m, k0, kc, n, b_pack, alpha, beta, c, ldc, a_pack);
  }
}

// ---- unpacked products for a short inner dimension --------------------------------------
// The column layout of the convolutions (ops/conv2d.hpp) multiplies per sample a weight of
// a few columns (k = 16 for a 4 x 4 kernel on one channel) by a col matrix of a few hundred
// columns. Packing both operands for the tiled kernel costs as much as the product there,
// so these kernels read them in place: A broadcast from memory with any strides, B and C
// rows loaded as vectors.

// C[rows, n] (Rows <= 8 rows of C) = sum over t < k of A(i, t) B[t, :] (+ C when accumulate,
// + bias[i] when bias), A(i, t) = a[i ars + t acs]; columns in blocks of 48.
template <int Rows>
inline void small_nn_rows(Index n, Index k, const float* a, Index ars, Index acs, const float* b, Index ldb, float* c,
                          Index ldc, bool accumulate, const float* bias) {
  constexpr int V = 3;
  for (Index j0 = 0; j0 < n; j0 += 16 * V) {
    __mmask16 mask[V];
    for (int v = 0; v < V; ++v) mask[v] = lanes(n - j0 - 16 * v);
    __m512 acc[Rows][V];
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r)
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
    for (Index t = 0; t < k; ++t) {
      __m512 bv[V];
      for (int v = 0; v < V; ++v) bv[v] = _mm512_maskz_loadu_ps(mask[v], b + t * ldb + j0 + 16 * v);
#pragma GCC unroll 8
      for (int r = 0; r < Rows; ++r) {
        const __m512 av = _mm512_set1_ps(a[r * ars + t * acs]);
        for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
      }
    }
    for (int r = 0; r < Rows; ++r) {
      float* row = c + r * ldc + j0;
      const __m512 add = _mm512_set1_ps(bias != nullptr ? bias[r] : 0.0f);
      for (int v = 0; v < V; ++v) {
        __m512 out = _mm512_add_ps(acc[r][v], add);
        if (accumulate) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(mask[v], row + 16 * v));
        _mm512_mask_storeu_ps(row + 16 * v, mask[v], out);
      }
    }
  }
}

// C[m, n] = A B (+ C when accumulate, + bias[i] per row when bias) with A(i, t) = a[i ars + t acs]
// (A [m, k] row-major: ars = k, acs = 1; A^T of a [k, m] buffer: ars = 1, acs = m), B [k, n]
// and C [m, n] row-major. Each element sums over t in order, whatever the blocking.
inline void small_nn(Index m, Index n, Index k, const float* a, Index ars, Index acs, const float* b, Index ldb,
                     float* c, Index ldc, bool accumulate, const float* bias) {
  Index i = 0;
  for (; i + 8 <= m; i += 8)
    small_nn_rows<8>(n, k, a + i * ars, ars, acs, b, ldb, c + i * ldc, ldc, accumulate, bias ? bias + i : nullptr);
  for (; i + 4 <= m; i += 4)
    small_nn_rows<4>(n, k, a + i * ars, ars, acs, b, ldb, c + i * ldc, ldc, accumulate, bias ? bias + i : nullptr);
  for (; i < m; ++i)
    small_nn_rows<1>(n, k, a + i * ars, ars, acs, b, ldb, c + i * ldc, ldc, accumulate, bias ? bias + i : nullptr);
}

// Sum of the 16 lanes in a fixed order (so results do not depend on the compiler's choice).
inline float lane_sum(__m512 v) {
  alignas(64) float x[16];
  _mm512_store_ps(x, v);
  float s = 0.0f;
  for (int i = 0; i < 16; ++i) s += x[i];
  return s;
}

// C[i, j] (+ C when accumulate) = sum over samples s < count, q < len of A_s[i, q] B_s[j, q],
// for i in [0, RowsA) and j in [0, rows_b <= kSmallNtRowsB): A_s = a + s a_step, B_s = b + s b_step,
// rows lda and ldb apart. The accumulators run over every sample (one vector of partial
// sums per element, lanes added in a fixed order at the end). A call may cover only some of
// the samples: `partial` (RowsA * 6 vectors) carries the accumulators from the call that
// covered the samples before (unless `first`) to the next one (unless `last`, which writes C).
// 4 x 4 vectors of accumulators (4 x 6 left too few registers for the operands).
constexpr int kSmallNtRowsB = 4;
template <int RowsA>
inline void small_nt_tile(Index rows_b, Index len, Index count, const float* a, Index lda, Index a_step, const float* b,
                          Index ldb, Index b_step, float* c, Index ldc, bool accumulate, float* partial, bool first,
                          bool last) {
  constexpr int RowsB = kSmallNtRowsB;
  __m512 acc[RowsA][RowsB];
#pragma GCC unroll 8
  for (int i = 0; i < RowsA; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < RowsB; ++j)
      acc[i][j] = first ? _mm512_setzero_ps() : _mm512_load_ps(partial + (i * RowsB + j) * 16);
  const Index full = len / 16 * 16;
  const __mmask16 tail = lanes(len - full);
  // Rows of B past rows_b load nothing (a zero mask: no access), so the loops below have
  // constant bounds: fully unrolled (the pragmas), the accumulators stay in registers;
  // otherwise GCC stores each one to memory after every FMA.
  __mmask16 row_mask[RowsB];
#pragma GCC unroll 8
  for (int j = 0; j < RowsB; ++j) row_mask[j] = j < rows_b ? static_cast<__mmask16>(0xFFFF) : 0;
  for (Index s = 0; s < count; ++s) {
    const float* as = a + s * a_step;
    const float* bs = b + s * b_step;
    for (Index q = 0; q < len; q += 16) {
      const __mmask16 mask = q < full ? static_cast<__mmask16>(0xFFFF) : tail;
      __m512 bv[RowsB];
#pragma GCC unroll 8
      for (int j = 0; j < RowsB; ++j)
        bv[j] = _mm512_maskz_loadu_ps(static_cast<__mmask16>(row_mask[j] & mask), bs + j * ldb + q);
#pragma GCC unroll 8
      for (int i = 0; i < RowsA; ++i) {
        const __m512 av = _mm512_maskz_loadu_ps(mask, as + i * lda + q);
#pragma GCC unroll 8
        for (int j = 0; j < RowsB; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
      }
    }
  }
  if (!last) {
#pragma GCC unroll 8
    for (int i = 0; i < RowsA; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < RowsB; ++j) _mm512_store_ps(partial + (i * RowsB + j) * 16, acc[i][j]);
    return;
  }
#pragma GCC unroll 8
  for (int i = 0; i < RowsA; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < RowsB; ++j) {
      if (j >= rows_b) continue;
      const float v = lane_sum(acc[i][j]);
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + v : v;
    }
}

// The tiles of small_nt: rows of A in blocks of 4, rows of B in blocks of kSmallNtRowsB.
inline Index small_nt_tiles(Index m, Index n) { return ((m + 3) / 4) * ((n + kSmallNtRowsB - 1) / kSmallNtRowsB); }

// Tiles [t0, t1) of C[m, n] (+ C when accumulate) = sum over samples of A_s B_s^T (see
// small_nt_tile); tiles write disjoint parts of C, so ranges of them can run on different
// threads. A tile alone would stream every sample's rows through the cache once per tile:
// for the reference models' first layer (A 1.6 MB, B 0.8 MB at batch 64) that is 11 MB
// from L3 for 13 MFLOP, and the product ran at a quarter of the FMA peak. So the samples go
// in groups of about 256 KiB (in L2), each group through up to kGroupTiles tiles in turn,
// the tiles' accumulators kept between groups: every element is still the same sum in the
// same order, whatever the grouping or the thread count.
inline void small_nt(Index t0, Index t1, Index m, Index n, Index len, Index count, const float* a, Index lda,
                     Index a_step, const float* b, Index ldb, Index b_step, float* c, Index ldc, bool accumulate) {
  constexpr Index kGroupTiles = 16, kGroupValues = Index{1} << 16;
  alignas(64) float partial[kGroupTiles][4 * kSmallNtRowsB * 16];
  const Index per_sample = std::max<Index>(1, (m + n) * len);
  const Index group = std::max<Index>(1, kGroupValues / per_sample);
  const Index blocks_b = (n + kSmallNtRowsB - 1) / kSmallNtRowsB;
  for (Index first_tile = t0; first_tile < t1; first_tile += kGroupTiles) {
    const Index last_tile = std::min(t1, first_tile + kGroupTiles);
    for (Index s = 0; s < count; s += group) {
      const Index samples = std::min(group, count - s);
      const bool first = s == 0, last = s + samples == count;
      for (Index tile = first_tile; tile < last_tile; ++tile) {
        const Index i0 = tile / blocks_b * 4, j0 = tile % blocks_b * kSmallNtRowsB;
        const Index rows_b = std::min<Index>(kSmallNtRowsB, n - j0);
        const float* ai = a + s * a_step + i0 * lda;
        const float* bj = b + s * b_step + j0 * ldb;
        float* cij = c + i0 * ldc + j0;
        float* state = partial[tile - first_tile];
        switch (std::min<Index>(4, m - i0)) {
          case 4:
            small_nt_tile<4>(rows_b, len, samples, ai, lda, a_step, bj, ldb, b_step, cij, ldc, accumulate, state, first,
                             last);
            break;
          case 3:
            small_nt_tile<3>(rows_b, len, samples, ai, lda, a_step, bj, ldb, b_step, cij, ldc, accumulate, state, first,
                             last);
            break;
          case 2:
            small_nt_tile<2>(rows_b, len, samples, ai, lda, a_step, bj, ldb, b_step, cij, ldc, accumulate, state, first,
                             last);
            break;
          default:
            small_nt_tile<1>(rows_b, len, samples, ai, lda, a_step, bj, ldb, b_step, cij, ldc, accumulate, state, first,
                             last);
            break;
        }
      }
    }
  }
}

}  // namespace vaegan::detail::avx512
#endif  // __AVX512F__
