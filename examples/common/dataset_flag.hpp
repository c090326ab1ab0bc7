#pragma once
// --dataset: which data set in the IDX format the programs read, and where its files are
// when --data is not given. Every data set here is 28x28 grey images with 10 classes, so
// every preset and the evaluation classifier fit each of them.
//   mnist          --data (default data/; scripts/get_mnist.sh fetches or converts MNIST)
//   fashion-mnist  Debian's dataset-fashion-mnist package, all 70,000 images
//                  (/usr/share/datasets/fashion-mnist; scripts/install-deps.sh installs it)
#include <string>
#include <vector>

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

// The --dataset and --data flags of one program.
struct DatasetFlags {
  std::string dataset = "mnist";
  std::string data = "data";
  DatasetChoice choice = known_datasets().front();

  void add(cli::Parser& p) {
    p.add("dataset", &dataset, "data set: mnist or fashion-mnist (IDX files; --data overrides where they are)");
    p.add("data", &data,
          "directory with the data set's IDX files (default for mnist: data, which scripts/get_mnist.sh fills; for "
          "fashion-mnist: /usr/share/datasets/fashion-mnist)");
  }
  // After parsing: a usage error for an unknown --dataset; the data set's own directory
  // unless --data was given.
  void resolve(const cli::Parser& p) {
    for (const DatasetChoice& c : known_datasets())
      if (c.name == dataset) {
        choice = c;
        if (!p.given("data")) data = c.default_dir;
        return;
      }
    p.fail("--dataset '" + dataset + "' is not known; choose mnist or fashion-mnist");
  }
};

}  // namespace examples
