#pragma once
// Image files (PNG, JPEG, BMP) decoded from memory into 8-bit pixels with the channel count
// a model wants, by stb_image (Debian's libstb-dev). data/image_folder.hpp reads folders
// of them; decode_image is also the fuzzed entry point (tests/fuzz/fuzz_image.cpp).
//
// Trust contract: nothing in a file is believed before it is checked.
//  - The format comes from the first bytes (PNG signature, JPEG SOI marker, "BM"), never
//    from the file name; anything else is "not a PNG, JPEG or BMP file".
//  - The header is read first (stbi_info_from_memory, which decodes no pixels) and the
//    image refused if width x height exceeds the caller's pixel limit (kImageMaxPixels
//    by default), so a 100-byte file claiming 100000 x 100000 pixels costs nothing.
//  - stb itself refuses sides above kImageMaxSide (STBI_MAX_DIMENSIONS of the private copy).
//  - A stream that ends early is an error: every PNG chunk must lie inside the file, up to
//    IEND, and a JPEG must reach its end-of-image marker (stb would otherwise allocate what
//    a PNG chunk claims, and return a grey-filled image for a truncated JPEG).
//  - Debian's stb_image 2.27 reads or writes out of bounds for a JPEG Huffman table of more
//    than 256 codes and for a scan using a table never defined; such files are refused
//    before stb reads them (detail::jpeg_huffman_problem).
//    tests/fuzz/fuzz_image.cpp found these; see docs/fuzzing.md.
//
// Conversions (the same as Pillow's Image.convert("L") / ("RGB") in torchvision's loader,
// up to the grey weights):
//  - 16-bit PNGs keep their high byte (65535 -> 255);
//  - palette PNGs are expanded to their colours;
//  - alpha is dropped, not composited (grey+alpha -> grey, RGBA -> RGB);
//  - grey -> RGB repeats the grey value; RGB -> grey is stb's luma
//    (77 R + 150 G + 29 B) >> 8, within one level of ITU-R 601's 0.299/0.587/0.114.
//
// stb_image and this header-only library: as with stb_image_write in io/png.hpp, this
// header compiles a private copy of stb_image into each translation unit that includes
// it, with every function `static` (STB_IMAGE_STATIC), and only the PNG, JPEG and BMP
// decoders from memory (no stdio, HDR or the other formats). An application's own
// stb_image does not clash with it. If the application included stb_image.h BEFORE this
// header, that copy's declarations are used instead and the application must provide its
// implementation (with at least PNG, JPEG and BMP), and the dimension limit is then its
// STBI_MAX_DIMENSIONS; decode_image's pixel limit applies either way.
// stb's error text is thread-local (STBI_THREAD_LOCAL), so images decode in parallel.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/detail/stb_diagnostics.hpp"

#ifndef STBI_INCLUDE_STB_IMAGE_H
#define VAEGAN_STB_IMAGE_PRIVATE 1
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS (1 << 24)
VAEGAN_STB_DIAGNOSTICS_PUSH
#include <stb_image.h>
VAEGAN_STB_DIAGNOSTICS_POP
#undef STB_IMAGE_IMPLEMENTATION
#undef STB_IMAGE_STATIC
#endif

namespace vaegan {

// The largest side stb decodes in this header's private copy, and the default pixel limit
// of decode_image: 2^26 (an 8192 x 8192 image, 192 MiB as RGB bytes).
inline constexpr Index kImageMaxSide = Index{1} << 24;
inline constexpr Index kImageMaxPixels = Index{1} << 26;

enum class ImageFormat { png, jpeg, bmp, unknown };

inline const char* image_format_name(ImageFormat f) {
  switch (f) {
    case ImageFormat::png: return "PNG";
    case ImageFormat::jpeg: return "JPEG";
    case ImageFormat::bmp: return "BMP";
    case ImageFormat::unknown: break;
  }
  return "unknown";
}

// The format of a file from its first bytes.
inline ImageFormat sniff_image_format(const std::uint8_t* data, std::size_t size) {
  static const std::uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && std::equal(png, png + 8, data)) return ImageFormat::png;
  if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) return ImageFormat::jpeg;
  if (size >= 2 && data[0] == 'B' && data[1] == 'M') return ImageFormat::bmp;
  return ImageFormat::unknown;
}

