#pragma once
// gemm: C = alpha * op(A) * op(B) + beta * C on row-major buffers, the library's hot path.
//
// This calls Eigen's blocked GEMM kernel (general_matrix_matrix_product) directly rather
// than through `C.noalias() = A * B`, for two reasons:
//  1. Eigen's expression path builds fresh packing buffers on every call (heap for
//     large products); here they live in per-thread buffers that only grow, so a
//     steady-state training step makes no heap allocation.
//  2. Threading is ours: the output is split into row or column panels, one per
//     thread, each a serial Eigen GEMM. Eigen's own threading is never nested inside.
// Float products on AVX-512 builds use our own kernel instead (detail/gemm_avx512.hpp,
// which says why); double, other CPUs and very narrow products keep Eigen's.
#include <algorithm>
#include <type_traits>

#include <Eigen/Core>

#include "vaegan/core/config.hpp"
#include "vaegan/core/parallel.hpp"
#include "vaegan/detail/gemm_avx512.hpp"

namespace vaegan::detail {

// Per-thread packing buffers for Eigen's GEMM kernel; they grow and are then reused.
template <class T>
struct GemmPackBuffers {
  T* a = nullptr;
  T* b = nullptr;
  Index a_size = 0;
  Index b_size = 0;
  T* shared_b = nullptr;  // a B block packed by a whole thread team (the caller owns it)
  Index shared_b_size = 0;
  T* packed_b = nullptr;  // a whole op(B) packed once for several products (PackedB)
  Index packed_b_size = 0;
  T* need_a(Index n) { return grow(a, a_size, n); }
  T* need_b(Index n) { return grow(b, b_size, n); }
  T* need_shared_b(Index n) { return grow(shared_b, shared_b_size, n); }
  T* need_packed_b(Index n) { return grow(packed_b, packed_b_size, n); }
  ~GemmPackBuffers() {
    Eigen::internal::aligned_free(a);
    Eigen::internal::aligned_free(b);
    Eigen::internal::aligned_free(shared_b);
    Eigen::internal::aligned_free(packed_b);
  }

 private:
  static T* grow(T*& p, Index& size, Index n) {
    if (n > size) {
      Eigen::internal::aligned_free(p);
      p = static_cast<T*>(Eigen::internal::aligned_malloc(sizeof(T) * static_cast<std::size_t>(n)));
      size = n;
    }
    return p;
  }
};

template <class T>
GemmPackBuffers<T>& gemm_pack_buffers() {
  thread_local GemmPackBuffers<T> buffers;
  return buffers;
}

// Eigen's blocking description, pointing at our persistent packing buffers.
template <class T>
class PersistentBlocking : public Eigen::internal::level3_blocking<T, T> {
 public:
  // Sizes of the column-major problem Eigen solves for a row-major C[m, n]: it computes
  // C^T = op(B)^T op(A)^T, so its rows are our n and its columns our m.
  PersistentBlocking(Index m, Index n, Index k) {
    Index kc = k, mc = n, nc = m;
    Eigen::internal::computeProductBlockingSizes<T, T, 1>(kc, mc, nc, Index{1});
    this->m_kc = kc;
    this->m_mc = mc;
    this->m_nc = nc;
    auto& buffers = gemm_pack_buffers<T>();
    this->m_blockA = buffers.need_a(kc * mc);
    this->m_blockB = buffers.need_b(kc * nc);
  }
};

// Serial C[m, n] += alpha * op(A) * op(B) for one storage-order combination.
template <class T, int LhsOrder, int RhsOrder>
void gemm_accumulate_serial(Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b, Index ldb, T* c,
                            Index ldc) {
  PersistentBlocking<T> blocking(m, n, k);
  Eigen::internal::general_matrix_matrix_product<Index, T, LhsOrder, false, T, RhsOrder, false, Eigen::RowMajor,
                                                 1>::run(m, n, k, a, lda, b, ldb, c, 1, ldc, alpha, blocking, nullptr);
}

template <class T>
void gemm_accumulate_serial(bool trans_a, bool trans_b, Index m, Index n, Index k, T alpha, const T* a, Index lda,
                            const T* b, Index ldb, T* c, Index ldc) {
  using Eigen::ColMajor;
  using Eigen::RowMajor;
  // A row-major [k, m] buffer read as op(A) = A^T is a column-major [m, k] matrix.
  if (!trans_a && !trans_b) gemm_accumulate_serial<T, RowMajor, RowMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
  else if (!trans_a && trans_b) gemm_accumulate_serial<T, RowMajor, ColMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
  else if (trans_a && !trans_b) gemm_accumulate_serial<T, ColMajor, RowMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
  else gemm_accumulate_serial<T, ColMajor, ColMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
}

// Which serial kernel a product uses. Chosen once per product, not per thread panel, so
// the result is the same for every thread count.
enum class GemmKernel { eigen, avx512 };

template <class T>
GemmKernel gemm_kernel_for([[maybe_unused]] Index m, [[maybe_unused]] Index n) {
#ifdef __AVX512F__
  if constexpr (std::is_same_v<T, float>)
    if (avx512::suits(m, n)) return GemmKernel::avx512;
#endif
  return GemmKernel::eigen;
}

// Serial C[m, n] = alpha * op(A) * op(B) + beta * C with the chosen kernel.
template <class T>
void gemm_serial([[maybe_unused]] GemmKernel kernel, bool trans_a, bool trans_b, Index m, Index n, Index k, T alpha,
                 const T* a, Index lda, const T* b, Index ldb, T beta, T* c, Index ldc) {
#ifdef __AVX512F__
  if constexpr (std::is_same_v<T, float>) {
    if (kernel == GemmKernel::avx512) {
      auto& buffers = gemm_pack_buffers<float>();
      float* a_pack = buffers.need_a(avx512::a_pack_size(k));
      float* b_pack = buffers.need_b(avx512::b_pack_size(n, k));
      avx512::gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, a_pack, b_pack);
      return;
    }
  }
#endif
  // Eigen's kernel accumulates into C: apply beta first (0 overwrites, so NaN in C cannot leak).
  if (beta != T(1)) {
    for (Index r = 0; r < m; ++r) {
      T* row = c + r * ldc;
      if (beta == T(0)) std::fill(row, row + n, T(0));
      else
        for (Index j = 0; j < n; ++j) row[j] *= beta;
    }
  }
  if (k > 0) gemm_accumulate_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, c, ldc);
}

