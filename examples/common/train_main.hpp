#pragma once
// The driver of `vaegan train` for each --model. Each model is a small Spec (its trainer
// type, options and extra flags, specs.hpp) handed to run_training(),
// which checks the command line, the data and the output folder, and then trains with
// vaegan::fit() and the library's callbacks (train/callbacks/):
//   TrainingFlags    the common flags and their checks   (training_flags.hpp)
//   TrainingData     the training split, the shown real images, shape checks (training_data.hpp)
//   OutputDir        --out: made, proven writable, removed again if a failed run left it empty
//   CheckpointSaver  the checkpoint path's checks, resume, the "kept" message after a failure
//   ProcessGroup     under mpirun (VAEGAN_MPI builds): the processes that train together;
//                    process 0 alone writes and prints (the callbacks know it themselves)
//
// Per epoch it writes into --out: samples_epoch_NNN.png (from one fixed latent batch, so
// frames are comparable), recon_epoch_NNN.png (VAE and VAE-GAN: real test digits above
// their reconstructions; both grids in the model's image shape, RGB for 3 channels),
// losses.csv (one row of epoch means), losses.svg (the curves), with --classifier
// metrics.csv and metrics.svg (FID, precision, recall of 1,000 samples), report.html (all
// of it on one page), and every --checkpoint-every epochs the checkpoint (atomically
// replaced).
// Exit codes: 0 done, 1 runtime error, 2 bad usage. Every error is one line on stderr that
// names the problem and the fix. A run that fails leaves what earlier runs wrote as it was
// (every file is replaced atomically, and a checkpoint only at an epoch's end) and removes
// an output directory it created but wrote nothing into. docs/reliability.md lists them.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <vaegan/vaegan.hpp>

#include "checkpoint_saver.hpp"
#include "cli.hpp"
#include "output_dir.hpp"
#include "process_group.hpp"
#include "specs.hpp"
#include "training_data.hpp"
#include "training_flags.hpp"

namespace examples {

// The command as typed, for the report's settings.
inline std::string command_line(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + std::string(argv[i]);
  return s;
}

// The parsed command line: the common flags, the model's options and its configuration.
// Usage errors exit 2 while it is built.
template <class Spec>
struct TrainingCommand {
  TrainingFlags flags;
  typename Spec::Options options = Spec::defaults();
  vaegan::ModelConfig config;
  std::string model = Spec::kName;
  bool reference = false;  // read before parsing (train.cpp); declared so --help lists it

  TrainingCommand(cli::Parser& p, const ProcessGroup& group, int argc, char** argv) {
    flags.out = std::string("out/") + Spec::kName;
    p.footer(std::string("The flags above are the ") + Spec::kTitle +
             "'s; `vaegan train --model gan --help` (or vae, vaegan) shows another model's.");
    p.set_quiet(!group.writes());
    p.group("Model");
    p.add("m,model", &model, "vaegan, gan or vae: the model to train (each has its own flags)", "MODEL");
    if constexpr (Spec::kHasReference)
      p.add_switch("reference", &reference, "start from the reference step's settings (docs/reference-workloads.md)");
    flags.add(p);
    p.group(std::string(Spec::kTitle) + " training");
    Spec::add_flags(p, options);
    flags.add_output(p);
    flags.add_checks(p);
    p.parse(argc, argv);
    flags.data_set.resolve(p);
    try {
      config = vaegan::model_preset(flags.preset);
    } catch (const vaegan::Error& e) {
      p.fail(e.what());
    }
    Spec::adjust_config(config, options);
    if (flags.batch_size % group.size() != 0)
      p.fail("--batch-size " + std::to_string(flags.batch_size) + " cannot be split evenly over " +
             std::to_string(group.size()) + " processes; use a multiple of " + std::to_string(group.size()));
  }
};

// --classifier: the classifier, its evaluator and the callback that scores samples after
// each epoch (metrics.csv and the report); empty without the flag and on processes that do
// not write.
template <class T>
struct SampleScoring {
  std::optional<vaegan::Classifier<T>> classifier;
  std::optional<vaegan::Evaluator<T>> evaluator;
  std::optional<vaegan::ScoreSamples<T>> scores;

