#pragma once
// Frechet distance between two Gaussians fitted to feature sets (FID when the features
// come from a classifier's penultimate layer):
//   d^2 = ||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))
// The trace of the matrix square root is computed stably in double: with A = S_a^(1/2)
// (symmetric eigendecomposition, eigenvalues clamped at 0), S_a S_b is similar to the
// symmetric PSD matrix M = A S_b A, so tr((S_a S_b)^(1/2)) = sum of sqrt(eigenvalues of M).
// No non-symmetric square root (scipy's sqrtm) and no complex parts to discard.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <string>

#include "vaegan/core/error.hpp"
#include "vaegan/core/tensor.hpp"

namespace vaegan {

struct GaussianStats {
  Eigen::VectorXd mean;
  Eigen::MatrixXd covariance;
  Index count = 0;
};

// Mean and unbiased covariance of the rows of `features` [n, d], accumulated in double.
template <class T>
GaussianStats gaussian_stats(const Tensor<T>& features) {
  const Index n = features.rows();
  if (n < 2) throw Error("gaussian_stats: need at least 2 feature rows, got " + std::to_string(n));
  const Eigen::MatrixXd x = features.matrix().template cast<double>();
  GaussianStats s;
  s.count = n;
  s.mean = x.colwise().mean().transpose();
  const Eigen::MatrixXd centered = x.rowwise() - s.mean.transpose();
  s.covariance = (centered.transpose() * centered) / static_cast<double>(n - 1);
  return s;
}

// Square root of a symmetric positive semi-definite matrix (negative eigenvalues from
// rounding are clamped to 0).
inline Eigen::MatrixXd sqrtm_psd(const Eigen::MatrixXd& m) {
  if (m.rows() != m.cols()) throw ShapeError("sqrtm_psd: matrix must be square");
  const Eigen::MatrixXd sym = 0.5 * (m + m.transpose());
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(sym);
  if (eig.info() != Eigen::Success) throw NumericError("sqrtm_psd: eigendecomposition failed");
  const Eigen::VectorXd root = eig.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return eig.eigenvectors() * root.asDiagonal() * eig.eigenvectors().transpose();
}

// tr((S_a S_b)^(1/2)) for symmetric PSD S_a, S_b.
inline double trace_sqrt_product(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  const Eigen::MatrixXd ra = sqrtm_psd(a);
  const Eigen::MatrixXd m = ra * b * ra;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(0.5 * (m + m.transpose()), Eigen::EigenvaluesOnly);
  if (eig.info() != Eigen::Success) throw NumericError("trace_sqrt_product: eigendecomposition failed");
  return eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
}

inline double frechet_distance(const GaussianStats& a, const GaussianStats& b) {
  if (a.mean.size() != b.mean.size())
    throw ShapeError("frechet_distance: feature sizes differ (" + std::to_string(a.mean.size()) + " and " +
                     std::to_string(b.mean.size()) + ")");
  const double mean_term = (a.mean - b.mean).squaredNorm();
  const double d =
      mean_term + a.covariance.trace() + b.covariance.trace() - 2.0 * trace_sqrt_product(a.covariance, b.covariance);
  return std::max(d, 0.0);  // tiny negative values are rounding
}

template <class T>
double frechet_distance(const Tensor<T>& features_a, const Tensor<T>& features_b) {
  return frechet_distance(gaussian_stats(features_a), gaussian_stats(features_b));
}

}  // namespace vaegan
