// Tests for data/image_folder.hpp: class folders and unlabelled folders, the seeded split,
// pixel values and channel layout, resizing on load, what is skipped and counted, and
// every bad folder the loader must refuse with a message naming the file and the fix.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#if !defined(_WIN32)
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#include "data/data_test_util.hpp"
#include "data/image_fixtures.hpp"
#include "test_util.hpp"
#include "vaegan/data/image_folder.hpp"

namespace fs = std::filesystem;
using vaegan::ImageDataset;
using vaegan::ImageFolderOptions;
using vaegan::Index;
using vaegan::IoError;
using vaegan::LabelMode;
using vaegan::test::TempDir;
using vaegan::test::write_bytes;

namespace {

using vaegan::test::contains;

// A w x h grey PNG whose pixels are all `value`.
void grey_png(const fs::path& path, int w, int h, std::uint8_t value) {
  fs::create_directories(path.parent_path());
  write_bytes(path.string(),
              vaegan::test::png_bytes(std::vector<std::uint8_t>(static_cast<std::size_t>(w * h), value), w, h, 1));
}

// root/<class>/img<k>.png for `counts[c]` images per class (at most 40); image k of class
// c has value 40 * c + k, so a loaded image tells where it came from.
void class_folder(const fs::path& root, const std::vector<int>& counts, int size = 4) {
  for (std::size_t c = 0; c < counts.size(); ++c)
    for (int k = 0; k < counts[c]; ++k)
      grey_png(root / ("class" + std::to_string(c)) / ("img" + std::to_string(100 + k) + ".png"), size, size,
               static_cast<std::uint8_t>(40 * c + static_cast<std::size_t>(k)));
}

std::string folder_load_error(const std::string& root, const ImageFolderOptions& o = {}, const char* split = "train") {
  try {
    vaegan::load_image_folder<float>(root, split, o);
  } catch (const IoError& e) {
    return e.what();
  }
  return "";
}

// The byte value each image of a dataset was made with (its first pixel).
std::multiset<int> values(const ImageDataset<float>& d) {
  std::multiset<int> v;
  for (Index i = 0; i < d.size(); ++i) v.insert(static_cast<int>(d.image(i)[0] * 255.0f + 0.5f));
  return v;
}

}  // namespace

TEST_CASE("image folder: class folders give labels in name order and a stratified, seeded split") {
  TempDir dir;
  class_folder(dir.path(), {10, 20, 7});
  write_bytes(dir.file("README.txt"), {'h', 'i'});
  write_bytes((dir.path() / "class1" / "notes.txt").string(), {'x'});
  write_bytes((dir.path() / "class1" / ".DS_Store").string(), {'x'});

  const vaegan::ImageFolderListing listing = vaegan::list_image_folder(dir.path().string());
  CHECK(listing.class_names == std::vector<std::string>{"class0", "class1", "class2"});
  CHECK(listing.images.size() == 37);
  CHECK(listing.skipped_files == 2);   // README.txt, notes.txt
  CHECK(listing.skipped_hidden == 1);  // .DS_Store

  ImageFolderOptions o;
  o.test_fraction = 0.2;
  const auto train = vaegan::load_image_folder<float>(dir.path().string(), "train", o);
  const auto test = vaegan::load_image_folder<float>(dir.path().string(), "test", o);
  CHECK(train.image_shape() == vaegan::Shape{1, 4, 4});
  // round(0.2 * n) per class: 2 of 10, 4 of 20, 1 of 7.
  CHECK(test.size() == 7);
  CHECK(train.size() == 30);
  std::vector<int> per_class(3, 0);
  for (Index i = 0; i < test.size(); ++i) ++per_class[test.label(i)];
  CHECK(per_class == std::vector<int>{2, 4, 1});
  // Disjoint and complete: every (class, k) value exactly once over both splits; the label
  // is the class the image came from.
  std::multiset<int> all = values(train);
  for (int v : values(test)) all.insert(v);
  std::multiset<int> expected;
  for (int c = 0; c < 3; ++c)
    for (int k = 0; k < std::vector<int>{10, 20, 7}[static_cast<std::size_t>(c)]; ++k) expected.insert(40 * c + k);
  CHECK(all == expected);
  for (const auto* split : {&train, &test})
    for (Index i = 0; i < split->size(); ++i)
      CHECK(split->label(i) == static_cast<int>(split->image(i)[0] * 255.0f + 0.5f) / 40);

  // The split is a function of the names and the seed: the same again, different for another seed.
  CHECK(values(vaegan::load_image_folder<float>(dir.path().string(), "test", o)) == values(test));
  o.split_seed = 99;
  CHECK(values(vaegan::load_image_folder<float>(dir.path().string(), "test", o)) != values(test));
  // test_fraction 0: everything trains.
  o.test_fraction = 0;
  CHECK(vaegan::load_image_folder<float>(dir.path().string(), "train", o).size() == 37);
  CHECK(vaegan::load_image_folder<float>(dir.path().string(), "test", o).size() == 0);
}

