// Tests of metrics/: the Frechet distance against closed forms computed here by other
// routes (diagonal covariances, eigenvalues of the non-symmetric product), the PSD square
// root, mode coverage at its threshold, precision/recall against a brute-force reference
// and on clustered data whose answer is known, and the evaluation classifier (learning,
// checkpoint round trip, damaged files) together with the Evaluator that combines them.
#include <doctest/doctest.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "io/temp_dir.hpp"
#include "test_util.hpp"
#include "vaegan/data/dataset.hpp"
#include "vaegan/metrics/classifier.hpp"
#include "vaegan/metrics/classifier_trainer.hpp"
#include "vaegan/metrics/coverage.hpp"
#include "vaegan/metrics/evaluator.hpp"
#include "vaegan/metrics/fid.hpp"
#include "vaegan/metrics/precision_recall.hpp"

namespace {

using vaegan::test::same_bits;

using vaegan::test::contains;

using namespace vaegan;
using vaegan::test::relative;

// ---- helpers -------------------------------------------------------------------------------

Eigen::MatrixXd random_matrix(Index rows, Index cols, Rng& rng) {
  Eigen::MatrixXd m(rows, cols);
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) m(i, j) = rng.normal();
  return m;
}

// A random symmetric positive definite matrix, eigenvalues bounded away from 0.
Eigen::MatrixXd random_spd(Index d, Rng& rng) {
  const Eigen::MatrixXd q = random_matrix(d, d, rng);
  return q * q.transpose() / static_cast<double>(d) + 0.1 * Eigen::MatrixXd::Identity(d, d);
}

// A random orthogonal matrix (the Q of a QR factorisation of a Gaussian matrix).
Eigen::MatrixXd random_orthogonal(Index d, Rng& rng) {
  const Eigen::HouseholderQR<Eigen::MatrixXd> qr(random_matrix(d, d, rng));
  return qr.householderQ() * Eigen::MatrixXd::Identity(d, d);
}

Eigen::VectorXd vec(std::initializer_list<double> values) {
  Eigen::VectorXd v(static_cast<Index>(values.size()));
  Index i = 0;
  for (double x : values) v[i++] = x;
  return v;
}

double relative_error(const Eigen::MatrixXd& got, const Eigen::MatrixXd& want) {
  return (got - want).norm() / want.norm();
}

// n rows drawn from N(mean, factor factor^T): row = mean + factor z.
Tensor<double> gaussian_sample(Index n, const Eigen::VectorXd& mean, const Eigen::MatrixXd& factor, Rng& rng) {
  const Index d = mean.size();
  Tensor<double> t(Shape::matrix(n, d));
  Eigen::VectorXd z(d);
  for (Index i = 0; i < n; ++i) {
    for (Index j = 0; j < d; ++j) z[j] = rng.normal();
    t.matrix().row(i) = (mean + factor * z).transpose();
  }
  return t;
}

GaussianStats stats_of(const Eigen::VectorXd& mean, const Eigen::MatrixXd& covariance) {
  GaussianStats s;
  s.mean = mean;
  s.covariance = covariance;
  s.count = 1000;
  return s;
}

using vaegan::test::message_of;

// ---- FID -----------------------------------------------------------------------------------

TEST_CASE("gaussian_stats: mean and unbiased covariance match a two-pass loop") {
  Rng rng(11);
  const Tensor<double> x = test::random_normal(Shape::matrix(7, 3), rng, 1.5, 2.0);
  const GaussianStats s = gaussian_stats(x);
  CHECK(s.count == 7);
  for (Index j = 0; j < 3; ++j) {
    double mean = 0.0;
    for (Index i = 0; i < 7; ++i) mean += x(i, j);
    mean /= 7.0;
    CHECK(s.mean[j] == relative(mean, 1e-12));
    for (Index k = 0; k < 3; ++k) {
      double mean_k = 0.0;
      for (Index i = 0; i < 7; ++i) mean_k += x(i, k);
      mean_k /= 7.0;
      double cov = 0.0;
      for (Index i = 0; i < 7; ++i) cov += (x(i, j) - mean) * (x(i, k) - mean_k);
      CHECK(s.covariance(j, k) == relative(cov / 6.0, 1e-12));
    }
  }
  // One row has no covariance.
  CHECK(contains(message_of<Error>([] { gaussian_stats(Tensor<double>(Shape::matrix(1, 3))); }), "got 1"));
}

TEST_CASE_TEMPLATE("frechet_distance: a feature set against itself is 0", T, float, double) {
  Rng rng(3);
  // Correlated features with unequal scales, so that the covariance is far from diagonal.
  const Eigen::MatrixXd factor = random_matrix(6, 6, rng);
  const Tensor<double> x = gaussian_sample(300, Eigen::VectorXd::Constant(6, 2.0), factor, rng);
  Tensor<T> xt(x.shape());
  for (Index i = 0; i < x.numel(); ++i) xt[i] = static_cast<T>(x[i]);
  const double trace_scale = gaussian_stats(xt).covariance.trace();
  const double fid = frechet_distance(xt, xt);
  CHECK(std::isfinite(fid));
  CHECK(fid >= 0.0);
  CHECK(fid < 1e-6 * trace_scale);
}

