#pragma once
// Image grids as PNG: samples, real-vs-reconstruction pairs and latent interpolations.
//
// Input: a tensor [n, channels * height * width] (or [n, channels, height, width]) of
// values in [0, 1] (a model's sigmoid output), one image per row, channel-planar as
// PyTorch's [N, C, H, W]: the whole first channel's plane row-major, then the next.
// `channels` is 1 (gray: the PNG is gray) or 3 (red, green, blue planes: the PNG is RGB).
// Values are clamped to [0, 1]. A NaN pixel cannot be shown as a gray level or a colour
// without hiding it (a diverged generator would look like a black digit), so when
// `mark_nan` is on, a pixel with a NaN in any channel is drawn in magenta; a gray grid
// with a NaN is then written as RGB. With `mark_nan` off, NaN is drawn as 0 (black, or no
// light in that channel).
//
// Layout, before the integer `scale` is applied (nearest neighbour, so pixels stay sharp):
//   write_image_grid          `columns` images per row, `padding` pixels between images
//                             and around the border.
//   write_reconstruction_grid blocks of two rows: the real images, directly below them
//                             their reconstructions; a wider gap separates blocks.
//   write_interpolation_strip one row per interpolation, `steps` images per row.
// image_grid_options(shape) sets height, width and channels from an image shape [C, H, W]
// (ImageDataset::image_shape(), ModelConfig::image_shape).
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
  Index height = 28;  // of one image; channels * height * width must equal images.cols()
  Index width = 28;
  Index columns = 0;        // images per row; 0 picks one (square grid, or 8 for reconstructions)
  Index padding = 2;        // pixels between images and around the border, before scaling
  int scale = 1;            // nearest-neighbour upscaling factor, 1 to 16
  double pad_value = 0.35;  // gray level of the padding, in [0, 1]
  bool mark_nan = true;     // show NaN pixels in magenta (a gray PNG becomes RGB)
  // 1: gray images, 3: RGB images (channel-planar [3, H, W]). Last, so that brace
  // initialisers written before it existed keep their meaning.
  Index channels = 1;
};

// Options for images of shape [C, H, W] (C = 1 or 3), the other fields at their defaults.
inline ImageGridOptions image_grid_options(const Shape& image) {
  if (image.rank() != 3 || (image[0] != 1 && image[0] != 3) || image[1] < 1 || image[2] < 1)
    throw ShapeError("image_grid_options: image shape " + image.str() +
                     " is not [C, H, W] with C = 1 (gray) or 3 (RGB) and H, W >= 1; image grids draw gray or RGB "
                     "images only");
  ImageGridOptions opt;
  opt.channels = image[0];
  opt.height = image[1];
  opt.width = image[2];
  return opt;
}

namespace detail {

// An 8-bit gray or RGB raster being assembled.
class Canvas {
 public:
  // `mark_nan`: paint() draws a NaN pixel in magenta (an RGB canvas only).
  Canvas(Index width, Index height, int channels, std::uint8_t fill, bool mark_nan = true)
      : width_(width),
        height_(height),
        channels_(channels),
        mark_nan_(mark_nan),
        pixels_(static_cast<std::size_t>(width * height * channels), fill) {}

  Index width() const { return width_; }
  Index height() const { return height_; }
  int channels() const { return channels_; }
  const std::vector<std::uint8_t>& pixels() const { return pixels_; }

  // Copies one image of `planes` (1 or 3) channel planes [planes, h, w] with its top-left
  // corner at (x0, y0). A gray image on an RGB canvas sets all three bytes alike.
  template <class T>
  void paint(Index x0, Index y0, const T* image, Index h, Index w, Index planes = 1) {
    const Index plane = h * w;
    for (Index y = 0; y < h; ++y)
      for (Index x = 0; x < w; ++x) {
        std::uint8_t* px = &pixels_[static_cast<std::size_t>(((y0 + y) * width_ + x0 + x) * channels_)];
        const T* v = image + y * w + x;  // channel c at v[c * plane]
        bool nan = false;
        for (Index c = 0; c < planes; ++c) nan = nan || std::isnan(v[c * plane]);
        if (nan && mark_nan_ && channels_ == 3) {
          px[0] = 255, px[1] = 0, px[2] = 255;  // magenta: nothing in a gray image looks like it
        } else if (planes == 1) {
          const std::uint8_t g = to_byte(static_cast<double>(*v));
          for (int c = 0; c < channels_; ++c) px[c] = g;
        } else {
          for (int c = 0; c < channels_; ++c) px[c] = to_byte(static_cast<double>(v[c * plane]));
        }
      }
  }

