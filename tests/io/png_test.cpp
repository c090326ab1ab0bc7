// Tests of io/png.hpp and io/image_grid.hpp: files decode (read back with stb_image),
// grids have the documented size and layout, gray and RGB, writes are atomic, errors name
// the path.
#include "vaegan/io/png.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "vaegan/io/image_grid.hpp"

// The decoder, for the tests only; a private static copy like the library's encoder.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wshadow"
#endif
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
// Included after png.hpp: its include guard is set, so this adds nothing and the calls
// below use png.hpp's private static copy.
#include <stb_image_write.h>

using vaegan::ImageGridOptions;
using vaegan::Index;
using vaegan::Shape;
using vaegan::Tensor;
using vaegan_test::TempDir;

namespace {

struct Decoded {
  int width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;
  // Channel c of the pixel at (x, y).
  int at(int x, int y, int c = 0) const { return pixels[static_cast<std::size_t>((y * width + x) * channels + c)]; }
};

Decoded decode(const std::string& path) {
  Decoded d;
  unsigned char* p = stbi_load(path.c_str(), &d.width, &d.height, &d.channels, 0);
  REQUIRE_MESSAGE(p != nullptr, "stb_image could not decode " << path << ": " << stbi_failure_reason());
  d.pixels.assign(p, p + d.width * d.height * d.channels);
  stbi_image_free(p);
  return d;
}

int byte_of(double v) { return static_cast<int>(v * 255.0 + 0.5); }
// The byte a value of type T becomes (0.7f is not 0.7).
template <class T>
int byte_of_t(double v) {
  return byte_of(static_cast<double>(static_cast<T>(v)));
}

// n images of h*w pixels; image i is filled with value(i).
template <class T, class F>
Tensor<T> constant_images(Index n, Index h, Index w, F value) {
  Tensor<T> t(Shape{n, h * w});
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < h * w; ++k) t(i, k) = static_cast<T>(value(i));
  return t;
}

}  // namespace

TEST_CASE("png: write_png_gray round-trips every pixel") {
  TempDir dir;
  const int w = 7, h = 5;
  std::vector<std::uint8_t> px(w * h);
  for (int i = 0; i < w * h; ++i) px[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i * 7 % 256);
  vaegan::write_png_gray(dir.file("g.png"), px.data(), w, h);
  const Decoded d = decode(dir.file("g.png"));
  CHECK(d.width == w);
  CHECK(d.height == h);
  CHECK(d.channels == 1);
  CHECK(d.pixels == px);
  CHECK_FALSE(dir.has_temp_files());
}

TEST_CASE("png: write_png_rgb keeps channel order") {
  TempDir dir;
  const std::vector<std::uint8_t> px = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30};
  vaegan::write_png_rgb(dir.file("c.png"), px.data(), 2, 2);
  const Decoded d = decode(dir.file("c.png"));
  CHECK(d.channels == 3);
  CHECK(d.pixels == px);
}

TEST_CASE("png: invalid sizes are rejected before anything is written") {
  TempDir dir;
  const std::uint8_t px[4] = {};
  CHECK_THROWS_AS(vaegan::write_png_gray(dir.file("x.png"), px, 0, 2), vaegan::Error);
  CHECK_THROWS_AS(vaegan::write_png_gray(dir.file("x.png"), nullptr, 2, 2), vaegan::Error);
  CHECK_THROWS_AS(vaegan::encode_png(px, 1, 1, 2), vaegan::Error);
  CHECK(dir.entries().empty());
}

TEST_CASE("png: an unwritable path throws IoError naming the path and the cause") {
  TempDir dir;
  const std::uint8_t px[4] = {1, 2, 3, 4};
  const std::string path = dir.file("no/such/dir/x.png");
  try {
    vaegan::write_png_gray(path, px, 2, 2);
    FAIL("expected IoError");
  } catch (const vaegan::IoError& e) {
    const std::string msg = e.what();
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("No such file or directory") != std::string::npos);
    CHECK(msg.find("directory exists") != std::string::npos);
  }
  // A target that is a directory: the temporary is written, the rename fails, and the
  // temporary is removed again.
  std::filesystem::create_directory(dir.file("taken.png"));
  CHECK_THROWS_AS(vaegan::write_png_gray(dir.file("taken.png"), px, 2, 2), vaegan::IoError);
  CHECK_FALSE(dir.has_temp_files());
}

