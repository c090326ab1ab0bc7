// Tests for io/image_decode.hpp and io/image_resize.hpp: PNG, JPEG and BMP decode to the
// pixels written; channel conversions (16-bit, palette, alpha, grey <-> RGB); corrupt,
// truncated, hostile and non-image input is refused with a message naming the file; the
// resize filter against Pillow's BILINEAR.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "data/image_fixtures.hpp"
#include "test_util.hpp"
#include "vaegan/io/image_decode.hpp"
#include "vaegan/io/image_resize.hpp"

using vaegan::decode_image;
using vaegan::DecodedImage;
using vaegan::ImageFormat;
using vaegan::IoError;
using vaegan::test::ImageBytes;

namespace {

using vaegan::test::contains;

// A w x h image with `c` channels whose every byte differs: (31 * i + 7) mod 256.
std::vector<std::uint8_t> pattern(int w, int h, int c) {
  std::vector<std::uint8_t> p(static_cast<std::size_t>(w * h * c));
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::uint8_t>((31 * i + 7) % 256);
  return p;
}

// The message decode_image throws for `bytes`, or "" if it decodes.
std::string decode_error(const ImageBytes& bytes, int channels = 1,
                         vaegan::Index max_pixels = vaegan::kImageMaxPixels) {
  try {
    decode_image(bytes, channels, "dir/img.png", max_pixels);
  } catch (const IoError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("image decode: PNG and BMP give back the exact pixels, grey and RGB") {
  for (int c : {1, 3}) {
    const auto pixels = pattern(5, 3, c);
    for (const ImageBytes& file :
         {vaegan::test::png_bytes(pixels, 5, 3, c), vaegan::test::bmp_bytes(pixels, 5, 3, c)}) {
      const DecodedImage img = decode_image(file, c, "x");
      CHECK(img.width == 5);
      CHECK(img.height == 3);
      CHECK(img.channels == c);
      CHECK(img.pixels == pixels);
    }
  }
  CHECK(vaegan::sniff_image_format(vaegan::test::png_bytes(pattern(2, 2, 1), 2, 2, 1).data(), 40) == ImageFormat::png);
}

TEST_CASE("image decode: JPEG decodes close to what was encoded") {
  std::vector<std::uint8_t> smooth(16 * 16 * 3);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x)
      for (int ch = 0; ch < 3; ++ch)
        smooth[static_cast<std::size_t>((y * 16 + x) * 3 + ch)] =
            static_cast<std::uint8_t>(40 + 8 * x + 4 * y + 20 * ch);
  const ImageBytes jpg = vaegan::test::jpeg_bytes(smooth, 16, 16, 3, 100);
  CHECK(vaegan::read_image_header(jpg.data(), jpg.size(), "x").format == ImageFormat::jpeg);
  const DecodedImage img = decode_image(jpg, 3, "x");
  REQUIRE(img.pixels.size() == smooth.size());
  int worst = 0;
  for (std::size_t i = 0; i < smooth.size(); ++i) worst = std::max(worst, std::abs(img.pixels[i] - smooth[i]));
  CHECK(worst <= 8);  // lossy, but a smooth gradient at quality 100 stays within a few levels
}

TEST_CASE("image decode: grey <-> RGB conversions") {
  // RGB pure red, green, blue, white -> stb's luma (77 R + 150 G + 29 B) >> 8.
  const std::vector<std::uint8_t> rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
  const DecodedImage grey = decode_image(vaegan::test::png_bytes(rgb, 4, 1, 3), 1, "x");
  CHECK(grey.pixels == std::vector<std::uint8_t>{76, 149, 28, 255});
  // Grey -> RGB repeats the value.
  const DecodedImage colour = decode_image(vaegan::test::png_bytes({9, 200}, 2, 1, 1), 3, "x");
  CHECK(colour.pixels == std::vector<std::uint8_t>{9, 9, 9, 200, 200, 200});
}

TEST_CASE("image decode: 16-bit keeps the high byte, palettes expand, alpha is dropped") {
  SUBCASE("16-bit grey") {
    // One row of two 16-bit samples: 0x1234, 0xff00.
    const ImageBytes png = vaegan::test::raw_png(2, 1, 16, 0, {0, 0x12, 0x34, 0xff, 0x00});
    CHECK(vaegan::read_image_header(png.data(), png.size(), "x").sixteen_bit);
    CHECK(decode_image(png, 1, "x").pixels == std::vector<std::uint8_t>{0x12, 0xff});
  }
  SUBCASE("palette") {
    const ImageBytes palette = {10, 20, 30, 200, 100, 50};
    const ImageBytes png = vaegan::test::raw_png(3, 1, 8, 3, {0, 1, 0, 1}, palette);
    CHECK(decode_image(png, 3, "x").pixels == std::vector<std::uint8_t>{200, 100, 50, 10, 20, 30, 200, 100, 50});
  }
  SUBCASE("grey + alpha and RGBA") {
    const DecodedImage ga = decode_image(vaegan::test::png_bytes({77, 0, 150, 255}, 2, 1, 2), 1, "x");
    CHECK(ga.pixels == std::vector<std::uint8_t>{77, 150});
    const DecodedImage rgba = decode_image(vaegan::test::png_bytes({1, 2, 3, 0, 4, 5, 6, 128}, 2, 1, 4), 3, "x");
    CHECK(rgba.pixels == std::vector<std::uint8_t>{1, 2, 3, 4, 5, 6});
  }
}

TEST_CASE("image decode: bad input is refused with a message naming the file") {
  const auto pixels = pattern(8, 8, 1);
  const ImageBytes png = vaegan::test::png_bytes(pixels, 8, 8, 1);

  SUBCASE("not an image") {
    const std::string text = "hello, this is a text file\n";
    const std::string e = decode_error(ImageBytes(text.begin(), text.end()));
    CHECK(contains(e, "dir/img.png"));
    CHECK(contains(e, "not a PNG, JPEG or BMP"));
    CHECK(contains(decode_error({}), "not a PNG, JPEG or BMP"));
  }
  SUBCASE("truncated PNG, at every length") {
    for (std::size_t keep = 1; keep < png.size() - 12; ++keep) {  // everything before IEND is needed
      const std::string e = decode_error(ImageBytes(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(keep)));
      INFO("kept " << keep << " of " << png.size() << " bytes");
      CHECK(contains(e, "dir/img.png"));
    }
  }
  SUBCASE("truncated JPEG") {
    const ImageBytes jpg = vaegan::test::jpeg_bytes(pattern(16, 16, 3), 16, 16, 3);
    for (std::size_t keep : {jpg.size() / 4, jpg.size() / 2, jpg.size() - 2}) {
      const std::string e = decode_error(ImageBytes(jpg.begin(), jpg.begin() + static_cast<std::ptrdiff_t>(keep)), 3);
      INFO("kept " << keep << " of " << jpg.size() << " bytes");
      CHECK(contains(e, "dir/img.png"));
      CHECK((contains(e, "truncated") || contains(e, "corrupt")));
    }
  }
  SUBCASE("corrupt PNG data") {
    ImageBytes bad = png;
    for (std::size_t i = 41; i < bad.size() - 16; ++i) bad[i] ^= 0x5a;  // the compressed pixels
    const std::string e = decode_error(bad);
    CHECK(contains(e, "dir/img.png"));
    CHECK(contains(e, "cannot be decoded"));
  }
  SUBCASE("a header claiming 100000 x 100000 pixels is refused before decoding") {
    const ImageBytes huge = vaegan::test::raw_png(100000, 100000, 8, 0, {0, 0, 0});
    const std::string e = decode_error(huge);
    CHECK(contains(e, "dir/img.png"));
    CHECK(contains(e, "100000x100000"));
    CHECK(contains(e, "limit"));
    // The caller's own limit applies the same way.
    CHECK(contains(decode_error(png, 1, 63), "limit of 63 pixels"));
    CHECK(decode_error(png, 1, 64).empty());
  }
}

TEST_CASE("image decode: a progressive JPEG (tables between scans, DC refinement scans) decodes") {
  // The Huffman table check must not refuse a valid progressive file, whose DC refinement
  // scans name tables that were never defined (they decode no Huffman codes).
  const DecodedImage img = vaegan::decode_image(vaegan::test::progressive_rgb_jpeg(), 3, "p.jpg");
  REQUIRE(img.width == 8);
  REQUIRE(img.height == 8);
  const std::vector<std::uint8_t> want = vaegan::test::progressive_pattern();
  int worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(img.pixels[i] - want[i]));
  CHECK(worst <= 4);  // Pillow's own decode is within 3; stb's IDCT rounds a little differently
}

TEST_CASE("image decode: the fuzzer's findings in stb_image are refused before stb reads them") {
  const std::string huffman = decode_error(vaegan::test::jpeg_with_huffman_table_of_272_codes(), 3);
  CHECK(contains(huffman, "dir/img.png"));
  CHECK(contains(huffman, "a Huffman table defines 272 codes, more than 255"));
  CHECK(contains(decode_error(vaegan::test::jpeg_with_huffman_table_of_256_codes()), "defines 256 codes"));
  const std::string undefined = decode_error(vaegan::test::jpeg_with_undefined_huffman_table());
  CHECK(contains(undefined, "dir/img.png"));
  CHECK(contains(undefined, "a scan uses a Huffman table that the file does not define before it"));
  const std::string chunk = decode_error(vaegan::test::png_with_idat_claiming_2_gib());
  CHECK(contains(chunk, "dir/img.png"));
  CHECK(contains(chunk, "ends inside a chunk"));
  // A valid PNG with bytes after IEND still loads (the chunk walk stops at IEND).
  ImageBytes trailing = vaegan::test::png_bytes(pattern(3, 3, 1), 3, 3, 1);
  trailing.insert(trailing.end(), {1, 2, 3});
  CHECK(decode_error(trailing).empty());
}

TEST_CASE("image resize: Pillow's BILINEAR filter, to within one level") {
  // The expected values are Pillow 9.4's: Image.fromarray(a).resize((w, h), Image.BILINEAR)
  // for this 6 x 5 array a (the command is in the test's source history).
  const std::vector<std::uint8_t> a = {0,   40,  80,  120, 160, 200, 10,  50,  90,  130, 170, 210, 20, 60,  100,
                                       140, 180, 220, 30,  70,  110, 150, 190, 230, 255, 0,   255, 0,  255, 0};
  DecodedImage img;
  img.width = 6;
  img.height = 5;
  img.channels = 1;
  img.pixels = a;
  const std::vector<int> shrunk = {19, 75, 133, 189, 35, 91, 149, 205, 110, 124, 133, 147};
  const std::vector<int> grown = {0,   20,  47,  73,  100, 127, 153, 180, 200, 6,   26,  53,  79,  106, 133, 159,
                                  186, 206, 13,  33,  60,  86,  113, 140, 166, 193, 213, 20,  40,  67,  93,  120,
                                  147, 173, 200, 220, 27,  47,  74,  100, 127, 154, 180, 207, 227, 126, 83,  62,
                                  150, 129, 108, 195, 175, 131, 255, 128, 43,  212, 128, 43,  212, 128, 0};
  for (const auto& [w, h, expected] : {std::tuple{4, 3, shrunk}, std::tuple{9, 7, grown}}) {
    const DecodedImage r = vaegan::resize_image(img, w, h);
    REQUIRE(r.pixels.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      INFO(w << "x" << h << " pixel " << i);
      CHECK(std::abs(static_cast<int>(r.pixels[i]) - expected[i]) <= 1);
    }
  }
  // Channels are resized independently, and a constant image stays constant.
  DecodedImage flat;
  flat.width = 7;
  flat.height = 3;
  flat.channels = 3;
  for (int i = 0; i < 21; ++i) flat.pixels.insert(flat.pixels.end(), {10, 128, 250});
  const DecodedImage r = vaegan::resize_image(flat, 2, 5);
  for (std::size_t i = 0; i < r.pixels.size(); i += 3)
    CHECK(std::vector<std::uint8_t>(r.pixels.begin() + static_cast<std::ptrdiff_t>(i),
                                    r.pixels.begin() + static_cast<std::ptrdiff_t>(i) + 3) ==
          std::vector<std::uint8_t>{10, 128, 250});
  CHECK_THROWS_AS(vaegan::resize_image(flat, 0, 5), vaegan::ShapeError);
}
