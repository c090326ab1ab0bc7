#pragma once
// Image files for the decoder and image-folder tests: PNG, JPEG and BMP written by
// stb_image_write (through io/png.hpp's private copy), and PNGs built by hand for what stb
// cannot write (16-bit, palette, a header claiming any size). Used by the unit tests and by
// the fuzz corpus generator (tests/fuzz/make_corpus.cpp), so it needs no test framework.
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "vaegan/io/png.hpp"

namespace vaegan::test {

using ImageBytes = std::vector<std::uint8_t>;

namespace detail {
inline void sink(void* context, void* data, int size) {
  auto* out = static_cast<ImageBytes*>(context);
  const auto* b = static_cast<const std::uint8_t*>(data);
  out->insert(out->end(), b, b + size);
}
inline void put_u32(ImageBytes& b, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(v >> shift));
}
inline void png_chunk(ImageBytes& out, const char* type, const ImageBytes& data) {
  put_u32(out, static_cast<std::uint32_t>(data.size()));
  ImageBytes body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  out.insert(out.end(), body.begin(), body.end());
  put_u32(out, static_cast<std::uint32_t>(crc32(0, body.data(), static_cast<uInt>(body.size()))));
}
}  // namespace detail

// PNG of interleaved 8-bit pixels, 1 to 4 channels (2: grey + alpha).
inline ImageBytes png_bytes(const std::vector<std::uint8_t>& pixels, int width, int height, int channels) {
  ImageBytes out;
  stbi_write_png_to_func(&detail::sink, &out, width, height, channels, pixels.data(), width * channels);
  return out;
}
inline ImageBytes jpeg_bytes(const std::vector<std::uint8_t>& pixels, int width, int height, int channels,
                             int quality = 95) {
  ImageBytes out;
  stbi_write_jpg_to_func(&detail::sink, &out, width, height, channels, pixels.data(), quality);
  return out;
}
inline ImageBytes bmp_bytes(const std::vector<std::uint8_t>& pixels, int width, int height, int channels) {
  ImageBytes out;
  stbi_write_bmp_to_func(&detail::sink, &out, width, height, channels, pixels.data());
  return out;
}

// A PNG built chunk by chunk: IHDR(width, height, bit_depth, colour_type), an optional
// PLTE, and IDAT holding `scanlines` (each row: filter byte 0, then the raw samples).
inline ImageBytes raw_png(std::uint32_t width, std::uint32_t height, int bit_depth, int colour_type,
                          const ImageBytes& scanlines, const ImageBytes& palette = {}) {
  ImageBytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  ImageBytes ihdr;
  detail::put_u32(ihdr, width);
  detail::put_u32(ihdr, height);
  ihdr.insert(ihdr.end(), {static_cast<std::uint8_t>(bit_depth), static_cast<std::uint8_t>(colour_type), 0, 0, 0});
  detail::png_chunk(out, "IHDR", ihdr);
  if (!palette.empty()) detail::png_chunk(out, "PLTE", palette);
  uLongf size = compressBound(static_cast<uLong>(scanlines.size()));
  ImageBytes z(size);
  compress(z.data(), &size, scanlines.data(), static_cast<uLong>(scanlines.size()));
  z.resize(size);
  detail::png_chunk(out, "IDAT", z);
  detail::png_chunk(out, "IEND", {});
  return out;
}

// The two inputs fuzz_image found harmful in Debian's stb_image 2.27 (docs/fuzzing.md), as
// the smallest files that show them:
// a JPEG whose Huffman table claims 272 codes (stb writes past a 257-byte array), and
inline ImageBytes jpeg_with_huffman_table_of_272_codes() {
  ImageBytes b = {0xff, 0xd8, 0xff, 0xc4};
  const int codes = 16 * 17;
  const int length = 2 + 17 + codes;
  b.push_back(static_cast<std::uint8_t>(length >> 8));
  b.push_back(static_cast<std::uint8_t>(length & 0xff));
  b.push_back(0x00);  // class 0 (DC), table 0
  for (int i = 0; i < 16; ++i) b.push_back(17);
  for (int i = 0; i < codes; ++i) b.push_back(static_cast<std::uint8_t>(i));
  b.insert(b.end(), {0xff, 0xd9});
  return b;
}
// a PNG whose IDAT chunk claims 2 GiB in a file of a few dozen bytes (stb allocates it).
inline ImageBytes png_with_idat_claiming_2_gib() {
  ImageBytes b = raw_png(6, 5, 8, 0, ImageBytes(36, 0));
  const std::size_t idat = 8 + 25;  // after the signature and IHDR
  b[idat] = 0x7e, b[idat + 1] = 0x00, b[idat + 2] = 0x00, b[idat + 3] = 0x88;
  return b;
}

}  // namespace vaegan::test