TEST_CASE("png: rewriting a file replaces it whole and leaves no temporary file") {
  TempDir dir;
  const std::string path = dir.file("r.png");
  const std::vector<std::uint8_t> a(16, 10), b(36, 200);
  vaegan::write_png_gray(path, a.data(), 4, 4);
  vaegan::write_png_gray(path, b.data(), 6, 6);
  const Decoded d = decode(path);
  CHECK(d.width == 6);
  CHECK(d.at(3, 3) == 200);
  CHECK(dir.entries() == std::vector<std::string>{"r.png"});
}

TEST_CASE_TEMPLATE("image_grid: size, tile placement, padding and empty cells", T, float, double) {
  TempDir dir;
  const Index n = 10;
  const Tensor<T> images = constant_images<T>(n, 28, 28, [](Index i) { return static_cast<double>(i) / 9.0; });
  ImageGridOptions opt;
  opt.columns = 4;
  vaegan::write_image_grid(dir.file("grid.png"), images, opt);
  const Decoded d = decode(dir.file("grid.png"));
  // 4 columns, 3 rows, 28-pixel images, 2 pixels of padding between and around.
  CHECK(d.width == 4 * 28 + 5 * 2);
  CHECK(d.height == 3 * 28 + 4 * 2);
  CHECK(d.channels == 1);
  const int pad = byte_of(opt.pad_value);
  for (int i = 0; i < 12; ++i) {
    const int x0 = 2 + (i % 4) * 30, y0 = 2 + (i / 4) * 30;
    const int expected = i < n ? byte_of_t<T>(i / 9.0) : pad;  // cells 10 and 11 stay padding
    CHECK(d.at(x0, y0) == expected);
    CHECK(d.at(x0 + 27, y0 + 27) == expected);
    CHECK(d.at(x0 + 13, y0 + 13) == expected);
  }
  CHECK(d.at(0, 0) == pad);
  CHECK(d.at(31, 10) == pad);  // between columns 0 and 1
  CHECK(d.at(10, 31) == pad);  // between rows 0 and 1

  // Default columns: a near-square grid, ceil(sqrt(10)) = 4 wide.
  vaegan::write_image_grid(dir.file("auto.png"), images);
  CHECK(decode(dir.file("auto.png")).width == d.width);
  CHECK_FALSE(dir.has_temp_files());
}

TEST_CASE("image_grid: any image size, and upscaling by an integer factor") {
  TempDir dir;
  Tensor<float> images(Shape{3, 4 * 5});
  for (Index i = 0; i < images.numel(); ++i) images[i] = static_cast<float>(i % 20) / 19.0f;
  ImageGridOptions opt;
  opt.height = 4;
  opt.width = 5;
  opt.columns = 3;
  opt.padding = 1;
  opt.scale = 3;
  vaegan::write_image_grid(dir.file("s.png"), images, opt);
  const Decoded d = decode(dir.file("s.png"));
  CHECK(d.width == 3 * (3 * 5 + 4 * 1));
  CHECK(d.height == 3 * (4 + 2 * 1));
  // Pixel (y, x) of image 1 covers a 3x3 block at ((1 + 6 + x) * 3, (1 + y) * 3).
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 5; ++x)
      for (int dy = 0; dy < 3; ++dy)
        for (int dx = 0; dx < 3; ++dx)
          CHECK(d.at((1 + 6 + x) * 3 + dx, (1 + y) * 3 + dy) == byte_of_t<float>((y * 5 + x) / 19.0));
}

