#pragma once
// Image folders, like torchvision's ImageFolder: a directory of PNG, JPEG and BMP files,
// optionally one subfolder per class, loaded as ImageDataset<T> [C, H, W] in [0, 1] with
// a fixed, seeded train/test split.
//
//   vaegan::ImageFolderOptions o;
//   o.channels = 3;  o.image_size = 32;          // RGB, every image resized to 32 x 32
//   auto train = vaegan::load_image_folder<float>("faces", "train", o);
//
// Layout. If ROOT has subfolders, each is a class (labels 0, 1, ... in name order, as
// torchvision's find_classes), walked recursively; images directly in ROOT beside class
// folders are an error. If ROOT has no subfolders, its images are one unlabelled set
// (label 0). LabelMode::none walks every subfolder as one set; LabelMode::required
// insists on two or more class folders (what a classifier needs).
//
// What is read, and what is skipped (counted in ImageFolderListing, never silent):
//  - files ending in .png, .jpg, .jpeg or .bmp (any case) are images; the format is then
//    taken from the content, so a PNG named .jpg loads, and a file with an image name
//    that is not a decodable image is an error naming it (decode_image's trust contract:
//    io/image_decode.hpp), because a corrupt image in a training set is a fact the user
//    should know, not something to paper over;
//  - other files (README, .txt, Thumbs.db) and hidden entries (names starting with '.')
//    are skipped and counted;
//  - symlinks are followed; a link that leads back into a folder being walked (a loop),
//    a broken link, an unreadable folder or file is an error naming it.
//
// Size. With image_size = N every image is resized to N x N (io/image_resize.hpp);
// otherwise every image must have the size of the first (in name order), and one that
// does not is an error naming both files and their sizes.
//
// Split. Per class, the files sorted by relative path are shuffled by an Rng seeded with
// split_seed and the first round(test_fraction * n) go to the test split; each split is
// then kept in path order. The split depends only on the file names and the seed, so it
// is the same on every machine and for both splits' loads, and load_image_folder of
// "train" decodes only the training files.
//
// Loading decodes files in parallel (OpenMP) straight into the dataset's tensor; peak
// memory is the dataset plus one decoded image per thread.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <new>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/parallel.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/core/tensor.hpp"
#include "vaegan/data/dataset.hpp"
#include "vaegan/data/split.hpp"
#include "vaegan/io/image_decode.hpp"
#include "vaegan/io/image_resize.hpp"

namespace vaegan {

enum class LabelMode {
  automatic,  // subfolders are classes if ROOT has any, else one unlabelled set
  none,       // every image under ROOT, subfolders included, with label 0
  required,   // two or more class folders, each with images
};

struct ImageFolderOptions {
  int channels = 1;            // 1: grey, 3: RGB (io/image_decode.hpp converts)
  Index image_size = 0;        // 0: all images share the first one's size; N: resize to N x N
  double test_fraction = 0.1;  // share of each class in the test split, [0, 1)
  std::uint64_t split_seed = 0x5eed;
  LabelMode labels = LabelMode::automatic;
  Index max_pixels = kImageMaxPixels;  // per image, checked on its header before decoding
};

// One image file of a folder.
struct ImageFile {
  std::string path;      // as found: ROOT / relative path
  std::string relative;  // relative to ROOT, '/'-separated; the sort and split key
  int label = 0;
};

// What a folder holds: its images in relative-path order, its classes, what was skipped.
struct ImageFolderListing {
  std::string root;
  std::vector<ImageFile> images;
  std::vector<std::string> class_names;  // empty for an unlabelled folder
  Index skipped_files = 0;               // not an image by name, or not a regular file
  Index skipped_hidden = 0;              // names starting with '.'

