// train_classifier: trains the evaluation classifier (conv by default, or the MLP) on the
// training split of --dataset (MNIST by default), reports its accuracy on the test split
// and saves it for vaegan_eval and compare. It learns the data set's classes; a data set
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

#include "common/cli.hpp"
#include "common/data.hpp"

int main(int argc, char** argv) {
  examples::DatasetFlags data_set;
  std::string out = "out/classifier.vgck", arch = "conv", task = "auto";
  std::int64_t epochs = 15, batch = 128, seed = 1, threads = 0, shift = 2;
  double lr = 1e-3;
  cli::Parser p(
      "train_classifier",
      "Train the evaluation classifier of --dataset whose features the metrics use (FID, precision/recall, coverage).");
  data_set.add(p);
  p.add("out", &out, "where to save the classifier");
  p.add("arch", &arch, "conv or mlp (the classifier's network; docs/data.md)");
  p.add("task", &task,
        "labels (the data set's classes), rotation (which quarter turn an image got: for data without classes), "
        "or auto (labels when the data set has 2+ classes, else rotation)");
  p.add("epochs", &epochs, "training epochs");
  p.add("batch-size", &batch, "images per step");
  p.add("lr", &lr, "Adam learning rate");
  p.add("shift", &shift, "random translation augmentation in pixels (0: off)");
  p.add("seed", &seed, "seed");
  p.add("threads", &threads, "threads (0: all cores)");
  p.require([&] { return epochs >= 1; }, [&] { return "--epochs must be >= 1, got " + std::to_string(epochs); });
  p.require([&] { return batch >= 1; },
            [&] { return "--batch-size must be >= 1 (images per step), got " + std::to_string(batch); });
  p.require([&] { return lr > 0; }, "--lr must be > 0");
  p.require([&] { return shift >= 0 && shift <= 8; },
            [&] { return "--shift must be 0..8 pixels, got " + std::to_string(shift); });
  p.require([&] { return arch == "conv" || arch == "mlp"; },
            [&] { return "--arch must be conv or mlp, got '" + arch + "'"; });
  p.require([&] { return task == "auto" || task == "labels" || task == "rotation"; },
            [&] { return "--task must be auto, labels or rotation, got '" + task + "'"; });
  p.require([&] { return threads >= 0; },
            [&] { return "--threads must be >= 0 (0: all cores), got " + std::to_string(threads); });
  p.parse(argc, argv);
  data_set.resolve(p);
  const std::string& data = data_set.data;
  {
    std::error_code ec;
    if (std::filesystem::is_directory(out, ec))
      p.fail("--out '" + out + "' is a directory; pass the classifier's file name, e.g. " +
             (std::filesystem::path(out) / "classifier.vgck").string());
  }
  std::vector<std::filesystem::path> created_dirs;  // removed again if still empty after a failure
  try {
    if (threads > 0) vaegan::set_num_threads(static_cast<int>(threads));
    if (data_set.is_folder() && task != "auto")  // labels: refuse a folder without classes
      data_set.labels = task == "labels" ? vaegan::LabelMode::required : vaegan::LabelMode::none;
    const auto train = examples::load_split<float>(data_set, "train");
    const auto test = examples::load_split<float>(data_set, "test");
    // The classifier takes the data set's images and classes: [1, 28, 28] and 10 classes for
    // the IDX sets, whatever a folder's files and class subfolders give.
    const int classes = std::max(train.num_classes(), test.num_classes());
    const bool rotation = task == "rotation" || (task == "auto" && classes < 2);
    if (task == "labels" && classes < 2)
      throw vaegan::IoError("the training images in '" + data + "' have " + std::to_string(classes) +
                            " class; a classifier needs at least two: put each class's images in its own subfolder " +
                            "(or pass --task rotation)");
    const vaegan::ClassifierTask classifier_task =
        rotation ? vaegan::ClassifierTask::rotation : vaegan::ClassifierTask::labels;
    vaegan::ClassifierConfig config = vaegan::ClassifierConfig::conv(train.image_shape(), classes, classifier_task);
    if (arch == "mlp") {
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
          "train_classifier: %s; training the rotation task (which quarter turn each image got), whose "
          "features give FID and precision/recall but no class coverage\n",
          task == "auto" ? "the data set has fewer than two classes" : "--task rotation");
    if (batch > train.size())
      p.fail("--batch-size " + std::to_string(batch) + " is larger than the training set (" +
             std::to_string(train.size()) + " images); pass a smaller --batch-size");
    // Make --out's directory before training: the default out/ does not exist in a fresh
    // checkout, and finding that out at save time would throw the whole training away.
    const std::filesystem::path out_dir = std::filesystem::path(out).parent_path();
    std::error_code ec;
    if (!out_dir.empty()) created_dirs = examples::missing_directories(out_dir.string());
    if (!out_dir.empty()) std::filesystem::create_directories(out_dir, ec);
    if (ec)
      throw vaegan::IoError("cannot create the directory '" + out_dir.string() + "' for --out: " + ec.message() +
                            "; pass a writable --out");
    vaegan::Classifier<float> model(config, static_cast<std::uint64_t>(seed));
    vaegan::ClassifierTraining options;
    options.epochs = epochs;
    options.batch_size = batch;
    options.lr = lr;
    options.seed = static_cast<std::uint64_t>(seed);
    options.max_shift = static_cast<int>(shift);
    const auto t0 = std::chrono::steady_clock::now();
    // Saved once at the end, as a training checkpoint (the classifier and its training
    // state: Classifier::load reads it, load_training_checkpoint resumes it).
    vaegan::train_classifier(
        model, train, options,
        [&](std::int64_t e, double loss) {
          std::printf("epoch %lld/%lld: loss %.4f, test accuracy %.4f\n", static_cast<long long>(e),
                      static_cast<long long>(epochs), loss, model.accuracy(test));
          std::fflush(stdout);
        },
        vaegan::Checkpoint(out, vaegan::Every::never()));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf(
        "train_classifier: %lld train / %lld test images, test accuracy %.4f, train accuracy %.4f, %.1f s; saved %s\n",
        static_cast<long long>(train.size()), static_cast<long long>(test.size()), model.accuracy(test),
        model.accuracy(train), seconds, out.c_str());
    return 0;
  } catch (const std::exception& e) {
    examples::remove_if_empty(created_dirs);
    std::cerr << "train_classifier: error: " << e.what() << "\n";
    return cli::kExitRuntime;
  }
}
