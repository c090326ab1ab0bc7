#pragma once
// TrainingReport: DIR/report.html, a training report to open in a browser, like
// TensorBoard without a server. It is a view of the folder: it shows what the other
// callbacks wrote there (run_files.hpp), found by name, with relative links, so the folder
// can be moved or copied as a whole:
//   - the status: step, epoch, training time, running or finished (and why it stopped);
//   - the loss curves (LossLog's losses.svg) and the last epoch's means (losses.csv);
//   - sample quality (ScoreSamples' metrics.svg and its last rows), when it is measured;
//   - the samples over time (SampleGrid's series): a slider over every frame and a strip
//     of up to 24 of them, and the reconstructions likewise;
//   - the run's settings: the trainer, its networks, and what the caller adds.
// It is rewritten atomically after every epoch and when fit() ends (put it after the
// callbacks whose files it shows), so a browser never reads half a page, and a run that
// fails before its first epoch ends leaves an earlier run's report as it was;
// while the run goes on, the page reloads itself every 30 s. The page needs no network
// and reports images that failed to load in the page itself. Under mpirun only the first
// process writes.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "vaegan/core/format.hpp"
#include "vaegan/io/atomic_file.hpp"
#include "vaegan/io/csv.hpp"
#include "vaegan/train/callbacks/run_files.hpp"
#include "vaegan/train/fit.hpp"

namespace vaegan {

using ReportSettings = std::vector<std::pair<std::string, std::string>>;

namespace detail {
// A file name as a JavaScript string literal (names come from RunFiles: [a-z0-9_.]).
inline std::string js_string(const std::string& s) {
  std::string o = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (c == '<') o += "\\x3c";
    else o += c;
  }
  return o + "\"";
}
}  // namespace detail

class TrainingReport {
 public:
  explicit TrainingReport(std::string dir, std::string title = "vaegan training", ReportSettings settings = {})
      : files_(std::move(dir)), title_(std::move(title)), settings_(std::move(settings)) {}

  std::string path() const { return files_.path("report.html"); }

  template <class Run>
  void on_fit_begin(Run& run) {
    writes_ = run.writes_output();
    if (!writes_) return;
    files_.create("TrainingReport");
    run_settings_ = trainer_settings(run.trainer);
    status_ = Status{run.trainer.step(), run.trainer.epoch(), 0.0, false, ""};
  }
  template <class Run>
  void on_epoch(Run&, const EpochEvent& e) {
    if (!writes_) return;
    status_ = Status{e.step, e.epoch, e.train_seconds, false, ""};
    write();
  }
  template <class Run>
  void on_fit_end(Run&, const FitEndEvent& e) {
    if (!writes_) return;
    status_ = Status{e.step, e.epoch, e.train_seconds, true, fit_end_name(e.reason)};
    write();
  }

  // The page for the folder's current files (what the callbacks write); public for tests
  // and for programs that build a report after the fact.
  std::string render() const {
    std::string h;
    h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    if (!status_.finished) h += "<meta http-equiv=\"refresh\" content=\"30\">\n";
    h += "<link rel=\"icon\" href=\"data:,\">\n";  // no favicon request
    h += "<title>" + detail::xml_escape(title_) + "</title>\n<style>\n" + style() + "</style>\n</head>\n<body>\n";
    h += "<h1>" + detail::xml_escape(title_) + "</h1>\n";
    h += "<p id=\"status\">" + status_text() + "</p>\n";
    h += "<p id=\"broken\" hidden></p>\n";
    h += losses_section();
    h += metrics_section();
    std::string frames_js;
    h += series_section("samples", "Samples", "the same latent codes decoded at each point", frames_js);
    h += series_section("recon", "Reconstructions", "real images (odd rows) above their reconstructions", frames_js);
    h += settings_section();
    h += "<script>\nconst frames = {" + frames_js + "};\n" + script() + "</script>\n</body>\n</html>\n";
    return h;
  }

 private:
  struct Status {
    std::int64_t step = 0, epoch = 0;
    double train_seconds = 0.0;
    bool finished = false;
    std::string end;
  };

  void write() const {
    const std::string page = render();
    detail::write_file_atomically(path(), page.data(), page.size(), "TrainingReport");
  }

