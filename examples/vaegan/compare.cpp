// vaegan compare: the efficiency study. Trains GAN, VAE and VAE-GAN on the same data, preset,
// batch size and thread count, for the same training-time budget, over several seeds;
// scores FID, precision, recall and class coverage at fixed points of training time
// (scoring time excluded); writes
//   OUT/<method>.csv     one row per (seed, evaluation point) of each method
//   OUT/summary.md       per method: best FID, FID at each time point, time to reach the
//                        GAN's best FID, end-of-budget scores (mean +- sd over seeds)
//   OUT/fid_vs_time.svg  mean FID against training seconds, one line per method
//   OUT/<method>-steps.csv  per (seed, evaluation point): the mean of each of the trainer's
//                        step statistics over the steps since the previous point (the
//                        VAE-GAN's gating rates, its loss terms' gradient norms, ...)
// --bn-check N also scores, at every point, the same latent codes' samples after the
// decoder's batch-norm running statistics are recalibrated on N batches of prior codes
// (train/batch_norm_recalibration.hpp; column fid_recalibrated); the statistics are put
// back afterwards, so training is unchanged.
// --clock cpu counts the CPU seconds of each run's training thread instead of wall seconds,
// so a study run beside other work on a shared machine still gives every method the same
// compute.
// --score-on validation trains on the training images minus a held-out share of each class
// (--validation-fraction, seeded: data/split.hpp) and scores against that share, for tuning;
// --score-on test (the default) trains on all training images and scores against the test
// split, for the final runs. Tuning and final scores then never share images.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "data.hpp"
#include "specs.hpp"

