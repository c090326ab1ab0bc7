// xor: the smallest complete training program. An MLP (2 -> 8 tanh -> 1 logit) learns XOR
// with binary cross-entropy and Adam, printing the loss as it goes and the four
// predictions at the end. Exits non-zero if the network did not learn the table.
//
//   xor [steps] [seed]        defaults: 2000 steps, seed 1
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <vaegan/vaegan.hpp>

int main(int argc, char** argv) try {
  using namespace vaegan;
  const int steps = argc > 1 ? std::stoi(argv[1]) : 2000;
  const std::uint64_t seed = argc > 2 ? std::stoull(argv[2]) : 1;
  if (steps < 1) throw Error("xor: steps must be >= 1, got " + std::to_string(steps));

  // The truth table: inputs [4, 2], targets [4, 1].
  const Tensor<float> inputs(Shape{4, 2}, {0, 0, 0, 1, 1, 0, 1, 1});
  const Tensor<float> targets(Shape{4, 1}, {0, 1, 1, 0});

  Rng rng(seed);
  Sequential<float> net({2, 8, 1}, {Activation::tanh(), Activation::identity()}, rng, "xor");
  AdamOptions options;
  options.lr = 0.02;
  options.beta1 = 0.9;  // the library's default 0.5 is the usual GAN setting
  Adam<float> adam(net.parameters(), options);
  Tape<float> tape;

  std::printf("xor: %lld parameters, %d steps, seed %llu\n", static_cast<long long>(net.parameters().size()), steps,
              static_cast<unsigned long long>(seed));
  float loss = 0.0f;
  for (int step = 1; step <= steps; ++step) {
    tape.reset();  // keeps every node's memory: no allocation after the first step
    adam.zero_grad();
    Var<float> logits = net(tape.constant(inputs), ForwardContext::train());
    Var<float> l = bce_with_logits(logits, tape.constant(targets));
    tape.backward(l, {net.parameters()});
    adam.step();
    loss = l.item();
    if (step == 1 || step % (steps / 10 > 0 ? steps / 10 : 1) == 0) std::printf("step %5d  loss %.6f\n", step, loss);
  }

  // Evaluate without recording gradients.
  tape.reset();
  NoGradGuard<float> no_grad(tape);
  Var<float> probabilities = sigmoid(net(tape.constant(inputs), ForwardContext::eval()));
  int correct = 0;
  for (Index i = 0; i < 4; ++i) {
    const float p = probabilities.value()(i, 0);
    const bool right = (p > 0.5f) == (targets(i, 0) > 0.5f);
    correct += right ? 1 : 0;
    std::printf("%g xor %g -> %.4f (target %g)%s\n", static_cast<double>(inputs(i, 0)),
                static_cast<double>(inputs(i, 1)), static_cast<double>(p), static_cast<double>(targets(i, 0)),
                right ? "" : "  WRONG");
  }
  std::printf("final loss %.6f, %d/4 correct\n", static_cast<double>(loss), correct);
  return correct == 4 ? EXIT_SUCCESS : EXIT_FAILURE;
} catch (const std::exception& e) {
  std::fprintf(stderr, "xor: %s\n", e.what());
  return EXIT_FAILURE;
}
