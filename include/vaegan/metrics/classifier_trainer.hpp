#pragma once
// ClassifierTrainer<T>: trains a Classifier (metrics/classifier.hpp) with softmax
// cross-entropy and Adam, one batch per train_step, in the shape fit() takes
// (train/fit.hpp). So the evaluation classifier trains through the same loop as the
// generative models, with the same callbacks, and its training checkpoint
// (save_training_checkpoint, or the Checkpoint callback) is a trainer checkpoint like
// theirs: it resumes with load_training_checkpoint, and Classifier::load reads the
// classifier from it (docs/checkpoint-format.md).
//
//   Classifier<float> model(config, seed);
//   ClassifierTrainer<float> trainer(model, training);
//   Batches<float> batches = train.batches({training.batch_size, training.seed});
//   fit(trainer, batches, options, Checkpoint{"out/classifier.vgck", Every::never()});
//
// train_classifier(model, data, training[, on_epoch][, callbacks...]) is that fit() call.
//
// One step, in this order (the order of the rng's draws, so a seed gives the same bits):
// the batch is copied, shifted by a random (dx, dy) per image (ClassifierTraining::
// max_shift), for the rotation task turned by a random quarter count per image (its
// labels), then forward in train mode (dropout draws from the same rng), backward, and
// one Adam step. The trainer's rng starts from seed ^ 0xc1a55 (the classifier's weights
// come from the Classifier's own seed).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/data/dataset.hpp"
#include "vaegan/io/checkpoint.hpp"
#include "vaegan/losses/softmax_xent.hpp"
#include "vaegan/metrics/classifier.hpp"
#include "vaegan/models/config.hpp"
#include "vaegan/optim/adam.hpp"
#include "vaegan/train/fit.hpp"
#include "vaegan/train/step_stats.hpp"
#include "vaegan/train/trainer_core.hpp"

namespace vaegan {

struct ClassifierTraining {
  std::int64_t epochs = 15;
  Index batch_size = 128;
  double lr = 1e-3;
  std::uint64_t seed = 1;
  int max_shift = 2;  // random translation augmentation, in pixels
};

template <class T>
class ClassifierTrainer {
 public:
  using Scalar = T;
  static constexpr const char* kStatNames[] = {"loss"};
  static constexpr int kStatCount = 1;
  static constexpr const char* kKind = "classifier";

  // Trains `model` in place; the model must outlive the trainer.
  ClassifierTrainer(Classifier<T>& model, const ClassifierTraining& options)
      : model_(&model),
        options_(options),
        adam_(model.parameters(), adam_options(options.lr)),
        rng_(options.seed ^ 0xc1a55ULL) {
    networks_.push_back({"classifier", &model.parameters(), &adam_, model.structure()});
  }
  ClassifierTrainer(const ClassifierTrainer&) = delete;
  ClassifierTrainer& operator=(const ClassifierTrainer&) = delete;

  // One step on images x [n, C, H, W] (or flat [n, C*H*W] rows for a flat image shape) and
  // their labels (ignored by the rotation task, which makes its own).
  StepStats train_step(const Tensor<T>& x, const std::vector<std::uint8_t>& raw_labels) {
    const ClassifierConfig& config = model_->config();
    if (x.shape().rank() < 2 || x.numel() != x.shape()[0] * config.input_dim())
      throw ShapeError("ClassifierTrainer: images must be [n] + " + config.image_shape.str() + ", got " +
                       x.shape().str());
    if (static_cast<Index>(raw_labels.size()) != x.shape()[0])
      throw ShapeError("ClassifierTrainer: " + std::to_string(raw_labels.size()) + " labels for a batch of " +
                       std::to_string(x.shape()[0]) + " images");
    const Shape image = image_shape_of(x.shape());
    batch_ = x;  // augmented in place
    detail::random_shift(batch_, image, options_.max_shift, rng_, scratch_);
    if (config.task == ClassifierTask::rotation) {
      labels_.resize(raw_labels.size());
      for (int& q : labels_) q = static_cast<int>(rng_.uniform_int(kRotationClasses));
      detail::rotate_batch(batch_, image, labels_, scratch_);
    } else {
      labels_.assign(raw_labels.begin(), raw_labels.end());
    }
    tape_.reset();
    adam_.zero_grad();
    const Var<T> images =
        tape_.constant(batch_.data(), config.image_shape.batched(batch_.numel() / config.input_dim()));
    Var<T> loss = softmax_cross_entropy(model_->logits(images, ForwardContext::train(rng_)), labels_);
    tape_.backward(loss, {model_->parameters()});
    adam_.step();
    ++step_;
    StepStats stats(kStatNames, kStatCount);
    stats.set(0, static_cast<double>(loss.item()));
    return stats;
  }

