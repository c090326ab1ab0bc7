// Tests for the module contract (nn/module.hpp) and what composes from it: Sequential's
// activation fusion and shape checks, the reshape op, NetworkBase's one flat buffer and
// structure, the models over user-composed networks, a user-written layer in a trainer,
// and save_weights / load_weights.
#include <cmath>
#include <string>
#include <vector>

#include "io/temp_dir.hpp"
#include "nn/network_gradcheck.hpp"
#include "test_util.hpp"
#include "vaegan/io/weights.hpp"
#include "vaegan/models/decoder.hpp"
#include "vaegan/models/discriminator.hpp"
#include "vaegan/models/encoder.hpp"
#include "vaegan/nn/activation_layer.hpp"
#include "vaegan/nn/batch_norm.hpp"
#include "vaegan/nn/conv2d.hpp"
#include "vaegan/nn/dropout.hpp"
#include "vaegan/nn/network.hpp"
#include "vaegan/nn/reshape.hpp"
#include "vaegan/nn/sequential.hpp"
#include "vaegan/ops/reshape.hpp"
#include "vaegan/ops/rows.hpp"
#include "vaegan/train/gan_trainer.hpp"
#include "vaegan/train/vae_trainer.hpp"
#include "vaegan/train/vaegan_trainer.hpp"

using vaegan::Dense;
using vaegan::Dropout;
using vaegan::Flatten;
using vaegan::ForwardContext;
using vaegan::Index;
using vaegan::LeakyReLU;
using vaegan::ReLU;
using vaegan::Reshape;
using vaegan::Rng;
using vaegan::Sequential;
using vaegan::Shape;
using vaegan::ShapeError;
using vaegan::Tanh;
using vaegan::Tape;
using vaegan::Tensor;
using vaegan::Var;
using vaegan::test::count_ops;
using vaegan::test::random_normal;

namespace {

// A layer a user might write: y = tanh(x W), no bias, from public ops only.
template <class T>
class TanhProjection : public vaegan::Module<T> {
 public:
  TanhProjection(Index in, Index out) : in_(in), out_(out) {}
  std::string type() const override { return "TanhProjection"; }
  Shape output_shape(const Shape& input) const override {
    if (input.rank() != 1 || input[0] != in_)
      throw ShapeError("TanhProjection takes [" + std::to_string(in_) + "], got " + input.str());
    return Shape{out_};
  }
  vaegan::Attributes attributes() const override {
    return {{"in", std::to_string(in_)}, {"out", std::to_string(out_)}};
  }
  void bind(vaegan::ParameterSet<T>& params, const std::string& prefix) override {
    params_ = &params;
    weight_ = params.add(prefix + "weight", Shape{in_, out_}, vaegan::TorchLayout::transposed);
  }
  void reset_parameters(Rng& rng) override { rng.fill_uniform(params_->value_ptr(weight_), in_ * out_, -0.5, 0.5); }
  Var<T> forward(const Var<T>& x, const ForwardContext&) const override {
    return vaegan::tanh(vaegan::matmul(x, x.tape().parameter(*params_, weight_)));
  }

 private:
  Index in_, out_;
  vaegan::ParameterSet<T>* params_ = nullptr;
  int weight_ = -1;
};

template <class T>
Sequential<T> small_trunk() {
  return Sequential<T>(Flatten<T>(), Dense<T>(36, 10), LeakyReLU<T>(0.2), TanhProjection<T>(10, 8));
}

}  // namespace

