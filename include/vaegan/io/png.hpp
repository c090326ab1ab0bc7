#pragma once
// PNG output: 8-bit grayscale or RGB pixels, encoded by stb_image_write and written
// atomically (a temporary file renamed over the target, see io/atomic_file.hpp).
//
// stb_image_write and this header-only library
// --------------------------------------------
// stb is a single-file library: its implementation is compiled wherever
// STB_IMAGE_WRITE_IMPLEMENTATION is defined before the include. A header-only library
// cannot pick "the one" translation unit for it, so this header compiles a private copy
// per translation unit: STB_IMAGE_WRITE_STATIC makes every stb function `static`, hence
// no duplicate symbols at link time and no clash with an stb the application links
// itself (the copy is ~1000 lines of C; the linker drops unused functions).
//
// Include order matters only when the application uses stb_image_write directly too:
//  - stb_image_write.h included BEFORE this header: its include guard is set, so this
//    header compiles no copy and calls the functions it declared. The application then
//    provides the implementation as stb requires anyway (one TU with
//    STB_IMAGE_WRITE_IMPLEMENTATION, or STB_IMAGE_WRITE_STATIC + IMPLEMENTATION here).
//  - stb_image_write.h included AFTER this header: the include guard makes that include
//    a no-op and the application's calls in this TU use the private static copy. Do not
//    define STB_IMAGE_WRITE_IMPLEMENTATION for such a later include (it would define the
//    functions a second time in this TU); keep the application's stb implementation in a
//    translation unit that does not include vaegan/io/png.hpp.
#include <climits>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/detail/stb_diagnostics.hpp"
#include "vaegan/io/atomic_file.hpp"

#ifndef INCLUDE_STB_IMAGE_WRITE_H
#define VAEGAN_STB_IMAGE_WRITE_PRIVATE 1
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
VAEGAN_STB_DIAGNOSTICS_PUSH
#include <stb_image_write.h>
VAEGAN_STB_DIAGNOSTICS_POP
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#undef STB_IMAGE_WRITE_STATIC
#endif

namespace vaegan {

namespace detail {

struct PngSink {
  std::vector<std::uint8_t> bytes;
  bool failed = false;
};

// stb_image_write calls this with the encoded file. No exception may cross stb's C code
// (it would leak stb's buffer), so an allocation failure is only recorded here.
inline void append_to_png_sink(void* context, void* data, int size) noexcept {
  auto* sink = static_cast<PngSink*>(context);
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  try {
    sink->bytes.insert(sink->bytes.end(), bytes, bytes + size);
  } catch (...) {
    sink->failed = true;
  }
}

}  // namespace detail

// Encodes row-major 8-bit pixels (`channels` 1 = gray, 3 = RGB, 4 = RGBA interleaved)
// as a PNG file image in memory.
inline std::vector<std::uint8_t> encode_png(const std::uint8_t* pixels, Index width, Index height, int channels) {
  if (width < 1 || height < 1)
    throw Error("encode_png: image is " + std::to_string(width) + "x" + std::to_string(height) +
                " pixels; width and height must be at least 1");
  if (channels != 1 && channels != 3 && channels != 4)
    throw Error("encode_png: " + std::to_string(channels) + " channels; use 1 (gray), 3 (RGB) or 4 (RGBA)");
  if (!pixels) throw Error("encode_png: pixel pointer is null");
  // stb computes buffer sizes in int: (width * channels + 1) * height must fit, with margin.
  const Index row_bytes = width * channels + 1;
  if (width > INT_MAX / 8 || height > INT_MAX / 8 || row_bytes > (INT_MAX / 2) / height)
    throw Error("encode_png: image " + std::to_string(width) + "x" + std::to_string(height) +
                " is too large for the PNG encoder (at most about 1 GB of pixels); write a smaller grid");
  detail::PngSink sink;
  const int ok = stbi_write_png_to_func(&detail::append_to_png_sink, &sink, static_cast<int>(width),
                                        static_cast<int>(height), channels, pixels, static_cast<int>(width * channels));
  if (!ok || sink.failed || sink.bytes.empty())
    throw Error("encode_png: stb_image_write failed to encode the image (out of memory?)");
  return std::move(sink.bytes);
}

// Writes `height` rows of `width` gray bytes (0 black, 255 white) to a PNG file.
inline void write_png_gray(const std::string& path, const std::uint8_t* pixels, Index width, Index height) {
  const std::vector<std::uint8_t> png = encode_png(pixels, width, height, 1);
  detail::write_file_atomically(path, png.data(), png.size(), "write_png_gray");
}

// Writes `height` rows of `width` RGB triples to a PNG file.
inline void write_png_rgb(const std::string& path, const std::uint8_t* pixels, Index width, Index height) {
  const std::vector<std::uint8_t> png = encode_png(pixels, width, height, 3);
  detail::write_file_atomically(path, png.data(), png.size(), "write_png_rgb");
}

}  // namespace vaegan