// Work (multiply-adds) below which a GEMM runs on one thread.
constexpr Index kGemmParallelWork = Index{1} << 18;
// Panel extents are multiples of this, so every thread's panel suits the SIMD micro-kernel:
// whole 12-row strips / 32-column panels for the AVX-512 kernel, 32 for Eigen's.
inline Index gemm_panel_align([[maybe_unused]] GemmKernel kernel, [[maybe_unused]] bool split_rows) {
#ifdef __AVX512F__
  if (kernel == GemmKernel::avx512) return split_rows ? avx512::kTileRows : avx512::kTileCols;
#endif
  return 32;
}

#if defined(__AVX512F__) && defined(_OPENMP)
// Packed B, every depth block of it, up to which a shared-B GEMM packs all of B before one
// barrier instead of a block at a time between two barriers each (the packed B, 512 KiB,
// then stays in L2 while the team multiplies).
constexpr Index kSharedBWholeValues = Index{1} << 17;

// The AVX-512 kernel with C's rows split over `panels` threads that share one packed B:
// each thread packs every panels-th 32-column panel of B, a barrier, then each thread runs
// its own rows against all of B. Packing B once per team instead of once per thread keeps
// the second thread from repeating the first one's packing (a few percent of a step at
// batch 256, a tenth at batch 64). A small B (kSharedBWholeValues) is packed whole, every
// depth block, before the one barrier: a depth block at a time cost two barriers per 256
// of k, which for the deep, narrow products of a batch of 64 ([64, 3136] x [3136, 32])
// made two threads slower than one. A larger B goes a depth block at a time, each block
// used while it is in cache. Every element of C sees the same tiles in the same order as
// in the serial kernel: results match it bit for bit.
inline void gemm_rows_shared_b(int panels, Index per_panel, bool trans_a, bool trans_b, Index m, Index n, Index k,
                               float alpha, const float* a, Index lda, const float* b, Index ldb, float beta, float* c,
                               Index ldc) {
  using avx512::kTileCols;
  const Index column_panels = (n + kTileCols - 1) / kTileCols, block_values = avx512::b_pack_size(n, k);
  const Index blocks = (k + avx512::kDepthBlock - 1) / avx512::kDepthBlock;
  const bool whole = blocks * block_values <= kSharedBWholeValues;
  float* b_pack = gemm_pack_buffers<float>().need_shared_b(whole ? blocks * block_values : block_values);
  // Packs depth block k0 (kc deep) of this thread's panels into `to`.
  const auto pack_block = [&](int t, Index k0, Index kc, float* to) {
    for (Index p = t; p < column_panels; p += panels) {
      const Index j0 = p * kTileCols;
      const float* src = trans_b ? b + j0 * ldb + k0 : b + k0 * ldb + j0;
      avx512::pack_b(trans_b, src, ldb, kc, std::min(kTileCols, n - j0), to + p * kc * kTileCols);
    }
  };
#pragma omp parallel num_threads(panels)
  {
    const int t = omp_get_thread_num();
    float* a_pack = gemm_pack_buffers<float>().need_a(avx512::a_pack_size(k));
    const Index lo = std::min(m, t * per_panel), hi = std::min(m, lo + per_panel);
    if (whole) {
      for (Index k0 = 0, block = 0; k0 < k; k0 += avx512::kDepthBlock, ++block)
        pack_block(t, k0, std::min(avx512::kDepthBlock, k - k0), b_pack + block * block_values);
#pragma omp barrier
      for (Index k0 = 0, block = 0; k0 < k; k0 += avx512::kDepthBlock, ++block)
        avx512::multiply_strips(trans_a, a, lda, lo, hi, k0, std::min(avx512::kDepthBlock, k - k0), n,
                                b_pack + block * block_values, alpha, beta, c, ldc, a_pack);
    } else {
      for (Index k0 = 0; k0 < k; k0 += avx512::kDepthBlock) {
        const Index kc = std::min(avx512::kDepthBlock, k - k0);
        pack_block(t, k0, kc, b_pack);
#pragma omp barrier
        avx512::multiply_strips(trans_a, a, lda, lo, hi, k0, kc, n, b_pack, alpha, beta, c, ldc, a_pack);
#pragma omp barrier  // the next depth block overwrites b_pack
      }
    }
  }
}
#endif

