// Tests of io/checkpoint.hpp: exact round trips, and that every kind of damage (truncation,
// bit flips, wrong version or magic) and every kind of misuse (missing section, dtype or
// shape mismatch) is rejected with its own message, never accepted and never a crash.
// Also load_training_checkpoint's own checks on a trainer's checkpoint (its distinct
// messages, value ranges) and the regressions found by fuzzing (tests/fuzz, docs/fuzzing.md).
#include "vaegan/io/checkpoint.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "test_util.hpp"
#include "vaegan/data/dataset.hpp"
#include "vaegan/train/checkpointing.hpp"
#include "vaegan/train/vaegan_trainer.hpp"

using vaegan::CheckpointReader;
using vaegan::CheckpointWriter;
using vaegan::Index;
using vaegan::IoError;
using vaegan::Shape;
using vaegan::Tensor;
using vaegan_test::TempDir;

namespace {

using vaegan::test::same_bits;

using vaegan::test::contains;

template <class T>
Tensor<T> random_tensor(const Shape& shape, std::uint64_t seed) {
  vaegan::Rng rng(seed);
  Tensor<T> t(shape);
  rng.fill_normal(t.data(), t.numel());
  return t;
}

// The message of the IoError that reading `bytes` throws ("" if it was accepted).
std::string rejection(const std::vector<std::uint8_t>& bytes) {
  try {
    CheckpointReader::from_bytes(bytes, "test.ckpt");
  } catch (const IoError& e) {
    return e.what();
  }
  return "";
}

// A small checkpoint with one section of every type.
CheckpointWriter sample_writer() {
  CheckpointWriter w;
  w.add_string("meta.preset", "mlp");
  w.add_u64("meta.epoch", 12);
  w.add_tensor("E.params", random_tensor<float>(Shape{3, 4}, 1));
  w.add_tensor("D.params", random_tensor<double>(Shape{5}, 2));
  w.add_i64("meta.offset", -7);
  w.add_f64("meta.lr", 2e-4);
  w.add_bytes("blob", std::vector<std::uint8_t>{1, 2, 3, 4, 5});
  return w;
}

// Offsets where sections start, plus where the trailer starts (walking the documented layout).
std::vector<std::size_t> section_boundaries(const std::vector<std::uint8_t>& f) {
  const auto u32 = [&](std::size_t at) { return vaegan::detail::get_u32(f.data() + at); };
  std::vector<std::size_t> out;
  std::size_t pos = 32;
  for (std::uint32_t i = 0; i < u32(12); ++i) {
    out.push_back(pos);
    const std::size_t name_len = u32(pos);
    pos += 4 + name_len + 4 + 8 + vaegan::detail::get_u64(f.data() + pos + 8 + name_len) + 4;
  }
  out.push_back(pos);
  return out;
}

struct RawSection {
  std::string name;
  std::uint32_t tag;
  std::vector<std::uint8_t> payload;
};

// Builds a checkpoint file from docs/checkpoint-format.md alone (not through the writer),
// with correct CRCs: for testing the writer against the spec, and the reader against
// well-formed files with impossible contents.
std::vector<std::uint8_t> build_by_spec(const std::vector<RawSection>& sections) {
  using vaegan::detail::put_u32;
  using vaegan::detail::put_u64;
  std::vector<std::uint8_t> body;
  for (const RawSection& s : sections) {
    std::vector<std::uint8_t> rec;
    put_u32(rec, static_cast<std::uint32_t>(s.name.size()));
    rec.insert(rec.end(), s.name.begin(), s.name.end());
    put_u32(rec, s.tag);
    put_u64(rec, s.payload.size());
    rec.insert(rec.end(), s.payload.begin(), s.payload.end());
    put_u32(rec, static_cast<std::uint32_t>(crc32(0, rec.data(), static_cast<uInt>(rec.size()))));
    body.insert(body.end(), rec.begin(), rec.end());
  }
  const std::string end = "VGCK-END";
  body.insert(body.end(), end.begin(), end.end());
  const auto body_crc = static_cast<std::uint32_t>(crc32(0, body.data(), static_cast<uInt>(body.size())));
  put_u32(body, body_crc);
  const std::string magic = "VAEGANCK";
  std::vector<std::uint8_t> f(magic.begin(), magic.end());
  put_u32(f, 1);
  put_u32(f, static_cast<std::uint32_t>(sections.size()));
  put_u64(f, 32 + body.size());
  put_u32(f, 0);
  put_u32(f, static_cast<std::uint32_t>(crc32(0, f.data(), 28)));
  f.insert(f.end(), body.begin(), body.end());
  return f;
}

std::vector<std::uint8_t> le64(std::uint64_t v) {
  std::vector<std::uint8_t> p;
  vaegan::detail::put_u64(p, v);
  return p;
}

}  // namespace

