#pragma once
// Common configuration: index type, Eigen and OpenMP includes.
#include <cstddef>
#include <cstdint>

#include <Eigen/Core>
#ifdef _OPENMP
#include <omp.h>
#endif

#define VAEGAN_VERSION_MAJOR 0
#define VAEGAN_VERSION_MINOR 1
#define VAEGAN_VERSION_PATCH 0

namespace vaegan {
using Index = std::ptrdiff_t;  // same as Eigen::Index
}  // namespace vaegan