TEST_CASE("image folder: an unlabelled folder, RGB channel-planar values, and resizing on load") {
  TempDir dir;
  // 3 x 2 RGB: pixel p has (p, 100 + p, 200 + p).
  std::vector<std::uint8_t> rgb;
  for (int p = 0; p < 6; ++p)
    rgb.insert(rgb.end(),
               {static_cast<std::uint8_t>(p), static_cast<std::uint8_t>(100 + p), static_cast<std::uint8_t>(200 + p)});
  for (int k = 0; k < 5; ++k)
    write_bytes(dir.file("im" + std::to_string(k) + ".png"), vaegan::test::png_bytes(rgb, 3, 2, 3));
  write_bytes(dir.file("photo.JPG"), vaegan::test::jpeg_bytes(rgb, 3, 2, 3));
  write_bytes(dir.file("old.bmp"), vaegan::test::bmp_bytes(rgb, 3, 2, 3));

  ImageFolderOptions o;
  o.channels = 3;
  o.test_fraction = 0;
  const auto d = vaegan::load_image_folder<double>(dir.path().string(), "train", o);
  REQUIRE(d.size() == 7);
  CHECK(d.num_classes() == 1);
  CHECK(d.image_shape() == vaegan::Shape{3, 2, 3});
  // The PNG and BMP images: channel-planar [C, H, W], p / 255 exactly.
  // Path order: im0.png .. im4.png, old.bmp, photo.JPG.
  for (Index i : {0, 4}) {
    const double* x = d.image(i);
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 6; ++p) CHECK(x[c * 6 + p] == (100.0 * c + p) / 255.0);
  }
  const double* bmp = d.image(5);  // old.bmp
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 6; ++p) CHECK(bmp[c * 6 + p] == (100.0 * c + p) / 255.0);

  // Grey: stb's luma of (p, 100 + p, 200 + p).
  o.channels = 1;
  const auto grey = vaegan::load_image_folder<double>(dir.path().string(), "train", o);
  CHECK(grey.image_shape() == vaegan::Shape{1, 2, 3});
  CHECK(grey.image(0)[0] == ((77 * 0 + 150 * 100 + 29 * 200) >> 8) / 255.0);

  // Resized on load: every image 5 x 5, constant channels stay constant.
  write_bytes(dir.file("wide.png"), vaegan::test::png_bytes(std::vector<std::uint8_t>(40, 77), 8, 5, 1));
  o.image_size = 5;
  const auto resized = vaegan::load_image_folder<float>(dir.path().string(), "train", o);
  CHECK(resized.image_shape() == vaegan::Shape{1, 5, 5});
  CHECK(resized.size() == 8);
  const float* wide = resized.image(7);  // wide.png sorts last
  for (int p = 0; p < 25; ++p) CHECK(wide[p] == 77.0f / 255.0f);
}

