#pragma once
// The command-line driver shared by mnist_vaegan, mnist_gan and mnist_vae. Each example
// is a small Spec (its trainer type, options and extra flags) handed to run_training().
//
// Per epoch it writes into --out: samples_epoch_NNN.png (from one fixed latent batch, so
// frames are comparable), recon_epoch_NNN.png (VAE and VAE-GAN: real test digits above
// their reconstructions), losses.csv (one row of epoch means), losses.svg (the curves),
// and every --checkpoint-every epochs the checkpoint (atomically replaced).
// Exit codes: 0 done, 1 runtime error, 2 bad usage. Every error is one line on stderr that
// names the problem and the fix. A run that fails leaves what earlier runs wrote as it was
// (every file is replaced atomically, and a checkpoint only at an epoch's end) and removes
// an output directory it created but wrote nothing into. docs/reliability.md lists them.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <vaegan/vaegan.hpp>

#include "cli.hpp"
#include "data.hpp"
#include "progress.hpp"
#include "specs.hpp"

namespace examples {

struct CommonFlags {
  std::string data = "data";
  std::string preset = "mlp";
  std::int64_t epochs = 5;
  std::int64_t batch_size = 64;
  std::int64_t seed = 1;
  std::int64_t threads = 0;
  std::string out;
  std::int64_t checkpoint_every = 1;
  std::string checkpoint;
  bool resume = false;
  std::int64_t max_steps = -1;
  double time_budget = 0.0;
  std::int64_t samples = 64;
  bool check_numerics = false;
};

inline std::string epoch_file(const std::string& dir, const char* stem, std::int64_t epoch) {
  char name[64];
  std::snprintf(name, sizeof name, "%s_epoch_%03lld.png", stem, static_cast<long long>(epoch));
  return (std::filesystem::path(dir) / name).string();
}

// Makes the output directory and proves it is writable before any training time is spent.
inline void prepare_output_dir(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec))
    throw vaegan::IoError("--out '" + dir + "' is a file, not a directory; pass a directory for --out");
  std::filesystem::create_directories(dir, ec);
  if (ec) throw vaegan::IoError("cannot create the output directory '" + dir + "': " + ec.message() +
                                "; pass a writable --out");
  const std::string probe = (std::filesystem::path(dir) / ".write-test").string();
  {
    std::ofstream f(probe);
    if (!f || !(f << "ok") || !(f.flush()))
      throw vaegan::IoError("the output directory '" + dir + "' is not writable; pass a writable --out");
  }
  std::filesystem::remove(probe, ec);
}

// Plots every loss column of the CSV against the epoch.
inline void plot_losses(const std::string& csv_path, const std::string& svg_path, const std::vector<std::string>& names,
                        const std::string& title) {
  const vaegan::CsvTable table = vaegan::read_csv(csv_path);
  vaegan::LinePlot plot;
  plot.set_title(title).set_x_label("epoch").set_y_label("epoch mean (log scale)").set_log_y(true);
  const std::vector<double> epochs = table.column("epoch");
  for (const auto& name : names) {
    if (name == "d_updated" || name == "dec_updated") continue;  // flags, not losses
    plot.add_series(name, epochs, table.column(name));
  }
  plot.save(svg_path);
}