TEST_CASE("frechet_distance: exact Gaussians with diagonal covariances match the closed form") {
  // For diagonal S_a, S_b: tr((S_a S_b)^1/2) = sum sqrt(a_i b_i).
  const Eigen::VectorXd a = vec({1.0, 2.0, 0.5, 3.0, 1e-3});
  const Eigen::VectorXd b = vec({2.0, 0.5, 0.5, 1.0, 4.0});
  const Eigen::VectorXd mu_a = vec({0.0, 1.0, -1.0, 0.5, 0.0});
  const Eigen::VectorXd mu_b = vec({1.0, 0.5, -1.0, 2.5, -0.25});
  double expected = (mu_a - mu_b).squaredNorm();
  for (Index i = 0; i < 5; ++i) expected += a[i] + b[i] - 2.0 * std::sqrt(a[i] * b[i]);
  const GaussianStats sa = stats_of(mu_a, a.asDiagonal()), sb = stats_of(mu_b, b.asDiagonal());
  CHECK(frechet_distance(sa, sb) == relative(expected, 1e-9));
  // A distance: symmetric, and 0 from a Gaussian to itself.
  CHECK(frechet_distance(sb, sa) == relative(expected, 1e-9));
  CHECK(frechet_distance(sa, sa) < 1e-9 * a.sum());
  double trace_sqrt = 0.0;
  for (Index i = 0; i < 5; ++i) trace_sqrt += std::sqrt(a[i] * b[i]);
  CHECK(trace_sqrt_product(a.asDiagonal(), b.asDiagonal()) == relative(trace_sqrt, 1e-9));
}

TEST_CASE("frechet_distance: exact Gaussians with full covariances match tr(sqrt(A B)) from the eigenvalues of A B") {
  Rng rng(29);
  for (Index d : {2, 4, 9}) {
    CAPTURE(d);
    const Eigen::MatrixXd a = random_spd(d, rng), b = random_spd(d, rng);
    const Eigen::VectorXd mu_a = random_matrix(d, 1, rng), mu_b = random_matrix(d, 1, rng);
    // A B is not symmetric, but it is similar to A^1/2 B A^1/2: its eigenvalues are real
    // and positive, and tr((A B)^1/2) is the sum of their square roots.
    const Eigen::EigenSolver<Eigen::MatrixXd> eig(a * b);
    REQUIRE(eig.info() == Eigen::Success);
    const Eigen::VectorXcd lambda = eig.eigenvalues();
    const double largest = lambda.cwiseAbs().maxCoeff();
    double trace_sqrt = 0.0;
    for (Index i = 0; i < d; ++i) {
      CHECK(std::abs(lambda[i].imag()) < 1e-9 * largest);
      CHECK(lambda[i].real() > 0.0);
      trace_sqrt += std::sqrt(lambda[i].real());
    }
    CHECK(trace_sqrt_product(a, b) == relative(trace_sqrt, 1e-9));
    CHECK(trace_sqrt_product(b, a) == relative(trace_sqrt, 1e-9));
    const double expected = (mu_a - mu_b).squaredNorm() + a.trace() + b.trace() - 2.0 * trace_sqrt;
    const double fid = frechet_distance(stats_of(mu_a, a), stats_of(mu_b, b));
    CHECK(std::abs(fid - expected) < 1e-9 * ((mu_a - mu_b).squaredNorm() + a.trace() + b.trace()));
  }
}

TEST_CASE("frechet_distance: with equal covariances it is the squared mean shift") {
  Rng rng(5);
  const Eigen::MatrixXd s = random_spd(6, rng);
  const Eigen::VectorXd mu = random_matrix(6, 1, rng);
  const Eigen::VectorXd delta = vec({0.5, -1.0, 0.0, 2.0, 0.25, -0.75});
  const double fid = frechet_distance(stats_of(mu, s), stats_of(mu + delta, s));
  CHECK(std::abs(fid - delta.squaredNorm()) < 1e-9 * (delta.squaredNorm() + s.trace()));
}

TEST_CASE("frechet_distance: sample estimates approach the closed form within a tolerance that shrinks with n") {
  Rng rng(17);
  const Eigen::VectorXd a = vec({1.0, 2.0, 0.5, 3.0});
  const Eigen::VectorXd b = vec({2.0, 0.5, 0.5, 1.0});
  const Eigen::VectorXd mu_a = Eigen::VectorXd::Zero(4);
  const Eigen::VectorXd delta = vec({1.0, -0.5, 0.0, 2.0});
  const Index d = a.size();
  double expected = delta.squaredNorm();
  for (Index i = 0; i < d; ++i) expected += a[i] + b[i] - 2.0 * std::sqrt(a[i] * b[i]);

  // First-order spread of the estimate: the mean term moves by 2 delta . (error of the means),
  // variance 4 sum delta_i^2 (a_i + b_i) / n; a sample variance has variance 2 a^2 / n and
  // d/da of (sqrt(a) - sqrt(b))^2 is 1 - sqrt(b / a). Bias: E|error of the means|^2 =
  // (tr S_a + tr S_b) / n, and off-diagonal noise adds O(d^2 max eigenvalue / n).
  auto tolerance = [&](Index n) {
    double var = 0.0;
    for (Index i = 0; i < d; ++i) {
      const double gap = std::sqrt(a[i]) - std::sqrt(b[i]);
      var += 4.0 * delta[i] * delta[i] * (a[i] + b[i]) + 2.0 * (a[i] + b[i]) * gap * gap;
    }
    const double bias = (a.sum() + b.sum() + d * d * std::max(a.maxCoeff(), b.maxCoeff())) / static_cast<double>(n);
    return 5.0 * std::sqrt(var / static_cast<double>(n)) + bias;
  };
  for (Index n : {2000, 20000}) {
    CAPTURE(n);
    const Tensor<double> xa = gaussian_sample(n, mu_a, a.cwiseSqrt().asDiagonal(), rng);
    const Tensor<double> xb = gaussian_sample(n, mu_a + delta, b.cwiseSqrt().asDiagonal(), rng);
    const double fid = frechet_distance(xa, xb);
    CAPTURE(fid);
    CAPTURE(expected);
    CHECK(std::abs(fid - expected) < tolerance(n));
  }
  CHECK(tolerance(20000) < 0.1 * expected);  // so that the last check says something
}