  bool labelled() const { return !class_names.empty(); }
};

// The split of a listing: indices into listing.images, each in path order.
struct ImageFolderSplit {
  std::vector<Index> train;
  std::vector<Index> test;
};

namespace detail {

inline bool has_image_extension(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

inline std::string error_text(const std::error_code& ec) { return ec.message(); }

// The entries of one directory in name order; errors name the directory.
inline std::vector<std::filesystem::path> sorted_entries(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> entries;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec)
    throw IoError(dir.string() + ": cannot list the folder: " + error_text(ec) +
                  "; check that it exists and that you may read it");
  for (const std::filesystem::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) break;
    entries.push_back(it->path());
  }
  if (ec) throw IoError(dir.string() + ": listing the folder failed: " + error_text(ec));
  std::sort(entries.begin(), entries.end());
  return entries;
}

// What an entry is once symlinks are followed; a broken link or a link loop is an error.
inline std::filesystem::file_status follow(const std::filesystem::path& p) {
  std::error_code ec;
  const std::filesystem::file_status s = std::filesystem::status(p, ec);
  if (!ec && s.type() != std::filesystem::file_type::not_found) return s;
  std::error_code link_ec;
  if (std::filesystem::is_symlink(std::filesystem::symlink_status(p, link_ec))) {
    const std::filesystem::path target = std::filesystem::read_symlink(p, link_ec);
    throw IoError(p.string() + ": a symlink to '" + target.string() + "' that cannot be followed (" +
                  (ec ? error_text(ec) : std::string("the target does not exist")) + "); fix or remove the link");
  }
  throw IoError(p.string() + ": cannot read its type: " + (ec ? error_text(ec) : std::string("it vanished")));
}

// Walks `dir` (a class folder, or ROOT), adding its images with `label`. `ancestors`
// holds the canonical paths of the folders being walked: meeting one again is a loop.
inline void walk_image_folder(const std::filesystem::path& dir, const std::string& relative, int label, bool recurse,
                              std::vector<std::string>& ancestors, ImageFolderListing& out) {
  std::error_code ec;
  const std::string canonical = std::filesystem::canonical(dir, ec).string();
  if (ec) throw IoError(dir.string() + ": cannot resolve the folder: " + error_text(ec));
  if (std::find(ancestors.begin(), ancestors.end(), canonical) != ancestors.end())
    throw IoError(dir.string() + ": a symlink loop (it leads back to '" + canonical +
                  "', a folder already being read); remove the link");
  ancestors.push_back(canonical);
  for (const std::filesystem::path& p : sorted_entries(dir)) {
    const std::string name = p.filename().string();
    if (!name.empty() && name[0] == '.') {
      ++out.skipped_hidden;
      continue;
    }
    const std::string rel = relative.empty() ? name : relative + "/" + name;
    const std::filesystem::file_status s = follow(p);
    if (s.type() == std::filesystem::file_type::directory) {
      if (!recurse)
        throw IoError(p.string() +
                      ": a subfolder in an unlabelled image folder; use LabelMode::none to read "
                      "subfolders too");
      walk_image_folder(p, rel, label, recurse, ancestors, out);
    } else if (s.type() == std::filesystem::file_type::regular && has_image_extension(p)) {
      out.images.push_back(ImageFile{p.string(), rel, label});
    } else {
      ++out.skipped_files;
    }
  }
  ancestors.pop_back();
}

}  // namespace detail