template <class Spec>
int run_training(int argc, char** argv) {
  using Trainer = typename Spec::Trainer;
  CommonFlags f;
  typename Spec::Options options = Spec::defaults();
  f.out = std::string("out/") + Spec::kProgram;
  cli::Parser p(Spec::kProgram, Spec::kSummary);
  p.add("data", &f.data, "directory with the MNIST IDX files (scripts/get_mnist.sh fetches them)");
  p.add("preset", &f.preset, "model preset: mlp or seed (REFERENCE-WORKLOADS.md)");
  p.add("epochs", &f.epochs, "train until this many epochs are complete");
  p.add("batch-size", &f.batch_size, "images per step");
  p.add("seed", &f.seed, "seed of initialization, noise and shuffling");
  p.add("threads", &f.threads, "threads (0: all cores)");
  p.add("out", &f.out, "output directory for images, CSV, plot and checkpoint");
  p.add("checkpoint-every", &f.checkpoint_every, "save a checkpoint every N epochs (0: only at the end)");
  p.add("checkpoint", &f.checkpoint, "checkpoint file (default: OUT/checkpoint.vgck)");
  p.add_switch("resume", &f.resume, "continue from the checkpoint file instead of starting fresh");
  p.add("max-steps", &f.max_steps, "stop after this many steps in total (-1: no limit)");
  p.add("time-budget", &f.time_budget, "stop after this many seconds of training (0: no limit)");
  p.add("samples", &f.samples, "images in each per-epoch sample grid");
  p.add_switch("check-numerics", &f.check_numerics,
               "debug: check every op's output and gradient, and name the first op that makes a NaN or infinity");
  Spec::add_flags(p, options);
  // Messages built after parsing quote the value given.
  p.require([&] { return f.epochs >= 1 && f.epochs <= 1000000; },
            [&] { return "--epochs must be 1..1000000, got " + std::to_string(f.epochs); });
  p.require([&] { return f.max_steps >= -1; },
            [&] { return "--max-steps must be >= 0, or -1 for no limit, got " + std::to_string(f.max_steps); });
  p.require([&] { return f.batch_size >= 1; },
            [&] { return "--batch-size must be >= 1 (images per step), got " + std::to_string(f.batch_size); });
  p.require([&] { return f.threads >= 0 && f.threads <= 1024; },
            [&] { return "--threads must be 0..1024 (0: all cores), got " + std::to_string(f.threads); });
  p.require([&] { return f.checkpoint_every >= 0; }, [&] {
    return "--checkpoint-every must be >= 0 (0: only at the end), got " + std::to_string(f.checkpoint_every);
  });
  p.require([&] { return f.samples >= 1 && f.samples <= 1024; },
            [&] { return "--samples must be 1..1024, got " + std::to_string(f.samples); });
  p.require([&] { return f.time_budget >= 0; }, "--time-budget must be >= 0 (0: no limit)");
  p.parse(argc, argv);
  Spec::resolve(p, options);
  vaegan::ModelConfig config;
  try {
    config = vaegan::model_preset(f.preset);
  } catch (const vaegan::Error& e) {
    p.fail(e.what());
  }
  Spec::adjust_config(config, options);
  const std::string checkpoint_path =
      f.checkpoint.empty() ? (std::filesystem::path(f.out) / "checkpoint.vgck").string() : f.checkpoint;
  {
    std::error_code ec;
    if (std::filesystem::is_directory(checkpoint_path, ec))
      p.fail("the checkpoint path '" + checkpoint_path + "' is a directory; pass a file name with --checkpoint");
  }

  // The directories this run creates (removed again if it fails before writing into them),
  // and the step of the checkpoint on disk (-1: none yet), for the messages.
  std::vector<std::filesystem::path> created_dirs;
  std::int64_t checkpoint_step = -1;
  auto kept_checkpoint = [&]() -> std::string {
    if (checkpoint_step >= 0)
      return "the checkpoint " + checkpoint_path + " (step " + std::to_string(checkpoint_step) + ") is kept unchanged";
    std::error_code ec;
    if (std::filesystem::exists(checkpoint_path, ec)) return "the file " + checkpoint_path + " is kept unchanged";
    return "no checkpoint was saved (--checkpoint-every sets how often)";
  };

  try {
    if (f.threads > 0) vaegan::set_num_threads(static_cast<int>(f.threads));
    else vaegan::set_num_threads(vaegan::num_threads());
    std::cout << Spec::kProgram << ": loading MNIST from '" << f.data << "'\n";
    const vaegan::ImageDataset<Scalar> train = load_split<Scalar>(f.data, "train");
    if (train.image_size() != config.image_dim)
      throw vaegan::IoError("the images in '" + f.data + "' are " + std::to_string(train.image_shape().first) + "x" +
                            std::to_string(train.image_shape().second) + " but the model expects " +
                            image_size_text(config.image_dim) + " (" + std::to_string(config.image_dim) +
                            " pixels); pass --data with a dataset of " + image_size_text(config.image_dim) +
                            " images (MNIST, Fashion-MNIST and KMNIST are)");
    if (f.batch_size > train.size())
      p.fail("--batch-size " + std::to_string(f.batch_size) + " is larger than the training set (" +
             std::to_string(train.size()) + " images); pass a smaller --batch-size");
    // Real digits for the reconstruction grid: the test split if present, else training images.
    vaegan::Tensor<Scalar> shown_real;
    {
      std::vector<vaegan::Index> first(16);
      for (vaegan::Index i = 0; i < 16; ++i) first[static_cast<std::size_t>(i)] = i % train.size();
      try {
        const auto test = vaegan::load_mnist<Scalar>(f.data, "test");
        for (vaegan::Index i = 0; i < 16; ++i) first[static_cast<std::size_t>(i)] = i % test.size();
        test.gather(first.data(), 16, shown_real);
      } catch (const vaegan::IoError&) {
        train.gather(first.data(), 16, shown_real);
      }
    }
    if (f.resume && !std::filesystem::exists(checkpoint_path))
      throw vaegan::IoError("--resume: no checkpoint at '" + checkpoint_path + "'; train without --resume first");
    created_dirs = missing_directories(f.out);
    prepare_output_dir(f.out);
    {
      const std::filesystem::path checkpoint_dir = std::filesystem::path(checkpoint_path).parent_path();
      std::error_code ec;
      if (!checkpoint_dir.empty() && !std::filesystem::is_directory(checkpoint_dir, ec))
        throw vaegan::IoError("the directory of --checkpoint '" + checkpoint_path +
                              "' does not exist; create it or pass another --checkpoint");
    }

    if (const int stale = remove_stale_temporaries(checkpoint_path); stale > 0)
      std::cout << Spec::kProgram << ": removed " << stale << " temporary file(s) of interrupted checkpoint saves next to "
                << checkpoint_path << "\n";

    Trainer trainer(config, Spec::make_options(options), static_cast<std::uint64_t>(f.seed));
    trainer.set_check_numerics(f.check_numerics);
    vaegan::Batches<Scalar> batches =
        train.batches({static_cast<vaegan::Index>(f.batch_size), static_cast<std::uint64_t>(f.seed) * 7919 + 17});
    if (f.resume) {
      vaegan::load_training_checkpoint(checkpoint_path, trainer, &batches);
      checkpoint_step = trainer.step();
      std::cout << Spec::kProgram << ": resumed from '" << checkpoint_path << "' at step " << trainer.step()
                << ", epoch " << trainer.epoch() << "\n";
    }
    // One fixed latent batch for every epoch's samples, so frames compare.
    vaegan::Tensor<Scalar> fixed_z(vaegan::Shape::matrix(f.samples, config.latent_dim));
    vaegan::Rng(static_cast<std::uint64_t>(f.seed) ^ 0xfeedULL).fill_normal(fixed_z.data(), fixed_z.numel());

    std::vector<std::string> stat_names(Trainer::kStatNames, Trainer::kStatNames + Trainer::kStatCount);
    std::vector<std::string> columns{"epoch", "step", "train_seconds"};
    columns.insert(columns.end(), stat_names.begin(), stat_names.end());
    const std::string csv_path = (std::filesystem::path(f.out) / "losses.csv").string();
    const std::string svg_path = (std::filesystem::path(f.out) / "losses.svg").string();
    if (!f.resume && std::filesystem::exists(csv_path)) std::filesystem::remove(csv_path);
    vaegan::CsvAppender csv(csv_path, columns);

    std::cout << Spec::kProgram << ": " << train.size() << " training images, preset " << f.preset << " ("
              << config.describe() << "), batch " << f.batch_size << ", " << vaegan::num_threads()
              << " threads, output in " << f.out << "/\n";
    const std::int64_t total_steps =
        f.max_steps >= 0 ? std::min<std::int64_t>(f.max_steps, f.epochs * batches.batches_per_epoch())
                         : f.epochs * batches.batches_per_epoch();
    progress::Reporter reporter(total_steps);
    const std::int64_t first_step = trainer.step();
    double previous_seconds = 0.0;
    vaegan::Tensor<Scalar> images, recon;

    vaegan::FitCallbacks callbacks;
    callbacks.on_step = [&](const vaegan::StepEvent& e) {
      reporter.update(e.step, e.epoch + 1, f.epochs, e.stats, e.step - first_step);
    };
    callbacks.on_epoch = [&](const vaegan::EpochEvent& e) {
      reporter.newline();
      trainer.generate(fixed_z, images);
      vaegan::ImageGridOptions grid;
      grid.scale = 2;
      vaegan::write_image_grid(epoch_file(f.out, "samples", e.epoch), images, grid);
      vaegan::write_image_grid((std::filesystem::path(f.out) / "samples.png").string(), images, grid);
      if constexpr (Spec::kReconstructs) {
        trainer.reconstruct(shown_real, recon);
        vaegan::write_reconstruction_grid(epoch_file(f.out, "recon", e.epoch), shown_real, recon, grid);
      }
      std::vector<double> row{static_cast<double>(e.epoch), static_cast<double>(e.step),
                              previous_seconds + e.train_seconds};
      for (int i = 0; i < e.mean_stats.size(); ++i) row.push_back(e.mean_stats.value(i));
      csv.append(row);
      plot_losses(csv_path, svg_path, stat_names, std::string(Spec::kProgram) + " losses");
      if (f.checkpoint_every > 0 && e.epoch % f.checkpoint_every == 0) {
        vaegan::save_training_checkpoint(checkpoint_path, trainer, &batches);
        checkpoint_step = trainer.step();
      }
      std::printf("epoch %lld done: %.1f s training, samples in %s\n", static_cast<long long>(e.epoch),
                  e.epoch_seconds, epoch_file(f.out, "samples", e.epoch).c_str());
      std::fflush(stdout);
      return true;
    };
    if (f.resume && std::filesystem::exists(csv_path)) {
      const auto table = vaegan::read_csv(csv_path);
      if (table.num_rows() > 0) previous_seconds = table.column("train_seconds").back();
    }

    vaegan::FitOptions fit_options;
    fit_options.epochs = f.epochs;
    fit_options.max_steps = f.max_steps;
    fit_options.time_budget_seconds = f.time_budget;
    const auto t0 = std::chrono::steady_clock::now();
    const vaegan::FitEnd end = vaegan::fit(trainer, batches, fit_options, callbacks);
    reporter.newline();
    if (end != vaegan::FitEnd::epochs_done) {
      // Stopped mid-epoch (step or time limit): keep what was learned.
      trainer.generate(fixed_z, images);
      vaegan::ImageGridOptions grid;
      grid.scale = 2;
      vaegan::write_image_grid((std::filesystem::path(f.out) / "samples.png").string(), images, grid);
    }
    vaegan::save_training_checkpoint(checkpoint_path, trainer, &batches);
    checkpoint_step = trainer.step();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << Spec::kProgram << ": done after " << trainer.step() << " steps (" << (trainer.step() - first_step)
              << " this run) in " << wall << " s; samples: " << f.out << "/samples.png, checkpoint: "
              << checkpoint_path << "\n";
    return 0;
  } catch (const vaegan::NumericError& e) {
    remove_if_empty(created_dirs);
    std::cerr << Spec::kProgram << ": training stopped: " << e.what() << "; " << kept_checkpoint()
              << (f.check_numerics ? "" : " (--check-numerics names the op that made the first NaN or infinity)")
              << "\n";
    return cli::kExitRuntime;
  } catch (const std::exception& e) {
    remove_if_empty(created_dirs);
    std::cerr << Spec::kProgram << ": error: " << e.what() << "\n";
    return cli::kExitRuntime;
  }
}

}  // namespace examples
