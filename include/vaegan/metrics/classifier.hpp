#pragma once
// Classifier<T>: the network whose penultimate layer is the feature space of the metrics
// (FID, precision/recall) and whose predicted classes give mode coverage. Trained with the
// library on a data set's training split (train_classifier, metrics/classifier_trainer.hpp:
// fit() with a ClassifierTrainer), saved as a checkpoint that the metrics load.
//
//   images [n, C, H, W] -> trunk -> features [n, feature_dim()] -> head -> logits [n, classes]
//
// Two architectures (ClassifierConfig::architecture):
//   dense: Flatten -> (Dense ReLU Dropout)... -> Dense ReLU        features = hidden.back()
//   conv:  Conv(C->h0, k3 s1 p1) ReLU -> (Conv(h_i-1 -> h_i, s2 p1) ReLU)... -> Flatten
//          -> Dropout -> Dense ReLU                                features = `features`
//          (each stride-2 convolution halves the side, with kernel 4 for an even side and
//          3 for an odd one, so every size divides whole)
//   head:  Dropout -> Dense(features -> classes); dropout acts in training only.
//
// Two tasks (ClassifierConfig::task):
//   labels:   predict the data set's classes (MNIST's digits, a folder's subfolders).
//   rotation: predict which of 0, 90, 180 or 270 degrees an image was turned by (Gidaris
//             et al. 2018, "Unsupervised representation learning by predicting image
//             rotations"). It needs no labels, so it gives an unlabelled data set a
//             feature space for FID and precision/recall; its classes are rotations, so it
//             gives no mode coverage. Square images only (a quarter turn keeps the shape).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vaegan/data/dataset.hpp"
#include "vaegan/io/checkpoint.hpp"
#include "vaegan/losses/softmax_xent.hpp"
#include "vaegan/models/config.hpp"
#include "vaegan/nn/activation_layer.hpp"
#include "vaegan/nn/conv2d.hpp"
#include "vaegan/nn/dense.hpp"
#include "vaegan/nn/dropout.hpp"
#include "vaegan/nn/network.hpp"
#include "vaegan/nn/reshape.hpp"
#include "vaegan/nn/sequential.hpp"
#include "vaegan/nn/structure.hpp"

namespace vaegan {

enum class ClassifierTask { labels, rotation };
inline const char* classifier_task_name(ClassifierTask t) {
  return t == ClassifierTask::rotation ? "rotation" : "labels";
}
inline constexpr int kRotationClasses = 4;  // 0, 90, 180, 270 degrees

struct ClassifierConfig {
  Architecture architecture = Architecture::dense;
  ClassifierTask task = ClassifierTask::labels;
  Shape image_shape{1, 28, 28};         // [C, H, W]
  std::vector<Index> hidden{512, 256};  // dense: hidden widths; conv: channels of the convolutions
  Index features = 256;                 // conv: width of the feature layer (dense: hidden.back())
  int classes = 10;                     // kRotationClasses for the rotation task
  double dropout = 0.2;                 // in training only

  // The conv classifier the examples train for a data set of `image` shape.
  static ClassifierConfig conv(const Shape& image, int classes, ClassifierTask task = ClassifierTask::labels) {
    ClassifierConfig c;
    c.architecture = Architecture::conv;
    c.task = task;
    c.image_shape = image;
    c.hidden = {32, 64, 64};
    c.features = 256;
    c.classes = task == ClassifierTask::rotation ? kRotationClasses : classes;
    c.dropout = 0.3;
    return c;
  }

  Index input_dim() const { return image_shape.numel(); }
  Index feature_dim() const { return architecture == Architecture::conv ? features : hidden.back(); }

