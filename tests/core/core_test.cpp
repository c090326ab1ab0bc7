// Tests for core/: Shape, Tensor, Rng and the parallel helpers.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "test_util.hpp"
#include "vaegan/core/profile.hpp"
#include "vaegan/core/thread_governor.hpp"

using vaegan::Index;
using vaegan::Rng;
using vaegan::Shape;
using vaegan::ShapeError;
using vaegan::Tensor;

// ---- Shape -----------------------------------------------------------------------------

TEST_CASE("shape: ranks 1 to 4 are accepted, 0 and 5 are not") {
  CHECK(Shape{7}.rank() == 1);
  CHECK(Shape{2, 3}.rank() == 2);
  CHECK(Shape{2, 3, 4}.rank() == 3);
  CHECK(Shape{2, 3, 4, 5}.rank() == 4);
  CHECK_THROWS_AS((Shape{1, 2, 3, 4, 5}), ShapeError);
  CHECK_THROWS_WITH_AS((Shape{1, 2, 3, 4, 5}), doctest::Contains("rank must be 1 to 4"), ShapeError);
  // An empty brace list is the default (rank 0, no elements), not an error.
  const Shape empty{};
  CHECK(empty.rank() == 0);
  CHECK(empty.numel() == 0);
}

TEST_CASE("shape: negative dimensions are rejected") {
  CHECK_THROWS_WITH_AS((Shape{2, -1}), doctest::Contains("negative dimension -1"), ShapeError);
  CHECK(Shape{0, 5}.numel() == 0);  // zero is a valid (empty) extent
}

TEST_CASE("shape: rows are the first dim and cols the product of the rest") {
  const Shape v{6};
  CHECK(v.rows() == 1);
  CHECK(v.cols() == 6);
  CHECK(v.numel() == 6);
  const Shape m = Shape::matrix(4, 5);
  CHECK(m.rows() == 4);
  CHECK(m.cols() == 5);
  const Shape image{8, 1, 28, 28};
  CHECK(image.rows() == 8);
  CHECK(image.cols() == 784);
  CHECK(image.numel() == 8 * 784);
  CHECK(Shape::scalar().numel() == 1);
  CHECK(Shape::vector(3) == Shape{3});
}

TEST_CASE("shape: with_rows keeps the row shape") {
  CHECK(Shape({4, 2, 3}).with_rows(9) == Shape({9, 2, 3}));
  CHECK(Shape({5}).with_rows(2) == Shape({2, 5}));  // a vector is one row of a matrix
}

TEST_CASE("shape: batched adds a leading batch dimension, up to rank 4") {
  CHECK(Shape({784}).batched(5) == Shape({5, 784}));
  CHECK(Shape({3, 28, 28}).batched(2) == Shape({2, 3, 28, 28}));
  CHECK(Shape({7, 7}).batched(0) == Shape({0, 7, 7}));
  CHECK_THROWS_AS(Shape({1, 2, 3, 4}).batched(2), ShapeError);
}

TEST_CASE("shape: equality compares rank and every dim") {
  CHECK(Shape({2, 3}) == Shape({2, 3}));
  CHECK(Shape({2, 3}) != Shape({3, 2}));
  CHECK(Shape({6}) != Shape({1, 6}));  // same numel, different rank
  CHECK(Shape({2, 3, 4}).str() == "[2, 3, 4]");
}

TEST_CASE("shape: errors from require_same_shape name the op and both shapes") {
  CHECK_THROWS_WITH_AS(vaegan::detail::require_same_shape("my_op", Shape{2, 3}, Shape{3, 2}),
                       "my_op: shapes must match (got [2, 3] and [3, 2])", ShapeError);
  CHECK_NOTHROW(vaegan::detail::require_same_shape("my_op", Shape{2, 3}, Shape{2, 3}));
}

// ---- Tensor ----------------------------------------------------------------------------

