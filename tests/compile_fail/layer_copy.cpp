// Must not compile, with the hint of nn/sequential.hpp: a named layer handed over by copy.
#include <vaegan/nn/activation_layer.hpp>
#include <vaegan/nn/dense.hpp>
#include <vaegan/nn/sequential.hpp>

int main() {
  using namespace vaegan;
  Dense<float> first(4, 8);
  Sequential<float> net(first, ReLU<float>());
  return 0;
}