// What a file's header says, before any pixel is decoded.
struct ImageHeader {
  ImageFormat format = ImageFormat::unknown;
  Index width = 0;
  Index height = 0;
  int channels = 0;  // in the file: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA (palette: 3 or 4)
  bool sixteen_bit = false;
};

// Pixels of one decoded image: height rows of width pixels of `channels` interleaved bytes.
struct DecodedImage {
  Index width = 0;
  Index height = 0;
  int channels = 0;
  std::vector<std::uint8_t> pixels;  // height * width * channels
};

namespace detail {

inline std::string stb_reason() {
  const char* r = stbi_failure_reason();
  return r ? std::string(r) : std::string("unknown error");
}

// stb's terse reasons ("bad huffman code", "outofdata") with what they mean to a user.
inline std::string explain_stb_failure(const std::string& reason) {
  if (reason == "outofdata" || reason == "no IDAT" || reason == "bad zlib header" || reason == "unexpected end")
    return reason + ": the file is truncated or corrupt";
  return reason + " (corrupt or unsupported file)";
}

// Whether a JPEG stream reaches its end-of-image marker (FF D9). Some writers append
// bytes after it, so the last 64 bytes are searched, not only the last two.
inline bool jpeg_has_end_marker(const std::uint8_t* data, std::size_t size) {
  const std::size_t from = size > 64 ? size - 64 : 0;
  for (std::size_t i = size; i-- > from + 1;)
    if (data[i - 1] == 0xff && data[i] == 0xd9) return true;
  return false;
}

// The width and height a header states, read without stb (whose own check of a huge size
// fails with a reason that is then lost among the other formats' "unknown image type").
// False if the header is cut short.
inline bool claimed_size(const std::uint8_t* d, std::size_t size, ImageFormat format, std::uint64_t& w,
                         std::uint64_t& h) {
  const auto be = [d](std::size_t at, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = v << 8 | d[at + static_cast<std::size_t>(i)];
    return v;
  };
  const auto le32 = [d](std::size_t at) {
    const std::uint32_t u = static_cast<std::uint32_t>(d[at]) | static_cast<std::uint32_t>(d[at + 1]) << 8 |
                            static_cast<std::uint32_t>(d[at + 2]) << 16 | static_cast<std::uint32_t>(d[at + 3]) << 24;
    const std::int64_t v = static_cast<std::int32_t>(u);
    return static_cast<std::uint64_t>(v < 0 ? -v : v);  // BMP heights are negative for top-down rows
  };
  switch (format) {
    case ImageFormat::png:  // signature, IHDR length and type, then width and height
      if (size < 24) return false;
      w = be(16, 4), h = be(20, 4);
      return true;
    case ImageFormat::bmp:  // file header (14 bytes), then the info header's size, width, height
      if (size < 26) return false;
      w = le32(18), h = le32(22);
      return true;
    case ImageFormat::jpeg:  // the first start-of-frame segment: FF Cn, length, precision, height, width
      for (std::size_t at = 2; at + 9 <= size;) {
        if (d[at] != 0xff) return false;
        const std::uint8_t marker = d[at + 1];
        if (marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc) {
          h = be(at + 5, 2), w = be(at + 7, 2);
          return true;
        }
        at += 2 + static_cast<std::size_t>(be(at + 2, 2));
      }
      return false;
    case ImageFormat::unknown: break;
  }
  return false;
}

// What is wrong with a JPEG stream's Huffman tables that Debian's stb_image (2.27,
// libstb-dev 0.0~git20220908) does not catch itself, or "" when nothing is. Our fuzzer
// found both faults (docs/fuzzing.md, I1 and I3):
//  - a table (DHT segment) of more than 255 codes. For more than 256, stb writes past the
//    end of a 257-byte array (fixed upstream in 2.28); for exactly 256, its fast lookup
//    takes code 255 for "not in the table" and misdecodes (or asserts). JPEG's own tables
//    have at most 162 codes, so no real file is refused.
//  - a scan that decodes with a table the file never defined before it. stb 2.27 does not
//    zero its decoder, so it would index arrays by uninitialized memory (an out-of-bounds
//    read). Which tables a scan uses follows stb: a baseline scan its DC and AC tables; a
//    progressive DC scan (Ss = 0) its DC table on the first pass (Ah = 0) only; a
//    progressive AC scan (Ss > 0) its AC table.
// decode_image refuses such a file before stb sees it. The walk follows stb's own reading:
// markers, each segment by its length, fill bytes and stray bytes skipped (stb
// resynchronizes on them too), and a scan's entropy-coded data up to the next marker that
// is neither a stuffed FF 00 nor a restart marker; a segment running past the data is read
// as zeros, as stb does.
inline std::string jpeg_huffman_problem(const std::uint8_t* d, std::size_t size) {
  const auto byte = [&](std::size_t i) { return i < size ? d[i] : std::uint8_t{0}; };
  bool progressive = false;
  bool dc_defined[16] = {}, ac_defined[16] = {};
  std::size_t at = 2;  // after SOI
  while (at + 1 < size) {
    if (d[at] != 0xff || d[at + 1] == 0xff || d[at + 1] == 0x00) {  // not (yet) a marker
      ++at;
      continue;
    }
    const std::uint8_t marker = d[at + 1];
    if (marker == 0xd9) return "";                               // end of image
    if ((marker >= 0xd0 && marker <= 0xd7) || marker == 0x01) {  // markers without a length
      at += 2;
      continue;
    }
    if (at + 4 > size) return "";
    const std::size_t length = static_cast<std::size_t>(d[at + 2]) << 8 | d[at + 3];
    if (marker == 0xc2) progressive = true;  // the only progressive frame stb reads
    if (marker == 0xc4) {
      // DHT: tables of (class/id byte, 16 code counts, the symbols) while the segment lasts.
      for (std::size_t t = at + 4; t < at + 2 + length;) {
        std::size_t codes = 0;
        for (std::size_t i = 1; i <= 16; ++i) codes += byte(t + i);
        if (codes > 255) return "a Huffman table defines " + std::to_string(codes) + " codes, more than 255";
        (byte(t) >> 4 == 0 ? dc_defined : ac_defined)[byte(t) & 15] = true;
        t += 17 + codes;
      }
    }
    if (marker == 0xda) {
      // SOS: the component count, then (component id, DC table << 4 | AC table) each,
      // then the spectral start Ss, end Se and the successive approximation Ah << 4 | Al.
      const std::size_t count = byte(at + 4);
      const std::uint8_t spectral_start = byte(at + 5 + 2 * count);
      const std::uint8_t approximation_high = byte(at + 7 + 2 * count) >> 4;
      const bool uses_dc = !progressive || (spectral_start == 0 && approximation_high == 0);
      const bool uses_ac = !progressive || spectral_start > 0;
      for (std::size_t c = 0; c < count; ++c) {
        const std::uint8_t tables = byte(at + 6 + 2 * c);
        if ((uses_dc && !dc_defined[tables >> 4]) || (uses_ac && !ac_defined[tables & 15]))
          return "a scan uses a Huffman table that the file does not define before it";
      }
    }
    at += 2 + std::max<std::size_t>(length, 2);
    if (marker == 0xda)  // SOS: skip the entropy-coded data
      while (at + 1 < size && !(d[at] == 0xff && d[at + 1] != 0x00 && !(d[at + 1] >= 0xd0 && d[at + 1] <= 0xd7))) ++at;
  }
  return "";
}

// Whether every chunk of a PNG stream lies inside the data, up to IEND. stb trusts a
// chunk's stated length and grows its buffer to it before reading (an IDAT claiming 2 GiB
// in a 200-byte file costs a 2 GiB allocation, and under the sanitizers seconds), so
// decode_image refuses a chunk that runs past the end first: such a file is truncated.
inline bool png_chunks_fit(const std::uint8_t* d, std::size_t size) {
  std::size_t at = 8;  // after the signature
  while (at + 8 <= size) {
    const std::uint64_t length = static_cast<std::uint64_t>(d[at]) << 24 | static_cast<std::uint64_t>(d[at + 1]) << 16 |
                                 static_cast<std::uint64_t>(d[at + 2]) << 8 | d[at + 3];
    if (length > size - at - 8 || size - at - 8 - length < 4) return false;  // data + CRC past the end
    if (d[at + 4] == 'I' && d[at + 5] == 'E' && d[at + 6] == 'N' && d[at + 7] == 'D') return true;
    at += 12 + static_cast<std::size_t>(length);
  }
  return false;  // no IEND: cut short
}

inline std::string too_many_pixels(const std::string& name, std::uint64_t w, std::uint64_t h, Index max_pixels) {
  return name + ": its header claims " + std::to_string(w) + "x" + std::to_string(h) +
         " pixels, more than the limit of " + std::to_string(max_pixels) +
         " pixels per image; shrink the image (or raise the limit if it is genuine)";
}

}  // namespace detail

