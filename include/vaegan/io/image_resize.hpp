#pragma once
// Resizing 8-bit images to a fixed size, as image folders do with --image-size.
//
// The filter is Pillow's BILINEAR resample (what torchvision's Resize uses on PIL images):
// a triangle filter centred on each output pixel's centre mapped into the input,
//   centre = (x_out + 0.5) * in / out,
// whose support is widened by the scale factor when shrinking (in / out > 1), so every
// input pixel contributes and shrinking averages instead of skipping pixels (no aliasing).
// Weights are normalized per output pixel. It runs separably: rows first into a float
// buffer, then columns; each result is rounded to the nearest byte (Pillow rounds between
// the passes too, so the two may differ by one level). The aspect ratio is not kept: crop
// first if it matters.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/io/image_decode.hpp"

namespace vaegan {

namespace detail {

// The taps of one output coordinate: input positions [first, first + weights.size()).
struct ResizeTaps {
  Index first = 0;
  std::vector<float> weights;
};

// Taps for resizing a line of `in` samples to `out` samples.
inline std::vector<ResizeTaps> bilinear_taps(Index in, Index out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double widen = std::max(scale, 1.0);  // the triangle's half-width, in input pixels
  std::vector<ResizeTaps> taps(static_cast<std::size_t>(out));
  for (Index o = 0; o < out; ++o) {
    const double centre = (static_cast<double>(o) + 0.5) * scale;
    const Index lo = std::max<Index>(static_cast<Index>(std::floor(centre - widen + 0.5)), 0);
    const Index hi = std::min<Index>(static_cast<Index>(std::floor(centre + widen + 0.5)), in);
    ResizeTaps& t = taps[static_cast<std::size_t>(o)];
    t.first = lo;
    double sum = 0;
    std::vector<double> w;
    for (Index i = lo; i < hi; ++i) {
      const double d = (static_cast<double>(i) + 0.5 - centre) / widen;
      const double v = std::max(0.0, 1.0 - std::abs(d));
      w.push_back(v);
      sum += v;
    }
    if (sum <= 0) {  // cannot happen for in, out >= 1; guard against a zero division anyway
      w.assign(1, 1.0);
      sum = 1;
      t.first = std::min<Index>(static_cast<Index>(centre), in - 1);
    }
    for (double v : w) t.weights.push_back(static_cast<float>(v / sum));
  }
  return taps;
}

}  // namespace detail

// `image` resized to width x height (both >= 1), keeping its channels.
inline DecodedImage resize_image(const DecodedImage& image, Index width, Index height) {
  if (width < 1 || height < 1 || image.width < 1 || image.height < 1 || image.channels < 1)
    throw ShapeError("resize_image: cannot resize " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                     " to " + std::to_string(width) + "x" + std::to_string(height));
  if (width == image.width && height == image.height) return image;
  const int c = image.channels;
  const auto cols = detail::bilinear_taps(image.width, width);
  const auto rows = detail::bilinear_taps(image.height, height);
  // Pass 1: every input row to `width` pixels.
  std::vector<float> wide(static_cast<std::size_t>(image.height * width * c));
  for (Index y = 0; y < image.height; ++y) {
    const std::uint8_t* src = image.pixels.data() + y * image.width * c;
    float* dst = wide.data() + y * width * c;
    for (Index x = 0; x < width; ++x) {
      const detail::ResizeTaps& t = cols[static_cast<std::size_t>(x)];
      for (int ch = 0; ch < c; ++ch) {
        float acc = 0;
        for (std::size_t k = 0; k < t.weights.size(); ++k)
          acc += t.weights[k] * static_cast<float>(src[(t.first + static_cast<Index>(k)) * c + ch]);
        dst[x * c + ch] = acc;
      }
    }
  }
  // Pass 2: every column to `height` pixels, rounded to bytes.
  DecodedImage out;
  out.width = width;
  out.height = height;
  out.channels = c;
  out.pixels.resize(static_cast<std::size_t>(height * width * c));
  for (Index y = 0; y < height; ++y) {
    const detail::ResizeTaps& t = rows[static_cast<std::size_t>(y)];
    for (Index i = 0; i < width * c; ++i) {
      float acc = 0;
      for (std::size_t k = 0; k < t.weights.size(); ++k)
        acc += t.weights[k] * wide[static_cast<std::size_t>((t.first + static_cast<Index>(k)) * width * c + i)];
      out.pixels[static_cast<std::size_t>(y * width * c + i)] =
          static_cast<std::uint8_t>(std::clamp(std::lround(acc), 0L, 255L));
    }
  }
  return out;
}

}  // namespace vaegan