namespace {

using examples::Scalar;

struct Study {
  examples::DatasetFlags data_set;
  std::string classifier = "out/classifier.vgck", out = "out/compare", methods = "gan,vae,vaegan";
  std::string seeds = "1,2,3", preset = "mlp", clock = "wall", score_on = "test";
  double budget = 180, eval_every = 15, validation_fraction = 0.1;
  std::uint64_t validation_seed = 1;
  std::int64_t batch_size = 64, threads = 1, eval_samples = 1000, jobs = 1, bn_check = 0;
  std::string scored_on;  // set once the data is loaded, for summary.md
};

// 0.1, not to_string's 0.100000.
std::string shortest(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

struct EvalPoint {
  std::string method;
  std::int64_t seed = 0;
  int index = 0;  // evaluation point number: 0 at the start, then one per eval_every
  double seconds = 0;
  std::int64_t step = 0;
  vaegan::SampleScores scores;
  bool diverged = false;
  double fid_recalibrated = std::nan("");
};

// The mean of each step statistic over the steps since the last reset (nan for a statistic
// no step reported).
class StatMeans {
 public:
  void add(const vaegan::StepStats& s) {
    if (names_.empty())
      for (int i = 0; i < s.size(); ++i) names_.push_back(s.name(i));
    sums_.resize(names_.size());
    counts_.resize(names_.size());
    for (int i = 0; i < s.size(); ++i)
      if (!std::isnan(s.value(i)))
        sums_[static_cast<std::size_t>(i)] += s.value(i), ++counts_[static_cast<std::size_t>(i)];
  }
  std::vector<double> take() {
    std::vector<double> means;
    for (std::size_t i = 0; i < names_.size(); ++i)
      means.push_back(counts_[i] > 0 ? sums_[i] / static_cast<double>(counts_[i]) : std::nan(""));
    std::fill(sums_.begin(), sums_.end(), 0.0);
    std::fill(counts_.begin(), counts_.end(), 0);
    return means;
  }

 private:
  std::vector<std::string> names_;
  std::vector<double> sums_;
  std::vector<std::int64_t> counts_;
};

// The network slot that makes the images ("decoder", or the GAN's "generator").
template <class Trainer>
vaegan::ParameterSet<Scalar>& image_network(Trainer& trainer) {
  for (const auto& n : trainer.networks())
    if (n.name == "decoder" || n.name == "generator") return *n.params;
  throw vaegan::Error("compare: the trainer has no decoder or generator");
}

// --bn-check: FID of the codes' samples after recalibrating the decoder's batch norm on
// prior codes; the running statistics are restored after, so training does not see it.
template <class Trainer>
double recalibrated_fid(Trainer& trainer, const Study& study, std::int64_t seed, const vaegan::Tensor<Scalar>& z,
                        const vaegan::Evaluator<Scalar>& evaluator) {
  vaegan::Tensor<Scalar>& buffers = image_network(trainer).buffers();
  const vaegan::Tensor<Scalar> saved = buffers;
  vaegan::Rng rng(static_cast<std::uint64_t>(seed) ^ 0xb0c1ULL);
  vaegan::recalibrate_batch_norm(trainer.decoder(), rng, study.bn_check, study.batch_size);
  vaegan::Tensor<Scalar> images;
  trainer.generate(z, images);
  const double fid = evaluator.score(images).fid;
  std::copy(saved.data(), saved.data() + saved.numel(), buffers.data());
  return fid;
}

// The evaluation points of one run, as a fit() callback: point 0 before the first step,
// one each time the training clock passes the next multiple of eval_every, one at a
// divergence (scored NaN), and a last one at the end if the clock moved since the previous
// point. fit() clocks train_step only, so scoring time is not training time. Every step's
// statistics go to add_stats, for the steps CSV.
struct EvaluationSchedule {
  double eval_every = 0;
  std::function<void(const vaegan::StepStats&)> add_stats;
  std::function<void(double seconds, bool diverged)> evaluate;
  std::function<void(const std::string& why)> report_divergence;
  double next_eval = 0, last_eval = -1;

  void evaluate_at(double seconds, bool diverged) {
    last_eval = seconds;
    evaluate(seconds, diverged);
  }
  template <class Run>
  void on_fit_begin(Run&) {
    evaluate_at(0.0, false);
    next_eval = eval_every;
  }
  template <class Run>
  void on_step(Run&, const vaegan::StepEvent& e) {
    add_stats(e.stats);
    if (e.train_seconds >= next_eval - 1e-9) {
      evaluate_at(e.train_seconds, false);
      next_eval += eval_every;
    }
  }
  template <class Run>
  void on_fit_end(Run&, const vaegan::FitEndEvent& e) {
    if (e.reason == vaegan::FitEnd::diverged) {
      report_divergence(e.message);
      evaluate_at(e.train_seconds, true);
    } else if (e.train_seconds > last_eval) {
      evaluate_at(e.train_seconds, false);
    }
  }
};

// One run: fit() until the budget of the chosen clock is spent (--clock cpu: the CPU time
// of the thread that trains it; a run uses one thread, enforced when --jobs > 1, so this is
// exactly its compute whatever else runs on the machine), or until the weights diverge.
template <class Spec>
void run_method(const typename Spec::Options& options, const Study& study, std::int64_t seed,
                const vaegan::ImageDataset<Scalar>& train, const vaegan::Evaluator<Scalar>& evaluator,
                vaegan::CsvAppender& csv, const std::string& steps_csv_path, std::vector<EvalPoint>& points,
                std::mutex& mutex) {
  vaegan::ModelConfig config = vaegan::model_preset(study.preset);
  Spec::adjust_config(config, options);
  typename Spec::Trainer trainer(config, Spec::make_options(options), static_cast<std::uint64_t>(seed));
  vaegan::Batches<Scalar> batches = train.batches({study.batch_size, static_cast<std::uint64_t>(seed) * 7919 + 17});
  vaegan::Tensor<Scalar> z(vaegan::Shape::matrix(study.eval_samples, config.latent_dim)), images;
  vaegan::Rng(static_cast<std::uint64_t>(seed) ^ 0xe7a1ULL).fill_normal(z.data(), z.numel());
  int index = 0;
  StatMeans stat_means;
  std::vector<std::string> stat_columns{"seed", "point", "step"};
  for (int i = 0; i < Spec::Trainer::kStatCount; ++i) stat_columns.push_back(Spec::Trainer::kStatNames[i]);
  std::optional<vaegan::CsvAppender> steps_csv;
  {
    const std::lock_guard<std::mutex> lock(mutex);  // one header, whichever seed's run comes first
    steps_csv.emplace(steps_csv_path, stat_columns);
  }
  EvaluationSchedule schedule;
  schedule.eval_every = study.eval_every;
  schedule.add_stats = [&](const vaegan::StepStats& s) { stat_means.add(s); };
  schedule.report_divergence = [&](const std::string& why) {
    std::printf("  %s seed %lld diverged: %s\n", Spec::kName, static_cast<long long>(seed), why.c_str());
  };
  schedule.evaluate = [&](double seconds, bool diverged) {
    EvalPoint p{Spec::kName, seed, index++, seconds, trainer.step(), {}, diverged};
    if (!diverged) {
      trainer.generate(z, images);
      p.scores = evaluator.score(images);
      if (study.bn_check > 0) p.fid_recalibrated = recalibrated_fid(trainer, study, seed, z, evaluator);
    } else {
      p.scores.fid = std::nan("");
    }
    std::vector<double> stat_row{static_cast<double>(seed), static_cast<double>(p.index), static_cast<double>(p.step)};
    const std::vector<double> means = stat_means.take();
    stat_row.insert(stat_row.end(), means.begin(), means.end());
    stat_row.resize(stat_columns.size(), std::nan(""));  // point 0: no steps yet
    const std::lock_guard<std::mutex> lock(mutex);
    csv.append({static_cast<double>(seed), static_cast<double>(p.index), p.seconds, static_cast<double>(p.step),
                p.scores.fid, p.scores.precision, p.scores.recall, static_cast<double>(p.scores.classes_covered),
                p.scores.kl_to_uniform, diverged ? 1.0 : 0.0, p.fid_recalibrated});
    steps_csv->append(stat_row);
    points.push_back(p);
    std::printf("  %-6s seed %lld  t %6.1f s  step %6lld  FID %8.3f  P %.3f R %.3f  classes %d\n", Spec::kName,
                static_cast<long long>(seed), p.seconds, static_cast<long long>(p.step), p.scores.fid,
                p.scores.precision, p.scores.recall, p.scores.classes_covered);
    std::fflush(stdout);
  };
  vaegan::FitOptions fit_options;
  fit_options.epochs = std::numeric_limits<std::int64_t>::max();  // the budget ends the run
  fit_options.time_budget_seconds = study.budget;
  fit_options.clock = study.clock == "cpu" ? vaegan::FitClock::thread_cpu : vaegan::FitClock::wall;
  fit_options.stop_on_divergence = true;
  fit_options.adapt_threads = false;  // --threads as given, also for the concurrent runs of --jobs
  vaegan::fit(trainer, batches, fit_options, schedule);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ','))
    if (!part.empty()) out.push_back(part);
  return out;
}