  SampleScoring(const TrainingFlags& f, const vaegan::ModelConfig& config, const vaegan::Tensor<T>& real, bool writes) {
    if (f.classifier.empty() || !writes) return;
    try {
      classifier.emplace(vaegan::Classifier<T>::load(f.classifier));
    } catch (const vaegan::IoError& e) {
      throw vaegan::IoError("--classifier '" + f.classifier + "': " + e.what());
    }
    if (classifier->config().image_shape != config.image_shape)
      throw vaegan::IoError("--classifier '" + f.classifier + "' takes images of " +
                            classifier->config().image_shape.str() + " but this data set's are " +
                            config.image_shape.str() + "; train one with vaegan classifier on the same data");
    evaluator.emplace(*classifier, real);
    scores.emplace(f.out, *evaluator, vaegan::Every::epochs(1), real.rows(), static_cast<std::uint64_t>(f.seed));
  }
};

// The trainer of the command, its batches and its place under mpirun; resumed from the
// checkpoint with --resume (every process from the same file).
template <class Trainer>
vaegan::Batches<Scalar> make_batches(Trainer& trainer, const TrainingFlags& f, const TrainingData<Scalar>& data,
                                     const ProcessGroup& group) {
  trainer.set_check_numerics(f.check_numerics);
  vaegan::BatchOptions batch_options;
  batch_options.batch_size = static_cast<vaegan::Index>(f.batch_size);
  batch_options.seed = static_cast<std::uint64_t>(f.seed) * 7919 + 17;
  if (vaegan::Communicator* comm = group.communicator()) {
    trainer.distribute(*comm);
    trainer.set_replica_check_every(f.check_replicas);
    batch_options.shard_index = comm->rank();
    batch_options.shard_count = comm->size();
  }
  return data.train.batches(batch_options);
}

// The settings table of report.html.
inline vaegan::ReportSettings report_settings(int argc, char** argv, const TrainingFlags& f,
                                              const vaegan::ModelConfig& config, vaegan::Index training_images,
                                              int processes) {
  return {{"command", command_line(argc, argv)},
          {"training images", std::to_string(training_images)},
          {"model", "preset " + f.preset + ": " + config.describe()},
          {"batch size", std::to_string(f.batch_size)},
          {"threads", std::to_string(vaegan::num_threads()) + " x " + std::to_string(processes) + " process(es)"}};
}

template <class Spec>
int run_training(int argc, char** argv) {
  using Trainer = typename Spec::Trainer;
  const std::string program = argv[0];  // "vaegan train"
  const ProcessGroup group(argc, argv);
  cli::Parser p(program, Spec::kSummary);
  const TrainingCommand<Spec> command(p, group, argc, argv);
  const TrainingFlags& f = command.flags;
  CheckpointSaver checkpoints(CheckpointSaver::path_for(f.checkpoint, f.out), f.checkpoint_every);
  if (checkpoints.path_is_directory())
    p.fail("the checkpoint path '" + checkpoints.path() + "' is a directory; pass a file name with --checkpoint");
  OutputDir out(f.out);

  try {
    // -- everything that can fail before training: data, output directory, checkpoint.
    vaegan::set_num_threads(f.threads > 0 ? static_cast<int>(f.threads) : group.default_threads());
    vaegan::ModelConfig config = command.config;
    const TrainingData<Scalar> data(program.c_str(), f.data_set, config, f.batch_size, [&](const std::string& message) {
      // The data can be missing on one machine only: every process says so, naming
      // itself when not process 0.
      p.set_quiet(false);
      p.fail(group.writes() ? message : "process " + std::to_string(group.rank()) + ": " + message);
    });
    if (f.resume) checkpoints.require_existing();
    if (group.writes()) {
      out.create();
      checkpoints.require_directory();
      checkpoints.remove_stale_temporaries(program.c_str());
    }
    Trainer trainer(config, Spec::make_options(command.options), static_cast<std::uint64_t>(f.seed));
    vaegan::Batches<Scalar> batches = make_batches(trainer, f, data, group);
    if (f.resume) checkpoints.resume(program.c_str(), trainer, batches);
    const std::int64_t first_step = trainer.step();
    if (group.writes())
      std::cout << program << ": " << data.train.size() << " training images, preset " << f.preset << " ("
                << config.describe() << "), batch " << f.batch_size << ", " << vaegan::num_threads() << " threads"
                << (group.size() > 1 ? " in each of " + std::to_string(group.size()) + " processes" : "")
                << ", output in " << f.out << "/\n";

    // -- training; every callback writes on process 0 only.
    vaegan::FitOptions fit_options;
    fit_options.epochs = f.epochs;
    fit_options.max_steps = f.max_steps;
    fit_options.time_budget_seconds = f.time_budget;
    vaegan::SampleGrid<Scalar> samples(f.out, vaegan::Every::epochs(1), f.samples, static_cast<std::uint64_t>(f.seed));
    if constexpr (Spec::kReconstructs) samples.with_reconstructions(data.shown_real);
    SampleScoring<Scalar> scoring(f, config, data.scored_real, group.writes());
    const auto t0 = std::chrono::steady_clock::now();
    vaegan::fit(trainer, batches, fit_options, vaegan::ProgressBar{}, samples,
                vaegan::LossLog{f.out, std::string(Spec::kName) + " losses"}, vaegan::optional_callback(scoring.scores),
                checkpoints.callback(),
                vaegan::TrainingReport{f.out, std::string(Spec::kName) + " training report",
                                       report_settings(argc, argv, f, config, data.train.size(), group.size())});
    if (!group.writes()) return 0;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << program << ": done after " << trainer.step() << " steps (" << (trainer.step() - first_step)
              << " this run) in " << wall << " s; samples: " << f.out << "/samples.png, report: " << f.out
              << "/report.html, checkpoint: " << checkpoints.path() << "\n";
    return 0;
  } catch (const vaegan::NumericError& e) {
    out.remove_if_unused();
    std::cerr << program << ": training stopped: " << e.what() << "; " << checkpoints.kept_message()
              << (f.check_numerics ? "" : " (--check-numerics names the op that made the first NaN or infinity)")
              << "\n";
    return group.fail(cli::kExitRuntime);
  } catch (const std::exception& e) {
    out.remove_if_unused();
    std::cerr << program << ": error: " << e.what() << "\n";
    return group.fail(cli::kExitRuntime);
  }
}

}  // namespace examples