TEST_CASE("frechet_distance: samples with one covariance and a mean shift give the squared shift") {
  Rng rng(23);
  const Index d = 5, n = 20000;
  const Eigen::MatrixXd factor = random_matrix(d, d, rng) / std::sqrt(static_cast<double>(d));
  const Eigen::MatrixXd s = factor * factor.transpose();
  const Eigen::VectorXd mu = random_matrix(d, 1, rng);
  const Eigen::VectorXd delta = vec({1.0, 0.0, -1.5, 0.5, 1.0});
  const double fid = frechet_distance(gaussian_sample(n, mu, factor, rng), gaussian_sample(n, mu + delta, factor, rng));
  // 2 delta . (error of the means) has variance 8 delta^T S delta / n; the covariance terms
  // cancel to first order and leave O(d tr S / n), the means add (2 tr S) / n.
  const double spread = std::sqrt(8.0 * delta.dot(s * delta) / n);
  const double bias = (2.0 + d) * s.trace() / n;
  CAPTURE(fid);
  CHECK(std::abs(fid - delta.squaredNorm()) < 5.0 * spread + 3.0 * bias);
}

TEST_CASE("frechet_distance: feature sizes must agree") {
  const GaussianStats a = stats_of(Eigen::VectorXd::Zero(3), Eigen::MatrixXd::Identity(3, 3));
  const GaussianStats b = stats_of(Eigen::VectorXd::Zero(4), Eigen::MatrixXd::Identity(4, 4));
  CHECK(contains(message_of<ShapeError>([&] { frechet_distance(a, b); }), "(3 and 4)"));
}

// ---- sqrtm_psd -----------------------------------------------------------------------------

TEST_CASE("sqrtm_psd: on random SPD matrices R R reproduces the input and R is symmetric PSD") {
  Rng rng(101);
  for (Index d : {1, 2, 3, 8, 25}) {
    for (int trial = 0; trial < 2; ++trial) {
      CAPTURE(d);
      const Eigen::MatrixXd m = random_spd(d, rng);
      const Eigen::MatrixXd r = sqrtm_psd(m);
      REQUIRE(r.rows() == d);
      REQUIRE(r.cols() == d);
      CHECK(relative_error(r * r, m) < 1e-9);
      CHECK((r - r.transpose()).norm() < 1e-12 * r.norm());
      // The principal root: positive definite itself.
      const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(0.5 * (r + r.transpose()));
      CHECK(eig.eigenvalues().minCoeff() > 0.0);
    }
  }
  // A diagonal matrix: the root of each entry.
  const Eigen::MatrixXd diag = Eigen::Vector3d(4.0, 9.0, 0.25).asDiagonal();
  CHECK(relative_error(sqrtm_psd(diag), Eigen::Vector3d(2.0, 3.0, 0.5).asDiagonal()) < 1e-14);
}

TEST_CASE("sqrtm_psd: a singular PSD matrix and tiny negative eigenvalues from rounding stay finite") {
  Rng rng(7);
  SUBCASE("rank deficient") {
    for (Index d : {2, 5, 12}) {
      CAPTURE(d);
      const Eigen::MatrixXd q = random_matrix(d, d - 1, rng);
      const Eigen::MatrixXd m = q * q.transpose();  // one eigenvalue is exactly 0 (rounded: +-eps)
      const Eigen::MatrixXd r = sqrtm_psd(m);
      CHECK(r.allFinite());
      CHECK(relative_error(r * r, m) < 1e-9);
      CHECK((r - r.transpose()).norm() < 1e-12 * r.norm());
    }
  }
  SUBCASE("tiny negative eigenvalues") {
    const Index d = 6;
    const Eigen::MatrixXd u = random_orthogonal(d, rng);
    const Eigen::VectorXd lambda = vec({5.0, 2.0, 1.0, 0.5, -1e-13, -3e-14});
    const Eigen::MatrixXd m = u * lambda.asDiagonal() * u.transpose();
    const Eigen::MatrixXd r = sqrtm_psd(m);
    CHECK(r.allFinite());
    // The root of the matrix with the negative eigenvalues clamped to 0.
    const Eigen::MatrixXd clamped = u * lambda.cwiseMax(0.0).asDiagonal() * u.transpose();
    CHECK(relative_error(r * r, clamped) < 1e-9);
    CHECK(relative_error(r * r, m) < 1e-9);
    // And the quantities built on it: tr((M M)^1/2) = sum |lambda|, FID(M, M) = 0. The
    // eigenvalues of M^1/2 M M^1/2 that should be 0 come out as +-(d eps lambda_max^2) and
    // their square roots as sqrt(d eps) lambda_max each: no method does better in double.
    const double noise = 2.0 * std::sqrt(d * std::numeric_limits<double>::epsilon()) * lambda.maxCoeff();
    const double t = trace_sqrt_product(m, m);
    CHECK(std::isfinite(t));
    CHECK(std::abs(t - lambda.cwiseAbs().sum()) < 2 * noise);
    const GaussianStats s = stats_of(Eigen::VectorXd::Zero(d), m);
    const double fid = frechet_distance(s, s);
    CHECK(std::isfinite(fid));
    CHECK(fid < 4 * noise);
  }
}

