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
#include <algorithm>

#include <Eigen/Core>

#include "vaegan/core/config.hpp"
#include "vaegan/core/parallel.hpp"

namespace vaegan::detail {

// Per-thread packing buffers for Eigen's GEMM kernel; they grow and are then reused.
template <class T>
struct GemmPackBuffers {
  T* a = nullptr;
  T* b = nullptr;
  Index a_size = 0;
  Index b_size = 0;
  T* need_a(Index n) { return grow(a, a_size, n); }
  T* need_b(Index n) { return grow(b, b_size, n); }
  ~GemmPackBuffers() {
    Eigen::internal::aligned_free(a);
    Eigen::internal::aligned_free(b);
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
void gemm_accumulate_serial(Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b, Index ldb,
                            T* c, Index ldc) {
  PersistentBlocking<T> blocking(m, n, k);
  Eigen::internal::general_matrix_matrix_product<Index, T, LhsOrder, false, T, RhsOrder, false, Eigen::RowMajor,
                                                 1>::run(m, n, k, a, lda, b, ldb, c, 1, ldc, alpha, blocking,
                                                         nullptr);
}

template <class T>
void gemm_accumulate_serial(bool trans_a, bool trans_b, Index m, Index n, Index k, T alpha, const T* a, Index lda,
                            const T* b, Index ldb, T* c, Index ldc) {
  using Eigen::ColMajor;
  using Eigen::RowMajor;
  // A row-major [k, m] buffer read as op(A) = A^T is a column-major [m, k] matrix.
  if (!trans_a && !trans_b)
    gemm_accumulate_serial<T, RowMajor, RowMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
  else if (!trans_a && trans_b)
    gemm_accumulate_serial<T, RowMajor, ColMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
  else if (trans_a && !trans_b)
    gemm_accumulate_serial<T, ColMajor, RowMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
  else
    gemm_accumulate_serial<T, ColMajor, ColMajor>(m, n, k, alpha, a, lda, b, ldb, c, ldc);
}

// Work (multiply-adds) below which a GEMM runs on one thread.
constexpr Index kGemmParallelWork = Index{1} << 18;
// Panel widths are multiples of this, so every thread's panel suits the SIMD micro-kernel.
constexpr Index kGemmPanelAlign = 32;

// C[m, n] = alpha * op(A) * op(B) + beta * C. op(A) is [m, k] (A stored [k, m] when trans_a),
// op(B) is [k, n] (B stored [n, k] when trans_b). All buffers row-major with leading dims.
template <class T>
void gemm(bool trans_a, bool trans_b, Index m, Index n, Index k, T alpha, const T* a, Index lda, const T* b,
          Index ldb, T beta, T* c, Index ldc) {
  if (m == 0 || n == 0) return;
  auto scale_rows = [&](Index r0, Index r1, Index c0, Index c1) {
    if (beta == T(1)) return;
    for (Index r = r0; r < r1; ++r) {
      T* row = c + r * ldc;
      if (beta == T(0))
        std::fill(row + c0, row + c1, T(0));
      else
        for (Index j = c0; j < c1; ++j) row[j] *= beta;
    }
  };
  const int threads = num_threads();
  const bool split_rows = m >= n;
  const Index extent = split_rows ? m : n;
  const Index max_panels = (extent + kGemmPanelAlign - 1) / kGemmPanelAlign;
  const int panels = static_cast<int>(std::min<Index>(threads, max_panels));
  if (panels <= 1 || m * n * k < kGemmParallelWork) {
    scale_rows(0, m, 0, n);
    if (k > 0) gemm_accumulate_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, c, ldc);
    return;
  }
  const Index per_panel = ((extent + panels - 1) / panels + kGemmPanelAlign - 1) / kGemmPanelAlign * kGemmPanelAlign;
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
      scale_rows(lo, hi, 0, n);
      if (k > 0) gemm_accumulate_serial(trans_a, trans_b, hi - lo, n, k, alpha, a_panel, lda, b, ldb, c + lo * ldc, ldc);
    } else {
      // Columns [lo, hi) of C need columns [lo, hi) of op(B).
      const T* b_panel = trans_b ? b + lo * ldb : b + lo;
      scale_rows(0, m, lo, hi);
      if (k > 0) gemm_accumulate_serial(trans_a, trans_b, m, hi - lo, k, alpha, a, lda, b_panel, ldb, c + lo, ldc);
    }
  }
}

}  // namespace vaegan::detail
