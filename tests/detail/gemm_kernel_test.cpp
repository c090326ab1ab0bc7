// Extra GEMM cases for the float AVX-512 kernel (detail/gemm_avx512.hpp): several depth
// blocks, partial tiles, padded strides, and thread-count independence.
#include <array>
#include <cstring>
#include <vector>

#include "test_util.hpp"

using vaegan::Index;

TEST_CASE("gemm: float products spanning several depth blocks and partial tiles match the triple loop") {
  vaegan::test::ThreadCountGuard guard;
  vaegan::Rng rng(41);
  // k > 256 (more than one packed depth block, and not a multiple of 16); m not a multiple
  // of 12 and n not of 32 (partial tiles; last strips of 1, 4, 8, 7 and 3 rows, which take
  // the 4-, 8- and 12-row register tiles); padded leading dimensions.
  for (int threads : {1, 2})
    for (auto s : std::vector<std::array<Index, 3>>{
             {13, 47, 300}, {40, 70, 600}, {100, 17, 257}, {20, 33, 300}, {7, 40, 100}, {3, 64, 20}, {21, 5, 9}})
      for (bool ta : {false, true})
        for (bool tb : {false, true})
          for (float beta : {0.0f, 1.0f, -0.5f}) {
            vaegan::set_num_threads(threads);
            const Index m = s[0], n = s[1], k = s[2], pad = 3;
            const Index lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
            std::vector<float> a(static_cast<std::size_t>((ta ? k : m) * lda)),
                b(static_cast<std::size_t>((tb ? n : k) * ldb)), c(static_cast<std::size_t>(m * ldc));
            rng.fill_uniform(a.data(), static_cast<Index>(a.size()), -1.0, 1.0);
            rng.fill_uniform(b.data(), static_cast<Index>(b.size()), -1.0, 1.0);
            rng.fill_uniform(c.data(), static_cast<Index>(c.size()), -1.0, 1.0);
            const std::vector<float> before = c;
            vaegan::detail::gemm<float>(ta, tb, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
            const std::vector<double> ab = vaegan::test::naive_matmul(ta, tb, m, n, k, a.data(), lda, b.data(), ldb);
            int bad = 0;
            for (Index i = 0; i < m; ++i)
              for (Index j = 0; j < n; ++j) {
                const double old = beta == 0.0f ? 0.0 : before[static_cast<std::size_t>(i * ldc + j)];
                const double want = 0.5 * ab[static_cast<std::size_t>(i * n + j)] + beta * old;
                if (!(std::abs(c[static_cast<std::size_t>(i * ldc + j)] - want) <= 1e-6 * (k + 2))) ++bad;
              }
            CAPTURE(threads);
            CAPTURE(m);
            CAPTURE(n);
            CAPTURE(k);
            CAPTURE(ta);
            CAPTURE(tb);
            CAPTURE(beta);
            CHECK(bad == 0);
          }
}

#ifdef __AVX512F__
// Only the AVX-512 kernel promises this: Eigen's blocking depends on the panel size.
TEST_CASE("gemm: float results are bit-identical for 1 and 2 threads") {
  vaegan::test::ThreadCountGuard guard;
  vaegan::Rng rng(43);
  for (auto s : std::vector<std::array<Index, 3>>{{256, 784, 512}, {784, 512, 256}, {300, 100, 700}})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const Index m = s[0], n = s[1], k = s[2];
        std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n)),
            one(static_cast<std::size_t>(m * n)), two(one.size());
        rng.fill_uniform(a.data(), m * k, -1.0, 1.0);
        rng.fill_uniform(b.data(), k * n, -1.0, 1.0);
        vaegan::set_num_threads(1);
        vaegan::detail::gemm<float>(ta, tb, m, n, k, 1.0f, a.data(), ta ? m : k, b.data(), tb ? k : n, 0.0f, one.data(),
                                    n);
        vaegan::set_num_threads(2);
        vaegan::detail::gemm<float>(ta, tb, m, n, k, 1.0f, a.data(), ta ? m : k, b.data(), tb ? k : n, 0.0f, two.data(),
                                    n);
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        CAPTURE(ta);
        CAPTURE(tb);
        CHECK(std::memcmp(one.data(), two.data(), sizeof(float) * one.size()) == 0);
      }
}
#endif  // __AVX512F__
