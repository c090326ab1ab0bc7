#pragma once
// Evaluator<T>: scores generated images against a held-out real set in the classifier's
// feature space: FID, improved precision/recall, and mode coverage (with a classifier of
// the data set's classes). The real set's features and Gaussian statistics are computed
// once and reused for every score.
#include <limits>
#include <string>
#include <vector>

#include "vaegan/metrics/classifier.hpp"
#include "vaegan/metrics/coverage.hpp"
#include "vaegan/metrics/fid.hpp"
#include "vaegan/metrics/precision_recall.hpp"

namespace vaegan {

struct SampleScores {
  double fid = 0.0;
  double precision = 0.0;
  double recall = 0.0;
  // Mode coverage needs a classifier of the data set's classes; with one of rotations
  // (ClassifierTask::rotation) it is not measured: classes_covered -1, kl_to_uniform NaN.
  int classes_covered = 0;
  double kl_to_uniform = 0.0;
  Index count = 0;
  bool has_coverage() const { return classes_covered >= 0; }
};

template <class T>
class Evaluator {
 public:
  Evaluator(const Classifier<T>& classifier, const Tensor<T>& real_images, int k = 3)
      : classifier_(&classifier), k_(k) {
    classifier.features(real_images, real_features_);
    real_stats_ = gaussian_stats(real_features_);
  }

  SampleScores score(const Tensor<T>& generated_images) const {
    Tensor<T> features;
    std::vector<int> labels;
    classifier_->features_and_labels(generated_images, features, labels);
    SampleScores s;
    s.count = generated_images.rows();
    s.fid = frechet_distance(real_stats_, gaussian_stats(features));
    const PrecisionRecall pr = precision_recall(real_features_, features, k_);
    s.precision = pr.precision;
    s.recall = pr.recall;
    if (classifier_->config().task == ClassifierTask::labels) {
      const Coverage c = class_coverage(labels, classifier_->config().classes);
      s.classes_covered = c.classes_covered;
      s.kl_to_uniform = c.kl_to_uniform;
    } else {
      s.classes_covered = -1;
      s.kl_to_uniform = std::numeric_limits<double>::quiet_NaN();
    }
    return s;
  }

  const Tensor<T>& real_features() const { return real_features_; }
  const GaussianStats& real_stats() const { return real_stats_; }

 private:
  const Classifier<T>* classifier_;
  int k_;
  Tensor<T> real_features_;
  GaussianStats real_stats_;
};

}  // namespace vaegan
