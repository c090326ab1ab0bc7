// make_tiny_mnist: writes a small MNIST-shaped dataset for the example-program tests, so
// they run anywhere without downloading MNIST.
//
//   make_tiny_mnist OUT_DIR [TRAIN_COUNT [TEST_COUNT [SEED]]] [--side N] [--png FILE]
//
// Image i shows digit i % 10 as a seven-segment figure drawn with soft, thick strokes,
// moved, scaled and slanted at random: 28x28 greyscale digits with labels, in the four
// IDX files of MNIST's names (train-*-idx?-ubyte, t10k-*-idx?-ubyte).
// --side N writes N x N images instead (the 28x28 digit centred, cut or padded with
// black), for the tests of data that does not fit the model; --png FILE also writes a
// grid of the first training images as a PNG (a file that is not IDX, for those tests).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "vaegan/core/rng.hpp"
#include "vaegan/core/tensor.hpp"
#include "vaegan/data/idx.hpp"
#include "vaegan/io/image_grid.hpp"

namespace {

constexpr int kSide = 28;

// The segments of a seven-segment display on a unit box (x right, y down):
// a top, b top right, c bottom right, d bottom, e bottom left, f top left, g middle.
struct Segment {
  double x0, y0, x1, y1;
};
constexpr Segment kSegments[7] = {{0, 0, 1, 0},   {1, 0, 1, 0.5}, {1, 0.5, 1, 1},  {0, 1, 1, 1},
                                  {0, 0.5, 0, 1}, {0, 0, 0, 0.5}, {0, 0.5, 1, 0.5}};
// Bit s set: digit d lights segment s (a = bit 0 ... g = bit 6).
constexpr unsigned kDigitSegments[10] = {0x3f, 0x06, 0x5b, 0x4f, 0x66, 0x6d, 0x7d, 0x07, 0x7f, 0x6f};

double distance_to_segment(double px, double py, double x0, double y0, double x1, double y1) {
  const double dx = x1 - x0, dy = y1 - y0;
  const double len2 = dx * dx + dy * dy;
  const double t = len2 > 0 ? std::clamp(((px - x0) * dx + (py - y0) * dy) / len2, 0.0, 1.0) : 0.0;
  return std::hypot(px - (x0 + t * dx), py - (y0 + t * dy));
}

// Draws digit `d` into pixels[0..784) with a random placement from `rng`.
void draw_digit(int d, vaegan::Rng& rng, std::uint8_t* pixels) {
  const double width = rng.uniform(8.0, 12.0), height = rng.uniform(14.0, 18.0);
  const double left = rng.uniform(4.0, kSide - 4.0 - width), top = rng.uniform(4.0, kSide - 4.0 - height);
  const double slant = rng.uniform(-0.25, 0.25), thickness = rng.uniform(1.2, 2.0);
  auto at = [&](double ux, double uy, double& x, double& y) {
    y = top + uy * height;
    x = left + ux * width + slant * (uy - 0.5) * height;
  };
  for (int r = 0; r < kSide; ++r)
    for (int c = 0; c < kSide; ++c) {
      double nearest = 1e9;
      for (int s = 0; s < 7; ++s) {
        if (!(kDigitSegments[d] & (1u << s))) continue;
        double x0, y0, x1, y1;
        at(kSegments[s].x0, kSegments[s].y0, x0, y0);
        at(kSegments[s].x1, kSegments[s].y1, x1, y1);
        nearest = std::min(nearest, distance_to_segment(c + 0.5, r + 0.5, x0, y0, x1, y1));
      }
      // Full ink inside the stroke, a one-pixel ramp at its edge, as MNIST's anti-aliasing.
      const double ink = std::clamp(thickness + 0.5 - nearest, 0.0, 1.0);
      pixels[r * kSide + c] = static_cast<std::uint8_t>(std::lround(255.0 * ink));
    }
}

// Writes a split of `count` side x side images; returns them.
vaegan::IdxImages write_split(const std::filesystem::path& dir, const std::string& prefix, vaegan::Index count,
                              vaegan::Index side, vaegan::Rng& rng) {
  vaegan::IdxImages images;
  images.count = count;
  images.rows = side;
  images.cols = side;
  images.pixels.assign(static_cast<std::size_t>(count * side * side), 0);
  vaegan::IdxLabels labels;
  labels.labels.resize(static_cast<std::size_t>(count));
  std::uint8_t digit28[kSide * kSide];
  const vaegan::Index offset = (side - kSide) / 2;  // where the 28x28 digit goes (negative: cut)
  for (vaegan::Index i = 0; i < count; ++i) {
    const int digit = static_cast<int>(i % 10);
    labels.labels[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(digit);
    draw_digit(digit, rng, digit28);
    std::uint8_t* out = images.pixels.data() + i * side * side;
    for (vaegan::Index r = 0; r < side; ++r)
      for (vaegan::Index c = 0; c < side; ++c) {
        const vaegan::Index sr = r - offset, sc = c - offset;
        if (sr >= 0 && sr < kSide && sc >= 0 && sc < kSide) out[r * side + c] = digit28[sr * kSide + sc];
      }
  }
  vaegan::write_idx_images((dir / (prefix + "-images-idx3-ubyte")).string(), images);
  vaegan::write_idx_labels((dir / (prefix + "-labels-idx1-ubyte")).string(), labels);
  return images;
}

long parse_count(const char* text, const char* what) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (*end != '\0' || v < 1 || v > 100000) {
    std::cerr << "make_tiny_mnist: " << what << " must be 1..100000, got '" << text << "'\n";
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  const char* usage = "usage: make_tiny_mnist OUT_DIR [TRAIN_COUNT [TEST_COUNT [SEED]]] [--side N] [--png FILE]\n";
  std::vector<std::string> positional;
  long side = kSide;
  std::string png;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--side" || a == "--png") && i + 1 < argc) {
      if (a == "--side") {
        side = parse_count(argv[++i], "--side");
        if (side > 256) {
          std::cerr << "make_tiny_mnist: --side must be 1..256\n";
          return 2;
        }
      } else {
        png = argv[++i];
      }
    } else if (a.rfind("--", 0) == 0) {
      std::cerr << usage;
      return 2;
    } else {
      positional.push_back(a);
    }
  }
  if (positional.empty() || positional.size() > 4) {
    std::cerr << usage;
    return 2;
  }
  const std::filesystem::path dir = positional[0];
  const long train = positional.size() > 1 ? parse_count(positional[1].c_str(), "TRAIN_COUNT") : 256;
  const long test = positional.size() > 2 ? parse_count(positional[2].c_str(), "TEST_COUNT") : 64;
  const long seed = positional.size() > 3 ? parse_count(positional[3].c_str(), "SEED") : 1;
  try {
    std::filesystem::create_directories(dir);
    vaegan::Rng rng(static_cast<std::uint64_t>(seed));
    const vaegan::IdxImages first = write_split(dir, "train", train, side, rng);
    write_split(dir, "t10k", test, side, rng);
    if (!png.empty()) {
      const vaegan::Index shown = std::min<vaegan::Index>(first.count, 16);
      vaegan::Tensor<float> images(vaegan::Shape::matrix(shown, side * side));
      for (vaegan::Index i = 0; i < images.numel(); ++i) images[i] = first.pixels[static_cast<std::size_t>(i)] / 255.0f;
      vaegan::ImageGridOptions grid;
      grid.height = side;
      grid.width = side;
      vaegan::write_image_grid(png, images, grid);
    }
  } catch (const std::exception& e) {
    std::cerr << "make_tiny_mnist: " << e.what() << "\n";
    return 1;
  }
  std::cout << "make_tiny_mnist: " << train << " training and " << test << " test images of " << side << "x" << side
            << " in " << dir.string() << "\n";
  return 0;
}
