// One list of trainer kinds (train/trainer_kinds.hpp), and what adding a trainer takes: a
// trainer only this file knows is dispatched by the kind its checkpoint records, resumed,
// and exported, with no change to the checkpoint, export or dispatch code. A library
// trainer would be its header, one entry in TrainerKinds, its tests and docs/api.md.
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <tuple>

#include "train/train_test_util.hpp"
#include "vaegan/io/safetensors.hpp"
#include "vaegan/io/safetensors_reader.hpp"
#include "vaegan/losses/bce.hpp"
#include "vaegan/train/trainer_kinds.hpp"

namespace {

using vaegan::Tensor;

// A deterministic autoencoder: the encoder's mean decoded, BCE against the input.
template <class T>
class AutoencoderTrainer : public vaegan::TrainerCore<AutoencoderTrainer<T>, T> {
  using Core = vaegan::TrainerCore<AutoencoderTrainer<T>, T>;

 public:
  static constexpr const char* kStatNames[] = {"rec"};
  static constexpr int kStatCount = 1;
  static constexpr const char* kKind = "autoencoder";
  enum Network : unsigned { kEncoder = 0, kDecoder = 1 };
  static constexpr const char* kNetworkNames[] = {"encoder", "decoder"};

  explicit AutoencoderTrainer(const vaegan::ModelConfig& config, const vaegan::VaeOptions& options = {},
                              std::uint64_t seed = 1)
      : Core(seed),
        config_(config),
        encoder_(vaegan::preset_encoder<T>(config)),
        decoder_(vaegan::preset_decoder<T>(config)),
        encoder_opt_(encoder_.parameters(), options.encoder_adam),
        decoder_opt_(decoder_.parameters(), options.decoder_adam) {
    this->add_network(kNetworkNames[kEncoder], encoder_, encoder_opt_, vaegan::InitialWeights::draw_from_seed);
    this->add_network(kNetworkNames[kDecoder], decoder_, decoder_opt_, vaegan::InitialWeights::draw_from_seed);
  }

  vaegan::StepStats train_step(const Tensor<T>& images) {
    vaegan::Tape<T>& tape = this->tape_;
    tape.reset();
    const vaegan::Var<T> x = this->image_batch(tape, "AutoencoderTrainer", images);
    const auto eval = vaegan::ForwardContext::train(this->rng_);
    vaegan::Var<T> rec =
        vaegan::bce_with_logits(decoder_.forward(encoder_.forward(x, eval).mu, eval), x, vaegan::Reduction::batch_mean);
    vaegan::StepStats stats(kStatNames, kStatCount);
    stats.set("rec", rec.item());
    this->apply_routes(std::array<vaegan::LossRoute<T>, 1>{vaegan::LossRoute<T>{
                           "L_rec", rec, (1u << kEncoder) | (1u << kDecoder), true}},
                       stats);
    return stats;
  }

  const std::optional<vaegan::ModelConfig>& config() const { return config_; }
  vaegan::Encoder<T>& encoder() { return encoder_; }
  const vaegan::Encoder<T>& encoder() const { return encoder_; }
  vaegan::Decoder<T>& decoder() { return decoder_; }
  const vaegan::Decoder<T>& decoder() const { return decoder_; }

 private:
  std::optional<vaegan::ModelConfig> config_;
  vaegan::Encoder<T> encoder_;
  vaegan::Decoder<T> decoder_;
  vaegan::Adam<T> encoder_opt_, decoder_opt_;
};

// The library's kinds and the test's.
using TestKinds = std::tuple<vaegan::VaeGanTrainer<float>, vaegan::GanTrainer<float>, vaegan::VaeTrainer<float>,
                             AutoencoderTrainer<float>>;

Tensor<float> uniform_images(vaegan::Index n, vaegan::Index dim, std::uint64_t seed) {
  Tensor<float> x(vaegan::Shape::matrix(n, dim));
  vaegan::Rng rng(seed);
  for (vaegan::Index i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(rng.uniform());
  return x;
}

}  // namespace

TEST_CASE("with_trainer_kind dispatches the library's kinds and names them when it does not know one") {
  CHECK(vaegan::trainer_kind_names<float>() == std::vector<std::string>{"vaegan", "gan", "vae"});
  for (const std::string kind : {"vaegan", "gan", "vae"})
    CHECK(vaegan::with_trainer_kind<float>(kind, [](auto k) { return std::string(decltype(k)::type::kKind); }) == kind);
  CHECK(vaegan::trainer_kind_has_encoder<float>("vaegan"));
  CHECK(vaegan::trainer_kind_has_encoder<float>("vae"));
  CHECK_FALSE(vaegan::trainer_kind_has_encoder<float>("gan"));
  CHECK_THROWS_WITH_AS(vaegan::with_trainer_kind<float>("autoencoder", [](auto) { return 0; }),
                       "unknown trainer kind 'autoencoder' (this vaegan knows vaegan, gan, vae)", vaegan::IoError);
}

TEST_CASE("a trainer the library does not list is dispatched, resumed and exported from what its checkpoint records") {
  vaegan_test::TempDir dir;
  const vaegan::ModelConfig config = vaegan::train_test::tiny_config();
  AutoencoderTrainer<float> trainer(config, {}, 3);
  const Tensor<float> images = uniform_images(8, config.image_shape.numel(), 5);
  const double first = trainer.train_step(images).get("rec");
  for (int i = 0; i < 20; ++i) trainer.train_step(images);
  CHECK(trainer.train_step(images).get("rec") < first);  // it trains
  const std::string path = dir.file("autoencoder.vgck");
  vaegan::save_training_checkpoint<AutoencoderTrainer<float>, float>(path, trainer, nullptr);

  // The kind and the networks come from the file.
  const vaegan::CheckpointInfo info = vaegan::read_checkpoint_info(path);
  CHECK(info.kind == "autoencoder");
  CHECK(vaegan::checkpoint_networks(vaegan::CheckpointReader(path)) == std::vector<std::string>{"encoder", "decoder"});

  // Rebuilt by kind through the test's list, it decodes what the trainer decodes, bit for bit.
  Tensor<float> z(vaegan::Shape::matrix(4, config.latent_dim)), expected;
  vaegan::Rng(7).fill_normal(z.data(), z.numel());
  trainer.generate(z, expected);
  const Tensor<float> decoded = vaegan::with_trainer_kind_in<TestKinds>(info.kind, [&](auto kind) {
    using Trainer = typename decltype(kind)::type;
    Trainer loaded(*info.config, {}, 1);
    vaegan::load_training_checkpoint<Trainer, float>(path, loaded, nullptr);
    CHECK(loaded.step() == trainer.step());
    Tensor<float> out;
    loaded.generate(z, out);
    return out;
  });
  REQUIRE(decoded.numel() == expected.numel());
  CHECK(std::memcmp(decoded.data(), expected.data(), sizeof(float) * static_cast<std::size_t>(expected.numel())) == 0);

  // Exported from the file alone: both networks' tensors, under their slot names.
  const std::string out = dir.file("autoencoder.safetensors");
  vaegan::export_checkpoint_safetensors(path, out);
  const vaegan::SafetensorsReader exported(out);
  int encoder_tensors = 0, decoder_tensors = 0;
  for (const auto& [name, tensor] : exported.tensors()) {
    encoder_tensors += name.rfind("encoder.", 0) == 0;
    decoder_tensors += name.rfind("decoder.", 0) == 0;
  }
  CHECK(encoder_tensors > 0);
  CHECK(decoder_tensors > 0);
  CHECK(encoder_tensors + decoder_tensors == static_cast<int>(exported.tensors().size()));
}
