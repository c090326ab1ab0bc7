#pragma once
// How a loss reduces its per-element terms to one number.
#include "vaegan/core/shape.hpp"

namespace vaegan {

enum class Reduction {
  mean,        // mean over all elements
  sum,         // sum over all elements
  batch_mean,  // sum over each row (pixels, latent dims), mean over rows (the batch)
};

namespace detail {
// Every reduction is total_sum * factor.
template <class T>
T reduction_factor(Reduction r, const Shape& s) {
  switch (r) {
    case Reduction::mean: return T(1) / static_cast<T>(s.numel());
    case Reduction::sum: return T(1);
    case Reduction::batch_mean: return T(1) / static_cast<T>(s.rows());
  }
  return T(1);
}
}  // namespace detail

}  // namespace vaegan