TEST_CASE_TEMPLATE("tensor: constructors zero, fill or copy a value list", T, float, double) {
  const Tensor<T> zeros(Shape{2, 3});
  CHECK(zeros.numel() == 6);
  for (T v : zeros) CHECK(v == T(0));
  const Tensor<T> sevens(Shape{4}, T(7));
  for (T v : sevens) CHECK(v == T(7));
  const Tensor<T> listed(Shape{2, 2}, {T(1), T(2), T(3), T(4)});
  CHECK(listed(0, 1) == T(2));
  CHECK(listed(1, 0) == T(3));
  CHECK_THROWS_WITH_AS((Tensor<T>(Shape{2, 2}, {T(1), T(2), T(3)})), doctest::Contains("3 values for shape [2, 2]"),
                       ShapeError);
}

TEST_CASE_TEMPLATE("tensor: resize keeps the buffer when it fits and never shrinks", T, float, double) {
  Tensor<T> t(Shape{10, 10});
  const T* original = t.data();
  CHECK(t.capacity() == 100);

  t.resize(Shape{3, 4});  // smaller: same memory, capacity kept
  CHECK(t.data() == original);
  CHECK(t.numel() == 12);
  CHECK(t.capacity() == 100);
  CHECK(t.shape() == Shape({3, 4}));

  t.resize(Shape{5, 20});  // back up to the capacity: still no new buffer
  CHECK(t.data() == original);
  CHECK(t.capacity() == 100);

  t.resize(Shape{0});
  CHECK(t.numel() == 0);
  CHECK(t.capacity() == 100);

  t.resize(Shape{3});
  t.fill(T(5));
  t.resize(Shape{101});  // larger: a new buffer that keeps the old elements
  CHECK(t.capacity() == 101);
  CHECK(t[0] == T(5));
  CHECK(t[2] == T(5));
}

TEST_CASE_TEMPLATE("tensor: copies are deep, moves transfer the buffer", T, float, double) {
  Tensor<T> a(Shape{2, 3}, {T(1), T(2), T(3), T(4), T(5), T(6)});
  Tensor<T> copy(a);
  CHECK(copy.data() != a.data());
  CHECK(copy.shape() == a.shape());
  copy[0] = T(-1);
  CHECK(a[0] == T(1));  // the original is untouched

  Tensor<T> assigned(Shape{50});
  const T* assigned_buffer = assigned.data();
  assigned = a;  // fits in the existing capacity: no new buffer
  CHECK(assigned.data() == assigned_buffer);
  CHECK(assigned.shape() == a.shape());
  CHECK(vaegan::test::max_abs_diff(assigned, a) == 0.0);

  const T* buffer = a.data();
  Tensor<T> moved(std::move(a));
  CHECK(moved.data() == buffer);
  CHECK(moved(1, 2) == T(6));

  Tensor<T> target(Shape{4});
  target = std::move(moved);
  CHECK(target.data() == buffer);
  CHECK(target.shape() == Shape({2, 3}));
}