  template <class Trainer>
  static ReportSettings trainer_settings(const Trainer& trainer) {
    ReportSettings s;
    s.emplace_back("trainer", Trainer::kKind);
    s.emplace_back("image shape", trainer.image_shape().str());
    s.emplace_back("latent dimension", std::to_string(trainer.latent_dim()));
    for (const auto& n : trainer.networks())
      s.emplace_back(n.name, std::to_string(n.structure.layers.size()) + " layers, " +
                                 std::to_string(n.params->size()) + " parameters");
    return s;
  }

  std::string status_text() const {
    char buf[200];
    std::snprintf(buf, sizeof buf, "step %lld, epoch %lld, %.1f s of training this run",
                  static_cast<long long>(status_.step), static_cast<long long>(status_.epoch), status_.train_seconds);
    std::string s = buf;
    s += status_.finished ? " &mdash; <b>finished</b> (" + detail::xml_escape(status_.end) + ")"
                          : " &mdash; <b>running</b> (this page reloads every 30 s)";
    const std::time_t now = std::time(nullptr);
    char when[64];
    if (std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&now)) > 0)
      s += "; written " + std::string(when);
    return s;
  }

  bool exists(const std::string& name) const {
    std::error_code ec;
    return std::filesystem::exists(files_.path(name), ec);
  }

  // The last row of a CSV as a two-row table (names, values); empty if it has no rows.
  std::string last_row_table(const std::string& csv_name, std::size_t first_column) const {
    if (!exists(csv_name)) return "";
    CsvTable t;
    try {
      t = read_csv(files_.path(csv_name));
    } catch (const IoError&) {
      return "<p>" + csv_name + " could not be read.</p>\n";
    }
    if (t.rows.empty()) return "";
    std::string h = "<table class=\"row\"><tr>";
    for (std::size_t c = first_column; c < t.columns.size(); ++c)
      h += "<th>" + detail::xml_escape(t.columns[c]) + "</th>";
    h += "</tr><tr>";
    for (std::size_t c = first_column; c < t.columns.size(); ++c)
      h += "<td>" + short_number(t.rows.back()[c]) + "</td>";
    return h + "</tr></table>\n";
  }

  std::string losses_section() const {
    std::string h = "<section id=\"losses\">\n<h2>Losses</h2>\n";
    if (exists("losses.svg")) h += "<img class=\"plot\" src=\"losses.svg\" alt=\"loss curves\">\n";
    else h += "<p>No epoch has finished yet (LossLog writes losses.svg after each).</p>\n";
    const std::string last = last_row_table("losses.csv", 0);
    if (!last.empty()) h += "<p>Last epoch's means (<a href=\"losses.csv\">losses.csv</a>):</p>\n" + last;
    return h + "</section>\n";
  }

  std::string metrics_section() const {
    if (!exists("metrics.csv")) return "";
    std::string h = "<section id=\"metrics\">\n<h2>Sample quality</h2>\n";
    if (exists("metrics.svg")) h += "<img class=\"plot\" src=\"metrics.svg\" alt=\"FID over training\">\n";
    const std::string last = last_row_table("metrics.csv", 0);
    if (!last.empty()) h += "<p>Last scoring (<a href=\"metrics.csv\">metrics.csv</a>):</p>\n" + last;
    return h + "</section>\n";
  }

  // Six significant digits: a table to read, not to parse (the CSV has every digit).
  static std::string short_number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
  }

  static std::string frame_label(const RunImage& f) { return (f.by_step ? "step " : "epoch ") + std::to_string(f.at); }

  // A slider over every frame of a series, and a strip of up to 24 evenly spaced frames.
  std::string series_section(const std::string& series, const std::string& heading, const std::string& what,
                             std::string& frames_js) const {
    const std::vector<RunImage> frames = files_.series(series);
    if (frames.empty()) {
      if (series == "samples" && exists("samples.png"))
        return "<section id=\"samples\">\n<h2>Samples</h2>\n<img class=\"frame\" src=\"samples.png\" alt=\"samples\">\n"
               "</section>\n";
      return "";
    }
    if (!frames_js.empty()) frames_js += ",";
    frames_js += series + ":[";
    for (std::size_t i = 0; i < frames.size(); ++i)
      frames_js += std::string(i ? "," : "") + "[" + detail::js_string(frames[i].file) + "," +
                   detail::js_string(frame_label(frames[i])) + "]";
    frames_js += "]";
    const RunImage& last = frames.back();
    const std::string n = std::to_string(frames.size());
    std::string h = "<section id=\"" + series + "\">\n<h2>" + heading + "</h2>\n<p>" + what + ", " + n +
                    (frames.size() == 1 ? " frame" : " frames") + ".</p>\n";
    h += "<div class=\"viewer\"><img class=\"frame\" id=\"" + series + "-frame\" src=\"" + last.file + "\" alt=\"" +
         heading + " at " + frame_label(last) + "\">\n";
    h += "<div><input type=\"range\" id=\"" + series + "-slider\" data-series=\"" + series + "\" min=\"0\" max=\"" +
         std::to_string(frames.size() - 1) + "\" value=\"" + std::to_string(frames.size() - 1) + "\" aria-label=\"" +
         heading + " frame\"> <span id=\"" + series + "-label\">" + frame_label(last) + "</span></div></div>\n";
    h += "<div class=\"strip\">\n";
    const std::size_t shown = std::min<std::size_t>(frames.size(), 24);
    for (std::size_t k = 0; k < shown; ++k) {
      const std::size_t i = shown == 1 ? 0 : k * (frames.size() - 1) / (shown - 1);
      h += "<figure><img src=\"" + frames[i].file + "\" alt=\"" + frame_label(frames[i]) + "\"><figcaption>" +
           frame_label(frames[i]) + "</figcaption></figure>\n";
    }
    return h + "</div>\n</section>\n";
  }

  std::string settings_section() const {
    std::string h = "<section id=\"settings\">\n<h2>Settings</h2>\n<table class=\"settings\">\n";
    for (const auto* list : {&settings_, &run_settings_})
      for (const auto& [key, value] : *list)
        h += "<tr><th>" + detail::xml_escape(key) + "</th><td>" + detail::xml_escape(value) + "</td></tr>\n";
    return h + "</table>\n</section>\n";
  }

  static std::string style() {
    return "body{font-family:sans-serif;margin:1.5em auto;max-width:1100px;padding:0 1em;color:#222}\n"
           "h2{border-bottom:1px solid #ccc;padding-bottom:.2em}\n"
           "img.plot{max-width:100%;border:1px solid #ddd}\n"
           "img.frame{image-rendering:pixelated;max-width:100%;border:1px solid #ddd}\n"
           ".viewer input{width:min(600px,90%)}\n"
           ".strip{display:flex;flex-wrap:wrap;gap:.5em}\n"
           ".strip figure{margin:0;text-align:center;font-size:80%}\n"
           ".strip img{width:120px;image-rendering:pixelated;border:1px solid #ddd}\n"
           "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left}\n"
           "#broken{color:#a00;font-weight:bold}\n";
  }

  // The sliders, and a visible note (and data-broken-images) for images that did not load.
  static std::string script() {
    return "for (const slider of document.querySelectorAll('input[type=range][data-series]')) {\n"
           "  const series = slider.dataset.series;\n"
           "  slider.addEventListener('input', () => {\n"
           "    const [file, label] = frames[series][Number(slider.value)];\n"
           "    document.getElementById(series + '-frame').src = file;\n"
           "    document.getElementById(series + '-label').textContent = label;\n"
           "  });\n"
           "}\n"
           "window.addEventListener('load', () => {\n"
           "  const images = Array.from(document.images);\n"
           "  const broken = images.filter((img) => !img.complete || img.naturalWidth === 0);\n"
           "  document.body.dataset.images = String(images.length);\n"
           "  document.body.dataset.brokenImages = String(broken.length);\n"
           "  if (broken.length > 0) {\n"
           "    const note = document.getElementById('broken');\n"
           "    note.textContent = broken.length + ' image(s) could not be loaded: ' +\n"
           "        broken.map((img) => img.getAttribute('src')).join(', ');\n"
           "    note.hidden = false;\n"
           "  }\n"
           "});\n";
  }

  RunFiles files_;
  std::string title_;
  ReportSettings settings_;
  ReportSettings run_settings_;
  bool writes_ = true;
  Status status_;
};

}  // namespace vaegan
