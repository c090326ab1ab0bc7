#pragma once
// RunFiles: the names of what the training callbacks write into a run's output folder, in
// one place, because TrainingReport finds by name what the other callbacks wrote:
//   losses.csv, losses.svg          LossLog
//   samples.png                     SampleGrid: the latest samples
//   samples_epoch_NNN.png           SampleGrid: samples after epoch NNN (Every::epochs)
//   samples_step_NNNNNNN.png        SampleGrid: samples after step NNNNNNN (Every::steps)
//   recon_epoch_NNN.png, recon_step_NNNNNNN.png   reconstructions, likewise
//   metrics.csv                     ScoreSamples: FID, precision, recall per scoring
//   report.html                     TrainingReport
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "vaegan/core/error.hpp"

namespace vaegan {

// One image of a series (samples or reconstructions) and when it was drawn.
struct RunImage {
  std::string file;  // name inside the folder
  bool by_step;      // the number counts steps (else epochs)
  std::int64_t at;
};

class RunFiles {
 public:
  explicit RunFiles(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const { return (std::filesystem::path(dir_) / name).string(); }

  static std::string series_file(const std::string& series, bool by_step, std::int64_t at) {
    char name[96];
    if (by_step) std::snprintf(name, sizeof name, "%s_step_%07lld.png", series.c_str(), static_cast<long long>(at));
    else std::snprintf(name, sizeof name, "%s_epoch_%03lld.png", series.c_str(), static_cast<long long>(at));
    return name;
  }

  // The images of one series in the folder, epochs first then steps, each in order.
  std::vector<RunImage> series(const std::string& series) const {
    std::vector<RunImage> found;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      RunImage image;
      if (parse(series, name, image)) found.push_back(image);
    }
    std::sort(found.begin(), found.end(),
              [](const RunImage& a, const RunImage& b) { return a.by_step != b.by_step ? !a.by_step : a.at < b.at; });
    return found;
  }

  // Makes the folder (with its parents); IoError naming it and the reason if it cannot.
  void create(const char* who) const {
    std::error_code ec;
    if (std::filesystem::exists(dir_, ec) && !std::filesystem::is_directory(dir_, ec))
      throw IoError(std::string(who) + ": '" + dir_ + "' is a file, not a folder; pass a folder for the output");
    std::filesystem::create_directories(dir_, ec);
    if (ec)
      throw IoError(std::string(who) + ": cannot create the output folder '" + dir_ + "': " + ec.message() +
                    "; pass a writable folder");
  }

 private:
  // "<series>_epoch_<digits>.png" or "<series>_step_<digits>.png"
  static bool parse(const std::string& series, const std::string& name, RunImage& out) {
    const std::string ext = ".png";
    if (name.size() <= series.size() + ext.size() || name.compare(0, series.size(), series) != 0 ||
        name.compare(name.size() - ext.size(), ext.size(), ext) != 0)
      return false;
    const std::string middle = name.substr(series.size(), name.size() - series.size() - ext.size());
    for (const char* kind : {"_epoch_", "_step_"}) {
      const std::string k = kind;
      if (middle.compare(0, k.size(), k) != 0) continue;
      const std::string digits = middle.substr(k.size());
      if (digits.empty() || digits.size() > 12 || digits.find_first_not_of("0123456789") != std::string::npos)
        return false;
      out = RunImage{name, k == "_step_", std::stoll(digits)};
      return true;
    }
    return false;
  }

  std::string dir_;
};

}  // namespace vaegan