TEST_CASE_TEMPLATE("tensor: reshape keeps the data and rejects a different element count", T, float, double) {
  Tensor<T> t(Shape{2, 6});
  for (Index i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(i);
  const T* buffer = t.data();
  t.reshape(Shape{3, 4});
  CHECK(t.data() == buffer);
  CHECK(t(2, 1) == T(9));
  t.reshape(Shape{12});
  CHECK(t.rows() == 1);
  CHECK(t.cols() == 12);
  CHECK_THROWS_WITH_AS(t.reshape(Shape{5, 2}), "Tensor::reshape: [12] has 12 elements, cannot become [5, 2]",
                       ShapeError);
  CHECK(t.shape() == Shape({12}));  // a failed reshape changes nothing
}

TEST_CASE_TEMPLATE("tensor: matrix and array views are row-major and write through", T, float, double) {
  Tensor<T> t(Shape{2, 3, 2});  // a [2, 6] matrix
  for (Index i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(10 * i);
  auto m = t.matrix();
  CHECK(m.rows() == 2);
  CHECK(m.cols() == 6);
  for (Index r = 0; r < 2; ++r)
    for (Index c = 0; c < 6; ++c) CHECK(m(r, c) == t[r * 6 + c]);
  m(1, 4) = T(-3);
  CHECK(t[10] == T(-3));
  t.array() += T(1);
  CHECK(t[0] == T(1));
  CHECK(t[10] == T(-2));
  const Tensor<T>& ct = t;
  CHECK(ct.matrix().sum() == doctest::Approx(static_cast<double>(t.array().sum())));
}

// ---- Rng -------------------------------------------------------------------------------

TEST_CASE("rng: the same seed gives the same sequence, different seeds differ") {
  Rng a(42), b(42), c(43);
  int equal_to_other_seed = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t va = a.next_u64();
    CHECK(va == b.next_u64());
    equal_to_other_seed += va == c.next_u64();
  }
  CHECK(equal_to_other_seed == 0);
  Rng d(42);
  d.next_u64();
  d.reseed(42);  // reseeding starts the sequence again
  Rng e(42);
  for (int i = 0; i < 10; ++i) CHECK(d.normal() == e.normal());
}

TEST_CASE("rng: sharded batch draws are the whole batch's draws, split, and every shard ends in its state") {
  // Odd and even run lengths, after an odd number of normals: the spare of Box-Muller's
  // pairs must be handed over exactly as in one process.
  for (const Index n : {Index{1}, Index{6}, Index{7}}) {
    CAPTURE(n);
    for (const int count : {1, 2, 3}) {
      CAPTURE(count);
      Rng whole(11);
      whole.normal();
      std::vector<double> normals(static_cast<std::size_t>(n * count)), uniforms(normals.size());
      whole.batch_fill_normal(normals.data(), n * count);
      whole.batch_uniforms(n * count, [&](Index i, double u) { uniforms[static_cast<std::size_t>(i)] = u; });
      for (int i = 0; i < count; ++i) {
        Rng shard(11);
        shard.set_shard(i, count);
        shard.normal();
        std::vector<double> part(static_cast<std::size_t>(n)), upart(part.size());
        shard.batch_fill_normal(part.data(), n);
        shard.batch_uniforms(n, [&](Index k, double u) { upart[static_cast<std::size_t>(k)] = u; });
        for (Index k = 0; k < n; ++k) {
          CHECK(part[static_cast<std::size_t>(k)] == normals[static_cast<std::size_t>(i * n + k)]);
          CHECK(upart[static_cast<std::size_t>(k)] == uniforms[static_cast<std::size_t>(i * n + k)]);
        }
        CHECK(shard.state() == whole.state());
      }
    }
  }
  Rng rng(1);
  CHECK_THROWS_WITH_AS(rng.set_shard(2, 2), doctest::Contains("shard 2 of 2 is not one of 0..1"), vaegan::Error);
}

TEST_CASE("rng: uniform lies in [0, 1) with mean 1/2 and variance 1/12") {
  Rng rng(7);
  const int n = 200000;
  double sum = 0.0, sum2 = 0.0, lo = 1.0, hi = 0.0;
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform();
    sum += u;
    sum2 += u * u;
    lo = std::min(lo, u);
    hi = std::max(hi, u);
  }
  CHECK(lo >= 0.0);
  CHECK(hi < 1.0);
  const double mean = sum / n, var = sum2 / n - mean * mean;
  // Five standard errors: sd(u) = 1/sqrt(12); sd(u^2 - E u^2) < 0.3.
  CHECK(std::abs(mean - 0.5) < 5.0 * std::sqrt(1.0 / 12.0 / n));
  CHECK(std::abs(var - 1.0 / 12.0) < 5.0 * 0.3 / std::sqrt(static_cast<double>(n)));
  const double x = rng.uniform(-3.0, -2.0);
  CHECK(x >= -3.0);
  CHECK(x < -2.0);
}

