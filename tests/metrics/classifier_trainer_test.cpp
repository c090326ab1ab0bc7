// ClassifierTrainer and train_classifier (metrics/classifier_trainer.hpp): the same bits as
// the epoch loop they replaced, a training checkpoint that resumes and that
// Classifier::load reads, and classifier files of the format before it still loading.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "io/temp_dir.hpp"
#include "test_util.hpp"
#include "vaegan/metrics/classifier.hpp"
#include "vaegan/metrics/classifier_trainer.hpp"
#include "vaegan/train/callbacks/checkpoint.hpp"
#include "vaegan/train/checkpointing.hpp"

using namespace vaegan;

namespace {

using vaegan::test::contains;
using vaegan::test::message_of;

bool same_bits(const Tensor<float>& a, const Tensor<float>& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.numel())) == 0;
}

// n random images [1, side, side] in [0, 1], labels i mod classes.
ImageDataset<float> random_images(Index n, Index side, int classes, std::uint64_t seed) {
  Rng rng(seed);
  Tensor<float> images(Shape::matrix(n, side * side));
  for (Index i = 0; i < images.numel(); ++i) images[i] = static_cast<float>(rng.uniform());
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i % classes);
  return ImageDataset<float>(std::move(images), std::move(labels), Shape{1, side, side});
}

// train_classifier as it was before it trained through fit(), verbatim: the reference the
// new one must match bit for bit.
template <class T, class OnEpoch>
void reference_train_classifier(Classifier<T>& model, const ImageDataset<T>& train, const ClassifierTraining& options,
                                OnEpoch&& on_epoch) {
  const ClassifierConfig& config = model.config();
  AdamOptions adam_options;
  adam_options.lr = options.lr;
  adam_options.beta1 = 0.9;
  Adam<T> adam(model.parameters(), adam_options);
  Batches<T> batches = train.batches({options.batch_size, options.seed});
  Rng rng(options.seed ^ 0xc1a55ULL);
  Tape<T> tape;
  Tensor<T> x, scratch;
  std::vector<std::uint8_t> raw_labels;
  std::vector<int> labels;
  const bool rotation = config.task == ClassifierTask::rotation;
  for (std::int64_t epoch = 1; epoch <= options.epochs; ++epoch) {
    double total = 0.0;
    Index steps = 0;
    while (batches.next(x, &raw_labels)) {
      detail::random_shift(x, train.image_shape(), options.max_shift, rng, scratch);
      if (rotation) {
        labels.resize(raw_labels.size());
        for (int& q : labels) q = static_cast<int>(rng.uniform_int(kRotationClasses));
        detail::rotate_batch(x, train.image_shape(), labels, scratch);
      } else {
        labels.assign(raw_labels.begin(), raw_labels.end());
      }
      tape.reset();
      adam.zero_grad();
      const Var<T> images = tape.constant(x.data(), config.image_shape.batched(x.numel() / config.input_dim()));
      Var<T> loss = softmax_cross_entropy(model.logits(images, ForwardContext::train(rng)), labels);
      tape.backward(loss, {model.parameters()});
      adam.step();
      total += static_cast<double>(loss.item());
      ++steps;
    }
    on_epoch(epoch, total / static_cast<double>(std::max<Index>(steps, 1)));
  }
}

ClassifierTraining training(std::int64_t epochs) {
  ClassifierTraining t;
  t.epochs = epochs;
  t.batch_size = 12;  // 50 images: 5 batches a epoch, the last one short
  t.lr = 3e-3;
  t.seed = 4;
  t.max_shift = 1;
  return t;
}

ClassifierConfig dense_config() {
  ClassifierConfig c;
  c.image_shape = Shape{1, 6, 6};
  c.hidden = {16, 8};
  c.classes = 3;
  c.dropout = 0.2;
  return c;
}

}  // namespace

TEST_CASE("train_classifier: fit() with a ClassifierTrainer gives the bits of the loop it replaced") {
  const ImageDataset<float> data = random_images(50, 6, 3, 21);
  std::vector<ClassifierConfig> configs{dense_config(),
                                        ClassifierConfig::conv(Shape{1, 6, 6}, 3, ClassifierTask::labels),
                                        ClassifierConfig::conv(Shape{1, 6, 6}, 3, ClassifierTask::rotation)};
  configs[1].hidden = {4, 8};
  configs[1].features = 12;
  configs[2].hidden = {4, 8};
  configs[2].features = 12;
  // An older dense classifier takes flat images: the shift still sees the data's [1, 6, 6].
  configs.push_back(dense_config());
  configs.back().image_shape = Shape{36};
  for (const ClassifierConfig& config : configs) {
    CAPTURE(config.serialize());
    Classifier<float> reference(config, 3), model(config, 3);
    std::vector<std::pair<std::int64_t, double>> reference_losses, losses;
    reference_train_classifier(reference, data, training(3), [&](std::int64_t e, double loss) {
      reference_losses.push_back({e, loss});
    });
    train_classifier(model, data, training(3), [&](std::int64_t e, double loss) { losses.push_back({e, loss}); });
    CHECK(same_bits(model.parameters().values(), reference.parameters().values()));
    REQUIRE(losses.size() == 3);
    CHECK(losses == reference_losses);  // the same epochs, the same doubles
  }
}