  Canvas upscaled(int s) const {
    if (s == 1) return *this;
    Canvas big(width_ * s, height_ * s, channels_, 0, mark_nan_);
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
  bool mark_nan_;
  std::vector<std::uint8_t> pixels_;
};

// Checks the options and the [n, channels * height * width] layout; returns n.
template <class T>
Index check_grid_input(const char* who, const Tensor<T>& images, const ImageGridOptions& opt) {
  if (opt.height < 1 || opt.width < 1)
    throw Error(std::string(who) + ": image size " + std::to_string(opt.height) + "x" + std::to_string(opt.width) +
                " is empty; set ImageGridOptions::height and width");
  if (opt.channels != 1 && opt.channels != 3)
    throw ShapeError(std::string(who) + ": ImageGridOptions::channels is " + std::to_string(opt.channels) +
                     "; set it to 1 (gray images) or 3 (RGB images), the only kinds a grid draws");
  if (opt.padding < 0 || opt.columns < 0) throw Error(std::string(who) + ": padding and columns must not be negative");
  if (opt.scale < 1 || opt.scale > 16)
    throw Error(std::string(who) + ": scale " + std::to_string(opt.scale) + " is outside 1..16");
  const Index n = images.numel() == 0 ? 0 : images.rows();
  if (n == 0) throw Error(std::string(who) + ": no images to draw (the tensor is empty)");
  const Index plane = opt.height * opt.width;
  if (images.cols() != opt.channels * plane) {
    const std::string sizes = opt.channels == 1
                                  ? "height * width = " + std::to_string(opt.height) + " * " +
                                        std::to_string(opt.width) + " = " + std::to_string(plane)
                                  : "channels * height * width = 3 * " + std::to_string(opt.height) + " * " +
                                        std::to_string(opt.width) + " = " + std::to_string(3 * plane);
    const std::string hint = opt.channels == 1 && images.cols() == 3 * plane
                                 ? " (the images look like RGB: set ImageGridOptions::channels = 3)"
                                 : "";
    throw ShapeError(std::string(who) + ": each image has " + std::to_string(images.cols()) + " values (tensor " +
                     images.shape().str() + "), but " + sizes + "; set ImageGridOptions::" +
                     (opt.channels == 1 ? "height and width" : "channels, height and width") + hint);
  }
  return n;
}

// Channels of the PNG: RGB for RGB images, and for gray images with a NaN to mark.
template <class T>
int grid_channels(const ImageGridOptions& opt, std::initializer_list<const Tensor<T>*> inputs) {
  if (opt.channels == 3) return 3;
  if (!opt.mark_nan) return 1;
  for (const Tensor<T>* t : inputs)
    for (const T v : *t)
      if (std::isnan(v)) return 3;
  return 1;
}

// A width x height canvas, gray or RGB as grid_channels says, filled with the padding level.
template <class T>
Canvas grid_canvas(Index width, Index height, const ImageGridOptions& opt,
                   std::initializer_list<const Tensor<T>*> inputs) {
  return Canvas(width, height, grid_channels(opt, inputs), Canvas::to_byte(opt.pad_value), opt.mark_nan);
}

}  // namespace detail

// Writes images [n, channels * height * width] as a grid of `columns` images per row.
template <class T>
void write_image_grid(const std::string& path, const Tensor<T>& images, const ImageGridOptions& opt = {}) {
  const Index n = detail::check_grid_input("write_image_grid", images, opt);
  const Index cols =
      opt.columns > 0 ? std::min(opt.columns, n) : static_cast<Index>(std::ceil(std::sqrt(static_cast<double>(n))));
  const Index rows = (n + cols - 1) / cols;
  const Index h = opt.height, w = opt.width, c = opt.channels, p = opt.padding;
  detail::Canvas canvas = detail::grid_canvas(cols * w + (cols + 1) * p, rows * h + (rows + 1) * p, opt, {&images});
  for (Index i = 0; i < n; ++i)
    canvas.paint(p + (i % cols) * (w + p), p + (i / cols) * (h + p), images.data() + i * c * h * w, h, w, c);
  canvas.upscaled(opt.scale).save_png(path, "write_image_grid");
}

// Writes real images and their reconstructions (both [n, channels * height * width], same
// order) as blocks of two rows: `columns` real images above their reconstructions.
template <class T>
void write_reconstruction_grid(const std::string& path, const Tensor<T>& real, const Tensor<T>& recon,
                               const ImageGridOptions& opt = {}) {
  const Index n = detail::check_grid_input("write_reconstruction_grid", real, opt);
  if (recon.shape() != real.shape())
    detail::throw_shape("write_reconstruction_grid", "real images and reconstructions must have the same shape",
                        real.shape(), recon.shape());
  const Index cols = opt.columns > 0 ? std::min(opt.columns, n) : std::min<Index>(n, 8);
  const Index blocks = (n + cols - 1) / cols;
  const Index h = opt.height, w = opt.width, c = opt.channels, p = opt.padding;
  const Index gap = std::max<Index>(3 * p, 4);  // between blocks: wider than inside a pair
  const Index block_height = 2 * h + p;
  detail::Canvas canvas = detail::grid_canvas(cols * w + (cols + 1) * p,
                                              2 * p + blocks * block_height + (blocks - 1) * gap, opt, {&real, &recon});
  for (Index i = 0; i < n; ++i) {
    const Index x = p + (i % cols) * (w + p);
    const Index y = p + (i / cols) * (block_height + gap);
    canvas.paint(x, y, real.data() + i * c * h * w, h, w, c);
    canvas.paint(x, y + h + p, recon.data() + i * c * h * w, h, w, c);
  }
  canvas.upscaled(opt.scale).save_png(path, "write_reconstruction_grid");
}

// Writes interpolations: images [rows * steps, channels * height * width], each consecutive
// run of `steps` images one path through latent space, drawn as one row. opt.columns is
// ignored.
template <class T>
void write_interpolation_strip(const std::string& path, const Tensor<T>& images, Index steps,
                               const ImageGridOptions& opt = {}) {
  const Index n = detail::check_grid_input("write_interpolation_strip", images, opt);
  if (steps < 1 || n % steps != 0)
    throw ShapeError("write_interpolation_strip: " + std::to_string(n) + " images do not split into rows of " +
                     std::to_string(steps) + " steps; pass rows * steps images");
  const Index rows = n / steps, h = opt.height, w = opt.width, c = opt.channels, p = opt.padding;
  detail::Canvas canvas = detail::grid_canvas(steps * w + (steps + 1) * p, rows * h + (rows + 1) * p, opt, {&images});
  for (Index i = 0; i < n; ++i)
    canvas.paint(p + (i % steps) * (w + p), p + (i / steps) * (h + p), images.data() + i * c * h * w, h, w, c);
  canvas.upscaled(opt.scale).save_png(path, "write_interpolation_strip");
}

}  // namespace vaegan