TEST_CASE("sqrtm_psd: a non-square matrix is a ShapeError") {
  CHECK_THROWS_AS(sqrtm_psd(Eigen::MatrixXd::Zero(2, 3)), ShapeError);
}

// ---- class_coverage ------------------------------------------------------------------------

// `counts[c]` labels of class c, in interleaved order.
std::vector<int> labels_with_counts(const std::vector<Index>& counts) {
  std::vector<int> labels;
  std::vector<Index> left = counts;
  bool any = true;
  while (any) {
    any = false;
    for (std::size_t c = 0; c < left.size(); ++c)
      if (left[c] > 0) {
        labels.push_back(static_cast<int>(c));
        --left[c];
        any = true;
      }
  }
  return labels;
}

double kl_to_uniform_of(const std::vector<Index>& counts) {
  double n = 0.0;
  for (Index c : counts) n += static_cast<double>(c);
  double kl = 0.0;
  for (Index c : counts)
    if (c > 0) kl += (c / n) * std::log((c / n) / (1.0 / static_cast<double>(counts.size())));
  return kl;
}

TEST_CASE("class_coverage: a uniform set covers every class with KL 0") {
  const std::vector<Index> counts(10, 7);
  const Coverage c = class_coverage(labels_with_counts(counts), 10);
  CHECK(c.classes_covered == 10);
  CHECK(std::abs(c.kl_to_uniform) < 1e-12);
  CHECK(c.histogram == counts);
}

TEST_CASE("class_coverage: a single mode covers one class with KL log(classes)") {
  for (int classes : {2, 10, 37}) {
    CAPTURE(classes);
    const std::vector<int> labels(50, classes - 1);
    const Coverage c = class_coverage(labels, classes);
    CHECK(c.classes_covered == 1);
    CHECK(c.kl_to_uniform == relative(std::log(static_cast<double>(classes)), 1e-12));
    CHECK(c.histogram[static_cast<std::size_t>(classes - 1)] == 50);
  }
}

TEST_CASE("class_coverage: a class counts from exactly a tenth of its uniform share") {
  // 1000 labels over 10 classes: the uniform share is 100, the threshold 10.
  std::vector<Index> counts{10, 9, 122, 122, 122, 122, 122, 122, 122, 127};
  Index total = 0;
  for (Index c : counts) total += c;
  REQUIRE(total == 1000);
  Coverage c = class_coverage(labels_with_counts(counts), 10);
  CHECK(c.classes_covered == 9);  // 10 counts, 9 does not
  CHECK(c.histogram == counts);
  CHECK(c.kl_to_uniform == relative(kl_to_uniform_of(counts), 1e-12));

  // One more for the second class, one fewer elsewhere: now it counts too.
  counts = {10, 10, 122, 122, 122, 122, 122, 122, 122, 126};
  c = class_coverage(labels_with_counts(counts), 10);
  CHECK(c.classes_covered == 10);
  CHECK(c.kl_to_uniform == relative(kl_to_uniform_of(counts), 1e-12));

  // A threshold that is not an integer: 95 labels over 5 classes -> 1.9; 2 counts, 1 does not.
  counts = {2, 1, 30, 30, 32};
  c = class_coverage(labels_with_counts(counts), 5);
  CHECK(c.classes_covered == 4);
}

TEST_CASE("class_coverage: labels outside [0, classes), no labels and no classes are errors") {
  CHECK(contains(message_of<Error>([] { class_coverage({0, 1, 10}, 10); }), "label 10"));
  CHECK(contains(message_of<Error>([] { class_coverage({0, -1, 3}, 10); }), "label -1"));
  CHECK(contains(message_of<Error>([] { class_coverage({}, 10); }), "no labels"));
  CHECK(contains(message_of<Error>([] { class_coverage({0}, 0); }), "classes"));
}

// ---- precision_recall ----------------------------------------------------------------------

// Brute force: the k-th nearest *other* point by sorting all distances, membership by
// direct comparison against every ball.
PrecisionRecall reference_precision_recall(const Tensor<double>& real, const Tensor<double>& gen, int k) {
  auto dist2 = [](const Tensor<double>& x, Index i, const Tensor<double>& y, Index j) {
    double s = 0.0;
    for (Index c = 0; c < x.cols(); ++c) {
      const double diff = x(i, c) - y(j, c);
      s += diff * diff;
    }
    return s;
  };
  auto radii = [&](const Tensor<double>& x) {
    std::vector<double> r(static_cast<std::size_t>(x.rows()));
    for (Index i = 0; i < x.rows(); ++i) {
      std::vector<double> others;
      for (Index j = 0; j < x.rows(); ++j)
        if (j != i) others.push_back(dist2(x, i, x, j));
      std::sort(others.begin(), others.end());
      r[static_cast<std::size_t>(i)] = others[static_cast<std::size_t>(k - 1)];
    }
    return r;
  };
  auto fraction = [&](const Tensor<double>& queries, const Tensor<double>& centres, const std::vector<double>& r) {
    Index inside = 0;
    for (Index i = 0; i < queries.rows(); ++i)
      for (Index j = 0; j < centres.rows(); ++j)
        if (dist2(queries, i, centres, j) <= r[static_cast<std::size_t>(j)]) {
          ++inside;
          break;
        }
    return static_cast<double>(inside) / static_cast<double>(queries.rows());
  };
  PrecisionRecall pr;
  pr.precision = fraction(gen, real, radii(real));
  pr.recall = fraction(real, gen, radii(gen));
  return pr;
}

