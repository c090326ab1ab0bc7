#pragma once
// Image grids as PNG: samples, real-vs-reconstruction pairs and latent interpolations.
//
// Input: a tensor [n, height * width] of gray values in [0, 1] (a model's sigmoid
// output), one image per row, row-major pixels. Values are clamped to [0, 1]. A NaN pixel
// cannot be shown as a gray level without hiding it (a diverged generator would look
// like a black digit), so when `mark_nan` is on and any input is NaN the grid is written
// as RGB with NaN pixels in magenta; otherwise NaN is drawn as 0 (black).
//
// Layout, before the integer `scale` is applied (nearest neighbour, so pixels stay sharp):
//   write_image_grid          `columns` images per row, `padding` pixels between images
//                             and around the border.
//   write_reconstruction_grid blocks of two rows: the real images, directly below them
//                             their reconstructions; a wider gap separates blocks.
//   write_interpolation_strip one row per interpolation, `steps` images per row.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/core/tensor.hpp"
#include "vaegan/io/png.hpp"

namespace vaegan {

struct ImageGridOptions {
  Index height = 28;  // of one image; height * width must equal images.cols()
  Index width = 28;
  Index columns = 0;        // images per row; 0 picks one (square grid, or 8 for reconstructions)
  Index padding = 2;        // pixels between images and around the border, before scaling
  int scale = 1;            // nearest-neighbour upscaling factor, 1 to 16
  double pad_value = 0.35;  // gray level of the padding, in [0, 1]
  bool mark_nan = true;     // show NaN pixels in magenta (the PNG becomes RGB)
};

namespace detail {

// An 8-bit gray or RGB raster being assembled.
class Canvas {
 public:
  Canvas(Index width, Index height, int channels, std::uint8_t fill)
      : width_(width),
        height_(height),
        channels_(channels),
        pixels_(static_cast<std::size_t>(width * height * channels), fill) {}

  Index width() const { return width_; }
  Index height() const { return height_; }
  int channels() const { return channels_; }
  const std::vector<std::uint8_t>& pixels() const { return pixels_; }

  // Copies one [h, w] image with its top-left corner at (x0, y0).
  template <class T>
  void paint(Index x0, Index y0, const T* image, Index h, Index w) {
    for (Index y = 0; y < h; ++y)
      for (Index x = 0; x < w; ++x) {
        std::uint8_t* px = &pixels_[static_cast<std::size_t>(((y0 + y) * width_ + x0 + x) * channels_)];
        const T v = image[y * w + x];
        if (std::isnan(v) && channels_ == 3) {
          px[0] = 255, px[1] = 0, px[2] = 255;  // magenta: nothing in a gray image looks like it
        } else {
          const std::uint8_t g = to_byte(static_cast<double>(v));
          for (int c = 0; c < channels_; ++c) px[c] = g;
        }
      }
  }

  Canvas upscaled(int s) const {
    if (s == 1) return *this;
    Canvas big(width_ * s, height_ * s, channels_, 0);
    for (Index y = 0; y < big.height_; ++y)
      for (Index x = 0; x < big.width_; ++x)
        for (int c = 0; c < channels_; ++c)
          big.pixels_[static_cast<std::size_t>((y * big.width_ + x) * channels_ + c)] =
              pixels_[static_cast<std::size_t>(((y / s) * width_ + x / s) * channels_ + c)];
    return big;
  }

  void save_png(const std::string& path, const std::string& who) const {
    const std::vector<std::uint8_t> png = encode_png(pixels_.data(), width_, height_, channels_);
    write_file_atomically(path, png.data(), png.size(), who);
  }

  // [0, 1] -> 0..255 rounded; out-of-range values clamp, NaN becomes 0.
  static std::uint8_t to_byte(double v) {
    if (!(v > 0.0)) return 0;  // also NaN
    if (v >= 1.0) return 255;
    return static_cast<std::uint8_t>(std::lround(v * 255.0));
  }