  std::string serialize() const {
    std::string s = std::string(architecture_name(architecture)) + " task=" + classifier_task_name(task) +
                    " image=" + image_shape.str() + " classes=" + std::to_string(classes) + " hidden=";
    for (std::size_t i = 0; i < hidden.size(); ++i) s += (i ? "," : "") + std::to_string(hidden[i]);
    if (architecture == Architecture::conv) s += " features=" + std::to_string(features);
    return s;
  }
  // Throws Error naming what does not fit.
  void validate() const {
    const auto fail = [&](const std::string& why) { throw Error("Classifier: " + why + " (" + serialize() + ")"); };
    if (image_shape.rank() < 1 || image_shape.rank() > 3 || image_shape.numel() < 1)
      fail("the image shape must be [C, H, W] (or [features] for a dense classifier)");
    if (hidden.empty()) fail("need at least one hidden layer");
    for (Index h : hidden)
      if (h < 1) fail("hidden sizes must be positive");
    if (classes < 2) fail("need 2+ classes");
    if (dropout < 0.0 || dropout >= 1.0) fail("dropout must be in [0, 1)");
    if (architecture == Architecture::conv) {
      if (image_shape.rank() != 3) fail("a conv classifier takes images [C, H, W]");
      if (features < 1) fail("the feature width must be positive");
      if (image_shape[1] % 2 != image_shape[2] % 2)
        fail("a conv classifier needs the height and width both even or both odd; resize the images");
    }
    if (task == ClassifierTask::rotation) {
      if (classes != kRotationClasses) fail("the rotation task has 4 classes");
      if (image_shape.rank() != 3 || image_shape[1] != image_shape[2])
        fail("the rotation task needs square images (a quarter turn must keep the shape); resize them");
    }
  }
};

namespace detail {

// Kernel of a stride-2, padding-1 convolution that halves `side` exactly.
inline Index halving_kernel(Index side) { return side % 2 == 0 ? 4 : 3; }

template <class T>
Sequential<T> classifier_trunk(const ClassifierConfig& c) {
  Sequential<T> trunk;
  if (c.architecture == Architecture::dense) {
    trunk.add(Flatten<T>());
    Index in = c.input_dim();
    for (std::size_t i = 0; i < c.hidden.size(); ++i) {
      trunk.add(Dense<T>(in, c.hidden[i]));
      trunk.add(ActivationLayer<T>(Activation::relu()));
      if (i + 1 < c.hidden.size() && c.dropout > 0.0) trunk.add(Dropout<T>(c.dropout));
      in = c.hidden[i];
    }
    return trunk;
  }
  Index channels = c.image_shape[0], side = c.image_shape[1];
  for (std::size_t i = 0; i < c.hidden.size(); ++i) {
    if (i == 0) {
      trunk.add(Conv2d<T>(channels, c.hidden[i], 3, 1, 1));
    } else {
      trunk.add(Conv2d<T>(channels, c.hidden[i], halving_kernel(side), 2, 1));
      side = (side + 1) / 2;
    }
    trunk.add(ActivationLayer<T>(Activation::relu()));
    channels = c.hidden[i];
  }
  trunk.add(Flatten<T>());
  if (c.dropout > 0.0) trunk.add(Dropout<T>(c.dropout));
  const Shape after = trunk.output_shape(c.image_shape);
  trunk.add(Dense<T>(after[0], c.features));
  trunk.add(ActivationLayer<T>(Activation::relu()));
  return trunk;
}

template <class T>
Sequential<T> classifier_head(const ClassifierConfig& c) {
  Sequential<T> head;
  if (c.dropout > 0.0) head.add(Dropout<T>(c.dropout));
  head.add(Dense<T>(c.feature_dim(), c.classes));
  return head;
}

// Turns the square image [C, S, S] at `src` by `quarters` x 90 degrees counter-clockwise
// into `dst` (as numpy's rot90(image, quarters, axes=(1, 2))).
template <class T>
void rotate_quarters(const T* src, T* dst, Index channels, Index side, int quarters) {
  for (Index ch = 0; ch < channels; ++ch) {
    const T* s = src + ch * side * side;
    T* d = dst + ch * side * side;
    for (Index y = 0; y < side; ++y)
      for (Index x = 0; x < side; ++x) {
        Index sy = y, sx = x;  // the source pixel of d[y, x]
        switch (quarters & 3) {
          case 1: sy = x, sx = side - 1 - y; break;
          case 2: sy = side - 1 - y, sx = side - 1 - x; break;
          case 3: sy = side - 1 - x, sx = y; break;
          default: break;
        }
        d[y * side + x] = s[sy * side + sx];
      }
  }
}

// Shifts each image of batch [n, C, H, W] by a random (dx, dy) in [-s, s] (all channels
// alike), filling with 0 (the background of MNIST-like data).
template <class T>
void random_shift(Tensor<T>& batch, const Shape& image, int s, Rng& rng, Tensor<T>& scratch) {
  if (s <= 0 || image.rank() != 3) return;
  const Index channels = image[0], height = image[1], width = image[2], plane = height * width;
  scratch.resize(batch.shape());
  scratch.set_zero();
  const Index n = batch.numel() / image.numel();
  for (Index i = 0; i < n; ++i) {
    const int dx = static_cast<int>(rng.uniform_int(2 * static_cast<std::uint64_t>(s) + 1)) - s;
    const int dy = static_cast<int>(rng.uniform_int(2 * static_cast<std::uint64_t>(s) + 1)) - s;
    for (Index ch = 0; ch < channels; ++ch) {
      const T* src = batch.data() + (i * channels + ch) * plane;
      T* dst = scratch.data() + (i * channels + ch) * plane;
      for (Index y = 0; y < height; ++y) {
        const Index sy = y - dy;
        if (sy < 0 || sy >= height) continue;
        for (Index x = 0; x < width; ++x) {
          const Index sx = x - dx;
          if (sx >= 0 && sx < width) dst[y * width + x] = src[sy * width + sx];
        }
      }
    }
  }
  batch.swap(scratch);
}

// Turns image i of batch [n, C, S, S] by quarters[i] x 90 degrees, in place (via scratch).
template <class T>
void rotate_batch(Tensor<T>& batch, const Shape& image, const std::vector<int>& quarters, Tensor<T>& scratch) {
  scratch.resize(batch.shape());
  const Index d = image.numel();
  for (std::size_t i = 0; i < quarters.size(); ++i)
    rotate_quarters(batch.data() + static_cast<Index>(i) * d, scratch.data() + static_cast<Index>(i) * d, image[0],
                    image[1], quarters[i]);
  batch.swap(scratch);
}

}  // namespace detail

template <class T>
class Classifier : public NetworkBase<T> {
 public:
  explicit Classifier(const ClassifierConfig& config = {}, std::uint64_t seed = 1)
      : NetworkBase<T>("classifier", (config.validate(), config.image_shape)), config_(config) {
    trunk_ = this->add_part("trunk", detail::classifier_trunk<T>(config), config.image_shape);
    head_ = this->add_part("head", detail::classifier_head<T>(config), Shape{config.feature_dim()});
    this->set_output_shape(Shape{config.classes});
    Rng rng(seed);
    this->reset_parameters(rng);
  }
  Classifier(Classifier&&) noexcept = default;
  Classifier& operator=(Classifier&&) noexcept = default;

