#pragma once
// LossLog: OUT/losses.csv (one row of epoch means per epoch: epoch, step, train_seconds,
// then each of the trainer's statistics; a statistic no step of the epoch computed is
// written as nan) and OUT/losses.svg (every loss column against the epoch, redrawn after
// each row). A fresh run starts a new CSV; a resumed one appends, and continues the
// train_seconds column from its last row.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <vaegan/vaegan.hpp>

#include "output_dir.hpp"

namespace examples {

class LossLog {
 public:
  LossLog(const OutputDir& out, std::vector<std::string> stat_names, std::string title, bool resume)
      : stat_names_(std::move(stat_names)),
        title_(std::move(title)),
        csv_path_(out.file("losses.csv")),
        svg_path_(out.file("losses.svg")),
        csv_(open(csv_path_, stat_names_, resume)) {}

  // On --resume: train_seconds continues from the last row of the CSV, if it has one.
  void continue_from_csv() {
    if (!std::filesystem::exists(csv_path_)) return;
    const auto table = vaegan::read_csv(csv_path_);
    if (table.num_rows() > 0) previous_seconds_ = table.column("train_seconds").back();
  }

  void on_epoch(const vaegan::EpochEvent& e) {
    std::vector<double> row{static_cast<double>(e.epoch), static_cast<double>(e.step),
                            previous_seconds_ + e.train_seconds};
    for (int i = 0; i < e.mean_stats.size(); ++i) row.push_back(e.mean_stats.value(i));
    csv_.append(row);
    plot();
  }

 private:
  static vaegan::CsvAppender open(const std::string& csv_path, const std::vector<std::string>& stat_names,
                                  bool resume) {
    std::vector<std::string> columns{"epoch", "step", "train_seconds"};
    columns.insert(columns.end(), stat_names.begin(), stat_names.end());
    if (!resume && std::filesystem::exists(csv_path)) std::filesystem::remove(csv_path);
    return vaegan::CsvAppender(csv_path, columns);
  }

  // Plots every loss column of the CSV against the epoch.
  void plot() const {
    const vaegan::CsvTable table = vaegan::read_csv(csv_path_);
    vaegan::LinePlot plot;
    plot.set_title(title_).set_x_label("epoch").set_y_label("epoch mean (log scale)").set_log_y(true);
    const std::vector<double> epochs = table.column("epoch");
    for (const auto& name : stat_names_) {
      // Flags (their means are rates), not losses; gradient norms have their own scale.
      if (name == "d_updated" || name == "dec_updated" || name == "d_gated" || name == "dec_gated") continue;
      if (name.rfind("gnorm_", 0) == 0) continue;
      plot.add_series(name, epochs, table.column(name));
    }
    plot.save(svg_path_);
  }

  std::vector<std::string> stat_names_;
  std::string title_;
  std::string csv_path_, svg_path_;
  vaegan::CsvAppender csv_;
  double previous_seconds_ = 0.0;  // train_seconds of the runs before this one
};

}  // namespace examples
