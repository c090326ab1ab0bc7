// Must not compile, with the hint of nn/sequential.hpp: copying a const Sequential.
#include <vaegan/nn/dense.hpp>
#include <vaegan/nn/sequential.hpp>

int main() {
  using namespace vaegan;
  const Sequential<float> net(Dense<float>(4, 8));
  Sequential<float> copy(net);
  return 0;
}