TEST_CASE("image_grid: values are clamped; NaN is marked in magenta or drawn black") {
  TempDir dir;
  Tensor<float> images(Shape{1, 4}, {-3.0f, 7.0f, std::numeric_limits<float>::quiet_NaN(), 0.5f});
  ImageGridOptions opt;
  opt.height = 2;
  opt.width = 2;
  opt.padding = 0;
  vaegan::write_image_grid(dir.file("nan.png"), images, opt);
  Decoded d = decode(dir.file("nan.png"));
  REQUIRE(d.channels == 3);
  CHECK(d.at(0, 0, 0) == 0);
  CHECK(d.at(1, 0, 1) == 255);
  CHECK((d.at(0, 1, 0) == 255 && d.at(0, 1, 1) == 0 && d.at(0, 1, 2) == 255));
  CHECK((d.at(1, 1, 0) == 128 && d.at(1, 1, 1) == 128 && d.at(1, 1, 2) == 128));

  opt.mark_nan = false;
  vaegan::write_image_grid(dir.file("nan_gray.png"), images, opt);
  d = decode(dir.file("nan_gray.png"));
  CHECK(d.channels == 1);
  CHECK(d.at(0, 1) == 0);
  CHECK(d.at(1, 0) == 255);
}

TEST_CASE_TEMPLATE("image_grid: reconstruction grid puts each reconstruction under its image", T, float, double) {
  TempDir dir;
  const Index n = 5;
  const Tensor<T> real = constant_images<T>(n, 28, 28, [](Index i) { return 0.1 * static_cast<double>(i); });
  const Tensor<T> recon = constant_images<T>(n, 28, 28, [](Index i) { return 0.5 + 0.1 * static_cast<double>(i); });
  ImageGridOptions opt;
  opt.columns = 3;
  vaegan::write_reconstruction_grid(dir.file("rec.png"), real, recon, opt);
  const Decoded d = decode(dir.file("rec.png"));
  const int p = 2, gap = 6, block = 2 * 28 + p;
  CHECK(d.width == 3 * 28 + 4 * p);
  CHECK(d.height == 2 * p + 2 * block + gap);
  for (int i = 0; i < n; ++i) {
    const int x = p + (i % 3) * (28 + p), y = p + (i / 3) * (block + gap);
    CHECK(d.at(x + 5, y + 5) == byte_of_t<T>(0.1 * i));
    CHECK(d.at(x + 5, y + 28 + p + 5) == byte_of_t<T>(0.5 + 0.1 * i));
  }
  CHECK(d.at(p + 5, p + block + 1) == byte_of(opt.pad_value));  // the gap between blocks

  const Tensor<T> fewer = constant_images<T>(4, 28, 28, [](Index) { return 0.0; });
  CHECK_THROWS_AS(vaegan::write_reconstruction_grid(dir.file("bad.png"), real, fewer), vaegan::ShapeError);
}

TEST_CASE("image_grid: interpolation strip has one row per interpolation") {
  TempDir dir;
  const Index rows = 2, steps = 5;
  const Tensor<double> images =
      constant_images<double>(rows * steps, 28, 28, [](Index i) { return static_cast<double>(i % 5) / 4.0; });
  vaegan::write_interpolation_strip(dir.file("interp.png"), images, steps);
  const Decoded d = decode(dir.file("interp.png"));
  CHECK(d.width == 5 * 28 + 6 * 2);
  CHECK(d.height == 2 * 28 + 3 * 2);
  for (int r = 0; r < rows; ++r)
    for (int s = 0; s < steps; ++s) CHECK(d.at(2 + s * 30 + 14, 2 + r * 30 + 14) == byte_of(s / 4.0));
  CHECK_THROWS_AS(vaegan::write_interpolation_strip(dir.file("x.png"), images, 3), vaegan::ShapeError);
}

TEST_CASE("image_grid: wrong image size, bad options and empty input are errors") {
  TempDir dir;
  const Tensor<float> images(Shape{2, 784});
  ImageGridOptions opt;
  opt.width = 27;
  try {
    vaegan::write_image_grid(dir.file("x.png"), images, opt);
    FAIL("expected ShapeError");
  } catch (const vaegan::ShapeError& e) {
    CHECK(std::string(e.what()).find("784") != std::string::npos);
  }
  opt.width = 28;
  opt.scale = 0;
  CHECK_THROWS_AS(vaegan::write_image_grid(dir.file("x.png"), images, opt), vaegan::Error);
  CHECK_THROWS_AS(vaegan::write_image_grid(dir.file("x.png"), Tensor<float>()), vaegan::Error);
  CHECK(dir.entries().empty());
}

