// Tests for detail/conv_direct.hpp: the direct kernels of the column layout's smallest
// windows against the im2col + GEMM path they replace (bit for bit for the product, against a
// double sum for the weight gradient), for any thread count. Through the ops, conv_test.cpp
// checks them against double and the direct loops.
#include <cmath>
#include <vector>

#include "test_util.hpp"
#include "vaegan/detail/conv_direct.hpp"

using vaegan::Index;
using vaegan::Rng;

namespace {

using vaegan::detail::ConvGeometry;

// A stride-2 geometry: `channels` x size x size, kernel x kernel, padding.
ConvGeometry geometry(Index channels, Index size, Index kernel, Index padding) {
  ConvGeometry g;
  g.channels = channels;
  g.height = g.width = size;
  g.kh = g.kw = kernel;
  g.stride = 2;
  g.padding = padding;
  g.out_h = g.out_w = vaegan::detail::conv_output_size(size, kernel, 2, padding);
  return g;
}

[[maybe_unused]] std::vector<float> uniform(Index n, Rng& rng) {
  std::vector<float> v(static_cast<std::size_t>(n));
  rng.fill_uniform(v.data(), n, -1.0, 1.0);
  return v;
}

// Geometries the direct kernels take: the reference models' 1 x 28 x 28 with a 4 x 4 kernel
// (K = 16), an odd size with a 3 x 3 kernel (K = 9), two channels of a 2 x 2 kernel (K = 8),
// 32 wide with 16 positions a row.
const std::vector<ConvGeometry>& direct_cases() {
  static const std::vector<ConvGeometry> cases = {geometry(1, 28, 4, 1), geometry(1, 9, 3, 1), geometry(2, 13, 2, 0),
                                                  geometry(1, 32, 4, 1)};
  return cases;
}

}  // namespace

TEST_CASE("conv_direct: the direct kernels take exactly the small stride-2 windows, in float on AVX-512") {
  // Builds without AVX-512 have no direct kernels: the ops keep im2col and the GEMMs.
  for (const ConvGeometry& g : direct_cases())
    CHECK(vaegan::detail::direct_columns<float>(g) == vaegan::detail::kDirectColumns<float>);
  CHECK_FALSE(vaegan::detail::direct_columns<double>(geometry(1, 28, 4, 1)));
  CHECK_FALSE(vaegan::detail::direct_columns<float>(geometry(2, 21, 4, 1)));  // K = 32
  CHECK_FALSE(vaegan::detail::direct_columns<float>(geometry(1, 34, 4, 1)));  // 34 wide
  ConvGeometry stride1 = geometry(1, 14, 3, 1);
  stride1.stride = 1;
  stride1.out_h = stride1.out_w = 14;
  CHECK_FALSE(vaegan::detail::direct_columns<float>(stride1));
}

#ifdef __AVX512F__

TEST_CASE("conv_direct: direct_product equals im2col then the column product, bit for bit") {
  Rng rng(5);
  for (const ConvGeometry& g : direct_cases()) {
    for (const Index m : {Index{32}, Index{13}}) {  // 8-row blocks; and 8 + 4 + 1 rows
      INFO(g.str(), ", ", m, " rows");
      const Index k = g.window(), p = g.positions();
      const std::vector<float> image = uniform(g.image_size(), rng), w = uniform(m * k, rng), bias = uniform(m, rng);
      const std::vector<float> start = uniform(m * p, rng);
      for (const bool with_bias : {false, true})
        for (const bool accumulate : {false, true}) {
          std::vector<float> col(static_cast<std::size_t>(k * p)), expected = start, got = start;
          vaegan::detail::im2col(g, image.data(), col.data());
          vaegan::detail::column_product(false, m, p, k, w.data(), col.data(), expected.data(), accumulate,
                                         with_bias ? bias.data() : nullptr);
          vaegan::detail::direct_product(g, m, w.data(), image.data(), with_bias ? bias.data() : nullptr, got.data(),
                                         accumulate);
          CHECK(got == expected);
        }
    }
  }
}

TEST_CASE("conv_direct: direct_weight_grad matches a double sum, the same for any thread count") {
  vaegan::test::ThreadCountGuard guard;
  Rng rng(7);
  for (const ConvGeometry& g : direct_cases()) {
    for (const Index m : {Index{32}, Index{13}}) {  // 8-row blocks; and 8 + 5 single rows
      const Index k = g.window(), p = g.positions(), samples = 21, s0 = 3, s1 = 20;  // 17 samples: 3 chunks
      INFO(g.str(), ", ", m, " rows");
      const std::vector<float> a = uniform(samples * m * p, rng), images = uniform(samples * g.image_size(), rng);
      const std::vector<float> start = uniform(m * k, rng);
      // The reference: dW from im2col in double.
      std::vector<double> reference(static_cast<std::size_t>(m * k), 0.0);
      std::vector<float> col(static_cast<std::size_t>(k * p));
      for (Index s = s0; s < s1; ++s) {
        vaegan::detail::im2col(g, images.data() + s * g.image_size(), col.data());
        for (Index r = 0; r < m; ++r)
          for (Index t = 0; t < k; ++t)
            for (Index q = 0; q < p; ++q)
              reference[static_cast<std::size_t>(r * k + t)] +=
                  static_cast<double>(a[static_cast<std::size_t>((s * m + r) * p + q)]) *
                  col[static_cast<std::size_t>(t * p + q)];
      }
      for (const bool keep : {false, true}) {
        std::vector<std::vector<float>> results;
        for (const int threads : {1, 2, 3}) {
          vaegan::set_num_threads(threads);
          std::vector<float> dw = start;
          std::vector<float> buffer(static_cast<std::size_t>(vaegan::detail::direct_weight_grad_buffer(s1 - s0, m)));
          vaegan::detail::direct_weight_grad(g, m, a.data(), m * p, images.data(), g.image_size(), s0, s1, dw.data(),
                                             keep, buffer.data());
          results.push_back(dw);
        }
        double worst = 0.0;
        for (Index i = 0; i < m * k; ++i) {
          const double expected =
              reference[static_cast<std::size_t>(i)] + (keep ? start[static_cast<std::size_t>(i)] : 0.0);
          worst = std::max(worst, std::abs(results[0][static_cast<std::size_t>(i)] - expected));
        }
        // Sums of 17 x p products of magnitude at most 1: float rounding stays far below 1e-3.
        CHECK(worst < 1e-3);
        CHECK(results[1] == results[0]);
        CHECK(results[2] == results[0]);
      }
    }
  }
}

#endif
