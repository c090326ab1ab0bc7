// vaegan sample, reconstruct and interpolate: load a checkpoint that `vaegan train` wrote
// (any of its models, or a program that saved a preset model with save_training_checkpoint)
// and
//   - sample: write N generated images as an IDX file (and optionally a PNG grid), so any
//     outside tool can score them;
//   - reconstruct: write the reconstructions of an IDX image file (VAE and VAE-GAN);
//   - interpolate: write latent-space interpolation strips as a PNG, between random prior
//     codes or, with --images, between the codes of consecutive images.
// Images have the shape [C, H, W] stored in the checkpoint's model configuration: IDX files
// are [N, H, W] (magic 2051) for one channel, as MNIST's, and [N, C, H, W] (magic 2052)
// for more; PNG grids are gray for one channel and RGB for three.
#include <filesystem>
#include <iostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <vaegan/vaegan.hpp>

#include "cli.hpp"
#include "commands.hpp"

namespace {

using Scalar = float;

// "28x28" for [1, 28, 28], "3x32x32" for [3, 32, 32].
std::string shape_text(vaegan::Index channels, vaegan::Index rows, vaegan::Index cols) {
  return (channels == 1 ? std::string() : std::to_string(channels) + "x") + std::to_string(rows) + "x" +
         std::to_string(cols);
}
std::string shape_text(const vaegan::Shape& image) { return shape_text(image[0], image[1], image[2]); }

// Images [n, C*H*W] in [0, 1] as IDX bytes of `image` = [C, H, W].
vaegan::IdxImages to_idx(const vaegan::Tensor<Scalar>& images, const vaegan::Shape& image) {
  vaegan::IdxImages out;
  out.count = images.rows();
  out.channels = image[0];
  out.rows = image[1];
  out.cols = image[2];
  if (images.cols() != image.numel())
    throw vaegan::ShapeError("the model made images of " + std::to_string(images.cols()) +
                             " values, but its configuration says " + shape_text(image) +
                             "; the checkpoint is inconsistent");
  out.pixels.resize(static_cast<std::size_t>(images.numel()));
  for (vaegan::Index i = 0; i < images.numel(); ++i) {
    const double v = std::min(1.0, std::max(0.0, static_cast<double>(images[i])));
    out.pixels[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v * 255.0 + 0.5);
  }
  return out;
}

// Rows of `steps` images each, decoded from z linearly interpolated between two codes.
vaegan::Tensor<Scalar> interpolation_codes(const vaegan::Tensor<Scalar>& ends, vaegan::Index pairs,
                                           vaegan::Index steps) {
  const vaegan::Index dim = ends.cols();
  vaegan::Tensor<Scalar> z(vaegan::Shape::matrix(pairs * steps, dim));
  for (vaegan::Index p = 0; p < pairs; ++p)
    for (vaegan::Index s = 0; s < steps; ++s) {
      const Scalar t = static_cast<Scalar>(s) / static_cast<Scalar>(steps - 1);
      for (vaegan::Index d = 0; d < dim; ++d) z(p * steps + s, d) = (1 - t) * ends(2 * p, d) + t * ends(2 * p + 1, d);
    }
  return z;
}

// Grid options for the model's images; a shape no PNG can show (not 1 or 3 channels) is
// an error before any time is spent.
vaegan::ImageGridOptions grid_options(const vaegan::Shape& image_shape) {
  vaegan::ImageGridOptions grid;
  try {
    grid = vaegan::image_grid_options(image_shape);
  } catch (const vaegan::ShapeError& e) {
    throw vaegan::Error(std::string(e.what()) + "; write the images as IDX with vaegan sample --idx instead");
  }
  grid.scale = 2;
  return grid;
}

// The images of an IDX file, read and checked against the model before anything is written.
vaegan::IdxImages read_images(const std::string& path, const char* flag, const vaegan::CheckpointInfo& info) {
  vaegan::IdxImages idx;
  try {
    idx = vaegan::read_idx_images(path, vaegan::IdxImageDims::with_channels);
  } catch (const vaegan::IoError& e) {
    throw vaegan::IoError(std::string(e.what()) + "; " + flag +
                          " takes an IDX images file (e.g. data/t10k-images-idx3-ubyte)");
  }
  const vaegan::Shape& image = info.config->image_shape;
  if (vaegan::Shape{idx.channels, idx.rows, idx.cols} != image)
    throw vaegan::IoError(path + ": images are " + shape_text(idx.channels, idx.rows, idx.cols) +
                          " but the model expects " + shape_text(image) + " (" + std::to_string(image.numel()) +
                          " values); pass " + flag + " an IDX file of " + shape_text(image) + " images");
  return idx;
}

// IDX bytes as values in [0, 1], one image per row.
vaegan::Tensor<Scalar> to_tensor(const vaegan::IdxImages& idx) {
  vaegan::Tensor<Scalar> x(vaegan::Shape::matrix(idx.count, idx.values_per_image()));
  for (std::size_t i = 0; i < idx.pixels.size(); ++i) x[static_cast<vaegan::Index>(i)] = idx.pixels[i] / 255.0f;
  return x;
}

// The flags every one of the three commands has.
struct ModelFlags {
  std::string checkpoint;
  std::int64_t seed = 1, threads = 0;

