#pragma once
// network_gradient_error: a whole network's parameter gradients against central
// differences, in double: d(sum(net(x) * R)) / d(every parameter) with a fixed random R,
// as ||analytic - numeric|| / ||analytic + numeric||. gradcheck (testing/gradcheck.hpp)
// checks inputs; this checks what the layers write into the network's flat buffer.
#include <algorithm>
#include <cmath>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/core/tensor.hpp"
#include "vaegan/nn/module.hpp"
#include "vaegan/ops/elementwise.hpp"
#include "vaegan/ops/reduce.hpp"

namespace vaegan::test {

template <class Net>
double network_gradient_error(Net& net, const Tensor<double>& x,
                              const ForwardContext& ctx = ForwardContext::train_without_noise()) {
  auto& params = net.parameters();
  Rng rng(77);
  Tape<double> tape;
  Tensor<double> projection;
  auto loss = [&]() {
    tape.reset();
    Var<double> y = net.forward(tape.constant(x), ctx);
    if (projection.numel() != y.numel()) {
      projection.resize(y.shape());
      rng.fill_uniform(projection.data(), projection.numel(), -1.0, 1.0);
    }
    return sum(mul(y, tape.constant(projection)));
  };
  params.zero_grad();
  tape.backward(loss(), {params});
  const Tensor<double> analytic = params.grads();
  double num = 0.0, den = 0.0;
  const double h = 1e-6;
  for (Index i = 0; i < params.size(); ++i) {
    const double saved = params.values()[i];
    params.values()[i] = saved + h;
    const double up = loss().item();
    params.values()[i] = saved - h;
    const double down = loss().item();
    params.values()[i] = saved;
    const double numeric = (up - down) / (2 * h);
    num += (analytic[i] - numeric) * (analytic[i] - numeric);
    den += (analytic[i] + numeric) * (analytic[i] + numeric);
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

}  // namespace vaegan::test
