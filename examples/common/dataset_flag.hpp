#pragma once
// --dataset: which data set the programs read, and where its files are when --data is not
// given.
//   mnist          IDX files in --data (default data/; scripts/get_mnist.sh fetches or
//                  converts MNIST)
//   fashion-mnist  Debian's dataset-fashion-mnist package, all 70,000 images
//                  (/usr/share/datasets/fashion-mnist; scripts/install-deps.sh installs it)
//   folder:PATH    PNG, JPEG and BMP files in PATH, optionally one subfolder per class
//                  (vaegan/data/image_folder.hpp), with --channels 1|3, --image-size N
//                  and --test-fraction F (the seeded train/test split)
// The IDX sets are 28x28 grey images with 10 classes; a folder's images have the shape
// its files (or --image-size and --channels) give them.
#include <cstdint>
#include <string>
#include <vector>

#include <vaegan/vaegan.hpp>

#include "cli.hpp"

namespace examples {

struct DatasetChoice {
  std::string name;         // the --dataset value
  std::string title;        // for messages: "MNIST"
  std::string default_dir;  // --data when not given
  std::string fix;          // what to do when its files are missing ("DIR": the directory)

  std::string fix_for(const std::string& dir) const {
    std::string out = fix;
    for (std::size_t at = out.find("DIR"); at != std::string::npos; at = out.find("DIR", at + dir.size()))
      out.replace(at, 3, dir);
    return out;
  }
};

inline const std::vector<DatasetChoice>& known_datasets() {
  static const std::vector<DatasetChoice> known{
      {"mnist", "MNIST", "data",
       "run scripts/get_mnist.sh DIR to fetch MNIST there, or pass --data with the directory that holds the IDX files"},
      {"fashion-mnist", "Fashion-MNIST", "/usr/share/datasets/fashion-mnist",
       "install Debian's dataset-fashion-mnist package (scripts/install-deps.sh does; it puts the files in "
       "/usr/share/datasets/fashion-mnist), or pass --data with a directory holding the four Fashion-MNIST IDX files"},
  };
  return known;
}

// The --dataset and --data flags of one program, and the image-folder flags.
struct DatasetFlags {
  static constexpr const char* kFolderPrefix = "folder:";

  std::string dataset = "mnist";
  std::string data = "data";
  DatasetChoice choice = known_datasets().front();
  std::int64_t channels = 1;
  std::int64_t image_size = 0;
  double test_fraction = 0.1;
  vaegan::LabelMode labels = vaegan::LabelMode::automatic;  // set by the program, not a flag

  // Adds the flags to the parser's current group.
  void add(cli::Parser& p) {
    p.add("dataset", &dataset,
          "mnist, fashion-mnist (IDX files; --data says where) or folder:PATH (PNG, JPEG and BMP images in PATH, "
          "optionally one subfolder per class)",
          "NAME");
    p.add("d,data", &data,
          "directory with the data set's IDX files (mnist: data, which scripts/get_mnist.sh fills; fashion-mnist: "
          "/usr/share/datasets/fashion-mnist)",
          "DIR");
    p.add("channels", &channels, "folder data sets: 1 (grey) or 3 (RGB); images are converted on load");
    p.add("image-size", &image_size,
          "folder data sets: resize every image to N x N on load (0: all images must have one size)");
    p.add("test-fraction", &test_fraction,
          "folder data sets: share of each class held out as the test split (seeded, the same on every run)", "X");
    p.require([this] { return channels == 1 || channels == 3; },
              [this] { return "--channels must be 1 (grey) or 3 (RGB), got " + std::to_string(channels); });
    p.require([this] { return image_size >= 0 && image_size <= 4096; },
              [this] {
                return "--image-size must be 0..4096 (0: keep the images' size), got " + std::to_string(image_size);
              });
    p.require([this] { return test_fraction >= 0 && test_fraction < 1; },
              [this] { return "--test-fraction must be in [0, 1), got " + std::to_string(test_fraction); });
  }

  bool is_folder() const { return choice.name == "folder"; }

  vaegan::ImageFolderOptions folder_options() const {
    vaegan::ImageFolderOptions o;
    o.channels = static_cast<int>(channels);
    o.image_size = image_size;
    o.test_fraction = test_fraction;
    o.labels = labels;
    return o;
  }

  // After parsing: a usage error for an unknown --dataset, for --data with a folder, and
  // for folder flags with an IDX set; the data set's own directory unless --data was given.
  void resolve(const cli::Parser& p) {
    if (dataset.rfind(kFolderPrefix, 0) == 0) {
      const std::string path = dataset.substr(std::string(kFolderPrefix).size());
      if (path.empty()) p.fail("--dataset folder:PATH needs the folder's path after 'folder:'");
      if (p.given("data")) p.fail("--data is for IDX data sets; with --dataset folder:PATH the path names the folder");
      choice = {"folder", "the image folder '" + path + "'", path,
                "pass --dataset folder:PATH with the directory that holds your PNG, JPEG or BMP images"};
      data = path;
      return;
    }
    for (const char* flag : {"channels", "image-size", "test-fraction"})
      if (p.given(flag))
        p.fail(std::string("--") + flag + " is for image folders (--dataset folder:PATH); " + dataset +
               " has a fixed image shape and split");
    for (const DatasetChoice& c : known_datasets())
      if (c.name == dataset) {
        choice = c;
        if (!p.given("data")) data = c.default_dir;
        return;
      }
    p.fail("--dataset '" + dataset + "' is not known; choose mnist, fashion-mnist or folder:PATH");
  }
};

}  // namespace examples