// Lists the images of `root` as `labels` says (see the header comment). Throws IoError for
// a missing, empty or unreadable folder, a symlink loop or broken link, an empty class
// folder, images beside class folders, and too few classes where labels are required.
inline ImageFolderListing list_image_folder(const std::string& root, LabelMode labels = LabelMode::automatic) {
  namespace fs = std::filesystem;
  ImageFolderListing out;
  out.root = root;
  std::error_code ec;
  const fs::file_status root_status = fs::status(root, ec);
  if (ec || !fs::exists(root_status))
    throw IoError("image folder '" + root + "' does not exist; pass the directory that holds your images");
  if (!fs::is_directory(root_status))
    throw IoError("image folder '" + root + "' is a file, not a directory; pass the directory that holds the images");

  std::vector<std::string> ancestors;
  const std::vector<fs::path> top = detail::sorted_entries(root);
  std::vector<fs::path> class_dirs;
  Index top_images = 0;
  std::string first_top_image;
  for (const fs::path& p : top) {
    const std::string name = p.filename().string();
    if (!name.empty() && name[0] == '.') continue;
    const fs::file_status s = detail::follow(p);
    if (s.type() == fs::file_type::directory) {
      class_dirs.push_back(p);
    } else if (s.type() == fs::file_type::regular && detail::has_image_extension(p)) {
      if (top_images++ == 0) first_top_image = p.string();
    }
  }

  const bool by_class = labels != LabelMode::none && !class_dirs.empty();
  if (labels == LabelMode::required && class_dirs.size() < 2)
    throw IoError("image folder '" + root + "' has " + std::to_string(class_dirs.size()) +
                  (class_dirs.size() == 1 ? " class folder ('" + class_dirs[0].filename().string() + "')"
                                          : std::string(" class folders")) +
                  " but labels need at least two: put each class's images in a subfolder named after it");
  if (by_class) {
    if (top_images > 0)
      throw IoError("image folder '" + root + "' has " + std::to_string(top_images) + " images (e.g. '" +
                    first_top_image + "') beside its class folders; move them into a class folder, or remove them");
    if (class_dirs.size() > 256)
      throw IoError("image folder '" + root + "' has " + std::to_string(class_dirs.size()) +
                    " class folders; at most 256 classes are supported");
    // The root itself is a walked folder: a class link back to it is a loop.
    const std::string root_canonical = fs::canonical(root, ec).string();
    if (!ec) ancestors.push_back(root_canonical);
    for (std::size_t c = 0; c < class_dirs.size(); ++c) {
      const std::string name = class_dirs[c].filename().string();
      out.class_names.push_back(name);
      const std::size_t before = out.images.size();
      detail::walk_image_folder(class_dirs[c], name, static_cast<int>(c), true, ancestors, out);
      if (out.images.size() == before)
        throw IoError("class folder '" + class_dirs[c].string() +
                      "' has no PNG, JPEG or BMP images; add images to it or remove it");
    }
  } else {
    detail::walk_image_folder(root, "", 0, labels == LabelMode::none, ancestors, out);
  }
  // Skipped entries at the top level were counted by the walk for unlabelled folders only.
  if (by_class)
    for (const fs::path& p : top) {
      const std::string name = p.filename().string();
      if (!name.empty() && name[0] == '.') ++out.skipped_hidden;
      else if (detail::follow(p).type() != fs::file_type::directory) ++out.skipped_files;
    }
  if (out.images.empty())
    throw IoError("image folder '" + root + "' has no PNG, JPEG or BMP images (" + std::to_string(out.skipped_files) +
                  " other files skipped); put images in it, or one subfolder of images per class");
  std::sort(out.images.begin(), out.images.end(),
            [](const ImageFile& a, const ImageFile& b) { return a.relative < b.relative; });
  return out;
}

// The seeded train/test split of a listing (see the header comment): data/split.hpp's
// stratified_split over the images' classes.
inline ImageFolderSplit split_image_folder(const ImageFolderListing& listing, double test_fraction,
                                           std::uint64_t seed) {
  if (!(test_fraction >= 0.0 && test_fraction < 1.0))
    throw Error("split_image_folder: test_fraction must be in [0, 1), got " + std::to_string(test_fraction));
  std::vector<int> labels;
  labels.reserve(listing.images.size());
  for (const ImageFile& image : listing.images) labels.push_back(image.label);
  IndexSplit split =
      stratified_split(labels, std::max<int>(1, static_cast<int>(listing.class_names.size())), test_fraction, seed);
  return {std::move(split.kept), std::move(split.held_out)};
}

namespace detail {

// The bytes of one file; errors name it and the reason (permission, not a file...).
inline std::vector<std::uint8_t> read_image_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw IoError(path + ": cannot open: " + std::strerror(errno) + "; check the file's permissions");
  std::vector<std::uint8_t> bytes;
  std::uint8_t buffer[1 << 16];
  for (;;) {
    const std::size_t n = std::fread(buffer, 1, sizeof buffer, f);
    bytes.insert(bytes.end(), buffer, buffer + n);
    if (n < sizeof buffer) break;
    if (bytes.size() > (std::size_t{1} << 31)) {
      std::fclose(f);
      throw IoError(path + ": larger than 2 GiB, too large for an image file");
    }
  }
  const bool failed = std::ferror(f) != 0;
  const int read_errno = errno;
  std::fclose(f);
  if (failed) throw IoError(path + ": reading failed: " + std::strerror(read_errno));
  return bytes;
}

}  // namespace detail

