// make_image_folder: writes an image folder (what --dataset folder:PATH reads) from an IDX
// data set, for the folder tests and the loading benchmark (benchmarks/image_folder_load.sh).
//
//   make_image_folder IDX_DIR OUT_DIR [--count N] [--split train|test] [--rgb]
//                     [--format png|jpg|bmp] [--flat]
//
// Image i of the split becomes OUT_DIR/<label>/<i>.<format> (--flat: OUT_DIR/<i>.<format>,
// no classes). --rgb tints each class with a colour of its own (class c's grey value g
// becomes g times colour c), so that colour carries information; otherwise the files are
// grey. --count N writes the first N images (default: all). Existing files are replaced.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "vaegan/core/config.hpp"
#include "vaegan/data/idx.hpp"
#include "vaegan/data/mnist.hpp"
#include "vaegan/io/atomic_file.hpp"
#include "vaegan/io/png.hpp"

namespace {

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "make_image_folder: " << problem
            << "\nusage: make_image_folder IDX_DIR OUT_DIR [--count N] [--split train|test] [--rgb] "
               "[--format png|jpg|bmp] [--flat]\n";
  std::exit(2);
}

// Ten distinct colours, one per class (RGB, 0..255).
constexpr std::uint8_t kColours[10][3] = {{255, 80, 80},   {80, 255, 80},  {80, 120, 255}, {255, 220, 60},
                                          {255, 80, 255},  {60, 230, 230}, {255, 150, 40}, {160, 90, 255},
                                          {200, 255, 140}, {255, 255, 255}};

void sink(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<std::uint8_t>*>(context);
  const auto* b = static_cast<const std::uint8_t*>(data);
  out->insert(out->end(), b, b + size);
}

std::vector<std::uint8_t> encode(const std::string& format, const std::vector<std::uint8_t>& px, int w, int h, int c) {
  std::vector<std::uint8_t> out;
  if (format == "png") return vaegan::encode_png(px.data(), w, h, c);
  if (format == "jpg") stbi_write_jpg_to_func(&sink, &out, w, h, c, px.data(), 95);
  if (format == "bmp") stbi_write_bmp_to_func(&sink, &out, w, h, c, px.data());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> positional;
  std::string format = "png", split = "train";
  long long count = -1;
  bool rgb = false, flat = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&](const char* flag) {
      if (i + 1 >= argc) usage(std::string(flag) + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--count") {
      count = std::atoll(value("--count").c_str());
      if (count < 1) usage("--count must be >= 1");
    } else if (a == "--split") {
      split = value("--split");
    } else if (a == "--format") {
      format = value("--format");
      if (format != "png" && format != "jpg" && format != "bmp") usage("--format must be png, jpg or bmp");
    } else if (a == "--rgb") {
      rgb = true;
    } else if (a == "--flat") {
      flat = true;
    } else if (!a.empty() && a[0] == '-') {
      usage("unknown flag " + a);
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) usage("give IDX_DIR and OUT_DIR");
  try {
    const vaegan::IdxPair data = vaegan::read_mnist(positional[0], split);
    const vaegan::Index n = count > 0 ? std::min<vaegan::Index>(count, data.images.count) : data.images.count;
    const int w = static_cast<int>(data.images.cols), h = static_cast<int>(data.images.rows), c = rgb ? 3 : 1;
    const std::filesystem::path out(positional[1]);
    std::vector<std::uint8_t> px(static_cast<std::size_t>(w * h * c));
    for (vaegan::Index i = 0; i < n; ++i) {
      const int label = data.labels.labels[static_cast<std::size_t>(i)];
      const std::uint8_t* grey = data.images.pixels.data() + i * w * h;
      for (int p = 0; p < w * h; ++p)
        for (int ch = 0; ch < c; ++ch)
          px[static_cast<std::size_t>(p * c + ch)] =
              rgb ? static_cast<std::uint8_t>(grey[p] * kColours[label % 10][ch] / 255) : grey[p];
      const std::filesystem::path dir = flat ? out : out / std::to_string(label);
      std::filesystem::create_directories(dir);
      const std::vector<std::uint8_t> file = encode(format, px, w, h, c);
      vaegan::detail::write_file_atomically((dir / (std::to_string(i) + "." + format)).string(), file.data(),
                                            file.size(), "make_image_folder");
    }
    std::cout << "make_image_folder: wrote " << n << " " << format << " images of " << w << "x" << h
              << (rgb ? " RGB" : " grey") << " to " << out.string() << (flat ? "" : " (one subfolder per class)")
              << "\n";
  } catch (const std::exception& e) {
    std::cerr << "make_image_folder: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