  void add(cli::Parser& p) {
    p.group("Model");
    p.add("c,checkpoint", &checkpoint, "checkpoint file that vaegan train wrote (required)", "FILE");
    p.add("s,seed", &seed, "seed of the latent codes");
    p.add("t,threads", &threads, "threads (0: all cores)");
    p.require([this] { return !checkpoint.empty(); }, "--checkpoint is required");
    p.require([this] { return threads >= 0; },
              [this] { return "--threads must be >= 0 (0: all cores), got " + std::to_string(threads); });
    p.group("Output");
  }
};

// Every output file's directory must exist before any time is spent or anything written.
void check_output_path(const char* flag, const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw vaegan::IoError(std::string(flag) + " '" + path + "' is a directory; pass a file name");
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty() && std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec))
    throw vaegan::IoError(std::string(flag) + " '" + path + "': '" + dir.string() +
                          "' is a file, not a directory; write somewhere else");
  if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
    throw vaegan::IoError(std::string(flag) + " '" + path + "': the directory '" + dir.string() +
                          "' does not exist; create it first or write somewhere else");
}

// The checkpoint's kind and preset, checked before anything else is done. A checkpoint of
// a model the program composed itself (no preset) is refused unless `composed_ok`.
vaegan::CheckpointInfo read_model_info(const std::string& program, const ModelFlags& f, bool composed_ok = false) {
  if (f.threads > 0) vaegan::set_num_threads(static_cast<int>(f.threads));
  if (!std::filesystem::exists(f.checkpoint))
    throw vaegan::IoError("no checkpoint at '" + f.checkpoint + "'; train one with vaegan train first");
  vaegan::CheckpointInfo info;
  try {
    info = vaegan::read_checkpoint_info(f.checkpoint);
  } catch (const vaegan::IoError& e) {
    throw vaegan::IoError(std::string(e.what()) + "; pass --checkpoint a file that vaegan train wrote");
  }
  if (!info.config && !composed_ok)
    throw vaegan::IoError(f.checkpoint +
                          ": holds a model the program composed itself (no preset in section 'model.config'); "
                          "this command rebuilds the preset models of vaegan train: load such a checkpoint from "
                          "the program that built the model (vaegan sample and vaegan export work for it)");
  std::cout << program << ": " << info.kind << " checkpoint at step " << info.step << " ("
            << (info.config ? info.config->describe() : std::string("a composed model")) << ")\n";
  if (info.dtype != "float32")
    throw vaegan::IoError(f.checkpoint + ": holds " + info.dtype +
                          "; this command reads float32 checkpoints (those of vaegan train)");
  return info;
}

// Calls f(trainer) with the checkpoint's trainer, its weights loaded.
template <class F>
int with_loaded_trainer(const std::string& path, const vaegan::CheckpointInfo& info, F&& f) {
  return vaegan::with_trainer_kind<Scalar>(info.kind, [&](auto kind) {
    using Trainer = typename decltype(kind)::type;
    Trainer trainer(*info.config, {}, 1);
    vaegan::load_training_checkpoint<Trainer, Scalar>(path, trainer, nullptr);
    return f(trainer);
  });
}

