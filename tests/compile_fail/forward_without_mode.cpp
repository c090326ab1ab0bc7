// Must not compile: a network's forward pass names its mode (train or eval), so a
// hand-written loop cannot run batch norm in eval mode by omission.
#include <vaegan/models/decoder.hpp>
#include <vaegan/nn/batch_norm.hpp>
#include <vaegan/nn/dense.hpp>

int main() {
  using namespace vaegan;
  Decoder decoder(4, Sequential<float>(Dense<float>(4, 16), BatchNorm1d<float>(16), Dense<float>(16, 8)));
  Tape<float> tape;
  Var<float> logits = decoder.forward(tape.full(Shape::matrix(2, 4), 0.0f));
  return static_cast<int>(logits.rows());
}