TEST_CASE("module: a Dense followed by an activation layer is fused into one linear op") {
  vaegan::Network<double> fused("net", Shape{5}, Sequential<double>(Dense<double>(5, 4), Tanh<double>()));
  vaegan::Network<double> plain("net", Shape{5}, Sequential<double>(Dense<double>(5, 4, vaegan::Activation::tanh())));
  plain.parameters().values() = fused.parameters().values();
  Rng rng(3);
  const Tensor<double> x = random_normal<double>(Shape{3, 5}, rng);
  Tape<double> tape;
  const Tensor<double> a = vaegan::test::value_of(fused.forward(tape.constant(x), vaegan::ForwardContext::eval()));
  CHECK(count_ops(tape, "linear") == 1);
  CHECK(count_ops(tape, "activation") == 0);
  const Tensor<double> b = vaegan::test::value_of(plain.forward(tape.constant(x), vaegan::ForwardContext::eval()));
  CHECK(vaegan::test::max_abs_diff(a, b) == 0.0);
  // The structure lists both layers as composed, and Dense's init saw the fused tanh.
  const auto s = fused.structure();
  REQUIRE(s.layers.size() == 2);
  CHECK(s.layers[0].type == "Dense");
  CHECK(s.layers[1].type == "Tanh");
  CHECK(s.layers[1].path == "net.1");
  CHECK(s.parameters[0].name == "net.0.weight");
  CHECK(s.parameters[0].torch_layout == vaegan::TorchLayout::transposed);
}

TEST_CASE("module: gradients through Flatten, Dense, LeakyReLU, a user layer and Reshape match finite differences") {
  vaegan::Network<double> net(
      "net", Shape{1, 6, 6},
      Sequential<double>(Flatten<double>(), Dense<double>(36, 10), LeakyReLU<double>(0.2), Dropout<double>(0.4),
                         TanhProjection<double>(10, 8), Reshape<double>(Shape{2, 2, 2})));
  Rng rng(11);
  const Tensor<double> x = random_normal<double>(Shape{3, 1, 6, 6}, rng);
  // Input gradients through the reshape views (dropout off: no noise in this check).
  auto result = vaegan::gradcheck(
      [&](Tape<double>&, const std::vector<Var<double>>& in) {
        Var<double> y = net.forward(in[0], ForwardContext::train_without_noise());
        REQUIRE(y.shape() == Shape({3, 2, 2, 2}));
        return y;
      },
      {x});
  INFO(result.report());
  CHECK(result.max_relative_error < 1e-6);
  // Parameter gradients of every layer, through the flat buffer.
  const double error = vaegan::test::network_gradient_error(net, x);
  INFO(error);
  CHECK(error < 1e-6);
}

TEST_CASE("reshape: gradients when the input has one consumer (handed over) and several (accumulated)") {
  Rng rng(21);
  const Tensor<double> x = random_normal<double>(Shape{3, 2, 6}, rng);
  for (int consumers = 1; consumers <= 3; ++consumers) {
    auto result = vaegan::gradcheck(
        [&](Tape<double>&, const std::vector<Var<double>>& in) {
          Var<double> y = vaegan::reshape(in[0], Shape{3, 3, 4});
          for (int k = 1; k < consumers; ++k) y = vaegan::add(y, vaegan::reshape(in[0], Shape{3, 3, 4}));
          return vaegan::mul(y, y);
        },
        {x});
    INFO(consumers, " consumers: ", result.report());
    CHECK(result.max_relative_error < 1e-7);
  }
}

TEST_CASE("module: shapes that do not fit are refused at construction with both shapes") {
  using E = vaegan::Encoder<float>;
  // A Dense fed an image without a Flatten.
  CHECK_THROWS_WITH_AS(E(Shape{1, 28, 28}, Sequential<float>(Dense<float>(784, 16), ReLU<float>()), 4),
                       doctest::Contains("Dense takes samples of [784], got [1, 28, 28] (put a Flatten before it)"),
                       ShapeError);
  // Widths that do not chain name the layer.
  CHECK_THROWS_WITH_AS(E(Shape{8}, Sequential<float>(Dense<float>(8, 16), ReLU<float>(), Dense<float>(12, 4)), 4),
                       doctest::Contains("layer '2' (Dense): Dense takes samples of [12], got [16]"), ShapeError);
  CHECK_THROWS_WITH_AS(Reshape<float>(Shape{7, 7}).output_shape(Shape{50}),
                       doctest::Contains("Reshape to [7, 7] needs samples of 49 values, got [50]"), ShapeError);
  // A decoder making 784 values for a discriminator of 1x32x32 images.
  vaegan::Decoder<float> decoder(8, Sequential<float>(Dense<float>(8, 784), Reshape<float>(Shape{1, 28, 28})));
  vaegan::Discriminator<float> critic(Shape{1, 32, 32}, Sequential<float>(Flatten<float>(), Dense<float>(1024, 4)));
  CHECK_THROWS_WITH_AS(vaegan::GanTrainer<float>(std::move(decoder), std::move(critic)),
                       "GanTrainer: the generator makes images of [1, 28, 28] but the discriminator takes "
                       "[1, 32, 32]; compose networks whose shapes fit",
                       ShapeError);
}