TEST_CASE("ClassifierTrainer: its training checkpoint resumes bit for bit and loads as the classifier") {
  const ImageDataset<float> data = random_images(50, 6, 3, 22);
  vaegan_test::TempDir dir;
  const std::string path = dir.file("classifier.vgck");
  const ClassifierConfig config = ClassifierConfig::conv(Shape{1, 6, 6}, 1, ClassifierTask::rotation);
  // Straight through three epochs.
  Classifier<float> straight(config, 5);
  train_classifier(straight, data, training(3));
  // One epoch and a checkpoint, then a new process's worth of objects resumes it.
  Classifier<float> first(config, 5);
  train_classifier(
      first, data, training(1), [](std::int64_t, double) {}, Checkpoint(path, Every::never()));
  CHECK(read_checkpoint_info(path).kind == "classifier");
  CHECK(read_checkpoint_info(path).epoch == 1);
  const Classifier<float> loaded = Classifier<float>::load(path);
  CHECK(loaded.config().serialize() == config.serialize());
  CHECK(same_bits(loaded.parameters().values(), first.parameters().values()));

  Classifier<float> resumed(config, 99);  // other weights: the checkpoint replaces them
  ClassifierTrainer<float> trainer(resumed, training(3));
  Batches<float> batches = data.batches({training(3).batch_size, training(3).seed});
  load_training_checkpoint(path, trainer, &batches);
  CHECK(trainer.epoch() == 1);
  FitOptions options;
  options.epochs = 3;
  CHECK(fit(trainer, batches, options) == FitEnd::epochs_done);
  CHECK(same_bits(resumed.parameters().values(), straight.parameters().values()));

  // Another classifier's configuration is refused, naming both: a dropout rate (in the
  // structure), or a task the structure cannot tell (4 classes of labels, 4 rotations).
  ClassifierConfig other = config;
  other.dropout = 0.1;
  Classifier<float> wrong(other, 5);
  ClassifierTrainer<float> wrong_trainer(wrong, training(3));
  CHECK_THROWS_AS(load_training_checkpoint(path, wrong_trainer, &batches), IoError);
  Classifier<float> labels(ClassifierConfig::conv(Shape{1, 6, 6}, 4, ClassifierTask::labels), 5);
  ClassifierTrainer<float> labels_trainer(labels, training(3));
  const std::string why = message_of<IoError>([&] { load_training_checkpoint(path, labels_trainer, &batches); });
  CAPTURE(why);
  CHECK(contains(why, "saved as conv task=rotation"));
  CHECK(contains(why, "this one is conv task=labels"));
}

TEST_CASE("Classifier::load: save()'s file, a training checkpoint and the format before both give the same model") {
  vaegan_test::TempDir dir;
  const ClassifierConfig config = ClassifierConfig::conv(Shape{1, 6, 6}, 3);
  const Classifier<float> model(config, 8);
  // The sections the library wrote before classifiers trained through fit().
  CheckpointWriter old;
  old.add_string("classifier.config", config.serialize());
  old.add_string("classifier.architecture", "conv");
  old.add_string("classifier.task", "labels");
  Tensor<float> image_shape(Shape{3}), hidden(Shape{3});
  image_shape[0] = 1, image_shape[1] = 6, image_shape[2] = 6;
  hidden[0] = 32, hidden[1] = 64, hidden[2] = 64;
  old.add_tensor("classifier.image_shape", image_shape);
  old.add_i64("classifier.input_dim", 36);
  old.add_i64("classifier.classes", 3);
  old.add_tensor("classifier.hidden", hidden);
  old.add_i64("classifier.features", 256);
  old.add_f64("classifier.dropout", 0.3);
  old.add_tensor("classifier.params", model.parameters().values());
  old.save(dir.file("old.vgck"));
  model.save(dir.file("new.vgck"));
  for (const char* name : {"old.vgck", "new.vgck"}) {
    CAPTURE(name);
    const Classifier<float> loaded = Classifier<float>::load(dir.file(name));
    CHECK(loaded.config().serialize() == config.serialize());
    CHECK(loaded.config().dropout == config.dropout);
    CHECK(same_bits(loaded.parameters().values(), model.parameters().values()));
  }
  // A trainer checkpoint of another kind is named as such.
  CheckpointWriter vae;
  vae.add_string("trainer.kind", "vae");
  vae.save(dir.file("vae.vgck"));
  CHECK(contains(message_of<IoError>([&] { Classifier<float>::load(dir.file("vae.vgck")); }), "a vae trainer"));
  // A structure that does not match the configuration is refused.
  const Classifier<float> dense(dense_config(), 1);
  CheckpointWriter mixed;
  model.write_config_sections(mixed);
  mixed.add_string("classifier.structure", dense.structure().to_text());
  mixed.add_tensor("classifier.params", model.parameters().values());
  mixed.save(dir.file("mixed.vgck"));
  CHECK(contains(message_of<IoError>([&] { Classifier<float>::load(dir.file("mixed.vgck")); }), "does not match"));
}