TEST_CASE("png: stb_image_write included after png.hpp uses the private copy") {
#ifndef VAEGAN_STB_IMAGE_WRITE_PRIVATE
  FAIL("png.hpp should have compiled a private stb copy in this translation unit");
#endif
  TempDir dir;
  const std::uint8_t px[6] = {0, 50, 100, 150, 200, 250};
  REQUIRE(stbi_write_png(dir.file("direct.png").c_str(), 3, 2, 1, px, 3) != 0);
  const Decoded d = decode(dir.file("direct.png"));
  CHECK(d.width == 3);
  CHECK(d.at(2, 1) == 250);
}

// ---- colour: channel-planar [n, 3 * h * w] images drawn as RGB ---------------------------

namespace {

// n RGB images [3, h, w], channel-planar; channel c of pixel (y, x) of image i is
// colour_value(i, c, y, x), every value distinct.
double colour_value(Index i, Index c, Index y, Index x) {
  return static_cast<double>(((i * 3 + c) * 7 + y * 3 + x) % 97) / 96.0;
}
template <class T>
Tensor<T> colour_images(Index n, Index h, Index w) {
  Tensor<T> t(Shape{n, 3 * h * w});
  for (Index i = 0; i < n; ++i)
    for (Index c = 0; c < 3; ++c)
      for (Index y = 0; y < h; ++y)
        for (Index x = 0; x < w; ++x) t(i, (c * h + y) * w + x) = static_cast<T>(colour_value(i, c, y, x));
  return t;
}

std::vector<std::uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The ShapeError message of `fn`, which must throw one.
template <class Fn>
std::string shape_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const vaegan::ShapeError& e) {
    return e.what();
  }
  FAIL("expected vaegan::ShapeError");
  return {};
}

}  // namespace

TEST_CASE_TEMPLATE("image_grid: RGB images are drawn channel by channel", T, float, double) {
  TempDir dir;
  const Index n = 5, h = 4, w = 6;
  const Tensor<T> images = colour_images<T>(n, h, w);
  ImageGridOptions opt;
  opt.channels = 3;
  opt.height = h;
  opt.width = w;
  opt.columns = 3;
  opt.padding = 1;
  vaegan::write_image_grid(dir.file("rgb.png"), images, opt);
  const Decoded d = decode(dir.file("rgb.png"));
  REQUIRE(d.channels == 3);
  CHECK(d.width == 3 * w + 4);
  CHECK(d.height == 2 * h + 3);
  for (Index i = 0; i < n; ++i)
    for (Index y = 0; y < h; ++y)
      for (Index x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c)
          CHECK(d.at(static_cast<int>(1 + (i % 3) * (w + 1) + x), static_cast<int>(1 + (i / 3) * (h + 1) + y), c) ==
                byte_of_t<T>(colour_value(i, c, y, x)));
  // Padding and the empty last cell are gray in all three channels.
  const int pad = byte_of(opt.pad_value);
  for (int c = 0; c < 3; ++c) {
    CHECK(d.at(0, 0, c) == pad);
    CHECK(d.at(1 + 2 * (w + 1) + 2, 1 + (h + 1) + 2, c) == pad);  // cell 5 of 6 is empty
  }
  // [n, 3, h, w] is the same layout as [n, 3 * h * w].
  Tensor<T> nchw = images;
  nchw.reshape(Shape{n, 3, h, w});
  vaegan::write_image_grid(dir.file("nchw.png"), nchw, opt);
  CHECK(file_bytes(dir.file("nchw.png")) == file_bytes(dir.file("rgb.png")));
}

