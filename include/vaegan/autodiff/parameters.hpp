#pragma once
// ParameterSet<T>: one network's parameters in one flat buffer, with a flat gradient
// buffer beside it. Layers register slices and keep their offsets (never pointers, so
// the buffer may grow while a network is built). The flat layout makes an optimizer
// step one vectorized loop and a checkpoint one blob per network.
#include <algorithm>
#include <string>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/core/tensor.hpp"

namespace vaegan {

// How a slice's storage relates to PyTorch's layout of the same tensor, for exports: a
// dense weight is stored [in, out] (the GEMM's operand as it is) but PyTorch's is [out, in].
enum class TorchLayout { same, transposed };

struct ParameterSlice {
  std::string name;  // e.g. "trunk.0.weight"
  Shape shape;
  Index offset = 0;  // into the flat buffer
  TorchLayout torch_layout = TorchLayout::same;
};

template <class T>
class ParameterSet {
 public:
  explicit ParameterSet(std::string name = "params") : name_(std::move(name)) {}
  ParameterSet(const ParameterSet&) = delete;  // layers refer to a set by address
  ParameterSet& operator=(const ParameterSet&) = delete;

  // Registers a new zero-initialized slice and returns its index.
  int add(const std::string& name, const Shape& shape, TorchLayout torch_layout = TorchLayout::same) {
    check_new_name(name);
    ParameterSlice slice{name, shape, values_.numel(), torch_layout};
    const Index total = slice.offset + shape.numel();
    values_.resize(Shape{total});
    grads_.resize(Shape{total});
    std::fill(values_.data() + slice.offset, values_.data() + total, T(0));
    std::fill(grads_.data() + slice.offset, grads_.data() + total, T(0));
    slices_.push_back(slice);
    return static_cast<int>(slices_.size()) - 1;
  }
  // Registers a zero-initialized buffer: state a layer keeps that no optimizer updates
  // (batch norm's running statistics). Buffers live in their own flat tensor beside the
  // parameters and travel with them into checkpoints, weight files and exports.
  int add_buffer(const std::string& name, const Shape& shape) {
    check_new_name(name);
    ParameterSlice slice{name, shape, buffers_.numel(), TorchLayout::same};
    const Index total = slice.offset + shape.numel();
    buffers_.resize(Shape{total});
    std::fill(buffers_.data() + slice.offset, buffers_.data() + total, T(0));
    buffer_slices_.push_back(slice);
    return static_cast<int>(buffer_slices_.size()) - 1;
  }
  const std::vector<ParameterSlice>& buffer_slices() const { return buffer_slices_; }
  Tensor<T>& buffers() { return buffers_; }
  const Tensor<T>& buffers() const { return buffers_; }
  T* buffer_ptr(int i) { return buffers_.data() + buffer_slices_.at(static_cast<std::size_t>(i)).offset; }

  const std::string& name() const { return name_; }
  Index size() const { return values_.numel(); }
  const std::vector<ParameterSlice>& slices() const { return slices_; }
  const ParameterSlice& slice(int i) const { return slices_.at(static_cast<std::size_t>(i)); }

  // The flat buffers, [size()].
  Tensor<T>& values() { return values_; }
  const Tensor<T>& values() const { return values_; }
  Tensor<T>& grads() { return grads_; }
  const Tensor<T>& grads() const { return grads_; }

  T* value_ptr(int i) { return values_.data() + slice(i).offset; }
  const T* value_ptr(int i) const { return values_.data() + slice(i).offset; }
  T* grad_ptr(int i) { return grads_.data() + slice(i).offset; }
  // A slice as a matrix, e.g. to set a weight by hand.
  MatrixMap<T> value_matrix(int i) {
    const auto& s = slice(i);
    return MatrixMap<T>(value_ptr(i), s.shape.rows(), s.shape.cols());
  }
  MatrixMap<T> grad_matrix(int i) {
    const auto& s = slice(i);
    return MatrixMap<T>(grad_ptr(i), s.shape.rows(), s.shape.cols());
  }

  // Gradients accumulate across backward calls (as in PyTorch); clear them before each step.
  void zero_grad() {
    grads_.set_zero();
    overwriting_ = false;
  }

  // Overwrite mode, zero_grad() without the memory pass (the trainers use it): until
  // end_overwrite(), the first gradient a backward pass writes into each slice replaces
  // the slice's contents instead of adding to them; end_overwrite() then zeroes the
  // slices nothing wrote. Same gradients as zero_grad() + backward, one pass less.
  void begin_overwrite() {
    first_write_pending_.assign(slices_.size(), 1);  // keeps its capacity: no allocation
    overwriting_ = true;
  }
  // Called by the tape for a write into slice i: true for the first one in overwrite mode.
  bool take_first_write(int i) {
    if (!overwriting_) return false;
    unsigned char& pending = first_write_pending_[static_cast<std::size_t>(i)];
    const bool first = pending != 0;
    pending = 0;
    return first;
  }
  void end_overwrite() {
    if (!overwriting_) return;
    for (std::size_t i = 0; i < slices_.size(); ++i)
      if (first_write_pending_[i]) {
        T* g = grads_.data() + slices_[i].offset;
        std::fill(g, g + slices_[i].shape.numel(), T(0));
      }
    overwriting_ = false;
  }

  // True when every gradient is finite (one vectorized pass).
  bool grads_finite() const { return all_finite(grads_.data(), grads_.numel()); }

 private:
  std::string name_;
  Tensor<T> values_;
  Tensor<T> grads_;
  std::vector<unsigned char> first_write_pending_;  // per slice, in overwrite mode
  bool overwriting_ = false;
  std::vector<ParameterSlice> slices_;
  Tensor<T> buffers_;
  std::vector<ParameterSlice> buffer_slices_;

  void check_new_name(const std::string& name) const {
    for (const auto* list : {&slices_, &buffer_slices_})
      for (const auto& s : *list)
        if (s.name == name)
          throw Error("ParameterSet '" + name_ + "': a tensor named '" + name +
                      "' is registered already; give each layer of a network its own name");
  }
};

}  // namespace vaegan