TEST_CASE("checkpoint: the writer's bytes are exactly those the specification describes") {
  TempDir dir;
  CheckpointWriter w;
  w.add_u64("epoch", 3);
  w.add_string("preset", "seed");
  w.add_tensor("w", Tensor<float>(Shape{2}, {1.5f, -2.0f}));
  w.save(dir.file("c.bin"));
  std::vector<std::uint8_t> tensor = {1, 0, 0, 0};  // rank 1
  const auto dim = le64(2);
  tensor.insert(tensor.end(), dim.begin(), dim.end());
  for (const std::uint32_t bits : {0x3fc00000u, 0xc0000000u})  // 1.5f, -2.0f
    for (int i = 0; i < 4; ++i) tensor.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
  const std::vector<std::uint8_t> expected =
      build_by_spec({{"epoch", 3, le64(3)}, {"preset", 2, {'s', 'e', 'e', 'd'}}, {"w", 6, tensor}});
  CHECK(vaegan_test::read_all(dir.file("c.bin")) == expected);
  CHECK(crc32(0, reinterpret_cast<const Bytef*>("123456789"), 9) == 0xCBF43926u);  // the CRC the spec names
}

TEST_CASE("checkpoint: well-formed files with impossible contents are rejected without allocating") {
  // Valid CRCs everywhere, but a tensor claiming 2^40 x 2^40 elements in a 24-byte payload.
  std::vector<std::uint8_t> huge = {2, 0, 0, 0};
  for (int k = 0; k < 2; ++k) {
    const auto d = le64(std::uint64_t{1} << 40);
    huge.insert(huge.end(), d.begin(), d.end());
  }
  CHECK(contains(rejection(build_by_spec({{"t", 6, huge}})), "section 't': tensor dimension"));
  std::vector<std::uint8_t> rank9 = {9, 0, 0, 0};
  CHECK(contains(rejection(build_by_spec({{"t", 7, rank9}})), "rank 9"));
  CHECK(contains(rejection(build_by_spec({{"x", 3, {1, 2, 3}}})), "a scalar needs 8 bytes"));
  CHECK(contains(rejection(build_by_spec({{"x", 42, {}}})), "type tag 42"));
  CHECK(contains(rejection(build_by_spec({{"x", 1, {}}, {"x", 1, {}}})), "appears twice"));
  CHECK(rejection(build_by_spec({{"x", 1, {}}})).empty());  // the builder itself is right
}