 private:
  Index width_, height_;
  int channels_;
  std::vector<std::uint8_t> pixels_;
};

// Checks the options and the [n, height * width] layout; returns n.
template <class T>
Index check_grid_input(const char* who, const Tensor<T>& images, const ImageGridOptions& opt) {
  if (opt.height < 1 || opt.width < 1)
    throw Error(std::string(who) + ": image size " + std::to_string(opt.height) + "x" + std::to_string(opt.width) +
                " is empty; set ImageGridOptions::height and width");
  if (opt.padding < 0 || opt.columns < 0) throw Error(std::string(who) + ": padding and columns must not be negative");
  if (opt.scale < 1 || opt.scale > 16)
    throw Error(std::string(who) + ": scale " + std::to_string(opt.scale) + " is outside 1..16");
  const Index n = images.numel() == 0 ? 0 : images.rows();
  if (n == 0) throw Error(std::string(who) + ": no images to draw (the tensor is empty)");
  if (images.cols() != opt.height * opt.width)
    throw ShapeError(std::string(who) + ": each image has " + std::to_string(images.cols()) + " values (tensor " +
                     images.shape().str() + "), but height * width = " + std::to_string(opt.height) + " * " +
                     std::to_string(opt.width) + " = " + std::to_string(opt.height * opt.width) +
                     "; set ImageGridOptions::height and width");
  return n;
}

template <class T>
int grid_channels(const ImageGridOptions& opt, std::initializer_list<const Tensor<T>*> inputs) {
  if (!opt.mark_nan) return 1;
  for (const Tensor<T>* t : inputs)
    for (const T v : *t)
      if (std::isnan(v)) return 3;
  return 1;
}

}  // namespace detail

// Writes images [n, height * width] as a grid of `columns` images per row.
template <class T>
void write_image_grid(const std::string& path, const Tensor<T>& images, const ImageGridOptions& opt = {}) {
  const Index n = detail::check_grid_input("write_image_grid", images, opt);
  const Index cols =
      opt.columns > 0 ? std::min(opt.columns, n) : static_cast<Index>(std::ceil(std::sqrt(static_cast<double>(n))));
  const Index rows = (n + cols - 1) / cols;
  const Index h = opt.height, w = opt.width, p = opt.padding;
  detail::Canvas canvas(cols * w + (cols + 1) * p, rows * h + (rows + 1) * p, detail::grid_channels(opt, {&images}),
                        detail::Canvas::to_byte(opt.pad_value));
  for (Index i = 0; i < n; ++i)
    canvas.paint(p + (i % cols) * (w + p), p + (i / cols) * (h + p), images.data() + i * h * w, h, w);
  canvas.upscaled(opt.scale).save_png(path, "write_image_grid");
}

// Writes real images and their reconstructions (both [n, height * width], same order) as
// blocks of two rows: `columns` real images above their reconstructions.
template <class T>
void write_reconstruction_grid(const std::string& path, const Tensor<T>& real, const Tensor<T>& recon,
                               const ImageGridOptions& opt = {}) {
  const Index n = detail::check_grid_input("write_reconstruction_grid", real, opt);
  if (recon.shape() != real.shape())
    detail::throw_shape("write_reconstruction_grid", "real images and reconstructions must have the same shape",
                        real.shape(), recon.shape());
  const Index cols = opt.columns > 0 ? std::min(opt.columns, n) : std::min<Index>(n, 8);
  const Index blocks = (n + cols - 1) / cols;
  const Index h = opt.height, w = opt.width, p = opt.padding;
  const Index gap = std::max<Index>(3 * p, 4);  // between blocks: wider than inside a pair
  const Index block_height = 2 * h + p;
  detail::Canvas canvas(cols * w + (cols + 1) * p, 2 * p + blocks * block_height + (blocks - 1) * gap,
                        detail::grid_channels(opt, {&real, &recon}), detail::Canvas::to_byte(opt.pad_value));
  for (Index i = 0; i < n; ++i) {
    const Index x = p + (i % cols) * (w + p);
    const Index y = p + (i / cols) * (block_height + gap);
    canvas.paint(x, y, real.data() + i * h * w, h, w);
    canvas.paint(x, y + h + p, recon.data() + i * h * w, h, w);
  }
  canvas.upscaled(opt.scale).save_png(path, "write_reconstruction_grid");
}

// Writes interpolations: images [rows * steps, height * width], each consecutive run of
// `steps` images one path through latent space, drawn as one row. opt.columns is ignored.
template <class T>
void write_interpolation_strip(const std::string& path, const Tensor<T>& images, Index steps,
                               const ImageGridOptions& opt = {}) {
  const Index n = detail::check_grid_input("write_interpolation_strip", images, opt);
  if (steps < 1 || n % steps != 0)
    throw ShapeError("write_interpolation_strip: " + std::to_string(n) + " images do not split into rows of " +
                     std::to_string(steps) + " steps; pass rows * steps images");
  const Index rows = n / steps, h = opt.height, w = opt.width, p = opt.padding;
  detail::Canvas canvas(steps * w + (steps + 1) * p, rows * h + (rows + 1) * p, detail::grid_channels(opt, {&images}),
                        detail::Canvas::to_byte(opt.pad_value));
  for (Index i = 0; i < n; ++i)
    canvas.paint(p + (i % steps) * (w + p), p + (i / steps) * (h + p), images.data() + i * h * w, h, w);
  canvas.upscaled(opt.scale).save_png(path, "write_interpolation_strip");
}

}  // namespace vaegan
