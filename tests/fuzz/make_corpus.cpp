// Writes the fuzzers' seed corpora (scripts/fuzz.sh builds and runs it).
//
//   make_corpus --small DIR        the small corpus committed in tests/fuzz/corpus/:
//                                  DIR/idx/*, DIR/checkpoint/*, DIR/image/* and
//                                  DIR/safetensors/* (regenerate it with this)
//   make_corpus --seed-preset DIR  checkpoints of the `seed` preset, one per trainer kind
//                                  (2.6 to 4 MB each: generated at fuzz time, not committed)
//
// Everything is deterministic: the same files on every run.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "../data/image_fixtures.hpp"
#include "fuzz_common.hpp"
#include "vaegan/data/idx.hpp"
#include "vaegan/io/checkpoint.hpp"
#include "vaegan/io/safetensors.hpp"
#include "vaegan/train/checkpointing.hpp"
#include "vaegan/train/gan_trainer.hpp"
#include "vaegan/train/vae_trainer.hpp"
#include "vaegan/train/vaegan_trainer.hpp"

namespace {

using namespace vaegan;
using Bytes = std::vector<std::uint8_t>;

void write_file(const std::filesystem::path& path, const Bytes& bytes) {
  std::FILE* f = std::fopen(path.string().c_str(), "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0) {
    std::fprintf(stderr, "make_corpus: cannot write %s\n", path.string().c_str());
    std::exit(1);
  }
}

Bytes read_file(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.string().c_str(), "rb");
  if (!f) {
    std::fprintf(stderr, "make_corpus: cannot read %s\n", path.string().c_str());
    std::exit(1);
  }
  Bytes out;
  unsigned char buf[65536];
  for (std::size_t got; (got = std::fread(buf, 1, sizeof buf, f)) > 0;) out.insert(out.end(), buf, buf + got);
  std::fclose(f);
  return out;
}

void be32(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

Bytes idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols, std::size_t payload) {
  Bytes b;
  be32(b, kIdxImagesMagic);
  be32(b, count);
  be32(b, rows);
  be32(b, cols);
  for (std::size_t i = 0; i < payload; ++i) b.push_back(static_cast<std::uint8_t>((i * 37 + 11) & 0xff));
  return b;
}
Bytes idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols) {
  return idx_images(count, rows, cols, std::size_t{count} * rows * cols);
}
// A 4-dim images file [count, channels, rows, cols] (magic 2052).
Bytes idx_channel_images(std::uint32_t count, std::uint32_t channels, std::uint32_t rows, std::uint32_t cols,
                         std::size_t payload) {
  Bytes b;
  be32(b, kIdxChannelImagesMagic);
  be32(b, count);
  be32(b, channels);
  be32(b, rows);
  be32(b, cols);
  for (std::size_t i = 0; i < payload; ++i) b.push_back(static_cast<std::uint8_t>((i * 53 + 7) & 0xff));
  return b;
}
Bytes idx_labels(std::uint32_t count, std::size_t payload) {
  Bytes b;
  be32(b, kIdxLabelsMagic);
  be32(b, count);
  for (std::size_t i = 0; i < payload; ++i) b.push_back(static_cast<std::uint8_t>(i % 10));
  return b;
}

Bytes gz(const Bytes& plain) {
  Bytes out;
  if (!detail::gzip_compress(plain.data(), plain.size(), out)) std::exit(1);
  return out;
}
Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
Bytes head(const Bytes& b, std::size_t n) { return Bytes(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n)); }