TEST_CASE("checkpoint: every type round-trips bit for bit") {
  TempDir dir;
  const std::string path = dir.file("ckpt.bin");
  const Tensor<float> tf = random_tensor<float>(Shape{3, 4}, 11);
  const Tensor<double> td = random_tensor<double>(Shape{2, 3, 4}, 12);
  const Tensor<float> t4 = random_tensor<float>(Shape{2, 1, 3, 2}, 13);
  const Tensor<double> empty(Shape{0, 5});
  vaegan::Rng rng(99);
  rng.normal();  // leaves a spare normal in the state
  const std::string text("d\xc3\xa9j\xc3\xa0 vu\0with NUL", 17);
  const double tricky[] = {-0.0, 4.9e-324, std::numeric_limits<double>::infinity(), 0.1, std::nan("0x5a5")};

  CheckpointWriter w;
  w.add_tensor("tf", tf);
  w.add_tensor("td", td);
  w.add_tensor("t4", t4);
  w.add_tensor("empty", empty);
  w.add_u64("u64", std::numeric_limits<std::uint64_t>::max());
  w.add_i64("i64", std::numeric_limits<std::int64_t>::min());
  for (int i = 0; i < 5; ++i) w.add_f64("f64." + std::to_string(i), tricky[i]);
  w.add_string("text", text);
  w.add_string("empty_text", "");
  w.add_bytes("nothing", nullptr, 0);
  w.add_rng_state("rng", rng.state());
  w.add_deferred_bytes("deferred", [](std::vector<std::uint8_t>& p) { p.assign({9, 8, 7}); });
  w.save(path);
  CHECK(dir.entries() == std::vector<std::string>{"ckpt.bin"});

  const CheckpointReader r(path);
  CHECK(r.num_sections() == w.num_sections());
  CHECK(r.names().front() == "tf");  // file order is insertion order
  CHECK(same_bits(r.tensor<float>("tf", Shape{3, 4}), tf));
  CHECK(same_bits(r.tensor<double>("td", Shape{2, 3, 4}), td));
  CHECK(same_bits(r.tensor<float>("t4", Shape{2, 1, 3, 2}), t4));
  CHECK(r.tensor<double>("empty", Shape{0, 5}).numel() == 0);
  CHECK(r.tensor_shape("td") == Shape{2, 3, 4});
  CHECK(r.type("td") == vaegan::SectionType::tensor_f64);
  CHECK(r.u64("u64") == std::numeric_limits<std::uint64_t>::max());
  CHECK(r.i64("i64") == std::numeric_limits<std::int64_t>::min());
  for (int i = 0; i < 5; ++i) CHECK(same_bits(r.f64("f64." + std::to_string(i)), tricky[i]));
  CHECK(r.str("text") == text);
  CHECK(r.str("empty_text").empty());
  CHECK(r.bytes("nothing").empty());
  CHECK(r.bytes("deferred") == std::vector<std::uint8_t>{9, 8, 7});

  // The restored generator continues exactly where the saved one was.
  vaegan::Rng restored(0);
  restored.set_state(r.rng_state("rng"));
  CHECK(restored.state() == rng.state());
  CHECK(restored.normal() == rng.normal());
  CHECK(restored.next_u64() == rng.next_u64());

  // In-place loading into an existing buffer (a network's flat parameters).
  Tensor<float> into(Shape{3, 4}, 0.0f);
  r.read_tensor("tf", into);
  CHECK(same_bits(into, tf));
}

TEST_CASE("checkpoint: the documented layout: magic, version, size, end marker") {
  TempDir dir;
  sample_writer().save(dir.file("c.bin"));
  const std::vector<std::uint8_t> f = vaegan_test::read_all(dir.file("c.bin"));
  REQUIRE(f.size() > 44);
  CHECK(std::memcmp(f.data(), "VAEGANCK", 8) == 0);
  CHECK(vaegan::detail::get_u32(f.data() + 8) == 1);
  CHECK(vaegan::detail::get_u32(f.data() + 12) == 7);
  CHECK(vaegan::detail::get_u64(f.data() + 16) == f.size());
  CHECK(std::memcmp(f.data() + f.size() - 12, "VGCK-END", 8) == 0);
  CHECK(section_boundaries(f).back() == f.size() - 12);
}

TEST_CASE("checkpoint: truncation anywhere, also at section boundaries, says truncated") {
  TempDir dir;
  sample_writer().save(dir.file("c.bin"));
  const std::vector<std::uint8_t> f = vaegan_test::read_all(dir.file("c.bin"));
  std::set<std::size_t> cuts;
  for (int k = 0; k < 10; ++k) cuts.insert(f.size() * static_cast<std::size_t>(k) / 10);
  for (const std::size_t b : section_boundaries(f)) cuts.insert(b);
  cuts.insert(f.size() - 4);
  cuts.insert(f.size() - 1);
  for (std::size_t k = 1; k < 8; ++k) cuts.insert(k);  // inside the magic
  for (const std::size_t cut : cuts) {
    CAPTURE(cut);
    const std::vector<std::uint8_t> head(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(cut));
    CHECK(contains(rejection(head), "truncated"));
    // The same through the file path (the reader checks sizes before reading).
    vaegan_test::write_all(dir.file("cut.bin"), head);
    CHECK_THROWS_WITH_AS(CheckpointReader(dir.file("cut.bin")), doctest::Contains("truncated"), IoError);
  }
}