// Reads the header of an image file in memory and refuses one stating more than
// `max_pixels` pixels. `name` (the file's path) goes into errors.
inline ImageHeader read_image_header(const std::uint8_t* data, std::size_t size, const std::string& name,
                                     Index max_pixels = kImageMaxPixels) {
  ImageHeader h;
  h.format = sniff_image_format(data, size);
  if (h.format == ImageFormat::unknown)
    throw IoError(name + ": not a PNG, JPEG or BMP file (its first bytes match none of them); remove it or convert it");
  if (size > static_cast<std::size_t>(INT32_MAX))
    throw IoError(name + ": " + std::to_string(size) + " bytes, more than the 2 GiB an image file may have");
  // The stated size first, by our own reading: stb's is refused with a vaguer reason.
  std::uint64_t claimed_w = 0, claimed_h = 0;
  if (detail::claimed_size(data, size, h.format, claimed_w, claimed_h) && claimed_w > 0 && claimed_h > 0 &&
      claimed_w > static_cast<std::uint64_t>(max_pixels) / claimed_h)
    throw IoError(detail::too_many_pixels(name, claimed_w, claimed_h, max_pixels));
  if (h.format == ImageFormat::png && !detail::png_chunks_fit(data, size))
    throw IoError(name + ": the PNG data ends inside a chunk or before its IEND chunk: the file is truncated or " +
                  "corrupt; copy it again or remove it");
  // Before stb reads any table (stbi_info parses the markers up to the frame header).
  if (h.format == ImageFormat::jpeg) {
    const std::string problem = detail::jpeg_huffman_problem(data, size);
    if (!problem.empty()) throw IoError(name + ": " + problem + ": the JPEG file is corrupt; replace or remove it");
  }
  int w = 0, h_px = 0, c = 0;
  if (!stbi_info_from_memory(data, static_cast<int>(size), &w, &h_px, &c)) {
    throw IoError(name + ": the " + image_format_name(h.format) +
                  " header cannot be read: " + detail::explain_stb_failure(detail::stb_reason()));
  }
  h.width = w;
  h.height = h_px;
  h.channels = c;
  h.sixteen_bit = stbi_is_16_bit_from_memory(data, static_cast<int>(size)) != 0;
  return h;
}