void idx_corpus(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const auto put = [&](const char* name, const Bytes& b) { write_file(dir / name, b); };
  // Valid files.
  put("images-1x2x3", idx_images(1, 2, 3));
  put("images-3x4x4", idx_images(3, 4, 4));
  put("images-0x28x28", idx_images(0, 28, 28));
  put("labels-3", idx_labels(3, 3));
  put("labels-0", idx_labels(0, 0));
  put("images-2x28x28.gz", gz(idx_images(2, 28, 28)));
  put("images-3x5x2.gz", gz(idx_images(3, 5, 2)));
  put("labels-5.gz", gz(idx_labels(5, 5)));
  put("channels-2x3x4x4", idx_channel_images(2, 3, 4, 4, 2 * 3 * 4 * 4));
  put("channels-1x1x2x3", idx_channel_images(1, 1, 2, 3, 6));
  put("channels-3x3x2x2.gz", gz(idx_channel_images(3, 3, 2, 2, 3 * 3 * 2 * 2)));
  const Bytes im = idx_images(2, 3, 3);
  put("images-2x3x3-two-members.gz", cat(gz(head(im, 10)), gz(Bytes(im.begin() + 10, im.end()))));
  // Broken files.
  put("empty", {});
  put("truncated-header", head(idx_images(1, 2, 3), 6));
  put("truncated-payload", idx_images(3, 4, 4, 40));
  put("trailing-bytes", idx_images(1, 2, 2, 7));
  put("huge-count", idx_images(100000000, 4096, 4096, 10));
  put("huge-count.gz", gz(idx_images(100000000, 4096, 4096, 10)));
  put("count-over-limit", idx_images(0xFFFFFFFFu, 28, 28, 0));
  put("channels-truncated-header", head(idx_channel_images(1, 3, 2, 2, 12), 14));
  put("channels-over-limit", idx_channel_images(1, 65, 2, 2, 260));
  put("channels-huge", idx_channel_images(100000000, 64, 4096, 4096, 10));
  Bytes little = idx_images(1, 2, 2);
  little[0] = 0x03, little[1] = 0x08, little[2] = 0, little[3] = 0;
  put("little-endian-magic", little);
  Bytes floats = idx_images(1, 1, 1, 4);
  floats[2] = 0x0D;
  put("float-element-type", floats);
  const Bytes whole = gz(idx_images(3, 4, 4));
  put("gzip-cut-in-half.gz", head(whole, whole.size() / 2));
  put("gzip-no-trailer.gz", head(whole, whole.size() - 8));
  Bytes bad_crc = whole;
  bad_crc[bad_crc.size() - 8] ^= 1;
  put("gzip-bad-crc.gz", bad_crc);
  put("gzip-trailing-garbage.gz", cat(whole, Bytes{0, 0, 0, 0}));
}

// A trainer after one step (so the Adam moments are not all zero), saved with its batch
// loop or without.
template <class Trainer>
void save_trainer(const std::filesystem::path& path, const ModelConfig& config, bool with_batches) {
  using T = typename Trainer::Scalar;
  const ImageDataset<T> data = fuzz::dataset<T>(config.image_shape);
  Batches<T> batches = data.batches({fuzz::kBatchSize, fuzz::kBatchSeed});
  Trainer trainer(config, {}, 3);
  Tensor<T> x;
  batches.next(x);
  trainer.train_step(x);
  save_training_checkpoint(path.string(), trainer, with_batches ? &batches : static_cast<Batches<T>*>(nullptr));
}

void checkpoint_corpus(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const ModelConfig tiny = fuzz::tiny_config();
  save_trainer<VaeGanTrainer<float>>(dir / "tiny-vaegan-f32-batches.ckpt", tiny, true);
  save_trainer<GanTrainer<float>>(dir / "tiny-gan-f32.ckpt", tiny, false);
  save_trainer<VaeTrainer<float>>(dir / "tiny-vae-f32-batches.ckpt", tiny, true);
  save_trainer<VaeGanTrainer<double>>(dir / "tiny-vaegan-f64.ckpt", tiny, false);

  // One section of every type (the container alone, as the reader's unit tests use it).
  CheckpointWriter w;
  w.add_string("meta.preset", "seed");
  w.add_u64("meta.epoch", 12);
  w.add_i64("meta.offset", -7);
  w.add_f64("meta.lr", 2e-4);
  w.add_tensor("E.params", Tensor<float>(Shape{2, 3}, {1, 2, 3, 4, 5, 6}));
  w.add_tensor("D.params", Tensor<double>(Shape{0, 2}));
  w.add_bytes("blob", Bytes{1, 2, 3});
  w.add_rng_state("rng", Rng(5).state());
  w.save((dir / "container-all-types.ckpt").string());
  CheckpointWriter none;
  none.save((dir / "container-no-sections.ckpt").string());

  // Damaged copies of the VAE-GAN checkpoint.
  const Bytes good = read_file(dir / "tiny-vaegan-f32-batches.ckpt");
  write_file(dir / "damaged-truncated.ckpt", head(good, good.size() / 2));
  write_file(dir / "damaged-header-only.ckpt", head(good, 32));
  Bytes flip = good;
  flip[good.size() / 2] ^= 0x10;
  write_file(dir / "damaged-bit-flip.ckpt", flip);
  Bytes v2 = good;
  v2[8] = 2;
  const std::uint32_t crc = detail::crc32_of(v2.data(), 28);
  for (int i = 0; i < 4; ++i) v2[28 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (8 * i));
  write_file(dir / "damaged-version-2.ckpt", v2);
  write_file(dir / "damaged-not-a-checkpoint.ckpt", Bytes{'P', 'K', 3, 4, 0, 0, 0, 0});
}