// One image file's bytes as a folder image: decoded to options.channels, resized to
// height x width when options.image_size is set (else required to be that size, which
// `size_source` names in the error), written to `out` channel-planar ([C, H, W]) as T in
// [0, 1]. The fuzz harness tests/fuzz/fuzz_image.cpp drives this function.
template <class T>
void decode_folder_image(const std::uint8_t* bytes, std::size_t size, const std::string& name,
                         const ImageFolderOptions& options, Index height, Index width, const std::string& size_source,
                         T* out) {
  DecodedImage img = decode_image(bytes, size, options.channels, name, options.max_pixels);
  if (options.image_size > 0) {
    img = resize_image(img, width, height);
  } else if (img.width != width || img.height != height) {
    throw IoError(name + " is " + std::to_string(img.width) + "x" + std::to_string(img.height) + " but " + size_source +
                  " is " + std::to_string(width) + "x" + std::to_string(height) +
                  "; pass an image size (--image-size N) to resize every image to N x N");
  }
  const Index plane = height * width;
  const int c = options.channels;
  for (int ch = 0; ch < c; ++ch)
    for (Index p = 0; p < plane; ++p)
      out[ch * plane + p] = static_cast<T>(img.pixels[static_cast<std::size_t>(p * c + ch)]) / T(255);
}

// The image shape [C, H, W] the folder's images load as: N x N with image_size, else the
// size of the first image in path order (only its header is read).
inline Shape image_folder_shape(const ImageFolderListing& listing, const ImageFolderOptions& options) {
  if (options.channels != 1 && options.channels != 3)
    throw Error("image folder: channels must be 1 (grey) or 3 (RGB), got " + std::to_string(options.channels));
  if (options.image_size > 0) {
    if (options.image_size > kImageMaxSide)
      throw Error("image folder: image_size " + std::to_string(options.image_size) + " is above " +
                  std::to_string(kImageMaxSide));
    return Shape{options.channels, options.image_size, options.image_size};
  }
  const ImageFile& first = listing.images.front();
  const std::vector<std::uint8_t> bytes = detail::read_image_file(first.path);
  const ImageHeader h = read_image_header(bytes.data(), bytes.size(), first.path);
  return Shape{options.channels, h.height, h.width};
}

// Loads the images `indices` of a listing as a dataset of `shape` ([C, H, W]).
template <class T>
ImageDataset<T> load_image_files(const ImageFolderListing& listing, const std::vector<Index>& indices,
                                 const Shape& shape, const ImageFolderOptions& options) {
  const Index n = static_cast<Index>(indices.size());
  const Index per_image = shape.numel();
  if (n == 0) return ImageDataset<T>(Tensor<T>(Shape{0, per_image}), {}, shape);
  Tensor<T> images;
  try {
    images = Tensor<T>(Shape{n, per_image});
  } catch (const std::bad_alloc&) {
    throw IoError("image folder '" + listing.root + "': " + std::to_string(n) + " images of " + shape.str() + " need " +
                  std::to_string(static_cast<double>(n) * static_cast<double>(per_image) * sizeof(T) / (1 << 30)) +
                  " GiB, more memory than there is; pass a smaller image size or use fewer images");
  }
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(n));
  const std::string size_source = "'" + listing.images.front().path + "', the first image,";
  // The first failure in file order is the one reported, whichever thread met it.
  Index failed_at = n;
  std::string failure;
  [[maybe_unused]] const int threads = num_threads();  // unused without OpenMP
#pragma omp parallel for schedule(dynamic, 8) num_threads(threads) if (threads > 1)
  for (Index k = 0; k < n; ++k) {
    const ImageFile& file = listing.images[static_cast<std::size_t>(indices[static_cast<std::size_t>(k)])];
    labels[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(file.label);
    try {
      const std::vector<std::uint8_t> bytes = detail::read_image_file(file.path);
      decode_folder_image(bytes.data(), bytes.size(), file.path, options, shape[1], shape[2], size_source,
                          images.data() + k * per_image);
    } catch (const std::exception& e) {
#pragma omp critical(vaegan_image_folder_failure)
      if (k < failed_at) {
        failed_at = k;
        failure = e.what();
      }
    }
  }
  if (failed_at < n) throw IoError(failure);
  return ImageDataset<T>(std::move(images), std::move(labels), shape);
}

// Loads split "train" or "test" of the image folder `root` (see the header comment).
template <class T>
ImageDataset<T> load_image_folder(const std::string& root, const std::string& split,
                                  const ImageFolderOptions& options = {}) {
  if (split != "train" && split != "test")
    throw Error("load_image_folder: unknown split \"" + split + "\"; use \"train\" or \"test\"");
  const ImageFolderListing listing = list_image_folder(root, options.labels);
  const ImageFolderSplit parts = split_image_folder(listing, options.test_fraction, options.split_seed);
  const Shape shape = image_folder_shape(listing, options);
  return load_image_files<T>(listing, split == "train" ? parts.train : parts.test, shape, options);
}

}  // namespace vaegan
