// Tests of io/csv.hpp and io/svg_plot.hpp.
#include <doctest/doctest.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "test_util.hpp"
#include "vaegan/io/csv.hpp"
#include "vaegan/io/svg_plot.hpp"

using vaegan::CsvAppender;
using vaegan::LinePlot;
using vaegan_test::TempDir;

namespace {

using vaegan::test::same_bits;

std::string read_text(const std::string& path) {
  const auto bytes = vaegan_test::read_all(path);
  return std::string(bytes.begin(), bytes.end());
}

// A minimal XML well-formedness check: one root element, every tag closed in order,
// attribute values quoted, '&' only as an entity, '<' never inside text.
bool well_formed_xml(const std::string& s, std::string& why) {
  auto fail = [&why](std::string reason) {
    why = std::move(reason);
    return false;
  };
  std::vector<std::string> stack;
  std::size_t i = 0;
  int roots = 0;
  while (i < s.size()) {
    if (s[i] == '&') {
      const auto semi = s.find(';', i);
      const std::string ent = semi == std::string::npos ? "" : s.substr(i, semi - i + 1);
      if (ent != "&amp;" && ent != "&lt;" && ent != "&gt;" && ent != "&quot;" && ent != "&apos;") {
        return fail("bare '&' at " + std::to_string(i));
      }
      i = semi + 1;
      continue;
    }
    if (s[i] != '<') {
      if (stack.empty() && !std::isspace(static_cast<unsigned char>(s[i]))) {
        return fail("text outside the root at " + std::to_string(i));
      }
      ++i;
      continue;
    }
    if (s.compare(i, 2, "<?") == 0) {
      const auto e = s.find("?>", i);
      if (e == std::string::npos) return fail("unterminated <?");
      i = e + 2;
      continue;
    }
    const bool closing = i + 1 < s.size() && s[i + 1] == '/';
    std::size_t j = i + (closing ? 2 : 1);
    std::string name;
    while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '-' || s[j] == ':'))
      name += s[j++];
    if (name.empty()) return fail("tag without a name at " + std::to_string(i));
    // Attributes: name="value" pairs; quoted values may contain '>' but not '<' or a bare '&'.
    bool self_closing = false;
    for (;;) {
      while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
      if (j >= s.size()) return fail("unterminated tag " + name);
      if (s[j] == '>') {
        ++j;
        break;
      }
      if (s[j] == '/' && j + 1 < s.size() && s[j + 1] == '>') {
        self_closing = true;
        j += 2;
        break;
      }
      if (closing) return fail("attributes on a closing tag");
      while (j < s.size() && s[j] != '=' && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
      if (j + 1 >= s.size() || s[j] != '=' || s[j + 1] != '"') return fail("unquoted attribute in " + name);
      const auto close = s.find('"', j + 2);
      if (close == std::string::npos) return fail("unterminated attribute");
      const std::string value = s.substr(j + 2, close - j - 2);
      if (value.find('<') != std::string::npos) return fail("'<' in an attribute");
      for (std::size_t a = value.find('&'); a != std::string::npos; a = value.find('&', a + 1))
        if (value.compare(a, 5, "&amp;") != 0 && value.compare(a, 4, "&lt;") != 0 && value.compare(a, 4, "&gt;") != 0 &&
            value.compare(a, 6, "&quot;") != 0 && value.compare(a, 6, "&apos;") != 0)
          return fail("bare '&' in an attribute");
      j = close + 1;
    }
    if (closing) {
      if (stack.empty() || stack.back() != name) return fail("mismatched </" + name + ">");
      stack.pop_back();
    } else if (!self_closing) {
      if (stack.empty()) ++roots;
      stack.push_back(name);
    } else if (stack.empty()) {
      ++roots;
    }
    i = j;
  }
  if (!stack.empty()) return fail("unclosed <" + stack.back() + ">");
  if (roots != 1) return fail(std::to_string(roots) + " root elements");
  return true;
}

// Polylines and dots of one series: number of elements and of points, all points' coordinates.
struct SeriesMarks {
  int polylines = 0, dots = 0, points = 0;
  std::vector<double> xs, ys;
};