TEST_CASE("image_grid: reconstruction grids and interpolation strips draw RGB too") {
  TempDir dir;
  const Index n = 4, h = 3, w = 2;
  const Tensor<float> real = colour_images<float>(n, h, w);
  Tensor<float> recon = colour_images<float>(n, h, w);
  for (Index k = 0; k < recon.numel(); ++k) recon[k] = 1.0f - recon[k];
  ImageGridOptions opt = vaegan::image_grid_options(Shape{3, h, w});
  opt.columns = 2;
  opt.scale = 2;
  vaegan::write_reconstruction_grid(dir.file("rec.png"), real, recon, opt);
  Decoded d = decode(dir.file("rec.png"));
  REQUIRE(d.channels == 3);
  const int p = 2, gap = 6, block = 2 * h + p;
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) {
      // Pixel (y=1, x=1) of image i and of its reconstruction, scaled by 2.
      const int x = (p + (i % 2) * (w + p) + 1) * 2, y = (p + (i / 2) * (block + gap) + 1) * 2;
      CHECK(d.at(x, y, c) == byte_of_t<float>(colour_value(i, c, 1, 1)));
      CHECK(d.at(x + 1, y + 1, c) == byte_of_t<float>(colour_value(i, c, 1, 1)));
      CHECK(d.at(x, y + (h + p) * 2, c) ==
            byte_of(static_cast<double>(1.0f - static_cast<float>(colour_value(i, c, 1, 1)))));
    }

  opt.scale = 1;
  vaegan::write_interpolation_strip(dir.file("strip.png"), real, 2, opt);
  d = decode(dir.file("strip.png"));
  REQUIRE(d.channels == 3);
  CHECK(d.width == 2 * w + 3 * p);
  CHECK(d.height == 2 * h + 3 * p);
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c)
      CHECK(d.at(p + (i % 2) * (w + p) + 1, p + (i / 2) * (h + p) + 2, c) ==
            byte_of_t<float>(colour_value(i, c, 2, 1)));
}

TEST_CASE("image_grid: an RGB pixel with a NaN in any channel is magenta, or has that channel dark") {
  TempDir dir;
  // One 1x2 RGB image: pixel 0 is (0.2, NaN, 0.6), pixel 1 is (1, 0.5, 0).
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor<float> image(Shape{1, 6}, {0.2f, 1.0f, nan, 0.5f, 0.6f, 0.0f});
  ImageGridOptions opt = vaegan::image_grid_options(Shape{3, 1, 2});
  opt.padding = 0;
  vaegan::write_image_grid(dir.file("nan.png"), image, opt);
  Decoded d = decode(dir.file("nan.png"));
  REQUIRE(d.channels == 3);
  CHECK((d.at(0, 0, 0) == 255 && d.at(0, 0, 1) == 0 && d.at(0, 0, 2) == 255));
  CHECK((d.at(1, 0, 0) == 255 && d.at(1, 0, 1) == 128 && d.at(1, 0, 2) == 0));
  opt.mark_nan = false;
  vaegan::write_image_grid(dir.file("dark.png"), image, opt);
  d = decode(dir.file("dark.png"));
  REQUIRE(d.channels == 3);
  CHECK((d.at(0, 0, 0) == byte_of_t<float>(0.2) && d.at(0, 0, 1) == 0 && d.at(0, 0, 2) == byte_of_t<float>(0.6)));
}