TEST_CASE("precision_recall: matches a brute-force reference across blocks and k") {
  Rng rng(41);
  // More than one 256-row block on each side; overlapping but different distributions.
  const Tensor<double> real = test::random_normal(Shape::matrix(300, 3), rng);
  const Tensor<double> gen = test::random_normal(Shape::matrix(280, 3), rng, 0.4, 1.3);
  for (int k : {1, 3, 5}) {
    CAPTURE(k);
    const PrecisionRecall got = precision_recall(real, gen, k);
    const PrecisionRecall want = reference_precision_recall(real, gen, k);
    CHECK(got.precision == want.precision);
    CHECK(got.recall == want.recall);
    // Neither 0 nor 1, so the comparison says something.
    CHECK(want.precision > 0.2);
    CHECK(want.precision < 1.0);
    CHECK(want.recall > 0.2);
    CHECK(want.recall < 1.0);
  }
}

TEST_CASE_TEMPLATE("precision_recall: a set against itself has precision 1 and recall 1", T, float, double) {
  Rng rng(43);
  const Tensor<T> x = test::random_normal<T>(Shape::matrix(120, 5), rng, 3.0, 2.0);
  const PrecisionRecall pr = precision_recall(x, x);
  CHECK(pr.precision == 1.0);
  CHECK(pr.recall == 1.0);
}

TEST_CASE("precision_recall: two far-apart clouds have precision 0 and recall 0") {
  Rng rng(47);
  const Tensor<double> real = test::random_normal(Shape::matrix(80, 4), rng);
  const Tensor<double> gen = test::random_normal(Shape::matrix(60, 4), rng, 100.0, 1.0);
  const PrecisionRecall pr = precision_recall(real, gen);
  CHECK(pr.precision == 0.0);
  CHECK(pr.recall == 0.0);
}

// Ten modes on a circle of radius 50 (neighbours 31 apart); each is a uniform 2x2 square,
// so every mode has a clear support and no tails.
Tensor<double> clustered(const std::vector<int>& modes, Index per_mode, Rng& rng) {
  Tensor<double> t(Shape::matrix(static_cast<Index>(modes.size()) * per_mode, 2));
  Index row = 0;
  for (int m : modes) {
    const double angle = 2.0 * 3.14159265358979323846 * m / 10.0;
    for (Index i = 0; i < per_mode; ++i, ++row) {
      t(row, 0) = 50.0 * std::cos(angle) + rng.uniform(-1.0, 1.0);
      t(row, 1) = 50.0 * std::sin(angle) + rng.uniform(-1.0, 1.0);
    }
  }
  return t;
}