TEST_CASE("rng: normal has mean 0 and variance 1 within five standard errors") {
  Rng rng(2024);
  const int n = 200000;
  double sum = 0.0, sum2 = 0.0, beyond_two_sigma = 0.0;
  for (int i = 0; i < n; ++i) {
    const double x = rng.normal();
    sum += x;
    sum2 += x * x;
    beyond_two_sigma += std::abs(x) > 2.0;
  }
  const double mean = sum / n, var = sum2 / n - mean * mean;
  CHECK(std::abs(mean) < 5.0 / std::sqrt(static_cast<double>(n)));  // sd of the mean: 1/sqrt(n)
  CHECK(std::abs(var - 1.0) < 5.0 * std::sqrt(2.0 / n));            // sd of the variance: sqrt(2/n)
  // The tails are Gaussian too: P(|x| > 2) = 0.0455.
  const double p = 0.0455003;
  CHECK(std::abs(beyond_two_sigma / n - p) < 5.0 * std::sqrt(p * (1 - p) / n));

  Rng shifted(2024);
  double shifted_sum = 0.0;
  for (int i = 0; i < n; ++i) shifted_sum += shifted.normal(3.0, 0.5);
  CHECK(std::abs(shifted_sum / n - 3.0) < 5.0 * 0.5 / std::sqrt(static_cast<double>(n)));
}

TEST_CASE("rng: uniform_int covers [0, n) evenly") {
  Rng rng(99);
  CHECK(rng.uniform_int(0) == 0);
  CHECK(rng.uniform_int(1) == 0);
  const int buckets = 10, n = 100000;
  std::vector<int> count(buckets, 0);
  for (int i = 0; i < n; ++i) {
    const std::uint64_t v = rng.uniform_int(buckets);
    REQUIRE(v < static_cast<std::uint64_t>(buckets));
    ++count[v];
  }
  double chi2 = 0.0;
  const double expected = static_cast<double>(n) / buckets;
  for (int c : count) chi2 += (c - expected) * (c - expected) / expected;
  CHECK(chi2 < 40.0);  // 9 degrees of freedom: P(chi2 > 40) < 1e-5
}

TEST_CASE("rng: uniform_int has no modulo bias for a range near 2^64") {
  // With r % n for n = 2/3 * 2^64, values below n/2 would come up 2/3 of the time.
  Rng rng(5);
  const std::uint64_t n = 0xAAAAAAAAAAAAAAABULL;
  const int draws = 100000;
  int low = 0;
  for (int i = 0; i < draws; ++i) {
    const std::uint64_t v = rng.uniform_int(n);
    REQUIRE(v < n);
    low += v < n / 2;
  }
  CHECK(std::abs(static_cast<double>(low) / draws - 0.5) < 5.0 * std::sqrt(0.25 / draws));
}

TEST_CASE("rng: a saved state reproduces the sequence, including a pending normal") {
  Rng rng(123);
  for (int i = 0; i < 3; ++i) rng.normal();  // odd count: the second Box-Muller value is pending
  const Rng::State saved = rng.state();
  CHECK(saved.has_spare);
  std::vector<double> first;
  for (int i = 0; i < 9; ++i) first.push_back(rng.normal());
  first.push_back(rng.uniform());
  CHECK_FALSE(rng.state() == saved);

  rng.set_state(saved);
  CHECK(rng.state() == saved);
  for (int i = 0; i < 9; ++i) CHECK(rng.normal() == first[static_cast<std::size_t>(i)]);
  CHECK(rng.uniform() == first.back());

  Rng other(1);  // a state moves to another generator too
  other.set_state(saved);
  CHECK(other.normal() == first[0]);
}

TEST_CASE_TEMPLATE("rng: fill_normal and fill_uniform match scalar draws", T, float, double) {
  Rng a(8), b(8);
  std::vector<T> out(11);
  a.fill_normal(out.data(), 11, 1.0, 2.0);
  for (T v : out) CHECK(v == static_cast<T>(b.normal(1.0, 2.0)));
  a.fill_uniform(out.data(), 11, -1.0, 1.0);
  for (T v : out) CHECK(v == static_cast<T>(b.uniform(-1.0, 1.0)));
}

// ---- parallel --------------------------------------------------------------------------