struct MeanSd {
  double mean = std::nan(""), sd = std::nan("");
  int n = 0;
};
MeanSd mean_sd(const std::vector<double>& v) {
  MeanSd m;
  std::vector<double> finite;
  for (double x : v)
    if (std::isfinite(x)) finite.push_back(x);
  m.n = static_cast<int>(finite.size());
  if (finite.empty()) return m;
  double s = 0;
  for (double x : finite) s += x;
  m.mean = s / m.n;
  double ss = 0;
  for (double x : finite) ss += (x - m.mean) * (x - m.mean);
  m.sd = m.n > 1 ? std::sqrt(ss / (m.n - 1)) : 0.0;
  return m;
}
std::string fmt(const MeanSd& m, int digits = 2) {
  if (m.n == 0) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f ± %.*f", digits, m.mean, digits, m.sd);
  return buf;
}

// First evaluation point at which FID <= target (-1 if never). Points are compared by
// number, not by measured seconds: point k is nominally k * eval_every seconds in.
int point_reaching(const std::vector<EvalPoint>& run, double target) {
  for (const auto& p : run)
    if (std::isfinite(p.scores.fid) && p.scores.fid <= target) return p.index;
  return -1;
}

// Per seed, the GAN's best FID within the budget and the point it got there: the targets
// of the "time to the GAN's best FID" column.
struct GanTargets {
  std::map<std::int64_t, double> best;
  std::map<std::int64_t, int> best_point;
};
GanTargets gan_targets(const std::map<std::int64_t, std::vector<EvalPoint>>& gan_runs) {
  GanTargets t;
  for (const auto& [seed, run] : gan_runs) {
    double best = std::numeric_limits<double>::infinity();
    int when = -1;
    for (const auto& p : run)
      if (std::isfinite(p.scores.fid) && p.scores.fid < best) best = p.scores.fid, when = p.index;
    t.best[seed] = best;
    t.best_point[seed] = when;
  }
  return t;
}