TEST_CASE("module: a VAE-GAN of composed networks with a user-written layer trains") {
  vaegan::Encoder encoder(Shape{1, 6, 6}, small_trunk<float>(), 3);
  vaegan::Decoder decoder(3, Sequential<float>(Dense<float>(3, 16), ReLU<float>(), TanhProjection<float>(16, 36),
                                               Reshape<float>(Shape{1, 6, 6})));
  vaegan::Discriminator discriminator(Shape{1, 6, 6}, small_trunk<float>(), "2");
  vaegan::VaeGanOptions options;
  options.feature_reconstruction_weight = 1.0;
  vaegan::VaeGanTrainer trainer(std::move(encoder), std::move(decoder), std::move(discriminator), options, 5);
  static_assert(std::is_same_v<decltype(trainer)::Scalar, float>);
  CHECK(trainer.image_shape() == Shape{1, 6, 6});
  Rng rng(4);
  Tensor<float> images(Shape{8, 1, 6, 6});
  rng.fill_uniform(images.data(), images.numel(), 0.0, 1.0);
  const Tensor<float> before = trainer.decoder().parameters().values();
  for (int step = 0; step < 5; ++step) {
    const auto stats = trainer.train_step(images);
    CHECK(std::isfinite(stats.get("loss_d")));
    CHECK(std::isfinite(stats.get("loss_dec")));
  }
  CHECK(vaegan::test::max_abs_diff(before, trainer.decoder().parameters().values()) > 0.0);
  Tensor<float> z(Shape{4, 3}, 0.1f), generated, recon;
  trainer.generate(z, generated);
  CHECK(generated.shape() == Shape({4, 1, 6, 6}));
  trainer.reconstruct(images, recon);
  CHECK(recon.shape() == Shape({8, 1, 6, 6}));
  // The network slots carry the structure, user layer included.
  const auto& d = trainer.networks()[1].structure;
  CHECK(d.layers[2].type == "TanhProjection");
}

TEST_CASE("trainers: networks handed over keep their weights unless InitialWeights::draw_from_seed") {
  auto decoder = [] {
    return vaegan::Generator(3, Sequential<float>(Dense<float>(3, 36), Reshape<float>(Shape{1, 6, 6})));
  };
  auto critic = [] { return vaegan::Discriminator(Shape{1, 6, 6}, small_trunk<float>(), "2"); };
  // Weights the user set (as a pretrained or loaded network has them).
  auto pretrained = decoder();
  pretrained.parameters().values().fill(0.25f);
  const Tensor<float> given = pretrained.parameters().values();

  vaegan::GanTrainer kept(std::move(pretrained), critic(), {}, 7);
  CHECK(vaegan::test::same_bits(kept.generator().parameters().values(), given));
  // The critic was built with the networks' default draw and keeps it too.
  CHECK(vaegan::test::same_bits(kept.discriminator().parameters().values(), critic().parameters().values()));

  vaegan::GanTrainer drawn(decoder(), critic(), {}, 7, vaegan::InitialWeights::draw_from_seed);
  vaegan::GanTrainer drawn_again(decoder(), critic(), {}, 7, vaegan::InitialWeights::draw_from_seed);
  vaegan::GanTrainer other_seed(decoder(), critic(), {}, 8, vaegan::InitialWeights::draw_from_seed);
  CHECK_FALSE(vaegan::test::same_bits(drawn.generator().parameters().values(), decoder().parameters().values()));
  CHECK(
      vaegan::test::same_bits(drawn.generator().parameters().values(), drawn_again.generator().parameters().values()));
  CHECK_FALSE(
      vaegan::test::same_bits(drawn.generator().parameters().values(), other_seed.generator().parameters().values()));
}