  // Records logits [n, classes] of images x [n, C, H, W] on x's tape; dropout only in a
  // train-mode ctx.
  Var<T> logits(const Var<T>& x, const ForwardContext& ctx) const {
    return head_->forward(trunk_->forward(x, ctx), ctx);
  }

  // Penultimate-layer features [n, feature_dim()] of images [n, C, H, W] or [n, C*H*W]
  // (evaluation mode).
  void features(const Tensor<T>& images, Tensor<T>& out) const { run(images, &out, nullptr); }
  // Most likely class of each image.
  void predict(const Tensor<T>& images, std::vector<int>& labels) const { run(images, nullptr, &labels); }
  // Both at once (one pass).
  void features_and_labels(const Tensor<T>& images, Tensor<T>& features, std::vector<int>& labels) const {
    run(images, &features, &labels);
  }

  // Fraction of `data` classified right: its labels, or for the rotation task image i
  // turned by (i mod 4) quarters.
  double accuracy(const ImageDataset<T>& data) const {
    std::vector<int> truth(static_cast<std::size_t>(data.size())), predicted;
    if (config_.task == ClassifierTask::rotation) {
      // Turned straight from the data set into one tensor: one pass, no copy of the images first.
      const Shape& image = config_.image_shape;
      Tensor<T> turned(data.images().shape());
      for (std::size_t i = 0; i < truth.size(); ++i) {
        truth[i] = static_cast<int>(i % kRotationClasses);
        detail::rotate_quarters(data.image(static_cast<Index>(i)),
                                turned.data() + static_cast<Index>(i) * image.numel(), image[0], image[1], truth[i]);
      }
      predict(turned, predicted);
    } else {
      for (std::size_t i = 0; i < truth.size(); ++i) truth[i] = data.label(static_cast<Index>(i));
      predict(data.images(), predicted);
    }
    Index correct = 0;
    for (std::size_t i = 0; i < truth.size(); ++i) correct += predicted[i] == truth[i];
    return static_cast<double>(correct) / static_cast<double>(std::max<Index>(data.size(), 1));
  }

