#pragma once
// LinePlot: a dependency-free SVG line chart for loss curves and FID-over-time plots.
//
// Several named series of (x, y) points, axes with "nice" tick values (1, 2 or 5 times a
// power of ten, Heckbert's loose labelling: the axis ends on a tick), axis labels, a
// title, a legend in the top-right corner and an optional logarithmic y axis. Points
// whose x or y is NaN or infinite (or y <= 0 on a log axis) are not drawn: the line
// breaks there, so a gap shows where values are missing instead of a misleading segment.
// A point with no drawable neighbour is drawn as a dot.
//
// The SVG is plain SVG 1.1 (no scripts, no external fonts), written atomically.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/core/format.hpp"
#include "vaegan/io/atomic_file.hpp"
#include "vaegan/io/csv.hpp"

namespace vaegan {

namespace detail {

// A coordinate with two decimals, independent of the C locale.
inline std::string svg_num(double v) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed, 2);
  return std::string(buf, res.ptr);
}

// 1, 2, 5 or 10 times a power of ten near x (rounded, or the next one up).
inline double nice_number(double x, bool round) {
  const double e = std::floor(std::log10(x));
  const double f = x / std::pow(10.0, e);
  double nf;
  if (round) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nf * std::pow(10.0, e);
}

struct Axis {
  double lo = 0, hi = 1;      // axis range (log10 of the values on a log axis)
  std::vector<double> ticks;  // in axis units
  std::vector<std::string> labels;
};

inline std::string tick_label(double v, double step) {
  if (std::fabs(v) < step * 1e-9) v = 0;  // no "-0" or "2.7e-17" at the origin
  const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  char buf[64];
  if (std::fabs(v) >= 1e6 || decimals > 6)
    return std::string(buf, std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general, 4).ptr);
  return std::string(buf, std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed, decimals).ptr);
}

inline Axis linear_axis(double lo, double hi, int target_ticks = 6) {
  if (!(hi > lo)) {  // one value: widen around it
    const double d = lo != 0 ? std::fabs(lo) * 0.1 : 1.0;
    lo -= d, hi += d;
  }
  const double step = nice_number(nice_number(hi - lo, false) / (target_ticks - 1), true);
  Axis a;
  a.lo = std::floor(lo / step) * step;
  a.hi = std::ceil(hi / step) * step;
  const int n = static_cast<int>(std::lround((a.hi - a.lo) / step));
  for (int i = 0; i <= n; ++i) {
    const double v = a.lo + i * step;
    a.ticks.push_back(v);
    a.labels.push_back(tick_label(v, step));
  }
  return a;
}

// Decades from below lo to above hi (lo, hi > 0); 2x and 5x ticks too when it spans at most two.
inline Axis log_axis(double lo, double hi) {
  Axis a;
  a.lo = std::floor(std::log10(lo));
  a.hi = std::ceil(std::log10(hi));
  if (a.hi <= a.lo) a.hi = a.lo + 1;
  int span = static_cast<int>(a.hi - a.lo);
  const int every = std::max(1, (span + 5) / 6);  // at most about 6 labelled decades
  span = (span + every - 1) / every * every;      // end the axis on a labelled decade
  a.hi = a.lo + span;
  for (int e = static_cast<int>(a.lo); e <= static_cast<int>(a.hi); ++e) {
    for (const double m : {1.0, 2.0, 5.0}) {
      if (m != 1.0 && (span > 2 || e == static_cast<int>(a.hi))) continue;
      if (m == 1.0 && (e - static_cast<int>(a.lo)) % every != 0) continue;
      const double v = m * std::pow(10.0, e);
      char buf[32];
      a.ticks.push_back(std::log10(v));
      a.labels.push_back(std::string(buf, std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general, 6).ptr));
    }
  }
  return a;
}

}  // namespace detail

class LinePlot {
 public:
  struct Series {
    std::string name;
    std::vector<double> x, y;
  };

  LinePlot& set_title(std::string title) {
    title_ = std::move(title);
    return *this;
  }
  LinePlot& set_x_label(std::string label) {
    x_label_ = std::move(label);
    return *this;
  }
  LinePlot& set_y_label(std::string label) {
    y_label_ = std::move(label);
    return *this;
  }
  LinePlot& set_log_y(bool on) {
    log_y_ = on;
    return *this;
  }
  LinePlot& set_size(int width, int height) {
    if (width < 200 || height < 150)
      throw Error("LinePlot::set_size: " + std::to_string(width) + "x" + std::to_string(height) +
                  " is too small for axes and labels; use at least 200x150");
    width_ = width, height_ = height;
    return *this;
  }
  LinePlot& add_series(std::string name, std::vector<double> x, std::vector<double> y) {
    if (x.size() != y.size())
      throw Error("LinePlot::add_series: series '" + name + "' has " + std::to_string(x.size()) + " x values and " +
                  std::to_string(y.size()) + " y values; they must pair up");
    series_.push_back(Series{std::move(name), std::move(x), std::move(y)});
    return *this;
  }
  const std::vector<Series>& series() const { return series_; }