using RunsByMethod = std::map<std::string, std::map<std::int64_t, std::vector<EvalPoint>>>;

// The first table: per method, best and end-of-budget scores over the seeds, and (with a
// GAN in the study) when each seed reached its GAN's best FID.
void write_method_table(std::ostringstream& md, const Study& study, RunsByMethod& runs,
                        const std::vector<std::string>& methods, const std::vector<std::int64_t>& seeds) {
  const bool has_gan = runs.count("gan") > 0;
  const GanTargets gan = has_gan ? gan_targets(runs["gan"]) : GanTargets{};
  md << "| method | best FID | FID at end | precision at end | recall at end | classes at end |";
  if (has_gan) md << " time to GAN's best FID (s), per seed | ≤ half the GAN's time on every seed |";
  md << "\n|---|---|---|---|---|---|" << (has_gan ? "---|---|" : "") << "\n";
  for (const auto& method : methods) {
    std::vector<double> best, end_fid, end_p, end_r, end_c;
    std::string times;
    bool all_half = true;
    for (const auto seed : seeds) {
      const auto& run = runs[method][seed];
      if (run.empty()) continue;
      double b = std::numeric_limits<double>::infinity();
      for (const auto& p : run)
        if (std::isfinite(p.scores.fid)) b = std::min(b, p.scores.fid);
      best.push_back(std::isfinite(b) ? b : std::nan(""));
      end_fid.push_back(run.back().scores.fid);
      end_p.push_back(run.back().scores.precision);
      end_r.push_back(run.back().scores.recall);
      end_c.push_back(run.back().scores.classes_covered);
      if (has_gan) {
        const int k = point_reaching(run, gan.best.at(seed));
        char buf[48];
        std::snprintf(buf, sizeof buf, "%s%.0f", times.empty() ? "" : ", ", k * study.eval_every);
        times += k >= 0 ? buf : (times.empty() ? "never" : ", never");
        all_half = all_half && k >= 0 && 2 * k <= gan.best_point.at(seed);
      }
    }
    md << "| " << method << " | " << fmt(mean_sd(best)) << " | " << fmt(mean_sd(end_fid)) << " | "
       << fmt(mean_sd(end_p), 3) << " | " << fmt(mean_sd(end_r), 3) << " | " << fmt(mean_sd(end_c), 1) << " |";
    if (has_gan) md << " " << times << " | " << (method == "gan" ? "—" : (all_half ? "yes" : "no")) << " |";
    md << "\n";
  }
}