SeriesMarks marks_of(const std::string& svg, const std::string& escaped_name) {
  SeriesMarks m;
  const std::string key = "data-series=\"" + escaped_name + "\"";
  for (std::size_t at = svg.find(key); at != std::string::npos; at = svg.find(key, at + 1)) {
    const std::size_t tag = svg.rfind('<', at);
    const std::size_t end = svg.find('>', at);
    const std::string element = svg.substr(tag, end - tag);
    if (element.compare(0, 9, "<polyline") == 0) {
      ++m.polylines;
      const std::size_t p = element.find("points=\"") + 8;
      const std::string pts = element.substr(p, element.find('"', p) - p);
      std::size_t k = 0;
      while (k < pts.size()) {
        std::size_t next = pts.find(' ', k);
        if (next == std::string::npos) next = pts.size();
        const std::string pair = pts.substr(k, next - k);
        const auto comma = pair.find(',');
        m.xs.push_back(std::stod(pair.substr(0, comma)));
        m.ys.push_back(std::stod(pair.substr(comma + 1)));
        ++m.points;
        k = next + 1;
      }
    } else if (element.compare(0, 7, "<circle") == 0) {
      ++m.dots;
      ++m.points;
    }
  }
  return m;
}

}  // namespace

TEST_CASE("csv: format_double is the shortest text that reads back exactly") {
  CHECK(vaegan::detail::format_double(0.1) == "0.1");
  CHECK(vaegan::detail::format_double(3.0) == "3");
  CHECK(vaegan::detail::format_double(-2.5e-7) == "-2.5e-07");
  for (const double v : {1.0 / 3.0, 2.0 / 3.0, 1e-300, 4.9e-324, 1.7976931348623157e308, -0.0, 123456789.123}) {
    double back = 0;
    REQUIRE(vaegan::detail::parse_double(vaegan::detail::format_double(v), back));
    CHECK(same_bits(back, v));
  }
}

TEST_CASE("csv: appender writes the header once and rows round-trip bit for bit") {
  TempDir dir;
  const std::string path = dir.file("log.csv");
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const std::vector<std::vector<double>> rows = {
      {1, 0.1, 1.0 / 3.0}, {2, nan, -inf}, {3, 1e-300, -0.0}, {4, 0.30000000000000004, 6.02214076e23}};
  {
    CsvAppender log(path, {"epoch", "loss", "fid"});
    log.append(rows[0]);
    log.append(rows[1]);
  }
  {
    CsvAppender log(path, {"epoch", "loss", "fid"});  // a resumed run continues the file
    log.append(rows[2]);
    log.append(rows[3]);
  }
  const std::string text = read_text(path);
  CHECK(text.find("epoch,loss,fid\n") == 0);
  CHECK(text.find("epoch", 1) == std::string::npos);  // the header is not repeated
  const vaegan::CsvTable t = vaegan::read_csv(path);
  REQUIRE(t.num_rows() == 4);
  CHECK(t.columns == std::vector<std::string>{"epoch", "loss", "fid"});
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t c = 0; c < 3; ++c) {
      const double got = t.rows[r][c], want = rows[r][c];
      CHECK((std::isnan(want) ? std::isnan(got) : same_bits(got, want)));
    }
  const std::vector<double> fid = t.column("fid");
  CHECK(fid.size() == 4);
  CHECK(same_bits(fid[0], 1.0 / 3.0));
}

TEST_CASE("csv: a file with different columns is refused and left unchanged") {
  TempDir dir;
  const std::string path = dir.file("log.csv");
  {
    CsvAppender log(path, {"epoch", "loss"});
    log.append({1, 0.5});
  }
  const std::string before = read_text(path);
  try {
    CsvAppender log(path, {"epoch", "loss_d", "loss_g"});
    FAIL("expected IoError");
  } catch (const vaegan::IoError& e) {
    const std::string msg = e.what();
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("epoch,loss]") != std::string::npos);
    CHECK(msg.find("epoch,loss_d,loss_g") != std::string::npos);
  }
  CHECK(read_text(path) == before);
}

TEST_CASE("csv: an empty file gets a header; a partial last line from a crash is cut off") {
  TempDir dir;
  const std::string empty = dir.file("empty.csv");
  vaegan_test::write_all(empty, {});
  {
    CsvAppender log(empty, {"a", "b"});
    log.append({1, 2});
  }
  CHECK(read_text(empty) == "a,b\n1,2\n");

  const std::string partial = dir.file("partial.csv");
  const std::string content = "a,b\n1,2\n3,";
  vaegan_test::write_all(partial, std::vector<std::uint8_t>(content.begin(), content.end()));
  {
    CsvAppender log(partial, {"a", "b"});
    log.append({4, 5});
  }
  CHECK(read_text(partial) == "a,b\n1,2\n4,5\n");

  const std::string half_header = dir.file("half.csv");
  const std::string hh = "a,";
  vaegan_test::write_all(half_header, std::vector<std::uint8_t>(hh.begin(), hh.end()));
  { CsvAppender log(half_header, {"a", "b"}); }
  CHECK(read_text(half_header) == "a,b\n");
}

