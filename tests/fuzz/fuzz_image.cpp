// libFuzzer harness for the image-folder decoding path (include/vaegan/data/image_folder.hpp's
// decode_folder_image: io/image_decode.hpp's trust contract, stb_image's PNG, JPEG and BMP
// decoders, io/image_resize.hpp, and the conversion to channel-planar values).
//
// Each input is one image file's bytes, exactly as it would lie in a folder. It is loaded
// four ways: grey and RGB, each at its own size and resized to 7 x 5 (a size no corpus
// image has, so both the shrinking and the growing filter run).
//
// Expected: the input is accepted, or rejected with vaegan::IoError whose message starts
// with the file's name. A finding: any other exception (also std::bad_alloc: the pixel
// limit must stop every huge allocation), an IoError that does not name the file, an
// accepted image that breaks an invariant (its size within the limit, every value in
// [0, 1]), a crash, a sanitizer report, a leak or a hang.
//
// The pixel limit is 2^20 here (the library's default is 2^26) so that the fuzzer spends
// its time in the decoders rather than in allocating and filling large images.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/data/image_folder.hpp"

namespace {

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_image: %s: %s\n", what, detail.c_str());
  std::abort();
}

constexpr vaegan::Index kMaxPixels = vaegan::Index{1} << 20;
const std::string kName = "fuzz/input.png";

void load(const std::uint8_t* data, std::size_t size, int channels, bool resize) {
  vaegan::ImageFolderOptions o;
  o.channels = channels;
  o.max_pixels = kMaxPixels;
  vaegan::Index height = 5, width = 7;
  if (resize) {
    o.image_size = 7;  // only its being set matters here: the target is height x width
  } else {
    // At its own size: the header's, when the header can be read at all.
    try {
      const vaegan::ImageHeader h = vaegan::read_image_header(data, size, kName, kMaxPixels);
      height = h.height;
      width = h.width;
    } catch (const vaegan::IoError&) {
    }
    if (height < 1 || width < 1 || width > kMaxPixels / height) height = 5, width = 7;
  }
  std::vector<float> out(static_cast<std::size_t>(channels * height * width), -1.0f);
  try {
    vaegan::decode_folder_image(data, size, kName, o, height, width, "the first image", out.data());
  } catch (const vaegan::IoError& e) {
    if (std::string(e.what()).rfind(kName, 0) != 0) finding("IoError without the file name", e.what());
    return;
  } catch (const std::exception& e) {
    finding("unexpected exception", e.what());
  }
  for (float v : out)
    if (!(v >= 0.0f && v <= 1.0f)) finding("accepted image with a value outside [0, 1]", std::to_string(v));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  for (int channels : {1, 3})
    for (bool resize : {false, true}) load(data, size, channels, resize);
  return 0;
}