// The second table, FID at each evaluation point, and the same means as fid_vs_time.svg.
void write_points_table_and_plot(std::ostringstream& md, const Study& study, RunsByMethod& runs,
                                 const std::vector<std::string>& methods, const std::vector<std::int64_t>& seeds) {
  std::size_t max_points = 0;
  for (const auto& [m, by_seed] : runs)
    for (const auto& [s, run] : by_seed) max_points = std::max(max_points, run.size());
  md << "\nFID at each evaluation point (mean ± sd over seeds):\n\n| seconds |";
  for (const auto& m : methods) md << " " << m << " |";
  md << "\n|---|";
  for (std::size_t i = 0; i < methods.size(); ++i) md << "---|";
  md << "\n";
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> curves;
  for (std::size_t i = 0; i < max_points; ++i) {
    std::vector<double> secs;
    std::string row;
    for (const auto& m : methods) {
      std::vector<double> fids;
      for (const auto seed : seeds) {
        const auto& run = runs[m][seed];
        if (i < run.size()) fids.push_back(run[i].scores.fid), secs.push_back(run[i].seconds);
      }
      const MeanSd f = mean_sd(fids);
      row += " " + fmt(f) + " |";
      if (f.n > 0) {
        double t = 0;
        int k = 0;
        for (const auto seed : seeds)
          if (i < runs[m][seed].size()) t += runs[m][seed][i].seconds, ++k;
        curves[m].first.push_back(t / std::max(k, 1));
        curves[m].second.push_back(f.mean);
      }
    }
    char head[32];
    std::snprintf(head, sizeof head, "| %.0f |", mean_sd(secs).mean);
    md << head << row << "\n";
  }
  vaegan::LinePlot plot;
  plot.set_title("FID against training time (mean over seeds)")
      .set_x_label(study.clock == "cpu" ? "training CPU seconds" : "training seconds")
      .set_y_label("FID (log scale)")
      .set_log_y(true);
  for (const auto& m : methods) plot.add_series(m, curves[m].first, curves[m].second);
  plot.save((std::filesystem::path(study.out) / "fid_vs_time.svg").string());
}

void write_summary(const Study& study, const std::vector<EvalPoint>& points, const std::vector<std::string>& methods,
                   const std::vector<std::int64_t>& seeds, const std::string& command) {
  RunsByMethod runs;
  for (const auto& p : points) runs[p.method][p.seed].push_back(p);
  std::ostringstream md;
  md << "Study: " << study.data_set.choice.title << ", preset `" << study.preset << "`, batch " << study.batch_size
     << ", " << study.threads << " thread(s), budget " << study.budget << " s of training (" << study.clock
     << " clock) per run, scored every " << study.eval_every << " s on " << study.eval_samples << " samples, seeds "
     << study.seeds << ". Scored against " << study.scored_on << ".\n\n";
  md << "Command: `" << command << "`\n\n";
  write_method_table(md, study, runs, methods, seeds);
  write_points_table_and_plot(md, study, runs, methods, seeds);
  const std::string path = (std::filesystem::path(study.out) / "summary.md").string();
  const std::string text = md.str();
  vaegan::detail::write_file_atomically(path, text.data(), text.size(), "compare");
  std::cout << "\n" << text;
}

// The study's command line: the study's own flags and each method's, prefixed.
struct StudyCommand {
  Study study;
  examples::GanSpec::Options gan;
  examples::VaeSpec::Options vae;
  examples::VaeGanSpec::Options vaegan;
  std::vector<std::string> methods;
  std::vector<std::int64_t> seeds;
  std::string command;  // as typed, for summary.md

  StudyCommand(cli::Parser& p, int argc, char** argv) {
    add_study_flags(p);
    p.group("GAN (--gan-...)");
    examples::GanSpec::add_flags(p, gan, "gan-");
    p.group("VAE (--vae-...)");
    examples::VaeSpec::add_flags(p, vae, "vae-");
    p.group("VAE-GAN (--vaegan-...)");
    examples::VaeGanSpec::add_flags(p, vaegan, "vaegan-");
    p.parse(argc, argv);
    study.data_set.resolve(p);
    methods = split(study.methods);
    for (const auto& s : split(study.seeds)) {
      char* end = nullptr;
      const long long v = std::strtoll(s.c_str(), &end, 10);
      if (*end != '\0') p.fail("--seeds: '" + s + "' is not an integer");
      seeds.push_back(v);
    }
    if (methods.empty() || seeds.empty()) p.fail("--methods and --seeds must not be empty");
    for (const auto& m : methods)
      if (m != "gan" && m != "vae" && m != "vaegan") p.fail("--methods: unknown method '" + m + "'");
    command = "vaegan compare";
    for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
  }