TEST_CASE("csv: misuse and bad files give clear errors") {
  TempDir dir;
  const std::string path = dir.file("log.csv");
  CHECK_THROWS_AS(CsvAppender(path, {}), vaegan::Error);
  CHECK_THROWS_AS(CsvAppender(path, {"a,b"}), vaegan::Error);
  CHECK_THROWS_AS(CsvAppender(path, {""}), vaegan::Error);
  CHECK_THROWS_AS(CsvAppender(dir.file("missing/log.csv"), {"a"}), vaegan::IoError);
  {
    CsvAppender log(path, {"a", "b"});
    CHECK_THROWS_AS(log.append({1}), vaegan::Error);
  }
  CHECK_THROWS_WITH_AS(vaegan::read_csv(path).column("c"), doctest::Contains("no column 'c'"), vaegan::IoError);
  CHECK_THROWS_AS(vaegan::read_csv(dir.file("nope.csv")), vaegan::IoError);

  const std::string bad = dir.file("bad.csv");
  const std::string text = "a,b\n1,2\n3,x\n";
  vaegan_test::write_all(bad, std::vector<std::uint8_t>(text.begin(), text.end()));
  CHECK_THROWS_WITH_AS(vaegan::read_csv(bad), doctest::Contains("line 3, column 'b'"), vaegan::IoError);
  const std::string ragged = dir.file("ragged.csv");
  const std::string rtext = "a,b\r\n1,2\r\n\r\n3\r\n";
  vaegan_test::write_all(ragged, std::vector<std::uint8_t>(rtext.begin(), rtext.end()));
  CHECK_THROWS_WITH_AS(vaegan::read_csv(ragged), doctest::Contains("line 4 has 1 fields"), vaegan::IoError);
}

