#pragma once
// Classifier<T>: the MLP whose penultimate layer is the feature space of the metrics
// (FID, precision/recall) and whose labels give mode coverage. Trained with the library
// on the training split (train_classifier), saved as a checkpoint that the metrics load.
//   x [n, 784] -> Dense+ReLU ... -> features [n, hidden.back()] -> Dense -> logits [n, classes]
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "vaegan/data/dataset.hpp"
#include "vaegan/io/checkpoint.hpp"
#include "vaegan/losses/softmax_xent.hpp"
#include "vaegan/nn/sequential.hpp"
#include "vaegan/optim/adam.hpp"

namespace vaegan {

struct ClassifierConfig {
  Index input_dim = 784;
  std::vector<Index> hidden{512, 256};
  int classes = 10;
  double dropout = 0.2;  // between hidden layers and before the head, in training only

  std::string serialize() const {
    std::string s = "input=" + std::to_string(input_dim) + " classes=" + std::to_string(classes) + " hidden=";
    for (std::size_t i = 0; i < hidden.size(); ++i) s += (i ? "," : "") + std::to_string(hidden[i]);
    return s;
  }
};

template <class T>
class Classifier {
 public:
  explicit Classifier(const ClassifierConfig& config = {}, std::uint64_t seed = 1)
      : config_(config), params_(std::make_unique<ParameterSet<T>>("classifier")) {
    if (config.hidden.empty() || config.classes < 2 || config.input_dim < 1)
      throw Error("Classifier: need an input size, at least one hidden layer and 2+ classes (" + config.serialize() +
                  ")");
    Rng rng(seed);
    std::vector<Index> widths{config.input_dim};
    widths.insert(widths.end(), config.hidden.begin(), config.hidden.end());
    trunk_ = std::make_unique<Sequential<T>>(
        *params_, widths, std::vector<Activation>(widths.size() - 1, Activation::relu()), rng, "trunk");
    head_ = std::make_unique<Dense<T>>(*params_, widths.back(), config.classes, Activation::identity(), rng,
                                       Init::xavier_uniform, "head");
  }

  // Records logits [n, classes] on x's tape; dropout only when training.
  Var<T> logits(const Var<T>& x, Rng& rng, bool training) const {
    // Dropout after every hidden layer when training.
    Var<T> h = x;
    for (std::size_t i = 0; i < trunk_->size(); ++i) {
      h = trunk_->layer(i).forward(h, ForwardContext::eval());
      if (training && config_.dropout > 0.0) h = dropout(h, config_.dropout, rng, true);
    }
    return head_->forward(h);
  }

  // Penultimate-layer features [n, hidden.back()] of images [n, input_dim] (evaluation mode).
  void features(const Tensor<T>& images, Tensor<T>& out) const { run(images, &out, nullptr); }
  // Most likely class of each image.
  void predict(const Tensor<T>& images, std::vector<int>& labels) const { run(images, nullptr, &labels); }
  // Both at once (one pass).
  void features_and_labels(const Tensor<T>& images, Tensor<T>& features, std::vector<int>& labels) const {
    run(images, &features, &labels);
  }

  double accuracy(const ImageDataset<T>& data) const {
    std::vector<int> predicted;
    predict(data.images(), predicted);
    Index correct = 0;
    for (Index i = 0; i < data.size(); ++i) correct += predicted[static_cast<std::size_t>(i)] == data.label(i);
    return static_cast<double>(correct) / static_cast<double>(data.size());
  }

  void save(const std::string& path) const {
    CheckpointWriter w;
    w.add_string("classifier.config", config_.serialize());
    w.add_i64("classifier.input_dim", config_.input_dim);
    w.add_i64("classifier.classes", config_.classes);
    Tensor<T> hidden(Shape{static_cast<Index>(config_.hidden.size())});
    for (std::size_t i = 0; i < config_.hidden.size(); ++i)
      hidden[static_cast<Index>(i)] = static_cast<T>(config_.hidden[i]);
    w.add_tensor("classifier.hidden", hidden);
    w.add_f64("classifier.dropout", config_.dropout);
    w.add_tensor("classifier.params", params_->values());
    w.save(path);
  }
  static Classifier load(const std::string& path) {
    const CheckpointReader r(path);
    ClassifierConfig c;
    c.input_dim = r.i64("classifier.input_dim");
    c.classes = static_cast<int>(r.i64("classifier.classes"));
    c.dropout = r.f64("classifier.dropout");
    const Shape hs = r.tensor_shape("classifier.hidden");
    if (hs.rank() != 1 || hs[0] < 1 || hs[0] > 16)
      throw IoError(path + ": section classifier.hidden has shape " + hs.str() + "; expected 1 to 16 widths");
    const Tensor<T> hidden = r.tensor<T>("classifier.hidden", hs);
    c.hidden.clear();
    for (Index i = 0; i < hidden.numel(); ++i) c.hidden.push_back(static_cast<Index>(hidden[i]));
    if (c.input_dim < 1 || c.input_dim > (1 << 20) || c.classes < 2 || c.classes > 100000)
      throw IoError(path + ": implausible classifier configuration " + c.serialize());
    Classifier model(c);
    r.read_tensor("classifier.params", model.params_->values());
    return model;
  }

