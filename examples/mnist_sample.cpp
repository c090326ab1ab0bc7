// mnist_sample: loads a checkpoint written by mnist_vaegan, mnist_gan or mnist_vae and
//   - writes N generated images as an IDX file (and optionally a PNG grid), so any outside
//     tool can score them;
//   - with --reconstruct FILE, writes the reconstructions of an IDX image file (VAE and
//     VAE-GAN checkpoints);
//   - with --interpolate FILE.png, writes latent-space interpolation strips.
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

#include "common/cli.hpp"

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
    throw vaegan::ShapeError("mnist_sample: the model made images of " + std::to_string(images.cols()) +
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
vaegan::Tensor<Scalar> interpolate(const vaegan::Tensor<Scalar>& ends, vaegan::Index pairs, vaegan::Index steps) {
  const vaegan::Index dim = ends.cols();
  vaegan::Tensor<Scalar> z(vaegan::Shape::matrix(pairs * steps, dim));
  for (vaegan::Index p = 0; p < pairs; ++p)
    for (vaegan::Index s = 0; s < steps; ++s) {
      const Scalar t = static_cast<Scalar>(s) / static_cast<Scalar>(steps - 1);
      for (vaegan::Index d = 0; d < dim; ++d) z(p * steps + s, d) = (1 - t) * ends(2 * p, d) + t * ends(2 * p + 1, d);
    }
  return z;
}

struct Flags {
  std::string checkpoint, out_idx, png, reconstruct, recon_out, interpolate_png;
  std::int64_t count = 1000, seed = 1, threads = 0, pairs = 8, steps = 10;
};

// The images to reconstruct, read and checked before anything is written.
vaegan::IdxImages read_reconstruct_input(const Flags& f, const vaegan::CheckpointInfo& info) {
  vaegan::IdxImages idx;
  try {
    idx = vaegan::read_idx_images(f.reconstruct, vaegan::IdxImageDims::with_channels);
  } catch (const vaegan::IoError& e) {
    throw vaegan::IoError(std::string(e.what()) +
                          "; --reconstruct takes an IDX images file (e.g. data/t10k-images-idx3-ubyte)");
  }
  const vaegan::Shape& image = info.config->image_shape;
  if (vaegan::Shape{idx.channels, idx.rows, idx.cols} != image)
    throw vaegan::IoError(f.reconstruct + ": images are " + shape_text(idx.channels, idx.rows, idx.cols) +
                          " but the model expects " + shape_text(image) + " (" + std::to_string(image.numel()) +
                          " values); pass --reconstruct an IDX file of " + shape_text(image) + " images");
  return idx;
}

// Grid options for the model's images; a shape no PNG can show (not 1 or 3 channels) is
// an error before any time is spent.
vaegan::ImageGridOptions grid_options(const vaegan::ModelConfig& config) {
  vaegan::ImageGridOptions grid;
  try {
    grid = vaegan::image_grid_options(config.image_shape);
  } catch (const vaegan::ShapeError& e) {
    throw vaegan::Error(std::string(e.what()) + "; write the images as IDX with --out instead of --png/--interpolate");
  }
  grid.scale = 2;
  return grid;
}

// Every output file's directory must exist before any time is spent or anything written.
void check_output_paths(const Flags& f) {
  for (const auto& [flag, path] : {std::pair<const char*, const std::string*>{"--out", &f.out_idx},
                                   {"--png", &f.png},
                                   {"--reconstruct-out", &f.recon_out},
                                   {"--interpolate", &f.interpolate_png}}) {
    if (path->empty()) continue;
    std::error_code ec;
    if (std::filesystem::is_directory(*path, ec))
      throw vaegan::IoError(std::string(flag) + " '" + *path + "' is a directory; pass a file name");
    const std::filesystem::path dir = std::filesystem::path(*path).parent_path();
    if (!dir.empty() && std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec))
      throw vaegan::IoError(std::string(flag) + " '" + *path + "': '" + dir.string() +
                            "' is a file, not a directory; write somewhere else");
    if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
      throw vaegan::IoError(std::string(flag) + " '" + *path + "': the directory '" + dir.string() +
                            "' does not exist; create it first or write somewhere else");
  }
}