TEST_CASE("precision_recall: a generator that covers half of the modes has precision ~1 and recall ~0.5") {
  Rng rng(53);
  const std::vector<int> all{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, half{0, 2, 4, 6, 8};
  const Tensor<double> real = clustered(all, 100, rng);

  SUBCASE("fresh samples of five modes") {
    const Tensor<double> gen = clustered(half, 200, rng);
    const PrecisionRecall pr = precision_recall(real, gen);
    CAPTURE(pr.precision);
    CAPTURE(pr.recall);
    CHECK(pr.precision > 0.9);
    CHECK(pr.recall <= 0.5);  // the missing modes are 30 away: never recalled
    CHECK(pr.recall > 0.45);
    // Swapping the roles swaps the numbers (collapse reads as low precision, not recall).
    const PrecisionRecall swapped = precision_recall(gen, real);
    CHECK(swapped.precision == pr.recall);
    CHECK(swapped.recall == pr.precision);
  }
  SUBCASE("copies of the real points of five modes") {
    // The real set's rows are grouped by mode, 100 each: modes 0, 2, 4, 6, 8.
    Tensor<double> gen(Shape::matrix(500, 2));
    for (Index m = 0; m < 5; ++m)
      std::copy(real.data() + (2 * m) * 100 * 2, real.data() + (2 * m + 1) * 100 * 2, gen.data() + m * 100 * 2);
    const PrecisionRecall pr = precision_recall(real, gen);
    CHECK(pr.precision == 1.0);
    CHECK(pr.recall == 0.5);
  }
}

TEST_CASE("precision_recall: too few points for k and mismatched feature sizes are errors") {
  Rng rng(59);
  const Tensor<double> a = test::random_normal(Shape::matrix(4, 3), rng);
  const Tensor<double> b = test::random_normal(Shape::matrix(10, 3), rng);
  const Tensor<double> c = test::random_normal(Shape::matrix(10, 2), rng);
  // k = 3 needs at least 4 points in each set.
  CHECK_NOTHROW(precision_recall(a, b, 3));
  CHECK(contains(message_of<Error>([&] { precision_recall(a, b, 4); }), "4 real"));
  CHECK(contains(message_of<Error>([&] { precision_recall(b, a, 4); }), "4 generated"));
  CHECK(contains(message_of<Error>([&] { precision_recall(b, b, 0); }), "k = 0"));
  const std::string msg = message_of<ShapeError>([&] { precision_recall(b, c); });
  CHECK(contains(msg, "[10, 3]"));
  CHECK(contains(msg, "[10, 2]"));
}

// ---- Classifier and Evaluator --------------------------------------------------------------

// 4x4 images of four patterns: a bar along the top, the bottom, the left or the right edge
// (ink 0.7..1) over background noise (0..0.3). Image i shows pattern i % 4.
ImageDataset<float> bar_images(Index n, Rng& rng) {
  Tensor<float> images(Shape::matrix(n, 16));
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    const int pattern = static_cast<int>(i % 4);
    labels[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(pattern);
    for (Index y = 0; y < 4; ++y)
      for (Index x = 0; x < 4; ++x) {
        const bool on = (pattern == 0 && y == 0) || (pattern == 1 && y == 3) || (pattern == 2 && x == 0) ||
                        (pattern == 3 && x == 3);
        images(i, y * 4 + x) = static_cast<float>(on ? rng.uniform(0.7, 1.0) : rng.uniform(0.0, 0.3));
      }
  }
  return ImageDataset<float>(std::move(images), std::move(labels), 4, 4);
}

ClassifierConfig bar_config() {
  ClassifierConfig c;
  c.image_shape = vaegan::Shape{1, 4, 4};
  c.hidden = {24, 8};
  c.classes = 4;
  c.dropout = 0.1;
  return c;
}

// A bar classifier trained to convergence on 256 images (shared: training is the slow part).
struct TrainedBars {
  Classifier<float> model{bar_config(), 5};
  ImageDataset<float> test_set;
  std::vector<double> losses;
  double accuracy_before = 0.0;

  TrainedBars() {
    Rng rng(61);
    const ImageDataset<float> train = bar_images(256, rng);
    test_set = bar_images(128, rng);
    accuracy_before = model.accuracy(test_set);
    ClassifierTraining options;
    options.epochs = 25;
    options.batch_size = 32;
    options.lr = 1e-2;
    options.seed = 9;
    options.max_shift = 0;  // a shifted bar would be another pattern
    train_classifier(model, train, options, [&](std::int64_t, double loss) { losses.push_back(loss); });
  }
};

const TrainedBars& trained_bars() {
  static const TrainedBars trained;
  return trained;
}

TEST_CASE("Classifier: train_classifier learns separable patterns") {
  const TrainedBars& t = trained_bars();
  REQUIRE(t.losses.size() == 25);
  CAPTURE(t.losses.front());
  CAPTURE(t.losses.back());
  CHECK(t.losses.back() < 0.25 * t.losses.front());
  CHECK(t.accuracy_before < 0.6);
  CHECK(t.model.accuracy(t.test_set) >= 0.95);
}

TEST_CASE("Classifier: features are the post-ReLU penultimate layer, consistent across calls") {
  const TrainedBars& t = trained_bars();
  const Tensor<float>& images = t.test_set.images();
  Tensor<float> features, features_again;
  std::vector<int> labels, labels_again;
  t.model.features(images, features);
  t.model.predict(images, labels);
  t.model.features_and_labels(images, features_again, labels_again);
  CHECK(features.shape() == Shape::matrix(images.rows(), 8));
  CHECK(t.model.feature_dim() == 8);
  CHECK(same_bits(features, features_again));
  CHECK(labels == labels_again);
  float smallest = features[0];
  for (Index i = 0; i < features.numel(); ++i) smallest = std::min(smallest, features[i]);
  CHECK(smallest >= 0.0f);
  // Images as a decoder makes them, [n, C, H, W], score as their flat rows.
  Tensor<float> as_images = images;
  as_images.reshape(Shape{images.rows(), 1, 4, 4});
  t.model.features(as_images, features_again);
  CHECK(same_bits(features, features_again));
  // Images of the wrong size are refused, naming the expected width.
  Tensor<float> wrong(Shape::matrix(3, 15));
  CHECK(contains(message_of<ShapeError>([&] { t.model.features(wrong, features); }), "[n, 16]"));
  Tensor<float> wrong_images(Shape{3, 1, 4, 3});
  CHECK(contains(message_of<ShapeError>([&] { t.model.features(wrong_images, features); }), "[3, 1, 4, 3]"));
}

TEST_CASE("Classifier: a save/load round trip gives bit-identical features") {
  const TrainedBars& t = trained_bars();
  vaegan_test::TempDir dir;
  const std::string path = dir.file("classifier.vgck");
  t.model.save(path);
  const Classifier<float> loaded = Classifier<float>::load(path);
  CHECK(loaded.config().input_dim() == 16);
  CHECK(loaded.config().classes == 4);
  CHECK(loaded.config().hidden == std::vector<Index>{24, 8});
  CHECK(loaded.config().dropout == 0.1);
  CHECK(same_bits(loaded.parameters().values(), t.model.parameters().values()));
  Tensor<float> original, reloaded;
  t.model.features(t.test_set.images(), original);
  loaded.features(t.test_set.images(), reloaded);
  CHECK(same_bits(original, reloaded));
  std::vector<int> a, b;
  t.model.predict(t.test_set.images(), a);
  loaded.predict(t.test_set.images(), b);
  CHECK(a == b);
}

TEST_CASE("Classifier: a truncated, missing or foreign checkpoint is an IoError") {
  const TrainedBars& t = trained_bars();
  vaegan_test::TempDir dir;
  const std::string path = dir.file("classifier.vgck");
  t.model.save(path);
  const std::vector<std::uint8_t> bytes = vaegan_test::read_all(path);
  REQUIRE(bytes.size() > 64);
  for (std::size_t keep : {bytes.size() - 1, bytes.size() / 2, std::size_t{10}}) {
    CAPTURE(keep);
    const std::string cut = dir.file("cut.vgck");
    vaegan_test::write_all(cut, std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(keep)));
    CHECK_THROWS_AS(Classifier<float>::load(cut), IoError);
  }
  CHECK(contains(message_of<IoError>([&] { Classifier<float>::load(dir.file("none.vgck")); }), "none.vgck"));
  // A valid checkpoint of something else: the missing section is named.
  CheckpointWriter w;
  w.add_string("meta.kind", "vae");
  w.save(dir.file("vae.vgck"));
  CHECK(contains(message_of<IoError>([&] { Classifier<float>::load(dir.file("vae.vgck")); }), "classifier.input_dim"));
}

