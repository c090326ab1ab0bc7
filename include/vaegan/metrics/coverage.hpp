#pragma once
// Mode coverage of generated images, from a classifier's labels:
//   classes_covered: classes that receive at least a tenth of their uniform share
//                    (count >= n / (10 * classes));
//   kl_to_uniform:   KL(generated class histogram || uniform) = sum p log(p * classes),
//                    0 for a perfectly balanced set, log(classes) for a single mode.
#include <cmath>
#include <string>
#include <vector>

#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"

namespace vaegan {

struct Coverage {
  std::vector<Index> histogram;
  int classes_covered = 0;
  double kl_to_uniform = 0.0;
};

inline Coverage class_coverage(const std::vector<int>& labels, int classes) {
  if (classes < 1) throw Error("class_coverage: classes must be >= 1");
  if (labels.empty()) throw Error("class_coverage: no labels");
  Coverage c;
  c.histogram.assign(static_cast<std::size_t>(classes), 0);
  for (int l : labels) {
    if (l < 0 || l >= classes)
      throw Error("class_coverage: label " + std::to_string(l) + " outside [0, " + std::to_string(classes) + ")");
    ++c.histogram[static_cast<std::size_t>(l)];
  }
  const double n = static_cast<double>(labels.size());
  const double threshold = n / (10.0 * classes);
  for (Index count : c.histogram) {
    if (static_cast<double>(count) >= threshold) ++c.classes_covered;
    if (count > 0) {
      const double p = static_cast<double>(count) / n;
      c.kl_to_uniform += p * std::log(p * classes);
    }
  }
  return c;
}

}  // namespace vaegan