  // The checkpoint (docs/checkpoint-format.md): the configuration sections
  // (write_config_sections), then the network's sections as a trainer checkpoint names its
  // network slot "classifier": classifier.structure, classifier.params (and
  // classifier.buffers, if it ever has any). save() writes the model alone; the training
  // checkpoint of a ClassifierTrainer (save_training_checkpoint, the Checkpoint callback:
  // what train_classifier writes) is these sections plus the training state (trainer.*,
  // classifier.adam.*, batches.*), so it also resumes. load() reads either.
  void save(const std::string& path) const {
    CheckpointWriter w;
    write_config_sections(w);
    w.add_string("classifier.structure", this->structure().to_text());
    w.add_tensor("classifier.params", this->parameters().values());
    if (this->parameters().buffers().numel() > 0) w.add_tensor("classifier.buffers", this->parameters().buffers());
    w.save(path);
  }

  // The configuration sections. The sections written before conv classifiers (input_dim,
  // classes, hidden, dropout) keep their meaning, so a classifier saved by an older
  // version loads as the dense one it is.
  void write_config_sections(CheckpointWriter& w) const {
    w.add_string("classifier.config", config_.serialize());
    w.add_string("classifier.architecture", architecture_name(config_.architecture));
    w.add_string("classifier.task", classifier_task_name(config_.task));
    w.add_tensor("classifier.image_shape", widths_tensor(dims_of(config_.image_shape)));
    w.add_i64("classifier.input_dim", config_.input_dim());
    w.add_i64("classifier.classes", config_.classes);
    w.add_tensor("classifier.hidden", widths_tensor(config_.hidden));
    w.add_i64("classifier.features", config_.features);
    w.add_f64("classifier.dropout", config_.dropout);
  }

  // Reads a file of save(), a ClassifierTrainer's training checkpoint, or a classifier
  // file of the format before classifiers trained through fit(): the configuration
  // sections and classifier.params, without classifier.structure or any training state
  // (e.g. the committed classifiers the efficiency study scores with). The old format is
  // the new one's subset, so this one reader serves both: keep it reading files without
  // classifier.structure.
  static Classifier load(const std::string& path) {
    const CheckpointReader r(path);
    const auto fail = [&](const std::string& what) { throw IoError(path + ": " + what); };
    if (r.has("trainer.kind") && r.str("trainer.kind") != "classifier")
      fail("holds a " + r.str("trainer.kind") + " trainer, not a classifier (no section classifier.input_dim)");
    Classifier model(read_config_sections(r));
    if (r.has("classifier.structure")) {
      NetworkStructure saved;
      try {
        saved = NetworkStructure::parse(r.str("classifier.structure"));
      } catch (const IoError&) {
        throw;
      } catch (const Error& e) {
        fail(std::string("section 'classifier.structure': ") + e.what() + " (the file is damaged)");
      }
      const std::string diff = model.structure().first_difference(saved, "the checkpoint");
      if (!diff.empty()) fail("the classifier does not match its configuration: " + diff + " (the file is damaged)");
    }
    r.read_tensor("classifier.params", model.parameters().values());
    if (model.parameters().buffers().numel() > 0) r.read_tensor("classifier.buffers", model.parameters().buffers());
    return model;
  }

  // The configuration of write_config_sections (or of an older file), checked.
  static ClassifierConfig read_config_sections(const CheckpointReader& r) {
    ClassifierConfig c;
    const std::string& path = r.path();
    const auto fail = [&](const std::string& what) { throw IoError(path + ": " + what); };
    const std::int64_t input_dim = r.i64("classifier.input_dim");
    if (input_dim < 1 || input_dim > (1 << 26)) fail("implausible input size " + std::to_string(input_dim));
    c.classes = static_cast<int>(std::clamp<std::int64_t>(r.i64("classifier.classes"), -1, 1 << 20));
    c.dropout = r.f64("classifier.dropout");
    c.hidden = read_widths(r, "classifier.hidden", 1, 16);
    if (r.has("classifier.architecture")) {
      const std::string arch = r.str("classifier.architecture"), task = r.str("classifier.task");
      if (arch != "dense" && arch != "conv") fail("unknown classifier architecture '" + arch + "'");
      if (task != "labels" && task != "rotation") fail("unknown classifier task '" + task + "'");
      c.architecture = arch == "conv" ? Architecture::conv : Architecture::dense;
      c.task = task == "rotation" ? ClassifierTask::rotation : ClassifierTask::labels;
      c.image_shape = shape_of(read_widths(r, "classifier.image_shape", 1, 3));
      c.features = r.i64("classifier.features");
      if (c.image_shape.numel() != input_dim)
        fail("classifier.image_shape " + c.image_shape.str() + " does not hold classifier.input_dim " +
             std::to_string(input_dim) + " values");
    } else {
      c.image_shape = Shape{input_dim};  // an older dense classifier: flat images
    }
    if (c.classes < 2 || c.classes > 100000 || !(c.dropout >= 0.0 && c.dropout < 1.0) || c.features < 1 ||
        c.features > (1 << 20))
      fail("implausible classifier configuration " + c.serialize());
    try {
      c.validate();
    } catch (const Error& e) {
      fail(e.what());
    }
    return c;
  }

