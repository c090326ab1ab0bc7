#pragma once
// ScoreSamples: measures sample quality while training. At every due point it decodes one
// fixed batch of `count` latent codes (drawn from `seed`, so points compare) and scores
// the images with an Evaluator (metrics/evaluator.hpp: FID, precision, recall, classes
// covered, in a classifier's features against held-out real images). Rows go to
// DIR/metrics.csv (epoch, step, train_seconds, fid, precision, recall, classes_covered),
// the FID curve to DIR/metrics.svg; a run that stops between due points is scored once
// more at its end. Scoring time is not training time (fit() times
// train_step only). As LossLog, a fit() from step 0 starts a new file and a resumed one
// appends. Under mpirun only the first process scores and writes.
//
//   Evaluator<float> evaluator(classifier, validation_images);
//   fit(trainer, batches, options, ScoreSamples{"out", evaluator, Every::epochs(1)});
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vaegan/core/rng.hpp"
#include "vaegan/io/atomic_file.hpp"
#include "vaegan/io/csv.hpp"
#include "vaegan/io/svg_plot.hpp"
#include "vaegan/metrics/evaluator.hpp"
#include "vaegan/train/callbacks/every.hpp"
#include "vaegan/train/callbacks/run_files.hpp"
#include "vaegan/train/fit.hpp"

namespace vaegan {

template <class T>
class ScoreSamples {
 public:
  // `evaluator` must outlive the callback.
  ScoreSamples(std::string dir, const Evaluator<T>& evaluator, Every every = Every::epochs(1), Index count = 1000,
               std::uint64_t seed = 1)
      : files_(std::move(dir)), evaluator_(&evaluator), every_(every), count_(count), seed_(seed) {
    if (count < 2)
      throw Error("ScoreSamples: count must be >= 2 (a FID needs a covariance), got " + std::to_string(count));
  }

  std::string csv_path() const { return files_.path("metrics.csv"); }
  // The last scores (count 0 before the first), and the latent codes every scoring decodes.
  const SampleScores& last() const { return last_; }
  const Tensor<T>& latent_codes() const { return z_; }

  template <class Run>
  void on_fit_begin(Run& run) {
    static_assert(std::is_same_v<typename std::decay_t<decltype(run.trainer)>::Scalar, T>,
                  "ScoreSamples<T>: T must be the trainer's scalar type");
    writes_ = run.writes_output();
    if (!writes_) return;
    files_.create("ScoreSamples");
    z_.resize(Shape::matrix(count_, run.trainer.latent_dim()));
    Rng(seed_ ^ 0x5c0eULL).fill_normal(z_.data(), z_.numel());
    if (run.first_step == 0) std::filesystem::remove(csv_path());
    csv_.emplace(csv_path(), std::vector<std::string>{"epoch", "step", "train_seconds", "fid", "precision", "recall",
                                                      "classes_covered"});
  }
  template <class Run>
  void on_step(Run& run, const StepEvent& e) {
    if (writes_ && every_.due_at_step(e.step)) score(run.trainer, e.epoch, e.train_seconds);
  }
  template <class Run>
  void on_epoch(Run& run, const EpochEvent& e) {
    if (writes_ && every_.due_at_epoch(e.epoch)) score(run.trainer, e.epoch, e.train_seconds);
  }
  // A run that ends between due points is scored once more, as it ends.
  template <class Run>
  void on_fit_end(Run& run, const FitEndEvent& e) {
    if (writes_ && scored_step_ != e.step) score(run.trainer, e.epoch, e.train_seconds);
  }

 private:
  template <class Trainer>
  void score(Trainer& trainer, std::int64_t epoch, double train_seconds) {
    trainer.generate(z_, images_);
    last_ = evaluator_->score(images_);
    scored_step_ = trainer.step();
    csv_->append({static_cast<double>(epoch), static_cast<double>(trainer.step()), train_seconds, last_.fid,
                  last_.precision, last_.recall, static_cast<double>(last_.classes_covered)});
    const CsvTable table = read_csv(csv_path());
    LinePlot plot;
    plot.set_title("FID of " + std::to_string(count_) + " samples (lower is better)")
        .set_x_label("step")
        .set_y_label("FID");
    plot.add_series("fid", table.column("step"), table.column("fid"));
    const std::string svg = plot.to_svg();
    detail::write_file_atomically(files_.path("metrics.svg"), svg.data(), svg.size(), "ScoreSamples");
  }

  RunFiles files_;
  const Evaluator<T>* evaluator_;
  Every every_;
  Index count_;
  std::uint64_t seed_;
  bool writes_ = true;
  Tensor<T> z_, images_;
  std::optional<CsvAppender> csv_;
  SampleScores last_;
  std::int64_t scored_step_ = -1;
};

}  // namespace vaegan