  Classifier<T>& model() { return *model_; }
  const ClassifierTraining& options() const { return options_; }
  std::int64_t step() const { return step_; }
  std::int64_t epoch() const { return epoch_; }
  void set_step(std::int64_t s) { step_ = s; }
  void set_epoch(std::int64_t e) { epoch_ = e; }
  Rng& rng() { return rng_; }
  const std::vector<NetworkSlot<T>>& networks() const { return networks_; }
  // One process: the classifier trains without replicas.
  Communicator* communicator() const { return nullptr; }
  bool any_replica(bool value) const { return value; }
  // No generative-model preset (checkpoints write model.config only when there is one);
  // the classifier's configuration goes into its own sections (write_checkpoint_sections).
  const std::optional<ModelConfig>& config() const { return no_model_config_; }

  // The checkpoint hooks of save_training_checkpoint / load_training_checkpoint: the
  // classifier's configuration sections (Classifier::write_config_sections), and on load a
  // check that the file's configuration is this classifier's.
  void write_checkpoint_sections(CheckpointWriter& w) const { model_->write_config_sections(w); }
  void check_checkpoint_sections(const CheckpointReader& r) const {
    const ClassifierConfig saved = Classifier<T>::read_config_sections(r);
    const ClassifierConfig& mine = model_->config();
    if (saved.serialize() != mine.serialize() || saved.dropout != mine.dropout)
      throw IoError("checkpoint '" + r.path() + "': the classifier was saved as " + saved.serialize() + " (dropout " +
                    std::to_string(saved.dropout) + ") but this one is " + mine.serialize() + " (dropout " +
                    std::to_string(mine.dropout) + ")");
  }

 private:
  static AdamOptions adam_options(double lr) {
    AdamOptions o;
    o.lr = lr;
    o.beta1 = 0.9;
    return o;
  }
  // [C, H, W] (or whatever follows the batch size) of a batch's shape.
  static Shape image_shape_of(const Shape& batch) {
    switch (batch.rank()) {
      case 2: return Shape{batch[1]};
      case 3: return Shape{batch[1], batch[2]};
      default: return Shape{batch[1], batch[2], batch[3]};
    }
  }

  Classifier<T>* model_;
  ClassifierTraining options_;
  Adam<T> adam_;
  Rng rng_;
  Tape<T> tape_;
  Tensor<T> batch_, scratch_;
  std::vector<int> labels_;
  std::vector<NetworkSlot<T>> networks_;
  std::int64_t step_ = 0;
  std::int64_t epoch_ = 0;
  std::optional<ModelConfig> no_model_config_;
};

namespace detail {
// train_classifier's on_epoch(epoch, mean loss) as a fit() callback.
template <class OnEpoch>
struct ClassifierEpochCallback {
  OnEpoch* function;
  template <class Run>
  void on_epoch(Run&, const EpochEvent& e) {
    (*function)(e.epoch, e.mean_stats.value(0));
  }
};
}  // namespace detail

// Trains with softmax cross-entropy and Adam on the data set's labels, or on random
// quarter turns for the rotation task: fit() with a ClassifierTrainer for options.epochs
// epochs of the batches {options.batch_size, options.seed}. Calls on_epoch(epoch, mean
// loss) after each epoch, then hands fit() any further callbacks (e.g. Checkpoint to save
// the training checkpoint).
template <class T, class OnEpoch, class... Callbacks>
void train_classifier(Classifier<T>& model, const ImageDataset<T>& train, const ClassifierTraining& options,
                      OnEpoch&& on_epoch, Callbacks&&... callbacks) {
  const ClassifierConfig& config = model.config();
  if (train.image_size() != config.input_dim())
    throw ShapeError("train_classifier: the images are " + train.image_shape().str() + " but the classifier takes " +
                     config.image_shape.str());
  ClassifierTrainer<T> trainer(model, options);
  Batches<T> batches = train.batches({options.batch_size, options.seed});
  FitOptions fit_options;
  fit_options.epochs = options.epochs;
  fit_options.adapt_threads = false;  // the thread count the caller set, as before fit()
  fit(trainer, batches, fit_options, detail::ClassifierEpochCallback<std::remove_reference_t<OnEpoch>>{&on_epoch},
      std::forward<Callbacks>(callbacks)...);
}
template <class T>
void train_classifier(Classifier<T>& model, const ImageDataset<T>& train, const ClassifierTraining& options) {
  train_classifier(model, train, options, [](std::int64_t, double) {});
}

}  // namespace vaegan