TEST_CASE("svg_plot: nice ticks cover the data with 1, 2 or 5 times a power of ten") {
  const double ranges[][2] = {{0.13, 0.97}, {0, 1}, {-3.7, 12.2}, {1e-4, 3e-4}, {17, 1234567}, {-5, -5}, {0, 0}};
  for (const auto& r : ranges) {
    const vaegan::detail::Axis a = vaegan::detail::linear_axis(r[0], r[1]);
    CAPTURE(r[0]);
    CAPTURE(r[1]);
    REQUIRE(a.ticks.size() >= 3);
    CHECK(a.ticks.size() <= 11);
    CHECK(a.lo <= r[0]);
    CHECK(a.hi >= r[1]);
    CHECK(a.lo < a.hi);
    const double step = a.ticks[1] - a.ticks[0];
    const double mantissa = step / std::pow(10.0, std::floor(std::log10(step)));
    CHECK((std::fabs(mantissa - 1) < 1e-9 || std::fabs(mantissa - 2) < 1e-9 || std::fabs(mantissa - 5) < 1e-9));
    for (std::size_t i = 1; i < a.ticks.size(); ++i) CHECK(a.ticks[i] - a.ticks[i - 1] == doctest::Approx(step));
    CHECK(a.ticks.front() == doctest::Approx(a.lo));
    CHECK(a.ticks.back() == doctest::Approx(a.hi));
  }
  const vaegan::detail::Axis a = vaegan::detail::linear_axis(0.13, 0.97);
  CHECK(a.labels == std::vector<std::string>{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"});
  const vaegan::detail::Axis l = vaegan::detail::log_axis(2e-3, 40);
  CHECK(l.labels == std::vector<std::string>{"0.001", "0.01", "0.1", "1", "10", "100"});
  CHECK(vaegan::detail::log_axis(2, 7).labels == std::vector<std::string>{"1", "2", "5", "10"});
}

TEST_CASE("svg_plot: valid SVG with every series, its points, gaps at NaN and escaped names") {
  TempDir dir;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> x, a, b;
  for (int i = 0; i < 20; ++i) {
    x.push_back(i);
    a.push_back(1.0 / (1 + i));
    b.push_back(i == 7 || i == 8 ? nan : 0.5 + 0.01 * i);
  }
  b[19] = std::numeric_limits<double>::infinity();
  b[17] = nan;  // leaves i = 18 alone: drawn as a dot
  LinePlot plot;
  plot.set_title("Losses <mlp>").set_x_label("epoch").set_y_label("loss");
  plot.add_series("loss_D", x, a).add_series("rec & KL", x, b);
  plot.save(dir.file("p.svg"));
  CHECK(dir.entries() == std::vector<std::string>{"p.svg"});
  const std::string svg = read_text(dir.file("p.svg"));
  std::string why;
  CHECK_MESSAGE(well_formed_xml(svg, why), why);
  CHECK(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\"") != std::string::npos);
  CHECK(svg.find("Losses &lt;mlp&gt;") != std::string::npos);
  CHECK(svg.find(">loss_D</text>") != std::string::npos);  // legend entries
  CHECK(svg.find(">rec &amp; KL</text>") != std::string::npos);

  const SeriesMarks ma = marks_of(svg, "loss_D");
  CHECK(ma.polylines == 1);
  CHECK(ma.points == 20);
  // b: points 0-6, 9-16, then 18 alone; 7, 8, 17 (NaN) and 19 (inf) are left out.
  const SeriesMarks mb = marks_of(svg, "rec &amp; KL");
  CHECK(mb.polylines == 2);
  CHECK(mb.dots == 1);
  CHECK(mb.points == 16);
  // Every point lies inside the plot frame, and loss_D falls: its y pixels grow.
  for (std::size_t i = 0; i < ma.xs.size(); ++i) {
    CHECK(ma.xs[i] >= 72.0);
    CHECK(ma.xs[i] <= 800.0 - 20.0);
    CHECK(ma.ys[i] >= 40.0);
    CHECK(ma.ys[i] <= 480.0 - 54.0);
    if (i > 0) CHECK(ma.ys[i] > ma.ys[i - 1]);
  }
}

TEST_CASE("svg_plot: log scale drops non-positive values; empty plots are still valid") {
  LinePlot plot;
  plot.set_log_y(true).add_series("fid", {0, 1, 2, 3, 4}, {300, 120, 0, -1, 35});
  const std::string svg = plot.to_svg();
  std::string why;
  CHECK_MESSAGE(well_formed_xml(svg, why), why);
  const SeriesMarks m = marks_of(svg, "fid");
  CHECK(m.points == 3);  // 0 and -1 cannot be drawn on a log axis
  CHECK(svg.find(">1000</text>") != std::string::npos);
  CHECK(svg.find(">10</text>") != std::string::npos);

  LinePlot empty;
  empty.add_series("nothing", {0, 1}, {std::nan(""), std::nan("")});
  const std::string e = empty.to_svg();
  CHECK_MESSAGE(well_formed_xml(e, why), why);
  CHECK(e.find("no data") != std::string::npos);
  CHECK(marks_of(e, "nothing").points == 0);

  CHECK_THROWS_AS(plot.add_series("bad", {1, 2}, {1}), vaegan::Error);
  CHECK_THROWS_AS(plot.set_size(10, 10), vaegan::Error);
}

TEST_CASE("svg_plot: plot_csv_columns plots a CSV log; unwritable paths throw IoError") {
  TempDir dir;
  {
    CsvAppender log(dir.file("log.csv"), {"epoch", "loss_d", "loss_g"});
    for (int e = 1; e <= 5; ++e) log.append({double(e), 1.0 / e, 0.5 + 0.1 * e});
  }
  vaegan::plot_csv_columns(dir.file("log.csv"), dir.file("loss.svg"), "epoch", {"loss_d", "loss_g"}, "GAN losses");
  const std::string svg = read_text(dir.file("loss.svg"));
  std::string why;
  CHECK_MESSAGE(well_formed_xml(svg, why), why);
  CHECK(marks_of(svg, "loss_d").points == 5);
  CHECK(marks_of(svg, "loss_g").points == 5);
  CHECK_THROWS_AS(vaegan::plot_csv_columns(dir.file("log.csv"), dir.file("x.svg"), "epoch", {"fid"}), vaegan::IoError);
  const std::string bad = dir.file("no/dir/p.svg");
  CHECK_THROWS_WITH_AS(LinePlot().save(bad), doctest::Contains(bad.c_str()), vaegan::IoError);
  CHECK_FALSE(dir.has_temp_files());
}
