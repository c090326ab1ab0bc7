#pragma once
// The sizes of a 2-D convolution, shared by conv2d and conv_transpose2d (ops/conv2d.hpp),
// their kernels (detail/conv_loops.hpp, im2row.hpp, im2col.hpp, conv_phases.hpp) and the
// layers (nn/conv2d.hpp): each op's output size along one axis, and ConvGeometry, the
// window matrix that both ops' products run over.
#include <algorithm>
#include <string>
#include <utility>

#include "vaegan/core/config.hpp"
#include "vaegan/core/shape.hpp"

namespace vaegan {

namespace detail {

// conv2d's output size along one axis: floor((size + 2 padding - kernel) / stride) + 1, or
// 0 where the kernel is larger than the padded input.
inline Index conv_output_size(Index size, Index kernel, Index stride, Index padding) {
  const Index span = size + 2 * padding - kernel;
  return span >= 0 ? span / stride + 1 : 0;
}

// conv_transpose2d's: (size - 1) stride - 2 padding + kernel + output_padding (the size whose
// conv2d output is `size`, plus output_padding < stride of the sizes that give it too).
inline Index conv_transpose_output_size(Index size, Index kernel, Index stride, Index padding, Index output_padding) {
  return (size - 1) * stride - 2 * padding + kernel + output_padding;
}

// The geometry of one im2row / row2im: an image of `channels` planes height x width, a
// kernel kh x kw moved with `stride` over the image padded by `padding`, giving out_h x
// out_w window positions. Row matrix: [out_h out_w, channels kh kw].
struct ConvGeometry {
  Index channels = 0, height = 0, width = 0;
  Index kh = 0, kw = 0, stride = 1, padding = 0;
  Index out_h = 0, out_w = 0;

  Index window() const { return channels * kh * kw; }  // K: the length of a row
  Index positions() const { return out_h * out_w; }    // P: rows per sample
  Index image_size() const { return channels * height * width; }
  // "C x H x W, k kh x kw s stride p padding", for messages and profiles.
  std::string str() const {
    return std::to_string(channels) + " x " + std::to_string(height) + " x " + std::to_string(width) + ", k " +
           std::to_string(kh) + " x " + std::to_string(kw) + " s " + std::to_string(stride) + " p " +
           std::to_string(padding);
  }

  // The window positions o in [0, count) that read a pixel inside [0, size) at kernel
  // offset k: 0 <= o stride - padding + k < size.
  std::pair<Index, Index> valid(Index k, Index size, Index count) const {
    const Index lo_num = padding - k;  // o stride >= padding - k
    const Index lo = lo_num <= 0 ? 0 : (lo_num + stride - 1) / stride;
    const Index hi_num = size - 1 + padding - k;  // o stride <= size - 1 + padding - k
    const Index hi = hi_num < 0 ? 0 : std::min(count, hi_num / stride + 1);
    return {std::min(lo, hi), hi};
  }

  // The kernel offsets k in [lo, hi) whose pixel o stride - padding + k lies inside
  // [0, size) for window position o (of a kernel `extent` wide).
  std::pair<Index, Index> inside(Index o, Index size, Index extent) const {
    const Index first = o * stride - padding;
    return {std::clamp<Index>(-first, 0, extent), std::clamp<Index>(size - first, 0, extent)};
  }
};

// The FLOPs (2 per multiply-add) of one of a convolution's three products (y, dW or dX) over
// `samples` samples: every window position's K values times the `other_channels` on the
// weight's other side (C_out for conv2d, C_in for conv_transpose2d).
inline double conv_flops(const ConvGeometry& g, Index samples, Index other_channels) {
  return 2.0 * static_cast<double>(samples) * static_cast<double>(g.positions()) * static_cast<double>(g.window()) *
         static_cast<double>(other_channels);
}

// The geometry of a convolution's window matrix: the kernel (of shape [., ., kh, kw]) moves
// over `image` [N, channels, H, W], one window per pixel of `windows` [N, ., out_h, out_w].
// conv2d: the image is x and the windows y; conv_transpose2d, its adjoint in x: the image is
// y (C_out channels) and the windows x (see ops/conv2d.hpp).
inline ConvGeometry conv_geometry(Index channels, const Shape& image, const Shape& windows, const Shape& kernel,
                                  Index stride, Index padding) {
  ConvGeometry g;
  g.channels = channels;
  g.height = image[2];
  g.width = image[3];
  g.kh = kernel[2];
  g.kw = kernel[3];
  g.stride = stride;
  g.padding = padding;
  g.out_h = windows[2];
  g.out_w = windows[3];
  return g;
}

}  // namespace detail

}  // namespace vaegan