TEST_CASE("checkpoint: every single bit flip is rejected; flips in a section name it") {
  TempDir dir;
  sample_writer().save(dir.file("c.bin"));
  const std::vector<std::uint8_t> f = vaegan_test::read_all(dir.file("c.bin"));
  const std::vector<std::size_t> bounds = section_boundaries(f);
  const std::vector<std::string> names = CheckpointReader(dir.file("c.bin")).names();
  int accepted = 0;
  for (std::size_t pos = 0; pos < f.size(); ++pos) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<std::uint8_t> g = f;
      g[pos] ^= static_cast<std::uint8_t>(1u << bit);
      const std::string msg = rejection(g);
      if (msg.empty()) {
        ++accepted;
        continue;
      }
      CHECK(contains(msg, "test.ckpt"));
      // A flip inside section i's payload or CRC (past its length fields) is a CRC
      // mismatch named after that section.
      for (std::size_t i = 0; i + 1 < bounds.size(); ++i) {
        const std::size_t name_len = vaegan::detail::get_u32(f.data() + bounds[i]);
        if (pos >= bounds[i] + 16 + name_len && pos < bounds[i + 1]) {
          CAPTURE(pos);
          CHECK(contains(msg, "CRC mismatch"));
          CHECK(contains(msg, "'" + names[i] + "'"));
        }
      }
    }
  }
  CHECK(accepted == 0);
  // One flip through the file path as well.
  std::vector<std::uint8_t> g = f;
  g[bounds[2] + 30] ^= 0x10;
  vaegan_test::write_all(dir.file("flip.bin"), g);
  CHECK_THROWS_WITH_AS(CheckpointReader(dir.file("flip.bin")), doctest::Contains("bit flip (CRC mismatch) in section"),
                       IoError);
}

TEST_CASE("checkpoint: another format version, wrong magic, extra bytes and size limits") {
  TempDir dir;
  sample_writer().save(dir.file("c.bin"));
  const std::vector<std::uint8_t> f = vaegan_test::read_all(dir.file("c.bin"));

  std::vector<std::uint8_t> v2 = f;
  v2[8] = 2;  // version 2, header CRC fixed up so the version alone is wrong
  const std::uint32_t crc = vaegan::detail::crc32_of(v2.data(), 28);
  for (int i = 0; i < 4; ++i) v2[28 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (8 * i));
  const std::string msg = rejection(v2);
  CHECK(contains(msg, "version mismatch"));
  CHECK(contains(msg, "version 2"));
  CHECK(contains(msg, "reads version 1"));

  const std::string png = "\x89PNG\r\n\x1a\n and then some more bytes to be long enough";
  CHECK(contains(rejection(std::vector<std::uint8_t>(png.begin(), png.end())), "not a vaegan checkpoint"));
  CHECK(contains(rejection({'V', 'A', 'X'}), "not a vaegan checkpoint"));

  std::vector<std::uint8_t> longer = f;
  longer.push_back(0);
  CHECK(contains(rejection(longer), "1 unexpected bytes"));

  CHECK_THROWS_WITH_AS(CheckpointReader(dir.file("c.bin"), 64), doctest::Contains("load limit"), IoError);
  CHECK_THROWS_WITH_AS(CheckpointReader(dir.file("missing.bin")), doctest::Contains("cannot open"), IoError);
}

TEST_CASE("checkpoint: missing sections, wrong types, dtype and shape mismatches") {
  TempDir dir;
  const std::string path = dir.file("c.bin");
  sample_writer().save(path);
  const CheckpointReader r(path);
  const auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const IoError& e) {
      return e.what();
    }
    return "";
  };
  std::string m = message([&] { r.u64("meta.step"); });
  CHECK(contains(m, "missing section 'meta.step'"));
  CHECK(contains(m, "meta.epoch"));  // lists what the file has
  CHECK(contains(m, path));

  m = message([&] { r.tensor<float>("E.params", Shape{4, 3}); });
  CHECK(contains(m, "section 'E.params': shape mismatch: file has [3, 4], model expects [4, 3]"));
  m = message([&] { r.tensor<double>("E.params", Shape{3, 4}); });
  CHECK(contains(m, "dtype mismatch"));
  CHECK(contains(m, "tensor<float>"));
  CHECK(contains(m, "tensor<double>"));
  m = message([&] { r.f64("meta.epoch"); });
  CHECK(contains(m, "holds a u64, but a f64 was requested"));
  CHECK(contains(message([&] { r.tensor_shape("meta.preset"); }), "not a tensor"));
  CHECK(contains(message([&] { r.rng_state("blob"); }), "41"));
}

