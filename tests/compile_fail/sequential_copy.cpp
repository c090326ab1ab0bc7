// Must not compile, with the hint of nn/sequential.hpp (tests/compile_fail/CMakeLists.txt):
// a Sequential passed by value where it should be moved.
#include <vaegan/models/decoder.hpp>
#include <vaegan/nn/activation_layer.hpp>
#include <vaegan/nn/dense.hpp>
#include <vaegan/nn/reshape.hpp>

int main() {
  using namespace vaegan;
  Sequential<float> net(Dense<float>(4, 8), ReLU<float>(), Dense<float>(8, 784), Reshape<float>(Shape{1, 28, 28}));
  Decoder decoder(4, net);  // should be std::move(net)
  return static_cast<int>(decoder.latent_dim());
}
