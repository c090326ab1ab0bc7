#pragma once
// Improved precision and recall of a generated feature set against a real one
// (Kynkaanniemi et al. 2019). Each set's manifold is the union of balls around its points
// with radius = distance to the k-th nearest neighbour within the same set.
//   precision = fraction of generated points inside the real manifold  (sharpness)
//   recall    = fraction of real points inside the generated manifold  (diversity)
// "Sharp but collapsed" shows as high precision and low recall; "diverse but blurry"
// as the reverse. Pairwise distances come from one GEMM per block: |a|^2 + |b|^2 - 2 a.b.
#include <Eigen/Dense>
#include <algorithm>
#include <string>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/core/tensor.hpp"

namespace vaegan {

struct PrecisionRecall {
  double precision = 0.0;
  double recall = 0.0;
};

namespace detail {
using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Squared distances between the rows of a [n, d] and b [m, d], for rows [r0, r1) of a.
inline void squared_distances(const RowMatrixD& a, const Eigen::VectorXd& a_norms, const RowMatrixD& b,
                              const Eigen::VectorXd& b_norms, Index r0, Index r1, RowMatrixD& out) {
  out.noalias() = -2.0 * a.middleRows(r0, r1 - r0) * b.transpose();
  out.colwise() += a_norms.segment(r0, r1 - r0);
  out.rowwise() += b_norms.transpose();
  out = out.cwiseMax(0.0);
}

// Squared distance from each row of x to its k-th nearest other row.
inline Eigen::VectorXd kth_neighbour_radii(const RowMatrixD& x, const Eigen::VectorXd& norms, int k) {
  const Index n = x.rows();
  Eigen::VectorXd radii(n);
  const Index block = 256;
  RowMatrixD d;
  std::vector<double> row;
  for (Index r0 = 0; r0 < n; r0 += block) {
    const Index r1 = std::min(n, r0 + block);
    squared_distances(x, norms, x, norms, r0, r1, d);
    for (Index i = r0; i < r1; ++i) {
      row.assign(d.row(i - r0).data(), d.row(i - r0).data() + n);
      // Index k is the k-th neighbour because index 0 is the point itself (distance 0).
      std::nth_element(row.begin(), row.begin() + k, row.end());
      radii[i] = row[static_cast<std::size_t>(k)];
    }
  }
  return radii;
}

// Fraction of the rows of `queries` that fall inside some ball (centre row of `points`,
// squared radius `radii`).
inline double fraction_inside(const RowMatrixD& queries, const Eigen::VectorXd& q_norms, const RowMatrixD& points,
                              const Eigen::VectorXd& p_norms, const Eigen::VectorXd& radii) {
  const Index n = queries.rows();
  const Index block = 256;
  RowMatrixD d;
  Index inside = 0;
  for (Index r0 = 0; r0 < n; r0 += block) {
    const Index r1 = std::min(n, r0 + block);
    squared_distances(queries, q_norms, points, p_norms, r0, r1, d);
    for (Index i = 0; i < r1 - r0; ++i)
      if (((d.row(i).transpose() - radii).array() <= 0.0).any()) ++inside;
  }
  return static_cast<double>(inside) / static_cast<double>(n);
}
}  // namespace detail

template <class T>
PrecisionRecall precision_recall(const Tensor<T>& real, const Tensor<T>& generated, int k = 3) {
  if (real.cols() != generated.cols())
    throw ShapeError("precision_recall: feature sizes differ (" + real.shape().str() + " and " +
                     generated.shape().str() + ")");
  if (k < 1 || real.rows() <= k || generated.rows() <= k)
    throw Error("precision_recall: each set needs more than k = " + std::to_string(k) + " points (got " +
                std::to_string(real.rows()) + " real, " + std::to_string(generated.rows()) + " generated)");
  const detail::RowMatrixD r = real.matrix().template cast<double>();
  const detail::RowMatrixD g = generated.matrix().template cast<double>();
  const Eigen::VectorXd rn = r.rowwise().squaredNorm(), gn = g.rowwise().squaredNorm();
  const Eigen::VectorXd real_radii = detail::kth_neighbour_radii(r, rn, k);
  const Eigen::VectorXd gen_radii = detail::kth_neighbour_radii(g, gn, k);
  PrecisionRecall pr;
  pr.precision = detail::fraction_inside(g, gn, r, rn, real_radii);
  pr.recall = detail::fraction_inside(r, rn, g, gn, gen_radii);
  return pr;
}

}  // namespace vaegan