TEST_CASE("image_grid: a gray grid is the gray PNG of its raster, byte for byte") {
  // The raster built here by hand, encoded by encode_png, is the file: gray grids (one
  // channel) are unchanged by the RGB support.
  TempDir dir;
  const Index n = 3, h = 2, w = 3, cols = 2, pad = 1;
  const int s = 2;
  Tensor<float> images(Shape{n, h * w});
  for (Index k = 0; k < images.numel(); ++k) images[k] = static_cast<float>(k) / 17.0f;
  ImageGridOptions opt;
  opt.height = h;
  opt.width = w;
  opt.columns = cols;
  opt.padding = pad;
  opt.scale = s;
  vaegan::write_image_grid(dir.file("gray.png"), images, opt);
  const Index W = cols * w + (cols + 1) * pad, H = 2 * h + 3 * pad;
  std::vector<std::uint8_t> small(static_cast<std::size_t>(W * H), static_cast<std::uint8_t>(byte_of(opt.pad_value)));
  for (Index i = 0; i < n; ++i)
    for (Index y = 0; y < h; ++y)
      for (Index x = 0; x < w; ++x)
        small[static_cast<std::size_t>((pad + (i / cols) * (h + pad) + y) * W + pad + (i % cols) * (w + pad) + x)] =
            static_cast<std::uint8_t>(byte_of(static_cast<double>(images(i, y * w + x))));
  std::vector<std::uint8_t> big(static_cast<std::size_t>(W * H * s * s));
  for (Index y = 0; y < H * s; ++y)
    for (Index x = 0; x < W * s; ++x)
      big[static_cast<std::size_t>(y * W * s + x)] = small[static_cast<std::size_t>((y / s) * W + x / s)];
  CHECK(file_bytes(dir.file("gray.png")) == vaegan::encode_png(big.data(), W * s, H * s, 1));
  CHECK(decode(dir.file("gray.png")).channels == 1);
}

TEST_CASE("image_grid: channels other than 1 or 3, or a column count that does not fit, are ShapeErrors") {
  TempDir dir;
  const Tensor<float> gray(Shape{2, 784});
  const Tensor<float> rgb(Shape{2, 3 * 784});
  ImageGridOptions opt;
  opt.channels = 2;
  for (const auto& write : std::vector<std::function<void()>>{
           [&] { vaegan::write_image_grid(dir.file("x.png"), gray, opt); },
           [&] { vaegan::write_reconstruction_grid(dir.file("x.png"), gray, gray, opt); },
           [&] { vaegan::write_interpolation_strip(dir.file("x.png"), gray, 2, opt); }}) {
    const std::string msg = shape_error_of(write);
    CHECK_MESSAGE(msg.find("channels is 2") != std::string::npos, msg);
    CHECK_MESSAGE(msg.find("set it to 1 (gray images) or 3 (RGB images)") != std::string::npos, msg);
  }
  // RGB options, gray-sized rows: the message names both sizes and the fields to set.
  opt.channels = 3;
  std::string msg = shape_error_of([&] { vaegan::write_image_grid(dir.file("x.png"), gray, opt); });
  CHECK_MESSAGE(msg.find("each image has 784 values") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("channels * height * width = 3 * 28 * 28 = 2352") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("set ImageGridOptions::channels, height and width") != std::string::npos, msg);
  CHECK_THROWS_AS(vaegan::write_reconstruction_grid(dir.file("x.png"), gray, gray, opt), vaegan::ShapeError);
  CHECK_THROWS_AS(vaegan::write_interpolation_strip(dir.file("x.png"), gray, 2, opt), vaegan::ShapeError);
  // Gray options, RGB-sized rows: the message suggests channels = 3.
  opt.channels = 1;
  msg = shape_error_of([&] { vaegan::write_image_grid(dir.file("x.png"), rgb, opt); });
  CHECK_MESSAGE(msg.find("height * width = 28 * 28 = 784") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("set ImageGridOptions::channels = 3") != std::string::npos, msg);
  CHECK(dir.entries().empty());
}

TEST_CASE("image_grid: image_grid_options takes [C, H, W] with C = 1 or 3") {
  const ImageGridOptions rgb = vaegan::image_grid_options(Shape{3, 32, 24});
  CHECK(rgb.channels == 3);
  CHECK(rgb.height == 32);
  CHECK(rgb.width == 24);
  CHECK(rgb.scale == 1);
  const ImageGridOptions gray = vaegan::image_grid_options(Shape{1, 28, 28});
  CHECK(gray.channels == 1);
  CHECK(gray.height == 28);
  CHECK_THROWS_AS(vaegan::image_grid_options(Shape{4, 8, 8}), vaegan::ShapeError);
  CHECK_THROWS_AS(vaegan::image_grid_options(Shape{784}), vaegan::ShapeError);
  CHECK_THROWS_AS(vaegan::image_grid_options(Shape{1, 0, 28}), vaegan::ShapeError);
}