// Images from `samples` prior codes of `seed` through a composed model's decoder (or
// generator), rebuilt from the structure its checkpoint records and loaded with the saved
// parameters and buffers. Sets `image_shape` to the decoder's.
vaegan::Tensor<Scalar> generate_composed(const std::string& path, vaegan::Index samples, std::uint64_t seed,
                                         vaegan::Shape& image_shape) {
  const vaegan::CheckpointReader r(path);
  std::string network;
  for (const std::string& name : vaegan::checkpoint_networks(r))
    if (name == "decoder" || name == "generator") network = name;
  if (network.empty())
    throw vaegan::IoError(path + ": records no network named decoder or generator; nothing to sample from");
  vaegan::Decoder<Scalar> decoder =
      vaegan::decoder_from_structure<Scalar>(vaegan::NetworkStructure::parse(r.str(network + ".structure")));
  r.read_tensor(network + ".params", decoder.parameters().values());
  if (decoder.parameters().buffers().numel() > 0) r.read_tensor(network + ".buffers", decoder.parameters().buffers());
  vaegan::Tensor<Scalar> z(vaegan::Shape::matrix(samples, decoder.latent_dim()));
  vaegan::Rng(seed).fill_normal(z.data(), z.numel());
  vaegan::Tape<Scalar> tape;
  vaegan::NoGradGuard<Scalar> no_grad(tape);
  const vaegan::Var<Scalar> images = vaegan::sigmoid(decoder.forward(tape.constant(z), vaegan::ForwardContext::eval()));
  vaegan::Tensor<Scalar> out(vaegan::Shape::matrix(samples, decoder.image_shape().numel()));
  std::copy(images.node().value, images.node().value + out.numel(), out.data());
  image_shape = decoder.image_shape();
  return out;
}

// Runs `body` and turns an exception into the runtime exit code with one line on stderr.
template <class Body>
int run_reporting_errors(const std::string& program, Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::cerr << program << ": error: " << e.what() << "\n";
    return cli::kExitRuntime;
  }
}

}  // namespace

int commands::sample(int argc, char** argv) {
  ModelFlags f;
  std::string idx, png;
  std::int64_t samples = 1000;
  cli::Parser p(argv[0], "Generate images from a checkpoint's prior samples, as IDX (for scoring) and PNG.");
  f.add(p);
  p.add("n,samples", &samples, "images to generate");
  p.add("idx", &idx, "IDX file for the generated images (.gz to compress)", "FILE");
  p.add("png", &png, "PNG grid of (up to 100 of) the generated images", "FILE");
  p.require([&] { return samples >= 1 && samples <= 1000000; },
            [&] { return "--samples must be 1..1000000, got " + std::to_string(samples); });
  p.require([&] { return !idx.empty() || !png.empty(); }, "nothing to write: give --idx FILE, --png FILE or both");
  p.parse(argc, argv);
  return run_reporting_errors(argv[0], [&] {
    check_output_path("--idx", idx);
    check_output_path("--png", png);
    // A preset model is rebuilt as its trainer; a composed one from its decoder's structure.
    const vaegan::CheckpointInfo info = read_model_info(argv[0], f, /*composed_ok=*/true);
    const auto seed = static_cast<std::uint64_t>(f.seed);
    vaegan::Tensor<Scalar> images;
    vaegan::Shape image_shape;
    if (info.config) {
      image_shape = info.config->image_shape;
      if (!png.empty()) (void)grid_options(image_shape);  // a shape no PNG shows fails before sampling
      with_loaded_trainer(f.checkpoint, info, [&](auto& trainer) {
        vaegan::Tensor<Scalar> z(vaegan::Shape::matrix(samples, info.config->latent_dim));
        vaegan::Rng(seed).fill_normal(z.data(), z.numel());
        trainer.generate(z, images);
        return 0;
      });
    } else {
      images = generate_composed(f.checkpoint, samples, seed, image_shape);
    }
    const vaegan::ImageGridOptions grid = png.empty() ? vaegan::ImageGridOptions{} : grid_options(image_shape);
    if (!idx.empty()) {
      vaegan::write_idx_images(idx, to_idx(images, image_shape));
      std::cout << "wrote " << images.rows() << " generated images to " << idx << "\n";
    }
    if (!png.empty()) {
      vaegan::Tensor<Scalar> shown(vaegan::Shape::matrix(std::min<vaegan::Index>(images.rows(), 100), images.cols()));
      std::copy(images.data(), images.data() + shown.numel(), shown.data());
      vaegan::write_image_grid(png, shown, grid);
      std::cout << "wrote a grid of " << shown.rows() << " samples to " << png << "\n";
    }
    return 0;
  });
}

