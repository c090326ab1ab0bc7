// io/png.hpp in a translation unit that compiled stb_image_write itself first (the
// application's own stb): png.hpp must then use that implementation, not add a second.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#endif
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "temp_dir.hpp"
#include "vaegan/io/png.hpp"

#ifdef VAEGAN_STB_IMAGE_WRITE_PRIVATE
#error "png.hpp compiled a private stb copy although stb_image_write.h was included first"
#endif

TEST_CASE("png: works with an application's own stb_image_write included first") {
  vaegan_test::TempDir dir;
  const std::vector<std::uint8_t> px = {0, 64, 128, 255};
  vaegan::write_png_gray(dir.file("a.png"), px.data(), 2, 2);
  const std::vector<std::uint8_t> file = vaegan_test::read_all(dir.file("a.png"));
  REQUIRE(file.size() > 8);
  CHECK(std::memcmp(file.data(), "\x89PNG\r\n\x1a\n", 8) == 0);
  // The application's stb still works as usual next to it.
  CHECK(stbi_write_png(dir.file("b.png").c_str(), 2, 2, 1, px.data(), 2) != 0);
  CHECK(vaegan_test::read_all(dir.file("b.png")) == file);
}