 private:
  void add_study_flags(cli::Parser& p) {
    p.group("Data");
    study.data_set.add(p);
    p.add("score-on", &study.score_on,
          "test (train on all training images, score on the test split) or validation (train on the rest, score on "
          "a held-out share of the training images: for tuning)",
          "SPLIT");
    p.add("validation-fraction", &study.validation_fraction,
          "--score-on validation: share of each class of the training images held out");
    p.add("validation-seed", &study.validation_seed, "--score-on validation: seed of the held-out choice");
    p.group("Study");
    p.add("o,out", &study.out, "output directory", "DIR");
    p.add("classifier", &study.classifier, "classifier checkpoint (vaegan classifier writes one)", "FILE");
    p.add("methods", &study.methods, "comma-separated subset of gan,vae,vaegan", "LIST");
    p.add("seeds", &study.seeds, "comma-separated seeds", "LIST");
    p.add("p,preset", &study.preset, "model preset: mlp, seed or conv", "NAME");
    p.add("budget", &study.budget, "training seconds per run", "SECONDS");
    p.add("eval-every", &study.eval_every, "score every this many training seconds", "SECONDS");
    p.add("eval-samples", &study.eval_samples, "generated images per score");
    p.add("b,batch-size", &study.batch_size, "images per step");
    p.add("t,threads", &study.threads, "threads");
    p.add("clock", &study.clock, "wall (seconds) or cpu (CPU seconds of the training thread; needs --threads 1)",
          "CLOCK");
    p.add("jobs", &study.jobs, "runs trained at the same time (each on one thread; needs --threads 1 --clock cpu)");
    p.add("bn-check", &study.bn_check,
          "also score samples after recalibrating the decoder's batch norm on this many batches of prior codes (0: "
          "off)");
    Study& s = study;
    p.require([&s] { return s.budget > 0 && s.eval_every > 0 && s.eval_every <= s.budget; },
              "need --budget > 0 and 0 < --eval-every <= --budget");
    p.require([&s] { return s.batch_size >= 1 && s.threads >= 1 && s.eval_samples >= 20; },
              "need --batch-size >= 1, --threads >= 1, --eval-samples >= 20");
    p.require([&s] { return s.clock == "wall" || s.clock == "cpu"; }, "--clock must be wall or cpu");
    p.require([&s] { return s.bn_check >= 0 && (s.bn_check == 0 || s.batch_size >= 2); },
              "--bn-check must be >= 0 (and needs --batch-size >= 2)");
    p.require([&s] { return s.score_on == "test" || s.score_on == "validation"; },
              [&s] { return "--score-on must be test or validation, got '" + s.score_on + "'"; });
    p.require([&s] { return s.validation_fraction > 0.0 && s.validation_fraction < 1.0; },
              [&s] { return "--validation-fraction must be in (0, 1), got " + std::to_string(s.validation_fraction); });
    p.require([&s] { return s.clock == "wall" || s.threads == 1; }, "--clock cpu needs --threads 1");
    p.require([&s] { return s.jobs == 1 || (s.jobs >= 1 && s.jobs <= 64 && s.clock == "cpu"); },
              "--jobs above 1 needs --clock cpu (and --threads 1): wall time is shared between concurrent runs");
  }
};