TEST_CASE("parallel: set_num_threads sets the count and clamps to at least one") {
  vaegan::test::ThreadCountGuard guard;
  vaegan::set_num_threads(3);
#ifdef _OPENMP
  CHECK(vaegan::num_threads() == 3);
#else
  CHECK(vaegan::num_threads() == 1);
#endif
  vaegan::set_num_threads(0);
  CHECK(vaegan::num_threads() == 1);
  vaegan::set_num_threads(-4);
  CHECK(vaegan::num_threads() == 1);
}

TEST_CASE("parallel: parallel_for visits every index exactly once in fixed chunks") {
  vaegan::test::ThreadCountGuard guard;
  const Index big = vaegan::detail::kParallelGrain;
  for (int threads : {1, 2, 3, 4}) {
    vaegan::set_num_threads(threads);
    // Sizes around the default grain, and a small grain so that small sizes also split.
    const std::vector<std::pair<Index, Index>> cases = {
        {0, big}, {1, big}, {big - 1, big}, {big, big}, {big + 1, big}, {5 * big + 3, big},
        {0, 7},   {6, 7},   {7, 7},         {8, 7},     {100, 7},       {1001, 13}};
    for (const auto& [n, grain] : cases) {
      CAPTURE(threads);
      CAPTURE(n);
      CAPTURE(grain);
      std::vector<std::atomic<int>> visits(static_cast<std::size_t>(n));
      for (auto& v : visits) v = 0;
      std::atomic<int> misaligned{0}, calls{0};
      vaegan::detail::parallel_for(
          n,
          [&](Index begin, Index end) {
            ++calls;
            // Chunks depend on the size alone, so results do not depend on the thread count.
            if (begin % grain != 0 || (end != n && end - begin != grain)) ++misaligned;
            for (Index i = begin; i < end; ++i) ++visits[static_cast<std::size_t>(i)];
          },
          grain);
      int wrong = 0;
      for (auto& v : visits) wrong += v != 1;
      CHECK(wrong == 0);
      CHECK(misaligned == 0);
      CHECK(calls == (n == 0 ? 0 : (threads == 1 ? 1 : static_cast<int>((n + grain - 1) / grain))));
    }
  }
}

TEST_CASE("parallel: parallel_for runs chunks on several threads when asked") {
#ifdef _OPENMP
  vaegan::test::ThreadCountGuard guard;
  vaegan::set_num_threads(2);
  std::vector<int> owner(8, -1);
  vaegan::detail::parallel_for(
      8,
      [&](Index b, Index e) {
        for (Index i = b; i < e; ++i) owner[static_cast<std::size_t>(i)] = omp_get_thread_num();
      },
      1);
  // Static schedule over 8 chunks and 2 threads: chunks 0-3 on thread 0, 4-7 on thread 1.
  CHECK(std::set<int>(owner.begin(), owner.end()) == std::set<int>{0, 1});
#endif
}

// ---- ThreadGovernor --------------------------------------------------------------------

TEST_CASE("thread governor: one thread while the threads wait for cores, all again once a probe finds them free") {
  double clock = 0.0;
  std::uint64_t run = 0, wait = 0;
  double wait_share = 0.0;  // of the next window's time
  auto source = [&](std::uint64_t& r, std::uint64_t& w) {
    r = run;
    w = wait;
    return true;
  };
  // One "step": `seconds` pass, with the current share of them spent waiting.
  auto step = [&](vaegan::ThreadGovernor& g, double seconds) {
    clock += seconds;
    const double total = seconds * 1e9 * vaegan::num_threads();
    wait += static_cast<std::uint64_t>(total * wait_share);
    run += static_cast<std::uint64_t>(total * (1.0 - wait_share));
    g.after_step();
  };
  vaegan::ThreadGovernor g(2, source, [&] { return clock; });
  REQUIRE(g.active());
  // Quiet: windows come and go, the threads stay.
  for (int i = 0; i < 100; ++i) step(g, 0.01);
  CHECK(g.threads() == 2);
  CHECK(g.reductions() == 0);
  // Busy: the first full window drops to one thread.
  wait_share = 0.3;
  for (int i = 0; i < 26; ++i) step(g, 0.01);
  CHECK(g.threads() == 1);
  CHECK(g.reductions() == 1);
  // Still busy: the probe after 1 s finds the wait again and backs off to 2 s.
  for (int i = 0; i < 102; ++i) step(g, 0.01);
  CHECK(g.threads() == 2);  // probing
  for (int i = 0; i < 3; ++i) step(g, 0.01);
  CHECK(g.threads() == 1);
  CHECK(g.reductions() == 2);
  for (int i = 0; i < 150; ++i) step(g, 0.01);
  CHECK(g.threads() == 1);  // 1.5 s into a 2 s back-off
  // The machine frees up: the next probe keeps all threads.
  wait_share = 0.0;
  for (int i = 0; i < 60; ++i) step(g, 0.01);
  CHECK(g.threads() == 2);
  for (int i = 0; i < 100; ++i) step(g, 0.01);
  CHECK(g.threads() == 2);
  CHECK(g.reductions() == 2);
}

