// Tests for detail/gemm.hpp against a textbook triple loop.
#include <cmath>
#include <limits>
#include <vector>

#include "test_util.hpp"

using vaegan::Index;
using vaegan::Rng;

namespace {

struct GemmCase {
  Index m, n, k;
};

// Runs C = alpha op(A) op(B) + beta C with leading dims padded by `pad` (so a wrong
// stride shows up) and compares every element with the reference. Returns the count of
// elements outside tolerance.
template <class T>
int gemm_mismatches(bool ta, bool tb, const GemmCase& s, T alpha, T beta, Index pad, Rng& rng) {
  // Storage: A is [m, k] (or [k, m] when ta), B is [k, n] (or [n, k] when tb).
  const Index a_rows = ta ? s.k : s.m, a_cols = ta ? s.m : s.k;
  const Index b_rows = tb ? s.n : s.k, b_cols = tb ? s.k : s.n;
  const Index lda = a_cols + pad, ldb = b_cols + pad, ldc = s.n + pad;
  std::vector<T> a(static_cast<std::size_t>(std::max<Index>(1, a_rows * lda)));
  std::vector<T> b(static_cast<std::size_t>(std::max<Index>(1, b_rows * ldb)));
  std::vector<T> c(static_cast<std::size_t>(std::max<Index>(1, s.m * ldc)));
  rng.fill_uniform(a.data(), static_cast<Index>(a.size()), -1.0, 1.0);
  rng.fill_uniform(b.data(), static_cast<Index>(b.size()), -1.0, 1.0);
  rng.fill_uniform(c.data(), static_cast<Index>(c.size()), -1.0, 1.0);
  if (beta == T(0))  // beta = 0 must overwrite C, as BLAS does: NaN in C may not leak out
    std::fill(c.begin(), c.end(), std::numeric_limits<T>::quiet_NaN());
  const std::vector<T> c_before = c;

  vaegan::detail::gemm<T>(ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);

  const std::vector<double> ab = vaegan::test::naive_matmul(ta, tb, s.m, s.n, s.k, a.data(), lda, b.data(), ldb);
  // Each product term is at most 1 in magnitude: the rounding error is below k * eps.
  const double tol = 4.0 * static_cast<double>(std::numeric_limits<T>::epsilon()) * static_cast<double>(s.k + 2);
  int bad = 0;
  for (Index i = 0; i < s.m; ++i) {
    for (Index j = 0; j < s.n; ++j) {
      const double old = beta == T(0) ? 0.0 : static_cast<double>(c_before[static_cast<std::size_t>(i * ldc + j)]);
      const double expected =
          static_cast<double>(alpha) * ab[static_cast<std::size_t>(i * s.n + j)] + static_cast<double>(beta) * old;
      const double got = static_cast<double>(c[static_cast<std::size_t>(i * ldc + j)]);
      if (!(std::abs(got - expected) <= tol)) ++bad;
    }
    // The padding columns of C are never written.
    for (Index j = s.n; j < ldc; ++j) {
      const T before = c_before[static_cast<std::size_t>(i * ldc + j)];
      const T after = c[static_cast<std::size_t>(i * ldc + j)];
      if (!(after == before || (std::isnan(after) && std::isnan(before)))) ++bad;
    }
  }
  return bad;
}

}  // namespace

TEST_CASE_TEMPLATE("gemm: matches the triple loop for every transpose, alpha, beta and thread count", T, float,
                   double) {
  vaegan::test::ThreadCountGuard guard;
  // The last four shapes have m * n * k >= 2^18 and take the threaded path (rows split
  // when m >= n, columns otherwise; a panel count that does not divide the extent).
  const std::vector<GemmCase> shapes = {{1, 1, 1},     {3, 5, 7},     {17, 33, 9},   {1, 40, 3},
                                        {64, 100, 50}, {200, 40, 64}, {300, 7, 200}, {70, 130, 33}};
  REQUIRE(shapes[4].m * shapes[4].n * shapes[4].k >= vaegan::detail::kGemmParallelWork);
  REQUIRE(shapes[7].m * shapes[7].n * shapes[7].k >= vaegan::detail::kGemmParallelWork);
  Rng rng(31);
  for (int threads : {1, 2, 3}) {
    vaegan::set_num_threads(threads);
    for (const GemmCase& s : shapes)
      for (bool ta : {false, true})
        for (bool tb : {false, true})
          for (T beta : {T(0), T(1), T(-0.5)})
            for (Index pad : {Index{0}, Index{3}}) {
              const T alpha = beta == T(1) ? T(-0.7) : T(1);
              CAPTURE(threads);
              CAPTURE(s.m);
              CAPTURE(s.n);
              CAPTURE(s.k);
              CAPTURE(ta);
              CAPTURE(tb);
              CAPTURE(beta);
              CAPTURE(pad);
              CHECK(gemm_mismatches<T>(ta, tb, s, alpha, beta, pad, rng) == 0);
            }
  }
}

