// Decoders rebuilt from their NetworkStructure (models/from_structure.hpp): with the saved
// parameters and buffers they decode bit for bit what the original decodes; structures that
// cannot be rebuilt are refused naming why.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "test_util.hpp"
#include "vaegan/vaegan.hpp"

namespace {

using vaegan::Decoder;
using vaegan::Shape;
using vaegan::Tensor;

// sigmoid(decoder(z)) in eval mode.
Tensor<float> decode(const Decoder<float>& decoder, const Tensor<float>& z) {
  vaegan::Tape<float> tape;
  vaegan::NoGradGuard<float> no_grad(tape);
  const vaegan::Var<float> images = vaegan::sigmoid(decoder.forward(tape.constant(z), vaegan::ForwardContext::eval()));
  Tensor<float> out(images.shape());
  std::copy(images.node().value, images.node().value + out.numel(), out.data());
  return out;
}

// Rebuilds `original` from its structure, copies its parameters and buffers (with running
// statistics moved off their initial values by a few train-mode passes) and checks both
// decode the same codes to the same bits.
void check_rebuilt_decodes_the_same(Decoder<float>& original) {
  Tensor<float> z(Shape::matrix(5, original.latent_dim()));
  vaegan::Rng(9).fill_normal(z.data(), z.numel());
  vaegan::Rng rng(3);
  for (int i = 0; i < 3; ++i) {  // move batch norm's running statistics
    vaegan::Tape<float> tape;
    (void)original.forward(tape.constant(z), vaegan::ForwardContext::train(rng));
  }
  Decoder<float> rebuilt = vaegan::decoder_from_structure<float>(original.structure());
  CHECK(rebuilt.structure().to_text() == original.structure().to_text());
  rebuilt.parameters().values() = original.parameters().values();
  rebuilt.parameters().buffers() = original.parameters().buffers();
  const Tensor<float> a = decode(original, z), b = decode(rebuilt, z);
  REQUIRE(a.numel() == b.numel());
  CHECK(std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.numel())) == 0);
}

}  // namespace

TEST_CASE("decoder_from_structure rebuilds the preset decoders and composed ones, bit for bit") {
  SUBCASE("mlp preset") {
    Decoder<float> d = vaegan::preset_decoder<float>(vaegan::model_preset("mlp"));
    check_rebuilt_decodes_the_same(d);
  }
  SUBCASE("conv preset: Dense, BatchNorm1d/2d, ReLU, Reshape, ConvTranspose2d") {
    Decoder<float> d = vaegan::preset_decoder<float>(vaegan::model_preset("conv"));
    check_rebuilt_decodes_the_same(d);
  }
  SUBCASE("composed: a Dense with its own activation, LeakyReLU, Tanh, Dropout, Conv2d, Flatten") {
    using namespace vaegan;
    Decoder<float> d(
        6,
        Sequential<float>(Dense<float>(6, 32, Activation::leaky_relu(0.1)), Dropout<float>(0.2),
                          Dense<float>(32, 2 * 6 * 6), Reshape<float>(Shape{2, 6, 6}), Conv2d<float>(2, 3, 3, 1, 1),
                          LeakyReLU<float>(0.3), Tanh<float>(), Flatten<float>(), Dense<float>(3 * 6 * 6, 36),
                          Softplus<float>(), Reshape<float>(Shape{1, 6, 6})),
        "generator");
    check_rebuilt_decodes_the_same(d);
    CHECK(vaegan::decoder_from_structure<float>(d.structure()).structure().name == "generator");
  }
}

TEST_CASE("decoder_from_structure refuses what it cannot rebuild, naming why") {
  using namespace vaegan;
  Decoder<float> d(
      4, Sequential<float>(Dense<float>(4, 8), ReLU<float>(), Dense<float>(8, 9), Reshape<float>(Shape{1, 3, 3})));
  NetworkStructure s = d.structure();
  SUBCASE("an unknown layer type") {
    s.layers[1].type = "Swish";
    CHECK_THROWS_WITH_AS(decoder_from_structure<float>(s), doctest::Contains("no layer of type 'Swish'"), IoError);
  }
  SUBCASE("a layer outside the one Sequential part") {
    s.layers[1].path = "head";
    CHECK_THROWS_WITH_AS(decoder_from_structure<float>(s), doctest::Contains("only a network of one Sequential part"),
                         IoError);
  }
  SUBCASE("an attribute that is not a size") {
    s.layers[0].attributes[1].second = "eight";
    CHECK_THROWS_WITH_AS(decoder_from_structure<float>(s), doctest::Contains("out='eight' is not a size"), IoError);
  }
  SUBCASE("widths that do not chain") {
    s.layers[2].attributes[0].second = "7";  // the second Dense takes 7, the first gives 8
    CHECK_THROWS_AS(decoder_from_structure<float>(s), IoError);
  }
  SUBCASE("a structure whose tensors differ from what the layers make") {
    s.parameters[0].offset += 1;
    CHECK_THROWS_WITH_AS(decoder_from_structure<float>(s), doctest::Contains("cannot be rebuilt from its structure"),
                         IoError);
  }
  SUBCASE("not a decoder: images in") {
    s.input = Shape{1, 2, 2};
    CHECK_THROWS_WITH_AS(decoder_from_structure<float>(s), doctest::Contains("it is not a decoder"), IoError);
  }
}