TEST_CASE("thread governor: inactive for one thread or without schedstat, and leaves the count it was given") {
  vaegan::set_num_threads(2);
  {
    vaegan::ThreadGovernor one(1);
    CHECK_FALSE(one.active());
    CHECK(vaegan::num_threads() == 1);
  }
  CHECK(vaegan::num_threads() == 1);
  {
    vaegan::ThreadGovernor blind(
        2, [](std::uint64_t&, std::uint64_t&) { return false; }, [] { return 0.0; });
    CHECK_FALSE(blind.active());
    blind.after_step();
    CHECK(vaegan::num_threads() == 2);
  }
  CHECK(vaegan::num_threads() == 2);
}

// ---- profile ---------------------------------------------------------------------------

namespace {
// Spins for about `ms` milliseconds of wall time (a sleep could end early on a busy machine
// only by being descheduled longer, which is fine too: the checks allow for it).
void spin_ms(double ms) {
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() < ms) {
  }
}
const vaegan::profile::Entry* find_entry(const std::vector<vaegan::profile::Entry>& entries, const std::string& phase) {
  for (const auto& e : entries)
    if (e.phase == phase) return &e;
  return nullptr;
}
}  // namespace

TEST_CASE("profile: off, a scope records nothing and never evaluates its description") {
  auto& registry = vaegan::profile::Registry::instance();
  registry.clear();
  vaegan::profile::set_enabled(false);
  int evaluated = 0;
  { VAEGAN_PROFILE_SCOPE("off", (++evaluated, std::string("layer")), 1.0, 2.0); }
  CHECK(evaluated == 0);
  CHECK(registry.entries().empty());
}

TEST_CASE("profile: nested scopes record self times that add up to the outer scope's time") {
  auto& registry = vaegan::profile::Registry::instance();
  registry.clear();
  vaegan::profile::set_enabled(true);
  const auto t0 = std::chrono::steady_clock::now();
  for (int call = 0; call < 2; ++call) {
    VAEGAN_PROFILE_SCOPE("outer", "L", 10.0, 0.0);
    spin_ms(2);
    {
      VAEGAN_PROFILE_SCOPE("inner", "L", 0.0, 64.0);
      spin_ms(6);
    }
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  vaegan::profile::set_enabled(false);
  const auto entries = registry.entries();
  registry.clear();
  REQUIRE(entries.size() == 2);
  const auto* outer = find_entry(entries, "outer");
  const auto* inner = find_entry(entries, "inner");
  REQUIRE(outer != nullptr);
  REQUIRE(inner != nullptr);
  CHECK(outer->calls == 2);
  CHECK(inner->calls == 2);
  CHECK(outer->flops == 20.0);
  CHECK(inner->bytes == 128.0);
  CHECK(outer->layer == "L");
  // Self times: the inner 12 ms are not counted in the outer scope's, whose own is 4 ms;
  // together they cover the loop, never more (counted twice, they would pass 28 ms against
  // the loop's 16, whatever the machine's load adds to both).
  CHECK(inner->seconds >= 0.012);
  CHECK(outer->seconds >= 0.004);
  CHECK(outer->seconds + inner->seconds <= total);
}
