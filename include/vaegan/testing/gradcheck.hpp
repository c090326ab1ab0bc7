#pragma once
// gradcheck: compares the tape's gradients with central finite differences, in double.
//
//   auto result = vaegan::gradcheck([](Tape<double>& t, const std::vector<Var<double>>& in) {
//     return my_op(in[0], in[1]);           // any shape
//   }, {a, b});
//   CHECK(result.max_relative_error < 1e-6);
//
// A non-scalar output y is reduced to the scalar sum(y * R) with a fixed random R, so
// errors cannot cancel out in a plain sum. For each input the error is
//   ||analytic - numeric|| / max(||analytic + numeric||, tiny)    (2-norms over the input)
// Keep inputs away from kinks (relu at 0) where the derivative is not defined.
//
// A testing utility the library ships (as dlib ships test_layer), not part of the engine:
// it lives in testing/ because it uses ops/ (sum, mul), which autodiff/ must not depend on.
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/ops/elementwise.hpp"
#include "vaegan/ops/reduce.hpp"

namespace vaegan {

struct GradcheckResult {
  double max_relative_error = 0.0;  // worst over inputs
  double max_abs_error = 0.0;       // worst element
  int worst_input = -1;
  std::vector<double> relative_errors;  // per input
  // Scientific notation: the errors that matter are far below std::to_string's 6 decimals.
  std::string report() const {
    char text[160];
    std::snprintf(text, sizeof text, "gradcheck: max relative error %.3e (input %d), max abs error %.3e",
                  max_relative_error, worst_input, max_abs_error);
    return text;
  }
};

using GradcheckFn = std::function<Var<double>(Tape<double>&, const std::vector<Var<double>>&)>;

inline GradcheckResult gradcheck(const GradcheckFn& f, std::vector<Tensor<double>> inputs, double step = 1e-6,
                                 std::uint64_t seed = 1234) {
  Tape<double> tape;
  Tensor<double> projection;
  auto scalar_loss = [&](std::vector<Var<double>>& vars) {
    Var<double> y = f(tape, vars);
    if (y.numel() == 1) return y;
    if (projection.numel() != y.numel()) {
      projection.resize(y.shape());
      Rng rng(seed);
      rng.fill_uniform(projection.data(), projection.numel(), 0.5, 1.5);  // mixed magnitudes, one sign
      for (Index i = 0; i < projection.numel(); i += 2) projection[i] = -projection[i];
    }
    projection.reshape(y.shape());
    return sum(mul(y, tape.constant(projection)));
  };
  auto evaluate = [&]() {
    tape.reset();
    std::vector<Var<double>> vars;
    for (const auto& t : inputs) vars.push_back(tape.variable(t));
    return scalar_loss(vars).item();
  };

  // Analytic gradients.
  tape.reset();
  std::vector<Var<double>> vars;
  for (const auto& t : inputs) vars.push_back(tape.variable(t));
  Var<double> loss = scalar_loss(vars);
  tape.backward(loss);
  std::vector<Tensor<double>> analytic;
  for (const auto& v : vars) {
    Tensor<double> g(v.shape());
    g.matrix() = v.grad();
    analytic.push_back(std::move(g));
  }

  GradcheckResult result;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    double diff2 = 0.0, sum2 = 0.0;
    for (Index i = 0; i < inputs[k].numel(); ++i) {
      const double original = inputs[k][i];
      inputs[k][i] = original + step;
      const double plus = evaluate();
      inputs[k][i] = original - step;
      const double minus = evaluate();
      inputs[k][i] = original;
      const double numeric = (plus - minus) / (2.0 * step);
      const double a = analytic[k][i];
      diff2 += (a - numeric) * (a - numeric);
      sum2 += (a + numeric) * (a + numeric);
      result.max_abs_error = std::max(result.max_abs_error, std::abs(a - numeric));
    }
    const double rel = std::sqrt(diff2) / std::max(std::sqrt(sum2), 1e-300);
    const double rel_or_zero = (sum2 == 0.0 && diff2 == 0.0) ? 0.0 : rel;
    result.relative_errors.push_back(rel_or_zero);
    if (rel_or_zero >= result.max_relative_error) {
      result.max_relative_error = rel_or_zero;
      result.worst_input = static_cast<int>(k);
    }
  }
  return result;
}

}  // namespace vaegan