TEST_CASE("Classifier: a configuration without hidden layers or with one class is refused") {
  ClassifierConfig c = bar_config();
  c.hidden.clear();
  CHECK_THROWS_AS(Classifier<float>{c}, Error);
  c = bar_config();
  c.classes = 1;
  CHECK_THROWS_AS(Classifier<float>{c}, Error);
}

TEST_CASE("Classifier: conv and rotation configurations that cannot work are refused, naming why") {
  ClassifierConfig c = ClassifierConfig::conv(Shape{1, 6, 5}, 3);
  CHECK(contains(message_of<Error>([&] { Classifier<float>{c}; }), "both even or both odd"));
  c = ClassifierConfig::conv(Shape{1, 6, 8}, 3, ClassifierTask::rotation);
  CHECK(contains(message_of<Error>([&] { Classifier<float>{c}; }), "needs square images"));
  CHECK(c.classes == kRotationClasses);
  c = ClassifierConfig::conv(Shape{36}, 3);
  CHECK(contains(message_of<Error>([&] { Classifier<float>{c}; }), "a conv classifier takes images [C, H, W]"));
  // Odd and even sides both divide whole: 7 -> 4 -> 2 and 8 -> 4 -> 2.
  for (Index side : {7, 8}) {
    const Classifier<float> ok(ClassifierConfig::conv(Shape{3, side, side}, 5));
    CHECK(ok.feature_dim() == 256);
    CHECK(ok.output_shape() == Shape{5});
  }
}

TEST_CASE("Classifier: rotate_quarters turns counter-clockwise, as numpy's rot90(image, k, axes=(1, 2))") {
  // Two channels of 3x3: 0..8 and 10..18.
  std::vector<float> image(18), turned(18), back(18);
  for (int i = 0; i < 18; ++i) image[static_cast<std::size_t>(i)] = static_cast<float>(i < 9 ? i : i + 1);
  const std::vector<std::vector<float>> want = {{2, 5, 8, 1, 4, 7, 0, 3, 6},   // k = 1
                                                {8, 7, 6, 5, 4, 3, 2, 1, 0},   // k = 2
                                                {6, 3, 0, 7, 4, 1, 8, 5, 2}};  // k = 3
  for (int k = 1; k <= 3; ++k) {
    CAPTURE(k);
    vaegan::detail::rotate_quarters(image.data(), turned.data(), 2, 3, k);
    for (std::size_t i = 0; i < 9; ++i) {
      CHECK(turned[i] == want[static_cast<std::size_t>(k - 1)][i]);
      CHECK(turned[9 + i] == want[static_cast<std::size_t>(k - 1)][i] + 10);
    }
    vaegan::detail::rotate_quarters(turned.data(), back.data(), 2, 3, 4 - k);
    CHECK(back == image);
  }
  vaegan::detail::rotate_quarters(image.data(), turned.data(), 2, 3, 0);
  CHECK(turned == image);
}

// 6x6 images without labels: an L of ink (0.7..1) along the top row and the left column
// over noise (0..0.3): which way up an image is shows, whatever its class.
ImageDataset<float> corner_images(Index n, Rng& rng) {
  Tensor<float> images(Shape::matrix(n, 36));
  for (Index i = 0; i < n; ++i)
    for (Index y = 0; y < 6; ++y)
      for (Index x = 0; x < 6; ++x)
        images(i, y * 6 + x) = static_cast<float>(y == 0 || x == 0 ? rng.uniform(0.7, 1.0) : rng.uniform(0.0, 0.3));
  return ImageDataset<float>(std::move(images), std::vector<std::uint8_t>(static_cast<std::size_t>(n), 0), 6, 6);
}

ClassifierTraining quick_training(std::int64_t epochs) {
  ClassifierTraining options;
  options.epochs = epochs;
  options.batch_size = 32;
  options.lr = 3e-3;
  options.seed = 4;
  options.max_shift = 0;
  return options;
}

TEST_CASE("Classifier: the conv classifier learns the bars; the rotation task learns quarter turns without labels") {
  Rng rng(62);
  ClassifierConfig conv = ClassifierConfig::conv(Shape{1, 4, 4}, 4);
  conv.hidden = {8, 16, 16};
  conv.features = 16;
  Classifier<float> bars(conv, 3);
  const ImageDataset<float> bar_train = bar_images(256, rng), bar_test = bar_images(128, rng);
  const double bars_before = bars.accuracy(bar_test);
  train_classifier(bars, bar_train, quick_training(20));
  CAPTURE(bars_before);
  CHECK(bars_before < 0.6);
  CHECK(bars.accuracy(bar_test) >= 0.95);

  ClassifierConfig rotation = ClassifierConfig::conv(Shape{1, 6, 6}, 1, ClassifierTask::rotation);
  rotation.hidden = {8, 16, 16};
  rotation.features = 16;
  Classifier<float> turns(rotation, 3);
  const ImageDataset<float> corner_train = corner_images(256, rng), corner_test = corner_images(128, rng);
  const double turns_before = turns.accuracy(corner_test);  // image i turned by i % 4 quarters
  std::vector<double> losses;
  train_classifier(turns, corner_train, quick_training(20), [&](std::int64_t, double l) { losses.push_back(l); });
  CAPTURE(turns_before);
  CHECK(turns_before < 0.6);
  CHECK(losses.back() < 0.25 * losses.front());
  CHECK(turns.accuracy(corner_test) >= 0.95);

  // Its features score FID and precision/recall; coverage is not measured (no classes).
  const Evaluator<float> evaluator(turns, corner_test.images());
  const SampleScores self = evaluator.score(corner_test.images());
  CHECK(self.fid < 1e-6 * evaluator.real_stats().covariance.trace());
  CHECK(self.precision == 1.0);
  CHECK_FALSE(self.has_coverage());
  CHECK(std::isnan(self.kl_to_uniform));
  // Turned images are another distribution in its feature space.
  Tensor<float> upside_down = corner_test.images(), scratch;
  vaegan::detail::rotate_batch(upside_down, Shape{1, 6, 6}, std::vector<int>(128, 2), scratch);
  CHECK(evaluator.score(upside_down).fid > 100 * (self.fid + 1e-3));
}