TEST_CASE_TEMPLATE("gemm: k = 0 only scales C by beta", T, float, double) {
  vaegan::test::ThreadCountGuard guard;
  Rng rng(2);
  for (int threads : {1, 2}) {
    vaegan::set_num_threads(threads);
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (T beta : {T(0), T(1), T(2.5)}) {
          CAPTURE(threads);
          CAPTURE(beta);
          CHECK(gemm_mismatches<T>(ta, tb, GemmCase{5, 6, 0}, T(1), beta, 0, rng) == 0);
          CHECK(gemm_mismatches<T>(ta, tb, GemmCase{600, 500, 0}, T(1), beta, 1, rng) == 0);
        }
  }
}

TEST_CASE("gemm: empty outputs write nothing") {
  std::vector<float> c(4, 3.0f);
  const float a = 1.0f, b = 1.0f;
  vaegan::detail::gemm<float>(false, false, 0, 2, 2, 1.0f, &a, 2, &b, 2, 0.0f, c.data(), 2);
  vaegan::detail::gemm<float>(false, false, 2, 0, 2, 1.0f, &a, 2, &b, 2, 0.0f, c.data(), 2);
  for (float v : c) CHECK(v == 3.0f);
}

TEST_CASE("gemm: a threaded product equals the single-threaded one") {
  // Each output element is computed by one thread over the full k, so splitting the
  // output into panels may only change the order of blocks, not the accuracy.
  vaegan::test::ThreadCountGuard guard;
  const Index m = 128, n = 96, k = 256;
  Rng rng(9);
  const auto a = vaegan::test::random_uniform<double>(vaegan::Shape{m, k}, rng, -1, 1);
  const auto b = vaegan::test::random_uniform<double>(vaegan::Shape{k, n}, rng, -1, 1);
  std::vector<double> one(static_cast<std::size_t>(m * n)), two(one.size());
  vaegan::set_num_threads(1);
  vaegan::detail::gemm<double>(false, false, m, n, k, 1.0, a.data(), k, b.data(), n, 0.0, one.data(), n);
  vaegan::set_num_threads(2);
  vaegan::detail::gemm<double>(false, false, m, n, k, 1.0, a.data(), k, b.data(), n, 0.0, two.data(), n);
  double worst = 0.0;
  for (std::size_t i = 0; i < one.size(); ++i) worst = std::max(worst, std::abs(one[i] - two[i]));
  CHECK(worst < 1e-12);
}

TEST_CASE("gemm: float products split over two threads equal one thread's bit for bit, B packed whole or by blocks") {
  // The shared-B path: a small B packed whole before one barrier (k = 3136, n = 32: 13 depth
  // blocks), a large one a depth block at a time (k = 784, n = 512); every transpose, beta
  // 0 and 1. Each element sees the same tiles in the same order, so == holds.
  vaegan::test::ThreadCountGuard guard;
  struct Case {
    Index m, n, k;
  };
  Rng rng(21);
  for (const Case& c : {Case{64, 32, 3136}, Case{192, 512, 784}, Case{100, 40, 300}})
    for (int transposes = 0; transposes < 4; ++transposes)
      for (const float beta : {0.0f, 1.0f}) {
        const bool ta = transposes & 1, tb = transposes & 2;
        INFO("m ", c.m, ", n ", c.n, ", k ", c.k, ", trans_a ", ta, ", trans_b ", tb, ", beta ", beta);
        const auto a = vaegan::test::random_uniform<float>(vaegan::Shape{c.m, c.k}, rng, -1, 1);
        const auto b = vaegan::test::random_uniform<float>(vaegan::Shape{c.k, c.n}, rng, -1, 1);
        const auto c0 = vaegan::test::random_uniform<float>(vaegan::Shape{c.m, c.n}, rng, -1, 1);
        const Index lda = ta ? c.m : c.k, ldb = tb ? c.k : c.n;
        auto run = [&](int threads) {
          vaegan::set_num_threads(threads);
          std::vector<float> out(c0.data(), c0.data() + c.m * c.n);
          vaegan::detail::gemm<float>(ta, tb, c.m, c.n, c.k, 0.5f, a.data(), lda, b.data(), ldb, beta, out.data(), c.n);
          return out;
        };
        CHECK(run(1) == run(2));
      }
}