TEST_CASE("Generator: C++17 deduces its arguments as Decoder's, and it is a Decoder named generator") {
  vaegan::Generator generator(3, Sequential<float>(Dense<float>(3, 36), Reshape<float>(Shape{1, 6, 6})));
  static_assert(std::is_same_v<decltype(generator), vaegan::Generator<float, Sequential<float>>>);
  static_assert(std::is_base_of_v<vaegan::Decoder<float>, decltype(generator)>);
  CHECK(generator.name() == "generator");
  CHECK(generator.image_shape() == Shape{1, 6, 6});
  vaegan::Generator<float> from_decoder =
      vaegan::Decoder<float>(3, Sequential<float>(Dense<float>(3, 36), Reshape<float>(Shape{1, 6, 6})));
  CHECK(from_decoder.name() == "decoder");
  vaegan::GanTrainer trainer(std::move(generator), vaegan::Discriminator(Shape{1, 6, 6}, small_trunk<float>(), "2"));
  static_assert(std::is_same_v<decltype(trainer), vaegan::GanTrainer<float>>);
  CHECK(trainer.networks()[0].name == "generator");
}

TEST_CASE("module: the discriminator's named feature layer, and features without dropout noise") {
  Sequential<double> trunk(Flatten<double>(), Dense<double>(4, 6), ReLU<double>(), Dropout<double>(0.5),
                           Dense<double>(6, 3), ReLU<double>());
  vaegan::Discriminator<double> d(Shape{4}, std::move(trunk), "2");
  CHECK(d.features_noisy() == false);  // the dropout comes after the feature layer
  Rng rng(8);
  const Tensor<double> x = random_normal<double>(Shape{5, 4}, rng);
  Tape<double> tape;
  Rng noise(1);
  auto both = d.forward_with_features(tape.constant(x), ForwardContext::train(noise));
  CHECK(both.features.shape() == Shape({5, 6}));
  CHECK(both.logit.shape() == Shape({5, 1}));
  // The feature layer keeps its own output: the ReLU is not fused into a layer before a tap.
  const Tensor<double> f = vaegan::test::value_of(d.features(tape.constant(x), ForwardContext::eval()));
  CHECK(vaegan::test::max_abs_diff(f, vaegan::test::value_of(both.features)) == 0.0);
  CHECK(f.array().minCoeff() >= 0.0);

  Sequential<double> noisy(Flatten<double>(), Dense<double>(4, 6), Dropout<double>(0.5), ReLU<double>());
  vaegan::Discriminator<double> d2(Shape{4}, std::move(noisy), "3");
  CHECK(d2.features_noisy());
  CHECK_THROWS_WITH_AS(vaegan::Discriminator<double>(Shape{4}, Sequential<double>(Flatten<double>()), "features"),
                       doctest::Contains("no layer named 'features' (layers: 0)"), vaegan::Error);
}

TEST_CASE("module: a parameter read through slice_rows in overwrite mode gets a correct gradient") {
  vaegan::ParameterSet<double> params("p");
  const int w = params.add("w", Shape{4, 3});
  for (Index i = 0; i < 12; ++i) params.values()[i] = 0.1 * static_cast<double>(i);
  params.grads().fill(123.0);  // stale values from an earlier step
  params.begin_overwrite();
  Tape<double> tape;
  Var<double> rows = vaegan::slice_rows(tape.parameter(params, w), 1, 3);
  tape.backward(vaegan::sum(rows), {params});
  params.end_overwrite();
  for (Index r = 0; r < 4; ++r)
    for (Index c = 0; c < 3; ++c) CHECK(params.grads()[r * 3 + c] == ((r == 1 || r == 2) ? 1.0 : 0.0));
}

