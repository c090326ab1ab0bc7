// vaegan classifier: trains the evaluation classifier (conv by default, or the MLP) on the
// training split of --dataset (MNIST by default), reports its accuracy on the test split
// and saves it for vaegan eval and compare. It learns the data set's classes; a data set
// without them (an image folder without class subfolders) gets the rotation task, whose
// features serve FID and precision/recall (metrics/classifier.hpp, docs/data.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <vaegan/metrics/classifier_trainer.hpp>
#include <vaegan/vaegan.hpp>

#include "cli.hpp"
#include "commands.hpp"
#include "data.hpp"

namespace {

// The command line of vaegan classifier.
struct ClassifierFlags {
  examples::DatasetFlags data_set;
  std::string file = "out/classifier.vgck", arch = "conv", task = "auto";
  std::int64_t epochs = 15, batch = 128, seed = 1, threads = 0, shift = 2;
  double lr = 1e-3;

  void add(cli::Parser& p) {
    p.group("Data");
    data_set.add(p);
    p.group("Classifier");
    p.add("classifier", &file, "the classifier checkpoint to write", "FILE");
    p.add("arch", &arch, "conv or mlp (the classifier's network; docs/data.md)", "ARCH");
    p.add("task", &task,
          "labels (the data set's classes), rotation (which quarter turn an image got: for data without classes), "
          "or auto (labels when the data set has 2+ classes, else rotation)",
          "TASK");
    p.group("Training");
    p.add("e,epochs", &epochs, "training epochs");
    p.add("b,batch-size", &batch, "images per step");
    p.add("lr", &lr, "Adam learning rate");
    p.add("shift", &shift, "random translation augmentation in pixels (0: off)");
    p.add("s,seed", &seed, "seed");
    p.add("t,threads", &threads, "threads (0: all cores)");
    p.require([this] { return epochs >= 1; },
              [this] { return "--epochs must be >= 1, got " + std::to_string(epochs); });
    p.require([this] { return batch >= 1; },
              [this] { return "--batch-size must be >= 1 (images per step), got " + std::to_string(batch); });
    p.require([this] { return lr > 0; }, "--lr must be > 0");
    p.require([this] { return shift >= 0 && shift <= 8; },
              [this] { return "--shift must be 0..8 pixels, got " + std::to_string(shift); });
    p.require([this] { return arch == "conv" || arch == "mlp"; },
              [this] { return "--arch must be conv or mlp, got '" + arch + "'"; });
    p.require([this] { return task == "auto" || task == "labels" || task == "rotation"; },
              [this] { return "--task must be auto, labels or rotation, got '" + task + "'"; });
    p.require([this] { return threads >= 0; },
              [this] { return "--threads must be >= 0 (0: all cores), got " + std::to_string(threads); });
  }
};

// The classifier for the data: its images' shape and classes (the rotation task without
// classes), the conv or the MLP network.
vaegan::ClassifierConfig classifier_config(const ClassifierFlags& f, const vaegan::ImageDataset<float>& train,
                                           const vaegan::ImageDataset<float>& test) {
  // [1, 28, 28] and 10 classes for the IDX sets, whatever a folder's files and class
  // subfolders give.
  const int classes = std::max(train.num_classes(), test.num_classes());
  const bool rotation = f.task == "rotation" || (f.task == "auto" && classes < 2);
  if (f.task == "labels" && classes < 2)
    throw vaegan::IoError("the training images in '" + f.data_set.data + "' have " + std::to_string(classes) +
                          " class; a classifier needs at least two: put each class's images in its own subfolder " +
                          "(or pass --task rotation)");
  const vaegan::ClassifierTask classifier_task =
      rotation ? vaegan::ClassifierTask::rotation : vaegan::ClassifierTask::labels;
  vaegan::ClassifierConfig config = vaegan::ClassifierConfig::conv(train.image_shape(), classes, classifier_task);
  if (f.arch == "mlp") {
    config = vaegan::ClassifierConfig{};
    config.image_shape = train.image_shape();
    config.task = classifier_task;
    config.classes = rotation ? vaegan::kRotationClasses : classes;
  }
  try {
    config.validate();
  } catch (const vaegan::Error& e) {
    throw vaegan::IoError(std::string(e.what()) + "; with --dataset folder:PATH, --image-size N makes them square");
  }
  if (rotation)
    std::printf(
        "vaegan classifier: %s; training the rotation task (which quarter turn each image got), whose "
        "features give FID and precision/recall but no class coverage\n",
        f.task == "auto" ? "the data set has fewer than two classes" : "--task rotation");
  return config;
}

// Makes the classifier file's directory before training: the default out/ does not exist in
// a fresh checkout, and finding that out at save time would throw the training away.
// Returns the directories it made, to remove again after a failure.
std::vector<std::filesystem::path> make_output_directory(const std::string& file) {
  const std::filesystem::path dir = std::filesystem::path(file).parent_path();
  if (dir.empty()) return {};
  std::vector<std::filesystem::path> created = examples::missing_directories(dir.string());
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw vaegan::IoError("cannot create the directory '" + dir.string() + "' for --classifier: " + ec.message() +
                          "; pass a writable --classifier path");
  return created;
}

}  // namespace

