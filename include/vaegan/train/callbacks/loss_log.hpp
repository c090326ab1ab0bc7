#pragma once
// LossLog: DIR/losses.csv, one row of epoch means per epoch (epoch, step, train_seconds,
// then each of the trainer's statistics; a statistic no step of the epoch computed is
// written as nan), and DIR/losses.svg, the loss curves against the epoch, redrawn after
// each row. Rows are appended and flushed one at a time, so a crash loses no finished row.
//
// A fit() that starts at step 0 starts a new log. One that starts later (a resumed run)
// keeps the rows up to its first step, drops any after it (written by a run whose later
// checkpoint was not the one resumed), and continues train_seconds from the last kept row.
// Under mpirun only the first process writes.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vaegan/io/atomic_file.hpp"
#include "vaegan/io/csv.hpp"
#include "vaegan/io/svg_plot.hpp"
#include "vaegan/train/callbacks/run_files.hpp"
#include "vaegan/train/fit.hpp"

namespace vaegan {

class LossLog {
 public:
  explicit LossLog(std::string dir, std::string title = "training losses")
      : files_(std::move(dir)), title_(std::move(title)) {}

  std::string csv_path() const { return files_.path("losses.csv"); }
  std::string svg_path() const { return files_.path("losses.svg"); }

  template <class Run>
  void on_fit_begin(Run& run) {
    using Trainer = std::decay_t<decltype(run.trainer)>;
    writes_ = run.writes_output();
    if (!writes_) return;
    files_.create("LossLog");
    std::vector<std::string> columns{"epoch", "step", "train_seconds"};
    columns.insert(columns.end(), Trainer::kStatNames, Trainer::kStatNames + Trainer::kStatCount);
    previous_seconds_ = 0.0;
    if (run.first_step == 0) std::filesystem::remove(csv_path());
    else keep_rows_up_to(run.first_step, columns);
    csv_.emplace(csv_path(), columns);
  }

  template <class Run>
  void on_epoch(Run&, const EpochEvent& e) {
    if (!writes_) return;
    std::vector<double> row{static_cast<double>(e.epoch), static_cast<double>(e.step),
                            previous_seconds_ + e.train_seconds};
    for (int i = 0; i < e.mean_stats.size(); ++i) row.push_back(e.mean_stats.value(i));
    csv_->append(row);
    plot();
  }

  // Whether a statistic is drawn on the loss plot: rates (a flag's mean) and gradient
  // norms have other scales.
  static bool plotted(const std::string& name) {
    if (name == "d_updated" || name == "dec_updated" || name == "d_gated" || name == "dec_gated") return false;
    return name.rfind("gnorm_", 0) != 0;
  }

  // The loss curves of a losses.csv as an SVG document (TrainingReport draws them too).
  static std::string plot_svg(const CsvTable& table, const std::string& title) {
    LinePlot plot;
    plot.set_title(title).set_x_label("epoch").set_y_label("epoch mean (log scale)").set_log_y(true);
    const std::vector<double> epochs = table.column("epoch");
    for (std::size_t c = 3; c < table.columns.size(); ++c)
      if (plotted(table.columns[c])) plot.add_series(table.columns[c], epochs, table.column(table.columns[c]));
    return plot.to_svg();
  }

 private:
  // A resumed run: rewrites the CSV with the rows of steps <= first_step (atomically).
  void keep_rows_up_to(std::int64_t first_step, const std::vector<std::string>& columns) {
    if (!std::filesystem::exists(csv_path())) return;
    const CsvTable table = read_csv(csv_path());
    if (table.columns != columns)
      throw IoError("LossLog: '" + csv_path() + "' has the columns [" + detail::join_columns(table.columns) +
                    "] but this trainer logs [" + detail::join_columns(columns) +
                    "]; resume into the folder of the same kind of run, or move the old file away");
    std::string text = detail::join_columns(columns) + "\n";
    bool dropped = false;
    for (const auto& row : table.rows) {
      if (row[1] > static_cast<double>(first_step)) {
        dropped = true;
        continue;
      }
      for (std::size_t i = 0; i < row.size(); ++i) text += (i ? "," : "") + detail::format_double(row[i]);
      text += "\n";
      previous_seconds_ = row[2];
    }
    if (dropped) detail::write_file_atomically(csv_path(), text.data(), text.size(), "LossLog");
  }

  void plot() const {
    const std::string svg = plot_svg(read_csv(csv_path()), title_);
    detail::write_file_atomically(svg_path(), svg.data(), svg.size(), "LossLog");
  }

  RunFiles files_;
  std::string title_;
  bool writes_ = true;
  std::optional<CsvAppender> csv_;
  double previous_seconds_ = 0.0;  // train_seconds of the runs before this one
};

}  // namespace vaegan