  std::string to_svg() const {
    using detail::svg_num;
    using detail::xml_escape;
    const double left = 72, right = 20, top = title_.empty() ? 20 : 40, bottom = x_label_.empty() ? 36 : 54;
    const double pw = width_ - left - right, ph = height_ - top - bottom;

    // Data ranges over the drawable points only.
    double x_lo = HUGE_VAL, x_hi = -HUGE_VAL, y_lo = HUGE_VAL, y_hi = -HUGE_VAL;
    for (const auto& s : series_)
      for (std::size_t i = 0; i < s.x.size(); ++i)
        if (drawable(s.x[i], s.y[i])) {
          x_lo = std::min(x_lo, s.x[i]), x_hi = std::max(x_hi, s.x[i]);
          y_lo = std::min(y_lo, s.y[i]), y_hi = std::max(y_hi, s.y[i]);
        }
    const bool empty = x_lo > x_hi;
    if (empty) x_lo = 0, x_hi = 1, y_lo = log_y_ ? 1 : 0, y_hi = log_y_ ? 10 : 1;
    const detail::Axis ax = detail::linear_axis(x_lo, x_hi);
    const detail::Axis ay = log_y_ ? detail::log_axis(y_lo, y_hi) : detail::linear_axis(y_lo, y_hi);
    auto px = [&](double x) { return left + (x - ax.lo) / (ax.hi - ax.lo) * pw; };
    auto py = [&](double y) { return top + ph - ((log_y_ ? std::log10(y) : y) - ay.lo) / (ay.hi - ay.lo) * ph; };
    auto py_axis = [&](double t) { return top + ph - (t - ay.lo) / (ay.hi - ay.lo) * ph; };

    std::string o;
    o += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    o += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + std::to_string(width_) +
         "\" height=\"" + std::to_string(height_) + "\" viewBox=\"0 0 " + std::to_string(width_) + " " +
         std::to_string(height_) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
    o += "<rect x=\"0\" y=\"0\" width=\"" + std::to_string(width_) + "\" height=\"" + std::to_string(height_) +
         "\" fill=\"white\"/>\n";
    o += "<defs><clipPath id=\"plot-area\"><rect x=\"" + svg_num(left) + "\" y=\"" + svg_num(top) + "\" width=\"" +
         svg_num(pw) + "\" height=\"" + svg_num(ph) + "\"/></clipPath></defs>\n";
    if (!title_.empty())
      o += "<text x=\"" + svg_num(width_ / 2.0) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" +
           xml_escape(title_) + "</text>\n";

    // Grid lines and tick labels.
    o += "<g stroke=\"#dddddd\" stroke-width=\"1\">\n";
    for (const double t : ax.ticks)
      o += "<line x1=\"" + svg_num(px(t)) + "\" y1=\"" + svg_num(top) + "\" x2=\"" + svg_num(px(t)) + "\" y2=\"" +
           svg_num(top + ph) + "\"/>\n";
    for (const double t : ay.ticks)
      o += "<line x1=\"" + svg_num(left) + "\" y1=\"" + svg_num(py_axis(t)) + "\" x2=\"" + svg_num(left + pw) +
           "\" y2=\"" + svg_num(py_axis(t)) + "\"/>\n";
    o += "</g>\n<g fill=\"#333333\">\n";
    for (std::size_t i = 0; i < ax.ticks.size(); ++i)
      o += "<text x=\"" + svg_num(px(ax.ticks[i])) + "\" y=\"" + svg_num(top + ph + 16) + "\" text-anchor=\"middle\">" +
           xml_escape(ax.labels[i]) + "</text>\n";
    for (std::size_t i = 0; i < ay.ticks.size(); ++i)
      o += "<text x=\"" + svg_num(left - 6) + "\" y=\"" + svg_num(py_axis(ay.ticks[i]) + 4) +
           "\" text-anchor=\"end\">" + xml_escape(ay.labels[i]) + "</text>\n";
    o += "</g>\n";
    o += "<rect x=\"" + svg_num(left) + "\" y=\"" + svg_num(top) + "\" width=\"" + svg_num(pw) + "\" height=\"" +
         svg_num(ph) + "\" fill=\"none\" stroke=\"#333333\"/>\n";
    if (!x_label_.empty())
      o += "<text x=\"" + svg_num(left + pw / 2) + "\" y=\"" + svg_num(height_ - 12.0) + "\" text-anchor=\"middle\">" +
           xml_escape(x_label_) + "</text>\n";
    if (!y_label_.empty())
      o += "<text x=\"16\" y=\"" + svg_num(top + ph / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
           svg_num(top + ph / 2) + ")\">" + xml_escape(y_label_) + "</text>\n";
    if (empty)
      o += "<text x=\"" + svg_num(left + pw / 2) + "\" y=\"" + svg_num(top + ph / 2) +
           "\" text-anchor=\"middle\" fill=\"#999999\">no data</text>\n";

    // Series: one polyline per run of drawable points.
    o += "<g clip-path=\"url(#plot-area)\" fill=\"none\" stroke-width=\"1.5\" stroke-linejoin=\"round\">\n";
    for (std::size_t k = 0; k < series_.size(); ++k) {
      const Series& s = series_[k];
      const std::string attrs = "data-series=\"" + xml_escape(s.name) + "\" stroke=\"" + color(k) + "\"" + dash(k);
      std::size_t i = 0;
      while (i < s.x.size()) {
        if (!drawable(s.x[i], s.y[i])) {
          ++i;
          continue;
        }
        std::size_t j = i;
        std::string points;
        for (; j < s.x.size() && drawable(s.x[j], s.y[j]); ++j) {
          if (j > i) points += ' ';
          points += svg_num(px(s.x[j]));
          points += ',';
          points += svg_num(py(s.y[j]));
        }
        if (j - i == 1)
          o += "<circle " + attrs + " fill=\"" + color(k) + "\" cx=\"" + svg_num(px(s.x[i])) + "\" cy=\"" +
               svg_num(py(s.y[i])) + "\" r=\"2\"/>\n";
        else o += "<polyline " + attrs + " points=\"" + points + "\"/>\n";
        i = j;
      }
    }
    o += "</g>\n";

    // Legend, top-right inside the plot area (losses and FID fall, so it is usually empty).
    if (!series_.empty()) {
      std::size_t longest = 0;
      for (const auto& s : series_) longest = std::max(longest, s.name.size());
      const double lw = 36 + 7.0 * static_cast<double>(longest), lh = 8 + 18.0 * static_cast<double>(series_.size());
      const double lx = left + pw - lw - 8, ly = top + 8;
      o += "<g>\n<rect x=\"" + svg_num(lx) + "\" y=\"" + svg_num(ly) + "\" width=\"" + svg_num(lw) + "\" height=\"" +
           svg_num(lh) + "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#999999\"/>\n";
      for (std::size_t k = 0; k < series_.size(); ++k) {
        const double y = ly + 15 + 18.0 * static_cast<double>(k);
        o += "<line x1=\"" + svg_num(lx + 6) + "\" y1=\"" + svg_num(y - 4) + "\" x2=\"" + svg_num(lx + 26) +
             "\" y2=\"" + svg_num(y - 4) + "\" stroke=\"" + color(k) + "\" stroke-width=\"2\"" + dash(k) + "/>\n";
        o += "<text x=\"" + svg_num(lx + 30) + "\" y=\"" + svg_num(y) + "\">" + xml_escape(series_[k].name) +
             "</text>\n";
      }
      o += "</g>\n";
    }
    o += "</svg>\n";
    return o;
  }

  void save(const std::string& path) const {
    const std::string svg = to_svg();
    detail::write_file_atomically(path, svg.data(), svg.size(), "LinePlot::save");
  }

 private:
  bool drawable(double x, double y) const { return std::isfinite(x) && std::isfinite(y) && (!log_y_ || y > 0); }
  // Matplotlib's tab10 colours; past ten series the cycle repeats dashed.
  static std::string color(std::size_t k) {
    static const char* const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    return palette[k % 10];
  }
  static std::string dash(std::size_t k) { return k >= 10 ? " stroke-dasharray=\"6 3\"" : ""; }

  std::string title_, x_label_, y_label_;
  bool log_y_ = false;
  int width_ = 800, height_ = 480;
  std::vector<Series> series_;
};

// Plots columns of a CSV log (e.g. the per-epoch log of a trainer) against one of its
// columns: plot_csv_columns("log.csv", "loss.svg", "epoch", {"loss_d", "loss_g"}).
inline void plot_csv_columns(const std::string& csv_path, const std::string& svg_path, const std::string& x_column,
                             const std::vector<std::string>& y_columns, const std::string& title = "",
                             bool log_y = false) {
  const CsvTable table = read_csv(csv_path);
  LinePlot plot;
  plot.set_title(title).set_x_label(x_column).set_log_y(log_y);
  if (y_columns.size() == 1) plot.set_y_label(y_columns[0]);
  const std::vector<double> x = table.column(x_column);
  for (const auto& name : y_columns) plot.add_series(name, x, table.column(name));
  plot.save(svg_path);
}

}  // namespace vaegan