// C[m, n] = alpha * op(A) * op(B) + beta * C. op(A) is [m, k] (A stored [k, m] when trans_a),
// op(B) is [k, n] (B stored [n, k] when trans_b). All buffers row-major with leading dims.
template <class T>
void gemm(bool trans_a, bool trans_b, Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b, Index ldb,
          T beta, T* c, Index ldc) {
  if (m == 0 || n == 0) return;
  const GemmKernel kernel = gemm_kernel_for<T>(m, n);
  const int threads = num_threads();
  const bool split_rows = m >= n;
  const Index extent = split_rows ? m : n;
  const Index align = gemm_panel_align(kernel, split_rows);
  const Index max_panels = (extent + align - 1) / align;
  const int panels = static_cast<int>(std::min<Index>(threads, max_panels));
  if (panels <= 1 || m * n * k < kGemmParallelWork) {
    gemm_serial(kernel, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  const Index per_panel = ((extent + panels - 1) / panels + align - 1) / align * align;
#if defined(__AVX512F__) && defined(_OPENMP)
  if constexpr (std::is_same_v<T, float>) {
    if (kernel == GemmKernel::avx512 && split_rows) {
      gemm_rows_shared_b(panels, per_panel, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
    }
  }
#endif
#ifdef _OPENMP
#pragma omp parallel for num_threads(panels) schedule(static, 1)
#endif
  for (int p = 0; p < panels; ++p) {
    const Index lo = std::min(extent, p * per_panel);
    const Index hi = std::min(extent, lo + per_panel);
    if (lo >= hi) continue;
    if (split_rows) {
      // Rows [lo, hi) of C need rows [lo, hi) of op(A).
      const T* a_panel = trans_a ? a + lo : a + lo * lda;
      gemm_serial(kernel, trans_a, trans_b, hi - lo, n, k, alpha, a_panel, lda, b, ldb, beta, c + lo * ldc, ldc);
    } else {
      // Columns [lo, hi) of C need columns [lo, hi) of op(B).
      const T* b_panel = trans_b ? b + lo * ldb : b + lo;
      gemm_serial(kernel, trans_a, trans_b, m, hi - lo, k, alpha, a, lda, b_panel, ldb, beta, c + lo, ldc);
    }
  }
}

// One op(B) [k, n] for several serial products C = alpha op(A) op(B) + beta C with different
// A and C, e.g. a layer's weight against the chunks of a batch that threads take in turn:
// on the AVX-512 float path B is packed once (pack(), on the calling thread, before the
// parallel region) instead of once per product; elsewhere multiply() is gemm_serial. The
// packed panels live in the calling thread's buffers (reused, grown once), so at most one
// PackedB per thread is live at a time, and pack() must run on the thread that owns it.
// Each product gives bit for bit what gemm_serial gives (the same tiles in the same order).
template <class T>
class PackedB {
 public:
  PackedB(bool trans_b, Index n, Index k, const T* b, Index ldb)
      : trans_b_(trans_b), n_(n), k_(k), b_(b), ldb_(ldb), kernel_(gemm_kernel_for<T>(avx512_min_rows(), n)) {
#ifdef __AVX512F__
    if constexpr (std::is_same_v<T, float>) {
      if (kernel_ == GemmKernel::avx512 && k > 0) {
        const Index panels = (n + avx512::kTileCols - 1) / avx512::kTileCols;
        packed_ = gemm_pack_buffers<float>().need_packed_b(panels * avx512::kTileCols * k);
        // Depth block k0 of width kc starts at panels * 32 * k0 and holds [panel][kc][32].
        for (Index k0 = 0; k0 < k; k0 += avx512::kDepthBlock) {
          const Index kc = std::min(avx512::kDepthBlock, k - k0);
          avx512::pack_b(trans_b, trans_b ? b + k0 : b + k0 * ldb, ldb, kc, n,
                         packed_ + panels * avx512::kTileCols * k0);
        }
      }
    }
#endif
  }

  // C[m, n] = alpha * op(A) * op(B) + beta * C on the calling thread; op(A) is [m, k].
  void multiply(bool trans_a, Index m, const T* a, Index lda, T alpha, T beta, T* c, Index ldc) const {
    if (m == 0 || n_ == 0) return;
#ifdef __AVX512F__
    if constexpr (std::is_same_v<T, float>) {
      if (packed_ != nullptr) {
        const Index panels = (n_ + avx512::kTileCols - 1) / avx512::kTileCols;
        float* a_pack = gemm_pack_buffers<float>().need_a(avx512::a_pack_size(k_));
        for (Index k0 = 0; k0 < k_; k0 += avx512::kDepthBlock) {
          const Index kc = std::min(avx512::kDepthBlock, k_ - k0);
          avx512::multiply_strips(trans_a, a, lda, 0, m, k0, kc, n_, packed_ + panels * avx512::kTileCols * k0, alpha,
                                  beta, c, ldc, a_pack);
        }
        return;
      }
    }
#endif
    gemm_serial(kernel_, trans_a, trans_b_, m, n_, k_, alpha, a, lda, b_, ldb_, beta, c, ldc);
  }

  // Whether multiply_implicit() is available: the AVX-512 float path (elsewhere the caller
  // builds A and calls multiply()).
  bool implicit() const { return packed_ != nullptr; }
  // Whether a PackedB of width n (and depth k > 0) has implicit(), known without packing one.
  static bool implicit_for([[maybe_unused]] Index n) {
#ifdef __AVX512F__
    if constexpr (std::is_same_v<T, float>) return gemm_kernel_for<T>(avx512_min_rows(), n) == GemmKernel::avx512;
#endif
    return false;
  }
  // C[m, n] = alpha * A op(B) + beta * C with A[r][k] = window[r][offset[k]] read in place
  // (avx512::gemm_implicit); only when implicit(). Bit for bit what multiply() gives for
  // the same A built as a matrix.
  void multiply_implicit(Index m, const T* const* window, const Index* offset, T alpha, T beta, T* c, Index ldc) const {
#ifdef __AVX512F__
    if constexpr (std::is_same_v<T, float>) {
      if (m > 0 && n_ > 0 && packed_ != nullptr)
        avx512::gemm_implicit(m, n_, k_, alpha, window, offset, packed_, beta, c, ldc);
      return;
    }
#endif
    (void)m, (void)window, (void)offset, (void)alpha, (void)beta, (void)c, (void)ldc;
  }

 private:
  // The kernel choice may depend only on B's shape (products of any height share it): the
  // AVX-512 kernel whenever n suits it, also for chunks of fewer rows than gemm() gives it.
  static Index avx512_min_rows() {
#ifdef __AVX512F__
    return avx512::kTileRows;
#else
    return 1;
#endif
  }

  bool trans_b_;
  Index n_, k_;
  const T* b_;
  Index ldb_;
  GemmKernel kernel_;
  T* packed_ = nullptr;
};

}  // namespace vaegan::detail