template <class Trainer>
int run(const Flags& f, const vaegan::CheckpointInfo& info) {
  Trainer trainer(*info.config, {}, 1);
  vaegan::load_training_checkpoint<Trainer, Scalar>(f.checkpoint, trainer, nullptr);
  const vaegan::Shape& image = info.config->image_shape;
  const vaegan::ImageGridOptions grid =
      f.png.empty() && f.interpolate_png.empty() ? vaegan::ImageGridOptions{} : grid_options(*info.config);
  vaegan::IdxImages to_reconstruct;
  if constexpr (!std::is_same_v<Trainer, vaegan::GanTrainer<Scalar>>) {
    if (!f.reconstruct.empty()) to_reconstruct = read_reconstruct_input(f, info);
  } else if (!f.reconstruct.empty()) {
    throw vaegan::Error(
        "--reconstruct needs a VAE or VAE-GAN checkpoint: a GAN has no encoder; drop --reconstruct "
        "or pass a mnist_vae or mnist_vaegan checkpoint");
  }
  vaegan::Rng rng(static_cast<std::uint64_t>(f.seed));
  vaegan::Tensor<Scalar> z(vaegan::Shape::matrix(f.count, info.config->latent_dim)), images;
  rng.fill_normal(z.data(), z.numel());
  trainer.generate(z, images);
  if (!f.out_idx.empty()) {
    vaegan::write_idx_images(f.out_idx, to_idx(images, image));
    std::cout << "wrote " << images.rows() << " generated images to " << f.out_idx << "\n";
  }
  if (!f.png.empty()) {
    vaegan::Tensor<Scalar> shown(vaegan::Shape::matrix(std::min<vaegan::Index>(images.rows(), 100), images.cols()));
    std::copy(images.data(), images.data() + shown.numel(), shown.data());
    vaegan::write_image_grid(f.png, shown, grid);
    std::cout << "wrote a grid of " << shown.rows() << " samples to " << f.png << "\n";
  }
  vaegan::Tensor<Scalar> ends(vaegan::Shape::matrix(2 * f.pairs, info.config->latent_dim));
  if constexpr (!std::is_same_v<Trainer, vaegan::GanTrainer<Scalar>>) {
    if (!f.reconstruct.empty()) {
      const vaegan::IdxImages& idx = to_reconstruct;
      vaegan::Tensor<Scalar> x(vaegan::Shape::matrix(idx.count, idx.values_per_image())), recon;
      for (std::size_t i = 0; i < idx.pixels.size(); ++i) x[static_cast<vaegan::Index>(i)] = idx.pixels[i] / 255.0f;
      trainer.reconstruct(x, recon);
      vaegan::write_idx_images(f.recon_out, to_idx(recon, image));
      std::cout << "wrote " << recon.rows() << " reconstructions of " << f.reconstruct << " to " << f.recon_out << "\n";
      if (!f.interpolate_png.empty() && x.rows() >= 2 * f.pairs) {
        // Interpolate between the posterior means of consecutive real images.
        vaegan::Tensor<Scalar> first(vaegan::Shape::matrix(2 * f.pairs, x.cols()));
        std::copy(x.data(), x.data() + first.numel(), first.data());
        trainer.encode(first, ends);
      }
    }
  }
  if (!f.interpolate_png.empty()) {
    if (f.reconstruct.empty() || std::is_same_v<Trainer, vaegan::GanTrainer<Scalar>>)
      rng.fill_normal(ends.data(), ends.numel());  // between random prior samples
    vaegan::Tensor<Scalar> strip;
    trainer.generate(interpolate(ends, f.pairs, f.steps), strip);
    vaegan::write_interpolation_strip(f.interpolate_png, strip, f.steps, grid);
    std::cout << "wrote " << f.pairs << " interpolation strips to " << f.interpolate_png << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  cli::Parser p(
      "mnist_sample",
      "Sample images from a checkpoint of mnist_vaegan, mnist_gan or mnist_vae, as IDX (for scoring) and PNG.");
  p.add("checkpoint", &f.checkpoint, "checkpoint file written by a training example (required)");
  p.add("count", &f.count, "number of images to generate");
  p.add("out", &f.out_idx, "IDX file for the generated images (.gz to compress; empty: none)");
  p.add("png", &f.png, "PNG grid of (up to 100 of) the generated images (empty: none)");
  p.add("reconstruct", &f.reconstruct, "IDX image file to reconstruct (VAE and VAE-GAN only)");
  p.add("reconstruct-out", &f.recon_out, "IDX file for the reconstructions");
  p.add("interpolate", &f.interpolate_png, "PNG of latent interpolation strips (empty: none)");
  p.add("pairs", &f.pairs, "interpolation strips (pairs of end points)");
  p.add("steps", &f.steps, "images per interpolation strip");
  p.add("seed", &f.seed, "seed of the latent samples");
  p.add("threads", &f.threads, "threads (0: all cores)");
  p.require([&] { return !f.checkpoint.empty(); }, "--checkpoint is required");
  p.require([&] { return f.count >= 1 && f.count <= 1000000; },
            [&] { return "--count must be 1..1000000, got " + std::to_string(f.count); });
  p.require([&] { return f.reconstruct.empty() || !f.recon_out.empty(); },
            "--reconstruct needs --reconstruct-out for the result");
  p.require([&] { return f.pairs >= 1 && f.pairs <= 64 && f.steps >= 2 && f.steps <= 64; },
            "--pairs must be 1..64 and --steps 2..64");
  p.require(
      [&] { return !f.out_idx.empty() || !f.png.empty() || !f.reconstruct.empty() || !f.interpolate_png.empty(); },
      "nothing to do: give --out, --png, --reconstruct or --interpolate");
  p.require([&] { return f.threads >= 0; },
            [&] { return "--threads must be >= 0 (0: all cores), got " + std::to_string(f.threads); });
  p.parse(argc, argv);
  try {
    if (f.threads > 0) vaegan::set_num_threads(static_cast<int>(f.threads));
    if (!std::filesystem::exists(f.checkpoint))
      throw vaegan::IoError("no checkpoint at '" + f.checkpoint + "'; train with mnist_vaegan first");
    check_output_paths(f);
    vaegan::CheckpointInfo info;
    try {
      info = vaegan::read_checkpoint_info(f.checkpoint);
    } catch (const vaegan::IoError& e) {
      throw vaegan::IoError(std::string(e.what()) +
                            "; pass --checkpoint a file that mnist_vaegan, mnist_gan or mnist_vae wrote");
    }
    if (!info.config)
      throw vaegan::IoError(f.checkpoint +
                            ": holds a model the program composed itself (no preset in section "
                            "'model.config'); this tool rebuilds the preset models of mnist_vaegan, mnist_gan and "
                            "mnist_vae: load such a checkpoint from the program that built the model");
    std::cout << "mnist_sample: " << info.kind << " checkpoint at step " << info.step << " (" << info.config->describe()
              << ")\n";
    if (info.dtype != "float32")
      throw vaegan::IoError(f.checkpoint + ": holds " + info.dtype +
                            "; this tool reads float32 checkpoints (those "
                            "of mnist_vaegan, mnist_gan and mnist_vae)");
    if (info.kind == "vaegan") return run<vaegan::VaeGanTrainer<Scalar>>(f, info);
    if (info.kind == "gan") return run<vaegan::GanTrainer<Scalar>>(f, info);
    if (info.kind == "vae") return run<vaegan::VaeTrainer<Scalar>>(f, info);
    throw vaegan::IoError(f.checkpoint + ": unknown trainer kind '" + info.kind + "'");
  } catch (const std::exception& e) {
    std::cerr << "mnist_sample: error: " << e.what() << "\n";
    return cli::kExitRuntime;
  }
}