TEST_CASE("module: structure text round-trips and names the first difference") {
  vaegan::Decoder<float> a(4, Sequential<float>(Dense<float>(4, 8), LeakyReLU<float>(0.25), Dense<float>(8, 6),
                                                Reshape<float>(Shape{1, 2, 3})));
  const auto s = a.structure();
  const auto back = vaegan::NetworkStructure::parse(s.to_text());
  CHECK(back.to_text() == s.to_text());
  CHECK(s.first_difference(back, "the file").empty());
  CHECK(s.layers[1].attributes == vaegan::Attributes{{"negative_slope", "0.25"}});
  vaegan::Decoder<float> b(4, Sequential<float>(Dense<float>(4, 9), LeakyReLU<float>(0.25), Dense<float>(9, 6),
                                                Reshape<float>(Shape{1, 2, 3})));
  CHECK(s.first_difference(b.structure(), "the file") ==
        "layer 0 differs: the file has 'net.0' Dense [4] -> [9] in=4 out=9, this decoder has 'net.0' Dense [4] -> [8] "
        "in=4 out=8");
  CHECK_THROWS_WITH_AS(vaegan::NetworkStructure::parse("network\tx\t[1]\t[1]\n"
                                                       "layer\tp\tDense\t[2"),
                       doctest::Contains("line 2"), vaegan::Error);
}

TEST_CASE("weights: save_weights / load_weights round-trip, and the wrong network is refused unchanged") {
  vaegan_test::TempDir dir;
  const std::string path = dir.file("decoder.vgw");
  auto make = [](Index hidden) {
    return vaegan::Decoder<float>(4, Sequential<float>(Dense<float>(4, hidden), ReLU<float>(), Dense<float>(hidden, 6),
                                                       Reshape<float>(Shape{1, 2, 3})));
  };
  vaegan::Decoder<float> source = make(8);
  Rng rng(12);
  source.reset_parameters(rng);
  vaegan::save_weights(path, source);
  vaegan::Decoder<float> target = make(8);
  CHECK(vaegan::test::max_abs_diff(source.parameters().values(), target.parameters().values()) > 0.0);
  vaegan::load_weights(path, target);
  CHECK(vaegan::test::max_abs_diff(source.parameters().values(), target.parameters().values()) == 0.0);

  vaegan::Decoder<float> wider = make(9);
  const Tensor<float> kept = wider.parameters().values();
  CHECK_THROWS_WITH_AS(vaegan::load_weights(path, wider),
                       doctest::Contains("parameter 0: the file has 'net.0.weight' [4, 8] where this decoder has "
                                         "'net.0.weight' [4, 9]"),
                       vaegan::IoError);
  CHECK(vaegan::test::max_abs_diff(kept, wider.parameters().values()) == 0.0);
  vaegan::Decoder<double> other_dtype(
      4, Sequential<double>(Dense<double>(4, 8), ReLU<double>(), Dense<double>(8, 6), Reshape<double>(Shape{1, 2, 3})));
  CHECK_THROWS_WITH_AS(vaegan::load_weights(path, other_dtype),
                       doctest::Contains("holds float32 weights but this network uses float64"), vaegan::IoError);
}

TEST_CASE("weights: rank-4 conv weights and batch-norm buffers round-trip through save_weights / load_weights") {
  vaegan_test::TempDir dir;
  const std::string path = dir.file("conv.vgw");
  auto make = [] {
    return vaegan::Network<double>(
        "critic", Shape{1, 5, 5},
        Sequential<double>(vaegan::Conv2d<double>(1, 2, 3, 1, 1), vaegan::BatchNorm2d<double>(2), ReLU<double>(),
                           Flatten<double>(), Dense<double>(50, 1)));
  };
  vaegan::Network<double> source = make();
  Rng rng(5);
  source.reset_parameters(rng);
  Tape<double> tape;
  source.forward(tape.constant(random_normal<double>(Shape{4, 1, 5, 5}, rng)), ForwardContext::train(rng));
  const auto& buffers = source.parameters().buffer_slices();
  REQUIRE(buffers.size() == 3);
  CHECK(buffers[0].name == "net.1.running_mean");
  CHECK(source.parameters().buffers()[0] != 0.0);  // the train-mode pass moved the running mean
  CHECK(source.structure().parameters[0].shape == Shape({2, 1, 3, 3}));
  vaegan::save_weights(path, source);
  vaegan::Network<double> target = make();
  vaegan::load_weights(path, target);
  CHECK(vaegan::test::max_abs_diff(source.parameters().values(), target.parameters().values()) == 0.0);
  CHECK(vaegan::test::max_abs_diff(source.parameters().buffers(), target.parameters().buffers()) == 0.0);
}
