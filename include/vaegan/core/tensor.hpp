#pragma once
// Tensor<T>: owning, contiguous, row-major storage with a Shape, and Eigen::Map views.
//
// The buffer only grows: resize() to a size that fits the capacity never touches the
// heap, which is what lets a tape reuse its tensors across training steps.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include <Eigen/Core>

#include "vaegan/core/config.hpp"
#include "vaegan/core/shape.hpp"

namespace vaegan {

template <class T>
using MatrixMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using ConstMatrixMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using RowArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using ConstRowArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

template <class T>
class Tensor {
 public:
  using Scalar = T;

  Tensor() = default;
  // Zero-initialized tensor of the given shape.
  explicit Tensor(const Shape& shape) {
    resize(shape);
    set_zero();
  }
  Tensor(const Shape& shape, T fill) {
    resize(shape);
    std::fill(data_, data_ + size_, fill);
  }
  Tensor(const Shape& shape, std::initializer_list<T> values) {
    // Checked before allocating: a constructor that throws runs no destructor.
    if (static_cast<Index>(values.size()) != shape.numel())
      throw ShapeError("Tensor: " + std::to_string(values.size()) + " values for shape " + shape.str());
    resize(shape);
    std::copy(values.begin(), values.end(), data_);
  }
  Tensor(const Tensor& o) { *this = o; }
  Tensor(Tensor&& o) noexcept { swap(o); }
  Tensor& operator=(const Tensor& o) {
    if (this != &o) {
      resize(o.shape_);
      if (size_) std::memcpy(data_, o.data_, sizeof(T) * size_);
    }
    return *this;
  }
  Tensor& operator=(Tensor&& o) noexcept {
    swap(o);
    return *this;
  }
  ~Tensor() { Eigen::internal::aligned_free(data_); }

  void swap(Tensor& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
    std::swap(shape_, o.shape_);
  }

  // Changes the shape; contents are unspecified where the size grew. Never shrinks capacity.
  void resize(const Shape& shape) {
    const Index n = shape.numel();
    if (n > capacity_) {
      T* fresh = static_cast<T*>(Eigen::internal::aligned_malloc(sizeof(T) * static_cast<std::size_t>(n)));
      if (size_) std::memcpy(fresh, data_, sizeof(T) * size_);
      Eigen::internal::aligned_free(data_);
      data_ = fresh;
      capacity_ = n;
    }
    size_ = n;
    shape_ = shape;
  }
  // Same number of elements, new shape (a view change, no data movement).
  void reshape(const Shape& shape) {
    if (shape.numel() != size_)
      throw ShapeError("Tensor::reshape: " + shape_.str() + " has " + std::to_string(size_) +
                       " elements, cannot become " + shape.str());
    shape_ = shape;
  }
  void set_zero() {
    if (size_) std::memset(data_, 0, sizeof(T) * size_);
  }
  void fill(T v) { std::fill(data_, data_ + size_, v); }

  const Shape& shape() const { return shape_; }
  Index numel() const { return size_; }
  Index size() const { return size_; }
  Index capacity() const { return capacity_; }
  Index rows() const { return shape_.rows(); }
  Index cols() const { return shape_.cols(); }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](Index i) { return data_[i]; }
  const T& operator[](Index i) const { return data_[i]; }
  T& operator()(Index r, Index c) { return data_[r * cols() + c]; }
  const T& operator()(Index r, Index c) const { return data_[r * cols() + c]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

  // The tensor as a row-major matrix [rows, cols].
  MatrixMap<T> matrix() { return MatrixMap<T>(data_, rows(), cols()); }
  ConstMatrixMap<T> matrix() const { return ConstMatrixMap<T>(data_, rows(), cols()); }
  // The tensor as a flat array, for element-wise math.
  ArrayMap<T> array() { return ArrayMap<T>(data_, size_); }
  ConstArrayMap<T> array() const { return ConstArrayMap<T>(data_, size_); }

 private:
  T* data_ = nullptr;
  Index size_ = 0;
  Index capacity_ = 0;
  Shape shape_;
};

// True when all n values are finite. One vectorized pass: x - x is 0 for a finite x and
// NaN for an infinite or NaN one, and a NaN anywhere makes the sum NaN.
template <class T>
bool all_finite(const T* p, Index n) {
  ConstArrayMap<T> a(p, n);
  return std::isfinite(static_cast<double>((a - a).sum()));
}

}  // namespace vaegan