void seed_preset_corpus(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const ModelConfig seed = model_preset("seed");
  save_trainer<VaeGanTrainer<float>>(dir / "seed-vaegan-f32-batches.ckpt", seed, true);
  save_trainer<GanTrainer<float>>(dir / "seed-gan-f32.ckpt", seed, false);
  save_trainer<VaeTrainer<float>>(dir / "seed-vae-f32-batches.ckpt", seed, true);
}

// Small images of every kind the folder loader decodes, and broken ones.
void image_corpus(const std::filesystem::path& dir) {
  using namespace vaegan::test;
  std::filesystem::create_directories(dir);
  const auto put = [&](const char* name, const Bytes& b) { write_file(dir / name, b); };
  std::vector<std::uint8_t> px(6 * 5 * 4);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(37 * i + 11);
  put("grey.png", png_bytes(px, 6, 5, 1));
  put("grey-alpha.png", png_bytes(px, 6, 5, 2));
  put("rgb.png", png_bytes(px, 6, 5, 3));
  put("rgba.png", png_bytes(px, 6, 5, 4));
  put("grey.jpg", jpeg_bytes(px, 6, 5, 1));
  put("rgb.jpg", jpeg_bytes(px, 6, 5, 3, 80));
  put("rgb.bmp", bmp_bytes(px, 6, 5, 3));
  put("grey.bmp", bmp_bytes(px, 6, 5, 1));
  put("16-bit.png", raw_png(2, 1, 16, 0, {0, 0x12, 0x34, 0xff, 0x00}));
  put("palette.png", raw_png(3, 1, 8, 3, {0, 1, 0, 1}, {10, 20, 30, 200, 100, 50}));
  put("huge-header.png", raw_png(100000, 100000, 8, 0, {0, 0, 0}));
  const Bytes rgb = png_bytes(px, 6, 5, 3);
  put("truncated.png", head(rgb, rgb.size() / 2));
  const Bytes jpg = jpeg_bytes(px, 6, 5, 3);
  put("truncated.jpg", head(jpg, jpg.size() - 10));
  put("progressive.jpg", progressive_rgb_jpeg());
  // The findings (docs/fuzzing.md), refused before stb reads them.
  put("regression-I1-huffman-272-codes.jpg", jpeg_with_huffman_table_of_272_codes());
  put("regression-I1-huffman-256-codes.jpg", jpeg_with_huffman_table_of_256_codes());
  put("regression-I2-idat-claims-2gib.png", png_with_idat_claiming_2_gib());
  put("regression-I3-undefined-huffman-table.jpg", jpeg_with_undefined_huffman_table());
}

// A safetensors file from a header's JSON and the buffer's bytes.
Bytes safetensors_file(const std::string& json, const Bytes& buffer) {
  Bytes out(8);
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(json.size() >> (8 * i));
  out.insert(out.end(), json.begin(), json.end());
  out.insert(out.end(), buffer.begin(), buffer.end());
  return out;
}

// Weights-in files: the tiny VAE-GAN's export (what the harness loads), the same trained a
// step further, and small hand-made headers (F64, metadata with escapes, no tensors,
// another dtype).
void safetensors_corpus(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  VaeGanTrainer<float> t(fuzz::tiny_config(), {}, 3);
  write_file(dir / "tiny-vaegan.safetensors", safetensors_from_trainer(t).bytes());
  ImageDataset<float> data = fuzz::dataset<float>(fuzz::tiny_config().image_shape);
  Batches<float> batches = data.batches({fuzz::kBatchSize, fuzz::kBatchSeed});
  Tensor<float> x;
  batches.next(x);
  t.train_step(x);
  write_file(dir / "tiny-vaegan-trained.safetensors", safetensors_from_trainer(t).bytes());
  const Bytes f64(16, 0x3f);
  write_file(dir / "f64.safetensors",
             safetensors_file("{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}", f64));
  write_file(dir / "metadata.safetensors",
             safetensors_file("{\"__metadata__\":{\"format\":\"pt\",\"k\":\"\\u00e9\\n\"}}  ", {}));
  write_file(dir / "empty.safetensors", safetensors_file("{}", {}));
  write_file(dir / "bf16.safetensors",
             safetensors_file("{\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[0,4]}}", Bytes(4, 1)));
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc == 3 ? argv[1] : "";
  if (mode == "--small") {
    idx_corpus(std::filesystem::path(argv[2]) / "idx");
    checkpoint_corpus(std::filesystem::path(argv[2]) / "checkpoint");
    image_corpus(std::filesystem::path(argv[2]) / "image");
    safetensors_corpus(std::filesystem::path(argv[2]) / "safetensors");
  } else if (mode == "--seed-preset") {
    seed_preset_corpus(argv[2]);
  } else {
    std::fprintf(stderr, "usage: make_corpus --small DIR | --seed-preset DIR\n");
    return 2;
  }
  return 0;
}
