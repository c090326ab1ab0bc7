#pragma once
// Shape: rank 1 to 4, row-major. A tensor is viewed as a matrix [rows, cols] with
// rows = dims[0] and cols = the product of the remaining dims (rank 1: [1, n]).
#include <array>
#include <initializer_list>
#include <string>

#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"

namespace vaegan {

class Shape {
 public:
  static constexpr int kMaxRank = 4;

  Shape() = default;
  Shape(std::initializer_list<Index> dims) {
    if (dims.size() < 1 || dims.size() > static_cast<std::size_t>(kMaxRank))
      throw ShapeError("Shape: rank must be 1 to 4, got " + std::to_string(dims.size()));
    for (Index d : dims) {
      if (d < 0) throw ShapeError("Shape: negative dimension " + std::to_string(d));
      dims_[rank_++] = d;
    }
  }
  // A matrix shape [rows, cols].
  static Shape matrix(Index rows, Index cols) { return Shape{rows, cols}; }
  static Shape vector(Index n) { return Shape{n}; }
  static Shape scalar() { return Shape{1}; }

  int rank() const { return rank_; }
  Index operator[](int i) const { return dims_[i]; }
  Index numel() const {
    if (rank_ == 0) return 0;
    Index n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[i];
    return n;
  }
  Index rows() const { return rank_ <= 1 ? 1 : dims_[0]; }
  Index cols() const {
    if (rank_ == 0) return 0;
    if (rank_ == 1) return dims_[0];
    Index n = 1;
    for (int i = 1; i < rank_; ++i) n *= dims_[i];
    return n;
  }
  // Same dims except the first one (used by row concatenation and batching).
  Shape with_rows(Index rows) const {
    Shape s = *this;
    if (s.rank_ <= 1) return Shape{rows, s.cols()};
    s.dims_[0] = rows;
    return s;
  }

  // This sample shape with a leading batch dimension: [C, H, W] -> [n, C, H, W].
  Shape batched(Index n) const {
    if (rank_ >= kMaxRank)
      throw ShapeError("Shape: cannot add a batch dimension to " + str() + " (rank 4 is the most)");
    Shape s;
    s.rank_ = rank_ + 1;
    s.dims_[0] = n;
    for (int i = 0; i < rank_; ++i) s.dims_[i + 1] = dims_[i];
    return s;
  }

  bool operator==(const Shape& o) const {
    if (rank_ != o.rank_) return false;
    for (int i = 0; i < rank_; ++i)
      if (dims_[i] != o.dims_[i]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }

  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ", ";
      s += std::to_string(dims_[i]);
    }
    return s + "]";
  }

 private:
  std::array<Index, kMaxRank> dims_{};
  int rank_ = 0;
};

namespace detail {
[[noreturn]] inline void throw_shape(const char* op, const std::string& detail_text, const Shape& a, const Shape& b) {
  throw ShapeError(std::string(op) + ": " + detail_text + " (got " + a.str() + " and " + b.str() + ")");
}
inline void require_same_shape(const char* op, const Shape& a, const Shape& b) {
  if (a != b) throw_shape(op, "shapes must match", a, b);
}
}  // namespace detail

}  // namespace vaegan