TEST_CASE("checkpoint: a failed save keeps the previous checkpoint and leaves no temporary file") {
  TempDir dir;
  const std::string path = dir.file("c.bin");
  sample_writer().save(path);
  const std::vector<std::uint8_t> before = vaegan_test::read_all(path);

  CheckpointWriter w;
  w.add_tensor("E.params", random_tensor<float>(Shape{100, 10}, 5));
  w.add_deferred_bytes("optimizer", [](std::vector<std::uint8_t>& p) {
    p.resize(1000, 7);  // part of the file is written by now
    throw std::runtime_error("simulated failure while serializing");
  });
  w.add_u64("after", 1);
  try {
    w.save(path);
    FAIL("expected IoError");
  } catch (const IoError& e) {
    CHECK(contains(e.what(), "'optimizer'"));
    CHECK(contains(e.what(), "simulated failure"));
    CHECK(contains(e.what(), "unchanged"));
  }
  CHECK(vaegan_test::read_all(path) == before);
  CHECK(dir.entries() == std::vector<std::string>{"c.bin"});
  CHECK(CheckpointReader(path).u64("meta.epoch") == 12);

  // An unwritable target also leaves the old file alone and names the path.
  const std::string bad = dir.file("no/dir/c.bin");
  CHECK_THROWS_WITH_AS(sample_writer().save(bad), doctest::Contains(bad.c_str()), IoError);

  // Saving over an existing checkpoint replaces it whole.
  CheckpointWriter small;
  small.add_u64("meta.epoch", 13);
  small.save(path);
  CHECK(CheckpointReader(path).u64("meta.epoch") == 13);
  CHECK(dir.entries() == std::vector<std::string>{"c.bin"});
}

TEST_CASE("checkpoint: writer rejects bad and duplicate section names") {
  CheckpointWriter w;
  w.add_u64("a", 1);
  CHECK_THROWS_AS(w.add_u64("a", 2), vaegan::Error);
  CHECK_THROWS_AS(w.add_u64("", 2), vaegan::Error);
  CHECK_THROWS_AS(w.add_u64(std::string(256, 'x'), 2), vaegan::Error);
  CHECK_THROWS_AS(w.add_u64(std::string("a\0b", 3), 2), vaegan::Error);
  w.add_u64(std::string(255, 'x'), 2);
  CHECK(w.num_sections() == 2);
}

TEST_CASE("checkpoint: an empty tensor may not claim absurd dimensions (found by fuzzing)") {
  // fuzz_checkpoint: a zero dimension made the product check skip the ones after it, and
  // 2^64 - 1 reached Shape, which threw a ShapeError without the file name.
  std::vector<std::uint8_t> t = {2, 0, 0, 0};
  for (const std::uint64_t d : {std::uint64_t{0}, std::numeric_limits<std::uint64_t>::max()}) {
    const auto b = le64(d);
    t.insert(t.end(), b.begin(), b.end());
  }
  std::string msg = rejection(build_by_spec({{"D.params", 7, t}}));
  CHECK(contains(msg, "test.ckpt"));
  CHECK(contains(msg,
                 "section 'D.params': tensor dimension 1 is 18446744073709551615, which does not fit its "
                 "payload of 20 bytes"));
  // Dimensions that would overflow a product after a zero: [0, 2^62, 2^62].
  t = {3, 0, 0, 0};
  for (const std::uint64_t d : {std::uint64_t{0}, std::uint64_t{1} << 62, std::uint64_t{1} << 62}) {
    const auto b = le64(d);
    t.insert(t.end(), b.begin(), b.end());
  }
  msg = rejection(build_by_spec({{"t", 6, t}}));
  CHECK(contains(msg, "section 't': tensor dimension 1 is 4611686018427387904"));
  // Empty tensors with sane dimensions stay valid, a zero anywhere.
  t = {3, 0, 0, 0};
  for (const std::uint64_t d : {std::uint64_t{5}, std::uint64_t{0}, std::uint64_t{3}}) {
    const auto b = le64(d);
    t.insert(t.end(), b.begin(), b.end());
  }
  CHECK(rejection(build_by_spec({{"t", 6, t}})).empty());
  CHECK(CheckpointReader::from_bytes(build_by_spec({{"t", 6, t}})).tensor_shape("t") == Shape{5, 0, 3});
}