int commands::reconstruct(int argc, char** argv) {
  ModelFlags f;
  std::string images_path, idx;
  cli::Parser p(argv[0], "Encode and decode IDX images with a VAE or VAE-GAN checkpoint.");
  f.add(p);
  p.add("images", &images_path, "IDX images to reconstruct, e.g. data/t10k-images-idx3-ubyte (required)", "FILE");
  p.add("idx", &idx, "IDX file for the reconstructions (required)", "FILE");
  p.require([&] { return !images_path.empty(); }, "--images is required (the IDX images to reconstruct)");
  p.require([&] { return !idx.empty(); }, "--idx is required (the IDX file for the reconstructions)");
  p.parse(argc, argv);
  return run_reporting_errors(argv[0], [&] {
    check_output_path("--idx", idx);
    const vaegan::CheckpointInfo info = read_model_info(argv[0], f);
    if (!vaegan::trainer_kind_has_encoder<Scalar>(info.kind))
      throw vaegan::Error("reconstruct needs a checkpoint with an encoder (vae or vaegan); " + f.checkpoint +
                          " holds a " + info.kind);
    const vaegan::IdxImages input = read_images(images_path, "--images", info);
    return with_loaded_trainer(f.checkpoint, info, [&](auto& trainer) {
      if constexpr (vaegan::has_encoder_v<std::decay_t<decltype(trainer)>>) {
        const vaegan::Tensor<Scalar> x = to_tensor(input);
        vaegan::Tensor<Scalar> recon;
        trainer.reconstruct(x, recon);
        vaegan::write_idx_images(idx, to_idx(recon, info.config->image_shape));
        std::cout << "wrote " << recon.rows() << " reconstructions of " << images_path << " to " << idx << "\n";
      }
      return 0;
    });
  });
}

int commands::interpolate(int argc, char** argv) {
  ModelFlags f;
  std::string png, images_path;
  std::int64_t pairs = 8, steps = 10;
  cli::Parser p(argv[0],
                "Decode straight lines through the latent space: one PNG strip per pair of end points, between "
                "random prior codes or, with --images, between the codes of consecutive images.");
  f.add(p);
  p.add("png", &png, "PNG file for the strips (required)", "FILE");
  p.add("pairs", &pairs, "strips (pairs of end points)");
  p.add("steps", &steps, "images per strip");
  p.add("images", &images_path, "IDX images whose codes are the end points (VAE and VAE-GAN)", "FILE");
  p.require([&] { return !png.empty(); }, "--png is required (the PNG file for the strips)");
  p.require([&] { return pairs >= 1 && pairs <= 64 && steps >= 2 && steps <= 64; },
            "--pairs must be 1..64 and --steps 2..64");
  p.parse(argc, argv);
  return run_reporting_errors(argv[0], [&] {
    check_output_path("--png", png);
    const vaegan::CheckpointInfo info = read_model_info(argv[0], f);
    const vaegan::ImageGridOptions grid = grid_options(info.config->image_shape);
    if (!images_path.empty() && !vaegan::trainer_kind_has_encoder<Scalar>(info.kind))
      throw vaegan::Error("--images needs a checkpoint with an encoder (vae or vaegan); " + f.checkpoint + " holds a " +
                          info.kind + ": drop --images to interpolate between prior codes");
    vaegan::IdxImages input;
    if (!images_path.empty()) {
      input = read_images(images_path, "--images", info);
      if (input.count < 2 * pairs)
        throw vaegan::Error("--images " + images_path + " holds " + std::to_string(input.count) + " images; " +
                            std::to_string(pairs) + " pairs need " + std::to_string(2 * pairs));
    }
    return with_loaded_trainer(f.checkpoint, info, [&](auto& trainer) {
      vaegan::Tensor<Scalar> ends(vaegan::Shape::matrix(2 * pairs, info.config->latent_dim));
      if constexpr (vaegan::has_encoder_v<std::decay_t<decltype(trainer)>>) {
        if (!images_path.empty()) {
          // Interpolate between the posterior means of consecutive images.
          const vaegan::Tensor<Scalar> x = to_tensor(input);
          vaegan::Tensor<Scalar> first(vaegan::Shape::matrix(2 * pairs, x.cols()));
          std::copy(x.data(), x.data() + first.numel(), first.data());
          trainer.encode(first, ends);
        }
      }
      if (images_path.empty()) vaegan::Rng(static_cast<std::uint64_t>(f.seed)).fill_normal(ends.data(), ends.numel());
      vaegan::Tensor<Scalar> strip;
      trainer.generate(interpolation_codes(ends, pairs, steps), strip);
      vaegan::write_interpolation_strip(png, strip, steps, grid);
      std::cout << "wrote " << pairs << " interpolation strips to " << png << "\n";
      return 0;
    });
  });
}