TEST_CASE("Classifier: conv and rotation classifiers round-trip; one saved before them loads as the dense one") {
  vaegan_test::TempDir dir;
  Rng rng(63);
  const ImageDataset<float> corners = corner_images(16, rng);
  const Classifier<float> conv(ClassifierConfig::conv(Shape{1, 6, 6}, 1, ClassifierTask::rotation), 7);
  conv.save(dir.file("conv.vgck"));
  const Classifier<float> conv_loaded = Classifier<float>::load(dir.file("conv.vgck"));
  CHECK(conv_loaded.config().architecture == Architecture::conv);
  CHECK(conv_loaded.config().task == ClassifierTask::rotation);
  CHECK(conv_loaded.config().image_shape == Shape{1, 6, 6});
  CHECK(conv_loaded.config().serialize() == conv.config().serialize());
  Tensor<float> a, b;
  conv.features(corners.images(), a);
  conv_loaded.features(corners.images(), b);
  CHECK(same_bits(a, b));

  // The sections an older version wrote, for a dense classifier of 36 inputs.
  ClassifierConfig dense;
  dense.image_shape = Shape{36};
  dense.hidden = {12, 6};
  dense.classes = 3;
  const Classifier<float> old(dense, 8);
  CheckpointWriter w;
  w.add_string("classifier.config", "input=36 classes=3 hidden=12,6");
  w.add_i64("classifier.input_dim", 36);
  w.add_i64("classifier.classes", 3);
  Tensor<float> hidden(Shape{2});
  hidden[0] = 12, hidden[1] = 6;
  w.add_tensor("classifier.hidden", hidden);
  w.add_f64("classifier.dropout", 0.2);
  w.add_tensor("classifier.params", old.parameters().values());
  w.save(dir.file("old.vgck"));
  const Classifier<float> old_loaded = Classifier<float>::load(dir.file("old.vgck"));
  CHECK(old_loaded.config().architecture == Architecture::dense);
  CHECK(old_loaded.config().task == ClassifierTask::labels);
  CHECK(old_loaded.config().image_shape == Shape{36});
  old.features(corners.images(), a);
  old_loaded.features(corners.images(), b);
  CHECK(same_bits(a, b));
  // A damaged configuration is named.
  CheckpointWriter bad;
  bad.add_string("classifier.architecture", "resnet");
  bad.add_string("classifier.task", "labels");
  bad.add_i64("classifier.input_dim", 36);
  bad.add_i64("classifier.classes", 3);
  bad.add_tensor("classifier.hidden", hidden);
  bad.add_f64("classifier.dropout", 0.2);
  bad.save(dir.file("bad.vgck"));
  CHECK(contains(message_of<IoError>([&] { Classifier<float>::load(dir.file("bad.vgck")); }), "'resnet'"));
}

TEST_CASE("Evaluator: the real set scores FID 0, precision and recall 1; one pattern scores as a collapse") {
  const TrainedBars& t = trained_bars();
  const Tensor<float>& real = t.test_set.images();
  const Evaluator<float> evaluator(t.model, real);
  const SampleScores self = evaluator.score(real);
  CHECK(self.count == real.rows());
  CHECK(self.fid < 1e-6 * evaluator.real_stats().covariance.trace());
  CHECK(self.precision == 1.0);
  CHECK(self.recall == 1.0);

  // Coverage of the real set from the classifier's own labels (an independent count).
  std::vector<int> predicted;
  t.model.predict(real, predicted);
  std::vector<Index> counts(4, 0);
  for (int l : predicted) ++counts[static_cast<std::size_t>(l)];
  int covered = 0;
  for (Index c : counts) covered += static_cast<double>(c) >= real.rows() / 40.0;
  CHECK(self.classes_covered == covered);
  CHECK(self.kl_to_uniform == doctest::Approx(kl_to_uniform_of(counts)).epsilon(1e-12));
  CHECK(self.classes_covered == 4);

  // Only the top-bar images (every fourth row): a quarter of the modes.
  const Index n = real.rows() / 4;
  Tensor<float> collapsed(Shape::matrix(n, 16));
  std::vector<std::uint8_t> zeros(static_cast<std::size_t>(n), 0);
  for (Index i = 0; i < n; ++i) std::copy(&real(4 * i, 0), &real(4 * i, 0) + 16, &collapsed(i, 0));
  std::vector<int> collapsed_labels;
  t.model.predict(collapsed, collapsed_labels);
  REQUIRE(std::count(collapsed_labels.begin(), collapsed_labels.end(), 0) == n);  // classified right
  const SampleScores s = evaluator.score(collapsed);
  CHECK(s.count == n);
  CHECK(s.classes_covered == 1);
  CHECK(s.kl_to_uniform == relative(std::log(4.0), 1e-12));
  CHECK(s.recall < 0.5);
  CHECK(s.precision > 0.9);
  CHECK(s.fid > 100.0 * self.fid + 1e-3);
}

}  // namespace