// Decodes an image file in memory to `channels` (1 grey, 3 RGB) 8-bit channels, after
// checking its header against `max_pixels`. Throws IoError naming `name` on anything wrong.
inline DecodedImage decode_image(const std::uint8_t* data, std::size_t size, int channels, const std::string& name,
                                 Index max_pixels = kImageMaxPixels) {
  if (channels != 1 && channels != 3)
    throw Error("decode_image: channels must be 1 (grey) or 3 (RGB), got " + std::to_string(channels));
  const ImageHeader header = read_image_header(data, size, name, max_pixels);
  if (header.width < 1 || header.height < 1 || header.width > max_pixels / header.height)
    throw IoError(detail::too_many_pixels(name, static_cast<std::uint64_t>(header.width),
                                          static_cast<std::uint64_t>(header.height), max_pixels));
  if (header.format == ImageFormat::jpeg && !detail::jpeg_has_end_marker(data, size))
    throw IoError(name + ": the JPEG data ends before its end-of-image marker: the file is truncated; " +
                  "copy it again or remove it");
  int w = 0, h = 0, file_channels = 0;
  stbi_uc* pixels = stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &file_channels, channels);
  if (!pixels)
    throw IoError(name + ": the " + std::string(image_format_name(header.format)) + " data cannot be decoded: " +
                  detail::explain_stb_failure(detail::stb_reason()) + "; replace or remove the file");
  DecodedImage out;
  out.width = w;
  out.height = h;
  out.channels = channels;
  const std::size_t bytes =
      static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * static_cast<std::size_t>(channels);
  try {
    out.pixels.assign(pixels, pixels + bytes);
  } catch (...) {
    stbi_image_free(pixels);
    throw;
  }
  stbi_image_free(pixels);
  return out;
}

inline DecodedImage decode_image(const std::vector<std::uint8_t>& file, int channels, const std::string& name,
                                 Index max_pixels = kImageMaxPixels) {
  return decode_image(file.data(), file.size(), channels, name, max_pixels);
}

}  // namespace vaegan