int commands::classifier(int argc, char** argv) {
  ClassifierFlags f;
  cli::Parser p(argv[0],
                "Train the evaluation classifier of --dataset whose features the metrics use (FID, precision/recall, "
                "coverage).");
  f.add(p);
  p.parse(argc, argv);
  f.data_set.resolve(p);
  std::error_code ec;
  if (std::filesystem::is_directory(f.file, ec))
    p.fail("--classifier '" + f.file + "' is a directory; pass the classifier's file name, e.g. " +
           (std::filesystem::path(f.file) / "classifier.vgck").string());
  std::vector<std::filesystem::path> created_dirs;  // removed again if still empty after a failure
  try {
    if (f.threads > 0) vaegan::set_num_threads(static_cast<int>(f.threads));
    if (f.data_set.is_folder() && f.task != "auto")  // labels: refuse a folder without classes
      f.data_set.labels = f.task == "labels" ? vaegan::LabelMode::required : vaegan::LabelMode::none;
    const auto train = examples::load_split<float>(f.data_set, "train");
    const auto test = examples::load_split<float>(f.data_set, "test");
    const vaegan::ClassifierConfig config = classifier_config(f, train, test);
    if (f.batch > train.size())
      p.fail("--batch-size " + std::to_string(f.batch) + " is larger than the training set (" +
             std::to_string(train.size()) + " images); pass a smaller --batch-size");
    created_dirs = make_output_directory(f.file);
    vaegan::Classifier<float> model(config, static_cast<std::uint64_t>(f.seed));
    vaegan::ClassifierTraining options;
    options.epochs = f.epochs;
    options.batch_size = f.batch;
    options.lr = f.lr;
    options.seed = static_cast<std::uint64_t>(f.seed);
    options.max_shift = static_cast<int>(f.shift);
    const auto t0 = std::chrono::steady_clock::now();
    // Saved once at the end, as a training checkpoint (the classifier and its training
    // state: Classifier::load reads it, load_training_checkpoint resumes it).
    vaegan::train_classifier(
        model, train, options,
        [&](std::int64_t e, double loss) {
          std::printf("epoch %lld/%lld: loss %.4f, test accuracy %.4f\n", static_cast<long long>(e),
                      static_cast<long long>(f.epochs), loss, model.accuracy(test));
          std::fflush(stdout);
        },
        vaegan::Checkpoint(f.file, vaegan::Every::never()));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf(
        "vaegan classifier: %lld train / %lld test images, test accuracy %.4f, train accuracy %.4f, %.1f s; saved "
        "%s\n",
        static_cast<long long>(train.size()), static_cast<long long>(test.size()), model.accuracy(test),
        model.accuracy(train), seconds, f.file.c_str());
    return 0;
  } catch (const std::exception& e) {
    examples::remove_if_empty(created_dirs);
    std::cerr << "vaegan classifier: error: " << e.what() << "\n";
    return cli::kExitRuntime;
  }
}
