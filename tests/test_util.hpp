#pragma once
// Shared helpers for the unit tests: seeded random tensors, reference computations and a
// gradient-check assertion that remembers the worst error each test file saw.
//
// Set VAEGAN_GRADCHECK_SUMMARY=1 to print, at exit, the largest gradcheck relative error
// of every test file (the tolerance is kGradcheckTolerance; the summary shows the margin).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

// The core engine only (not the umbrella, which also pulls in models, data, io and train).
#include "vaegan/autodiff/parameters.hpp"
#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/parallel.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/core/tensor.hpp"
#include "vaegan/detail/gemm.hpp"
#include "vaegan/losses/bce.hpp"
#include "vaegan/losses/kl.hpp"
#include "vaegan/losses/mse.hpp"
#include "vaegan/losses/reduction.hpp"
#include "vaegan/losses/softmax_xent.hpp"
#include "vaegan/nn/dense.hpp"
#include "vaegan/nn/init.hpp"
#include "vaegan/nn/sequential.hpp"
#include "vaegan/ops/activation.hpp"
#include "vaegan/ops/clamp.hpp"
#include "vaegan/ops/dropout.hpp"
#include "vaegan/ops/elementwise.hpp"
#include "vaegan/ops/matmul.hpp"
#include "vaegan/ops/reduce.hpp"
#include "vaegan/ops/reparam.hpp"
#include "vaegan/ops/rows.hpp"
#include "vaegan/optim/adam.hpp"
#include "vaegan/optim/sgd.hpp"
#include "vaegan/testing/gradcheck.hpp"

namespace vaegan::test {

using Vars = std::vector<Var<double>>;

// Bit identity (NaN payloads, the sign of zero), not numeric equality.
inline bool same_bits(double a, double b) {
  std::uint64_t ua, ub;
  std::memcpy(&ua, &a, 8);
  std::memcpy(&ub, &b, 8);
  return ua == ub;
}
template <class T>
bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), sizeof(T) * static_cast<std::size_t>(a.numel())) == 0;
}

// The message of the exception of type E that fn throws ("" if it throws nothing).
template <class E, class Fn>
std::string message_of(Fn&& fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

// Whether `part` occurs in `s` (error messages).
inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// How many ops named `op` the tape recorded.
template <class T>
int count_ops(const Tape<T>& tape, const std::string& op) {
  int n = 0;
  for (int i = 0; i < tape.size(); ++i) n += op == tape.node(i).op;
  return n;
}

// Central differences in double with step 1e-6 must agree with the tape this closely.
constexpr double kGradcheckTolerance = 1e-6;

template <class T = double>
Tensor<T> random_normal(const Shape& shape, Rng& rng, double mean = 0.0, double stddev = 1.0) {
  Tensor<T> t(shape);
  rng.fill_normal(t.data(), t.numel(), mean, stddev);
  return t;
}

template <class T = double>
Tensor<T> random_uniform(const Shape& shape, Rng& rng, double lo, double hi) {
  Tensor<T> t(shape);
  rng.fill_uniform(t.data(), t.numel(), lo, hi);
  return t;
}

// |x| in [lo, hi] with a random sign: keeps relu-family inputs off their kink at 0, where
// a finite difference straddles two slopes.
template <class T = double>
Tensor<T> random_off_zero(const Shape& shape, Rng& rng, double lo = 0.1, double hi = 1.5) {
  Tensor<T> t(shape);
  for (Index i = 0; i < t.numel(); ++i) {
    const double magnitude = rng.uniform(lo, hi);
    t[i] = static_cast<T>(rng.uniform() < 0.5 ? -magnitude : magnitude);
  }
  return t;
}

// A purely relative doctest::Approx. Plain Approx adds 1 to the scale, which makes it an
// absolute tolerance for small values (it would accept 0 for 1e-13).
inline doctest::Approx relative(double value, double tolerance) {
  return doctest::Approx(value).epsilon(tolerance).scale(0.0);
}

template <class T>
double max_abs_diff(const Tensor<T>& a, const Tensor<T>& b) {
  REQUIRE(a.shape() == b.shape());
  double worst = 0.0;
  for (Index i = 0; i < a.numel(); ++i)
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return worst;
}

// A Var's value or gradient copied out of the tape (which reuses its memory on reset).
template <class T>
Tensor<T> value_of(const Var<T>& v) {
  Tensor<T> t(v.shape());
  std::copy(v.node().value, v.node().value + v.numel(), t.data());
  return t;
}
template <class T>
Tensor<T> grad_of(const Var<T>& v) {
  Tensor<T> t(v.shape());
  t.matrix() = v.grad();
  return t;
}

// Reference C[m, n] = op(A) op(B) by the textbook triple loop, accumulated in double.
// Storage follows detail::gemm: A is [k, m] when trans_a, B is [n, k] when trans_b.
template <class T>
std::vector<double> naive_matmul(bool trans_a, bool trans_b, Index m, Index n, Index k, const T* a, Index lda,
                                 const T* b, Index ldb) {
  std::vector<double> c(static_cast<std::size_t>(m * n), 0.0);
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < n; ++j) {
      double acc = 0.0;
      for (Index p = 0; p < k; ++p) {
        const double av = trans_a ? a[p * lda + i] : a[i * lda + p];
        const double bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
        acc += av * bv;
      }
      c[static_cast<std::size_t>(i * n + j)] = acc;
    }
  return c;
}

// Restores the library's thread count when a test that changes it ends (or fails).
class ThreadCountGuard {
 public:
  ThreadCountGuard() : saved_(num_threads()) {}
  ~ThreadCountGuard() { set_num_threads(saved_); }
  ThreadCountGuard(const ThreadCountGuard&) = delete;
  ThreadCountGuard& operator=(const ThreadCountGuard&) = delete;

 private:
  int saved_;
};

// Worst gradcheck error per test file, printed at exit on request.
class GradcheckLedger {
 public:
  static GradcheckLedger& instance() {
    static GradcheckLedger ledger;
    return ledger;
  }
  void record(const char* file, double relative_error) {
    double& worst = worst_[file];
    worst = std::max(worst, relative_error);
  }
  ~GradcheckLedger() {
    const char* flag = std::getenv("VAEGAN_GRADCHECK_SUMMARY");
    if (flag == nullptr || *flag == '\0' || *flag == '0') return;
    for (const auto& [file, worst] : worst_)
      std::printf("gradcheck worst relative error %.3e  (tolerance %.0e)  %s\n", worst, kGradcheckTolerance,
                  file.c_str());
  }

 private:
  GradcheckLedger() = default;
  std::map<std::string, double> worst_;
};

}  // namespace vaegan::test

// Asserts that vaegan::gradcheck(fn, inputs...) passes at kGradcheckTolerance, reporting
// the errors on failure. A macro so that doctest names the calling line.
#define VAEGAN_CHECK_GRADIENTS(fn, ...)                                                                 \
  do {                                                                                                  \
    const ::vaegan::GradcheckResult gradcheck_result_ = ::vaegan::gradcheck(fn, __VA_ARGS__);           \
    ::vaegan::test::GradcheckLedger::instance().record(__FILE__, gradcheck_result_.max_relative_error); \
    INFO(gradcheck_result_.report());                                                                   \
    CHECK(gradcheck_result_.max_relative_error < ::vaegan::test::kGradcheckTolerance);                  \
  } while (false)