TEST_CASE("image folder: bad folders are refused with a message naming the file and the fix") {
  TempDir dir;
  const fs::path root = dir.path();

  SUBCASE("missing, a file, empty") {
    CHECK(contains(folder_load_error((root / "nope").string()), "does not exist"));
    write_bytes(dir.file("file.png"), {1});
    CHECK(contains(folder_load_error(dir.file("file.png")), "is a file, not a directory"));
    fs::create_directories(root / "empty");
    write_bytes((root / "empty" / "notes.txt").string(), {1});
    const std::string e = folder_load_error((root / "empty").string());
    CHECK(contains(e, "has no PNG, JPEG or BMP images"));
    CHECK(contains(e, "1 other files skipped"));
  }
  SUBCASE("a corrupt image, a truncated one, and a non-image named .png") {
    class_folder(root, {3, 3});
    auto png = vaegan::test::png_bytes(std::vector<std::uint8_t>(16, 9), 4, 4, 1);
    png.resize(png.size() / 2);
    write_bytes((root / "class1" / "cut.png").string(), png);
    std::string e = folder_load_error(root.string(), {}, "test");
    // Whichever split it falls in, the image count is read from the listing; load both.
    if (e.empty()) e = folder_load_error(root.string(), {}, "train");
    CHECK(contains(e, "cut.png"));
    fs::remove(root / "class1" / "cut.png");
    write_bytes((root / "class0" / "text.png").string(), {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i'});
    ImageFolderOptions all;
    all.test_fraction = 0;
    e = folder_load_error(root.string(), all);
    CHECK(contains(e, "text.png"));
    CHECK(contains(e, "not a PNG, JPEG or BMP"));
  }
  SUBCASE("mixed sizes without an image size") {
    grey_png(root / "a.png", 4, 4, 1);
    grey_png(root / "b.png", 4, 6, 1);
    ImageFolderOptions all;
    all.test_fraction = 0;
    const std::string e = folder_load_error(root.string(), all);
    CHECK(contains(e, "b.png is 4x6"));
    CHECK(contains(e, "a.png"));
    CHECK(contains(e, "--image-size"));
    all.image_size = 4;
    CHECK(vaegan::load_image_folder<float>(root.string(), "train", all).size() == 2);
  }
  SUBCASE("a huge header is refused before decoding") {
    write_bytes((root / "huge.png").string(), vaegan::test::raw_png(100000, 100000, 8, 0, {0, 0}));
    ImageFolderOptions all;
    all.test_fraction = 0;
    all.image_size = 8;
    const std::string e = folder_load_error(root.string(), all);
    CHECK(contains(e, "huge.png"));
    CHECK(contains(e, "100000x100000"));
  }
  SUBCASE("classes: one where labels are required, an empty class, images beside classes") {
    class_folder(root, {3});
    ImageFolderOptions o;
    o.labels = LabelMode::required;
    std::string e = folder_load_error(root.string(), o);
    CHECK(contains(e, "1 class folder ('class0')"));
    CHECK(contains(e, "at least two"));
    fs::create_directories(root / "class1");
    e = folder_load_error(root.string());
    CHECK(contains(e, "class1"));
    CHECK(contains(e, "has no PNG, JPEG or BMP images"));
    grey_png(root / "class1" / "x.png", 4, 4, 1);
    grey_png(root / "stray.png", 4, 4, 1);
    e = folder_load_error(root.string());
    CHECK(contains(e, "stray.png"));
    CHECK(contains(e, "beside its class folders"));
    // LabelMode::none reads everything, subfolders included, as one set.
    o.labels = LabelMode::none;
    o.test_fraction = 0;
    CHECK(vaegan::load_image_folder<float>(root.string(), "train", o).size() == 5);
  }
#if !defined(_WIN32)
  SUBCASE("a symlink loop and a broken symlink") {
    class_folder(root, {2, 2});
    fs::create_directory_symlink(root, root / "class1" / "again");
    std::string e = folder_load_error(root.string());
    CHECK(contains(e, "symlink loop"));
    CHECK(contains(e, "again"));
    fs::remove(root / "class1" / "again");
    fs::create_symlink(root / "class1" / "self", root / "class1" / "self");
    e = folder_load_error(root.string());
    CHECK(contains(e, "self"));
    CHECK(contains(e, "cannot be followed"));
    fs::remove(root / "class1" / "self");
    fs::create_symlink(root / "gone.png", root / "class0" / "dangling.png");
    e = folder_load_error(root.string());
    CHECK(contains(e, "dangling.png"));
    CHECK(contains(e, "fix or remove the link"));
  }
  SUBCASE("an unreadable file") {
    // As root the permission bits do not stop a read, so the load runs in a child process
    // that has given up root (setuid to nobody) where needed.
    const fs::path folder = root / "locked";
    grey_png(folder / "a.png", 4, 4, 1);
    grey_png(folder / "b.png", 4, 4, 1);
    fs::permissions(root, fs::perms::all);
    fs::permissions(folder, fs::perms::all);
    fs::permissions(folder / "b.png", fs::perms::none);
    ImageFolderOptions all;
    all.test_fraction = 0;
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // One thread: OpenMP's thread pool does not survive a fork.
      vaegan::set_num_threads(1);
      if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
      const std::string e = folder_load_error(folder.string(), all);
      _exit(contains(e, "b.png") && contains(e, "Permission denied") && contains(e, "permissions") ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    fs::permissions(folder / "b.png", fs::perms::owner_all);
  }
#endif
}