TEST_CASE("checkpoint: rng_state rejects states no generator can be in") {
  vaegan::Rng rng(3);
  rng.normal();
  // The 41 bytes add_rng_state writes, built by hand so they can be damaged.
  std::vector<std::uint8_t> good;
  for (const std::uint64_t v : rng.state().s) {
    const auto b = le64(v);
    good.insert(good.end(), b.begin(), b.end());
  }
  const auto spare = le64(vaegan::detail::f64_bits(rng.state().spare_normal));
  good.insert(good.end(), spare.begin(), spare.end());
  good.push_back(1);
  const auto message = [](const std::vector<std::uint8_t>& payload) -> std::string {
    try {
      CheckpointReader::from_bytes(build_by_spec({{"trainer.rng", 1, payload}}), "test.ckpt").rng_state("trainer.rng");
    } catch (const IoError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(message(good).empty());
  std::vector<std::uint8_t> bad = good;
  std::fill(bad.begin(), bad.begin() + 32, 0);
  CHECK(contains(message(bad), "section 'trainer.rng': the four Rng state words are all zero"));
  bad = good;
  bad[40] = 2;
  CHECK(contains(message(bad), "section 'trainer.rng': has_spare (byte 40) is 2; expected 0 or 1"));
  bad = good;
  const auto nan = le64(vaegan::detail::f64_bits(std::numeric_limits<double>::quiet_NaN()));
  std::copy(nan.begin(), nan.end(), bad.begin() + 32);
  CHECK(contains(message(bad), "section 'trainer.rng': spare_normal (bytes 32..39) is nan"));
  CHECK(contains(message(bad), "test.ckpt"));
}

// ---- load_training_checkpoint on a real trainer's checkpoint ----------------------------------

namespace {

using vaegan::Batches;
using vaegan::ImageDataset;
using vaegan::ModelConfig;
using vaegan::VaeGanTrainer;

ModelConfig small_config(Index hidden = 5) {
  ModelConfig c;
  c.preset = "ckpt-test";
  c.image_shape = vaegan::Shape{1, 1, 6};
  c.latent_dim = 2;
  c.encoder_hidden = {hidden};
  c.decoder_hidden = {hidden};
  c.discriminator_hidden = {hidden};
  return c;
}

ImageDataset<float> small_dataset(Index count) {
  Tensor<float> images = random_tensor<float>(Shape{count, 6}, 21);
  for (Index i = 0; i < images.numel(); ++i) images[i] = images[i] > 0 ? 1.0f : 0.0f;
  return ImageDataset<float>(images, std::vector<std::uint8_t>(static_cast<std::size_t>(count), 1), 1, 6);
}

// A trainer after two steps, saved with its batch loop.
std::string save_small_trainer(const TempDir& dir, const ImageDataset<float>& data) {
  VaeGanTrainer<float> trainer(small_config(), {}, 4);
  Batches<float> batches = data.batches({4, 8});
  Tensor<float> x;
  for (int i = 0; i < 2; ++i) {
    REQUIRE(batches.next(x));
    trainer.train_step(x);
  }
  const std::string path = dir.file("trainer.ckpt");
  vaegan::save_training_checkpoint(path, trainer, &batches);
  return path;
}

// Copies every section of `from` into a new checkpoint `to`, except those for which `edit`
// returns true (it may add a replacement).
void rewrite(const std::string& from, const std::string& to,
             const std::function<bool(const std::string&, CheckpointWriter&)>& edit) {
  const CheckpointReader r(from);
  CheckpointWriter w;
  for (const std::string& name : r.names()) {
    if (edit(name, w)) continue;
    switch (r.type(name)) {
      case vaegan::SectionType::bytes: w.add_bytes(name, r.bytes(name)); break;
      case vaegan::SectionType::string: w.add_string(name, r.str(name)); break;
      case vaegan::SectionType::u64: w.add_u64(name, r.u64(name)); break;
      case vaegan::SectionType::i64: w.add_i64(name, r.i64(name)); break;
      case vaegan::SectionType::f64: w.add_f64(name, r.f64(name)); break;
      case vaegan::SectionType::tensor_f32: w.add_tensor(name, r.tensor<float>(name, r.tensor_shape(name))); break;
      case vaegan::SectionType::tensor_f64: w.add_tensor(name, r.tensor<double>(name, r.tensor_shape(name))); break;
    }
  }
  w.save(to);
}

// Copies `from` to `to` with section `section` replaced by what `add` writes; returns `to`.
std::string with_section(const std::string& from, const std::string& to, const std::string& section,
                         const std::function<void(CheckpointWriter&)>& add) {
  rewrite(from, to, [&](const std::string& name, CheckpointWriter& w) {
    if (name != section) return false;
    add(w);
    return true;
  });
  return to;
}

// Loads `path` into a fresh trainer of `config` (with a batch loop over `data`), checks that
// a failure changed nothing, and returns "<exception type>: <message>" ("" if it loaded).
std::string load_message(const std::string& path, const ModelConfig& config, const ImageDataset<float>& data) {
  VaeGanTrainer<float> trainer(config, {}, 99);
  Batches<float> batches = data.batches({4, 1});
  const auto params = [&] {
    std::vector<float> all;
    for (const auto& net : trainer.networks())
      all.insert(all.end(), net.params->values().data(), net.params->values().data() + net.params->size());
    return all;
  };
  const std::vector<float> before = params();
  const vaegan::BatchState batches_before = batches.state();
  std::string message;
  try {
    vaegan::load_training_checkpoint(path, trainer, &batches);
    return "";
  } catch (const IoError& e) {
    message = std::string("IoError: ") + e.what();
  } catch (const vaegan::ShapeError& e) {
    message = std::string("ShapeError: ") + e.what();
  }
  CHECK(params() == before);
  CHECK(trainer.step() == 0);
  CHECK(batches.state() == batches_before);
  return message;
}

}  // namespace

TEST_CASE(
    "load_training_checkpoint: truncation, a bit flip, another version and another model have distinct messages") {
  TempDir dir;
  const ImageDataset<float> data = small_dataset(10);
  const std::string good = save_small_trainer(dir, data);
  const std::vector<std::uint8_t> f = vaegan_test::read_all(good);
  REQUIRE(load_message(good, small_config(), data).empty());

  const std::string truncated = dir.file("truncated.ckpt");
  vaegan_test::write_all(truncated, std::vector<std::uint8_t>(f.begin(), f.end() - 100));
  const std::string m_truncated = load_message(truncated, small_config(), data);

  // A flip inside the payload of the decoder's parameters.
  const std::vector<std::string> names = CheckpointReader(good).names();
  const std::vector<std::size_t> bounds = section_boundaries(f);
  std::size_t k = 0;
  while (names[k] != "decoder.params") ++k;
  std::vector<std::uint8_t> flipped = f;
  flipped[bounds[k] + 16 + names[k].size() + 20] ^= 0x04;
  const std::string flip = dir.file("flipped.ckpt");
  vaegan_test::write_all(flip, flipped);
  const std::string m_flip = load_message(flip, small_config(), data);

  std::vector<std::uint8_t> v7 = f;
  v7[8] = 7;
  const std::uint32_t crc = vaegan::detail::crc32_of(v7.data(), 28);
  for (int i = 0; i < 4; ++i) v7[28 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (8 * i));
  const std::string version = dir.file("v7.ckpt");
  vaegan_test::write_all(version, v7);
  const std::string m_version = load_message(version, small_config(), data);

  const std::string m_model = load_message(good, small_config(7), data);

  // Same config, but one tensor of another size (a file written by hand or by a buggy tool).
  const std::string reshaped =
      with_section(good, dir.file("reshaped.ckpt"), "discriminator.adam.v",
                   [](CheckpointWriter& w) { w.add_tensor("discriminator.adam.v", Tensor<float>(Shape{3}, 0.0f)); });
  const std::string m_shape = load_message(reshaped, small_config(), data);

  const std::vector<std::string> messages = {m_truncated, m_flip, m_version, m_model, m_shape};
  const std::vector<std::string> marks = {"truncated", "bit flip (CRC mismatch) in section 'decoder.params'",
                                          "version mismatch", "does not match the saved one", "shape mismatch"};
  for (std::size_t i = 0; i < messages.size(); ++i) {
    CAPTURE(messages[i]);
    CHECK(contains(messages[i], "IoError: checkpoint '" + dir.file("")));
    for (std::size_t j = 0; j < marks.size(); ++j) CHECK(contains(messages[i], marks[j]) == (i == j));
  }
  CHECK(contains(m_truncated, "the save was interrupted or the copy is incomplete"));
  CHECK(contains(m_version, "the file has checkpoint format version 7, this build reads version 1"));
  CHECK(contains(m_model, "the checkpoint has 'trunk.1' Dense [6] -> [5]"));
  CHECK(contains(m_model, "this encoder has 'trunk.1' Dense [6] -> [7]"));
  CHECK(contains(m_shape, "section 'discriminator.adam.v': shape mismatch: the file has [3] but the discriminator"));
}

TEST_CASE("load_training_checkpoint: regressions found by fuzzing name the file and the section") {
  // Each was a rejection without the file name (a ModelConfig error, or the batch loop's
  // ShapeError); the inputs are tests/fuzz/corpus/checkpoint/regression-F*.ckpt.
  TempDir dir;
  const ImageDataset<float> data = small_dataset(10);
  const std::string good = save_small_trainer(dir, data);
  const auto edited = [&](const std::string& section, const std::function<void(CheckpointWriter&)>& add) {
    return with_section(good, dir.file("edited-" + section), section, add);
  };

  SUBCASE("F1: a damaged model.config") {
    std::string text = CheckpointReader(good).str("model.config");
    text.replace(text.find("latent_dim"), 10, "latent_$im");
    const std::string path = edited("model.config", [&](CheckpointWriter& w) { w.add_string("model.config", text); });
    const std::string m = load_message(path, small_config(), data);
    CHECK(contains(m, "IoError: checkpoint '" + path +
                          "': section 'model.config': ModelConfig::parse: unknown key "
                          "'latent_$im'"));
  }
  SUBCASE("F2: a batch cursor past the dataset") {
    const std::string path = edited("batches.cursor", [](CheckpointWriter& w) { w.add_i64("batches.cursor", 260); });
    const std::string m = load_message(path, small_config(), data);
    CHECK(contains(m, "IoError: checkpoint '" + path + "': section 'batches.cursor'"));
    CHECK(contains(m, "is 260, outside the accepted range 0..10"));
  }
  SUBCASE("F3: a batch loop saved on a dataset of another size") {
    const std::string path =
        edited("batches.dataset_size", [](CheckpointWriter& w) { w.add_i64("batches.dataset_size", 41); });
    const std::string m = load_message(path, small_config(), data);
    // Still a ShapeError (the data, not the file, may be what is wrong), now with the file.
    CHECK(contains(m, "ShapeError: checkpoint '" + path + "': section 'batches.dataset_size'"));
    CHECK(contains(m, "dataset of 41 images but this one has 10"));
  }
}

TEST_CASE("load_training_checkpoint: counters and values outside their ranges are rejected") {
  TempDir dir;
  const ImageDataset<float> data = small_dataset(10);
  const std::string good = save_small_trainer(dir, data);
  const auto edited = [&](const std::string& section, const std::function<void(CheckpointWriter&)>& add) {
    return load_message(with_section(good, dir.file("edited-" + section), section, add), small_config(), data);
  };
  const Index n = CheckpointReader(good).tensor_shape("encoder.params")[0];

  std::string m = edited("trainer.step", [](CheckpointWriter& w) { w.add_i64("trainer.step", -1); });
  CHECK(contains(m,
                 "section 'trainer.step' (the trainer's step count) is -1, outside the accepted range "
                 "0..9007199254740992"));
  m = edited("trainer.epoch", [](CheckpointWriter& w) { w.add_i64("trainer.epoch", -3); });
  CHECK(contains(m, "section 'trainer.epoch'"));
  // Adam would count on from INT64_MAX: signed overflow.
  m = edited("decoder.adam.steps",
             [](CheckpointWriter& w) { w.add_i64("decoder.adam.steps", std::numeric_limits<std::int64_t>::max()); });
  CHECK(contains(m, "section 'decoder.adam.steps' (Adam's step count) is 9223372036854775807, outside"));
  m = edited("batches.epoch", [](CheckpointWriter& w) { w.add_i64("batches.epoch", -2); });
  CHECK(contains(m, "section 'batches.epoch'"));

  m = edited("encoder.params", [&](CheckpointWriter& w) {
    Tensor<float> t(Shape{n}, 0.5f);
    t[3] = std::numeric_limits<float>::quiet_NaN();
    w.add_tensor("encoder.params", t);
  });
  CHECK(contains(m, "section 'encoder.params' holds nan at element 3; expected finite values"));
  m = edited("encoder.adam.v", [&](CheckpointWriter& w) {
    Tensor<float> t(Shape{n}, 0.5f);
    t[0] = -1.0f;
    w.add_tensor("encoder.adam.v", t);
  });
  CHECK(contains(m, "section 'encoder.adam.v' holds -1 at element 0; expected finite values >= 0"));
  m = edited("trainer.rng", [](CheckpointWriter& w) { w.add_rng_state("trainer.rng", vaegan::Rng::State{}); });
  CHECK(contains(m, "section 'trainer.rng': the four Rng state words are all zero"));
}