  const ClassifierConfig& config() const { return config_; }
  ParameterSet<T>& parameters() const { return *params_; }
  Index feature_dim() const { return config_.hidden.back(); }

 private:
  void run(const Tensor<T>& images, Tensor<T>* features, std::vector<int>* labels) const {
    // Flat rows [n, input_dim] or images [n, C, H, W] of input_dim pixels each (a
    // decoder's output): the same row-major bytes.
    const Shape& shape = images.shape();
    const Index n = shape.rank() >= 2 ? shape[0] : 0, chunk = 512;
    if (shape.rank() < 2 || n < 1 || images.numel() != n * config_.input_dim)
      throw ShapeError("Classifier: images must be [n, " + std::to_string(config_.input_dim) +
                       "] or [n, C, H, W] with C*H*W = " + std::to_string(config_.input_dim) + ", got " + shape.str());
    const Index dim = config_.input_dim;
    if (features) features->resize(Shape::matrix(n, feature_dim()));
    if (labels) labels->assign(static_cast<std::size_t>(n), 0);
    Tape<T> tape;
    NoGradGuard<T> no_grad(tape);
    for (Index r0 = 0; r0 < n; r0 += chunk) {
      const Index r1 = std::min(n, r0 + chunk);
      tape.reset();
      Var<T> x = tape.constant(images.data() + r0 * dim, Shape::matrix(r1 - r0, dim));
      Var<T> h = trunk_->forward(x);
      if (features) std::copy(h.node().value, h.node().value + h.numel(), features->data() + r0 * feature_dim());
      if (labels) {
        Var<T> out = head_->forward(h);
        for (Index i = 0; i < r1 - r0; ++i) {
          Index best = 0;
          out.value().row(i).maxCoeff(&best);
          (*labels)[static_cast<std::size_t>(r0 + i)] = static_cast<int>(best);
        }
      }
    }
  }

  ClassifierConfig config_;
  std::unique_ptr<ParameterSet<T>> params_;
  std::unique_ptr<Sequential<T>> trunk_;
  std::unique_ptr<Dense<T>> head_;
};

struct ClassifierTraining {
  std::int64_t epochs = 15;
  Index batch_size = 128;
  double lr = 1e-3;
  std::uint64_t seed = 1;
  int max_shift = 2;  // random translation augmentation, in pixels (28x28 images)
};

namespace detail {
// Shifts each 28x28 image by a random (dx, dy) in [-s, s], filling with 0 (background).
template <class T>
void random_shift(Tensor<T>& batch, Index side, int s, Rng& rng, Tensor<T>& scratch) {
  if (s <= 0 || batch.cols() != side * side) return;
  scratch.resize(batch.shape());
  scratch.set_zero();
  for (Index i = 0; i < batch.rows(); ++i) {
    const int dx = static_cast<int>(rng.uniform_int(2 * s + 1)) - s;
    const int dy = static_cast<int>(rng.uniform_int(2 * s + 1)) - s;
    const T* src = batch.data() + i * batch.cols();
    T* dst = scratch.data() + i * batch.cols();
    for (Index y = 0; y < side; ++y) {
      const Index sy = y - dy;
      if (sy < 0 || sy >= side) continue;
      for (Index x = 0; x < side; ++x) {
        const Index sx = x - dx;
        if (sx >= 0 && sx < side) dst[y * side + x] = src[sy * side + sx];
      }
    }
  }
  batch.swap(scratch);
}
}  // namespace detail

// Trains with softmax cross-entropy and Adam; calls on_epoch(epoch, mean loss) if given.
template <class T, class OnEpoch>
void train_classifier(Classifier<T>& model, const ImageDataset<T>& train, const ClassifierTraining& options,
                      OnEpoch&& on_epoch) {
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
  const Index side = static_cast<Index>(std::lround(std::sqrt(static_cast<double>(train.image_size()))));
  for (std::int64_t epoch = 1; epoch <= options.epochs; ++epoch) {
    double total = 0.0;
    Index steps = 0;
    while (batches.next(x, &raw_labels)) {
      detail::random_shift(x, side, options.max_shift, rng, scratch);
      labels.assign(raw_labels.begin(), raw_labels.end());
      tape.reset();
      adam.zero_grad();
      Var<T> loss = softmax_cross_entropy(model.logits(tape.constant(x), rng, true), labels);
      tape.backward(loss, {model.parameters()});
      adam.step();
      total += static_cast<double>(loss.item());
      ++steps;
    }
    on_epoch(epoch, total / static_cast<double>(std::max<Index>(steps, 1)));
  }
}
template <class T>
void train_classifier(Classifier<T>& model, const ImageDataset<T>& train, const ClassifierTraining& options) {
  train_classifier(model, train, options, [](std::int64_t, double) {});
}

}  // namespace vaegan