// What the runs train on and what they are scored against (see the header comment); sets
// study.scored_on for summary.md.
struct StudyData {
  vaegan::ImageDataset<Scalar> train, scored;
};
StudyData load_study_data(Study& study) {
  StudyData d;
  if (study.score_on == "validation") {
    vaegan::DatasetSplit<Scalar> parts = vaegan::split_dataset(examples::load_split<Scalar>(study.data_set, "train"),
                                                               study.validation_fraction, study.validation_seed);
    d.train = std::move(parts.kept);
    d.scored = std::move(parts.held_out);
  } else {
    d.train = examples::load_split<Scalar>(study.data_set, "train");
    d.scored = examples::load_split<Scalar>(study.data_set, "test");
  }
  study.scored_on = study.score_on == "validation"
                        ? "a validation split of " + std::to_string(d.scored.size()) + " training images (" +
                              std::to_string(d.train.size()) + " left to train on; fraction " +
                              shortest(study.validation_fraction) + ", seed " + std::to_string(study.validation_seed) +
                              ")"
                        : "the test split (" + std::to_string(d.scored.size()) + " images; " +
                              std::to_string(d.train.size()) + " training images)";
  return d;
}

// Every (method, seed) run, --jobs at a time; returns their evaluation points sorted by
// method and seed. Each method's CSV files are started afresh.
std::vector<EvalPoint> run_study(const StudyCommand& c, const StudyData& data,
                                 const vaegan::Evaluator<Scalar>& evaluator) {
  const Study& study = c.study;
  const std::vector<std::string> columns{"seed",          "point",     "seconds",         "step",
                                         "fid",           "precision", "recall",          "classes_covered",
                                         "kl_to_uniform", "diverged",  "fid_recalibrated"};
  std::vector<EvalPoint> points;
  std::mutex mutex;
  std::map<std::string, std::unique_ptr<vaegan::CsvAppender>> csvs;
  std::map<std::string, std::string> steps_csv_paths;  // each run appends its own rows
  std::vector<std::pair<std::string, std::int64_t>> runs;
  for (const auto& method : c.methods) {
    const std::string csv_path = (std::filesystem::path(study.out) / (method + ".csv")).string();
    std::filesystem::remove(csv_path);
    csvs[method] = std::make_unique<vaegan::CsvAppender>(csv_path, columns);
    steps_csv_paths[method] = (std::filesystem::path(study.out) / (method + "-steps.csv")).string();
    std::filesystem::remove(steps_csv_paths[method]);
    for (const auto seed : c.seeds) runs.emplace_back(method, seed);
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  auto worker = [&] {
    for (std::size_t i; (i = next++) < runs.size();) {
      const auto& [method, seed] = runs[i];
      try {
        vaegan::CsvAppender& csv = *csvs[method];
        const std::string& steps = steps_csv_paths[method];
        if (method == "gan")
          run_method<examples::GanSpec>(c.gan, study, seed, data.train, evaluator, csv, steps, points, mutex);
        if (method == "vae")
          run_method<examples::VaeSpec>(c.vae, study, seed, data.train, evaluator, csv, steps, points, mutex);
        if (method == "vaegan")
          run_method<examples::VaeGanSpec>(c.vaegan, study, seed, data.train, evaluator, csv, steps, points, mutex);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (std::int64_t j = 1; j < study.jobs; ++j) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
  std::stable_sort(points.begin(), points.end(), [&](const EvalPoint& a, const EvalPoint& b) {
    return std::make_pair(a.method, a.seed) < std::make_pair(b.method, b.seed);
  });
  return points;
}

}  // namespace

int commands::compare(int argc, char** argv) {
  cli::Parser p(argv[0], "Efficiency study: GAN vs VAE vs VAE-GAN, FID against training time, several seeds.");
  StudyCommand c(p, argc, argv);
  try {
    vaegan::set_num_threads(static_cast<int>(c.study.threads));
    (void)vaegan::model_preset(c.study.preset);
    const StudyData data = load_study_data(c.study);
    if (c.study.batch_size > data.train.size()) p.fail("--batch-size is larger than the training set");
    const auto classifier = vaegan::Classifier<Scalar>::load(c.study.classifier);
    const vaegan::Evaluator<Scalar> evaluator(classifier, data.scored.images());
    std::filesystem::create_directories(c.study.out);
    const std::vector<EvalPoint> points = run_study(c, data, evaluator);
    write_summary(c.study, points, c.methods, c.seeds, c.command);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "vaegan compare: error: " << e.what() << "\n";
    return cli::kExitRuntime;
  }
}