  const ClassifierConfig& config() const { return config_; }
  Index feature_dim() const { return config_.feature_dim(); }

 private:
  static std::vector<Index> dims_of(const Shape& s) {
    std::vector<Index> dims;
    for (int i = 0; i < s.rank(); ++i) dims.push_back(s[i]);
    return dims;
  }
  static Shape shape_of(const std::vector<Index>& d) {  // 1 to 3 sizes
    return d.size() == 1 ? Shape{d[0]} : d.size() == 2 ? Shape{d[0], d[1]} : Shape{d[0], d[1], d[2]};
  }
  static Tensor<T> widths_tensor(const std::vector<Index>& widths) {
    Tensor<T> t(Shape{static_cast<Index>(widths.size())});
    for (std::size_t i = 0; i < widths.size(); ++i) t[static_cast<Index>(i)] = static_cast<T>(widths[i]);
    return t;
  }
  static std::vector<Index> read_widths(const CheckpointReader& r, const std::string& name, Index min_count,
                                        Index max_count) {
    const Shape s = r.tensor_shape(name);
    if (s.rank() != 1 || s[0] < min_count || s[0] > max_count)
      throw IoError(r.path() + ": section " + name + " has shape " + s.str() + "; expected " +
                    std::to_string(min_count) + " to " + std::to_string(max_count) + " sizes");
    const Tensor<T> t = r.tensor<T>(name, s);
    std::vector<Index> widths;
    for (Index i = 0; i < t.numel(); ++i) {
      const double v = static_cast<double>(t[i]);
      if (!(v >= 1.0 && v <= 1e6) || v != std::floor(v))
        throw IoError(r.path() + ": section " + name + " holds " + std::to_string(v) + ", not a size");
      widths.push_back(static_cast<Index>(v));
    }
    return widths;
  }

  void run(const Tensor<T>& images, Tensor<T>* features, std::vector<int>* labels) const {
    // Flat rows [n, C*H*W] or images [n, C, H, W] (a decoder's output): the same
    // row-major values.
    const Shape& shape = images.shape();
    const Index n = shape.rank() >= 2 ? shape[0] : 0, dim = config_.input_dim(), chunk = 512;
    if (shape.rank() < 2 || n < 1 || images.numel() != n * dim)
      throw ShapeError("Classifier: images must be [n, " + std::to_string(dim) + "] or [n] + " +
                       config_.image_shape.str() + ", got " + shape.str());
    if (features) features->resize(Shape::matrix(n, feature_dim()));
    if (labels) labels->assign(static_cast<std::size_t>(n), 0);
    Tape<T> tape;
    NoGradGuard<T> no_grad(tape);
    for (Index r0 = 0; r0 < n; r0 += chunk) {
      const Index r1 = std::min(n, r0 + chunk);
      tape.reset();
      Var<T> x = tape.constant(images.data() + r0 * dim, config_.image_shape.batched(r1 - r0));
      Var<T> h = trunk_->forward(x, ForwardContext::eval());
      if (features) std::copy(h.node().value, h.node().value + h.numel(), features->data() + r0 * feature_dim());
      if (labels) {
        Var<T> out = head_->forward(h, ForwardContext::eval());
        for (Index i = 0; i < r1 - r0; ++i) {
          Index best = 0;
          out.value().row(i).maxCoeff(&best);
          (*labels)[static_cast<std::size_t>(r0 + i)] = static_cast<int>(best);
        }
      }
    }
  }

  ClassifierConfig config_;
  Sequential<T>* trunk_ = nullptr;
  Sequential<T>* head_ = nullptr;
};

}  // namespace vaegan
