#pragma once
// The tape: reverse-mode automatic differentiation over a flat list of nodes.
//
// Ops append nodes in the order they run; backward() is one reverse loop over that list
// (no topological sort, no recursion). Before the loop, backward marks the nodes that lie
// on a path from the chosen targets to the loss, so one forward pass can feed several
// losses to several networks without computing gradients nobody asked for.
//
// Memory: reset() forgets the nodes but keeps every node's buffers, so a training step
// that records the same ops with the same shapes again makes no heap allocation.
//
// Debugging numerics: set_check_numerics(true) checks every recorded value (in record
// order, before a backward pass) and every gradient an op's backward writes, and throws
// NumericError naming the first op that produced a NaN or infinity.
#include <algorithm>
#include <initializer_list>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "vaegan/autodiff/parameters.hpp"
#include "vaegan/core/activation_kind.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/profile.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/core/tensor.hpp"

namespace vaegan {

template <class T>
class Tape;
template <class T>
struct Node;

template <class T>
using BackwardFn = void (*)(Tape<T>& tape, Node<T>& node);

// Op attributes: each op family stores its own struct in the node (Node::attrs) when it
// records, and reads it back in backward with std::get, which throws
// std::bad_variant_access if the node holds another family's attributes.
template <class T>
struct ScaleAttrs {  // add/sub (sign), scale, sum/mean and the losses (reduction factor)
  T factor = T(0);
};
struct SliceAttrs {  // slice_rows: the rows [begin, end) of its input it views
  Index begin = 0, end = 0;
};
struct MatmulAttrs {
  bool transpose_a = false, transpose_b = false;
};
struct ConvAttrs {  // conv2d, conv_transpose2d
  Index stride = 1, padding = 0;
};
struct BatchNormAttrs {  // batch_norm (momentum 0: no running statistics), batch_norm_eval
  double eps = 0.0, momentum = 0.0;
  Activation activation{};  // a rectifier applied to the normalized values (identity: none)
};
// linear and activate keep their Activation (core/activation_kind.hpp). A variant of plain
// values: assigning one allocates nothing, and std::monostate is "none".
template <class T>
using OpAttrs =
    std::variant<std::monostate, ScaleAttrs<T>, Activation, SliceAttrs, MatmulAttrs, ConvAttrs, BatchNormAttrs>;

// One recorded value. Op-specific data (saved masks, noise, attributes) lives in the node so
// its storage is reused across steps.
template <class T>
struct Node {
  static constexpr int kMaxInputs = 4;

  const char* op = "";               // op name, for error messages
  BackwardFn<T> backward = nullptr;  // null for leaves
  int inputs[kMaxInputs] = {-1, -1, -1, -1};
  int num_inputs = 0;
  Shape shape;
  T* value = nullptr;  // own value_buf, or memory owned elsewhere (leaf, view)
  T* grad = nullptr;   // own grad_buf, or a ParameterSet's gradient buffer
  Tensor<T> value_buf;
  Tensor<T> grad_buf;
  Tensor<T> saved;                   // op scratch: dropout mask, reparameterization noise, dZ, ...
  OpAttrs<T> attrs;                  // the op's attributes (above)
  ParameterSet<T>* owner = nullptr;  // a parameter leaf: its set and slice
  int slice = -1;
  bool requires_grad = false;
  bool needed = false;         // on a path from a target to the current loss
  bool grad_set = false;       // grad holds a value in the current backward pass
  bool external_grad = false;  // grad belongs to a ParameterSet: accumulate (see its overwrite mode)
  // Rows [grad_rows_begin, grad_rows_end) of grad may be non-zero; the rest are zero (the
  // buffer is always fully valid). Row-aware ops (slice_rows, linear, concat_rows) read
  // this to skip work on rows whose gradient is known to be zero: the generator's loss
  // reaches only the fake rows of a discriminator pass over [real; fake].
  Index grad_rows_begin = 0, grad_rows_end = 0;

  Index numel() const { return shape.numel(); }
  MatrixMap<T> value_matrix() const { return MatrixMap<T>(value, shape.rows(), shape.cols()); }
  ArrayMap<T> value_array() const { return ArrayMap<T>(value, shape.numel()); }
  MatrixMap<T> grad_matrix() const { return MatrixMap<T>(grad, shape.rows(), shape.cols()); }
  ArrayMap<T> grad_array() const { return ArrayMap<T>(grad, shape.numel()); }
};

// A handle to a node: the tape and the node's index. Cheap to copy.
template <class T>
class Var {
 public:
  Var() = default;
  Var(Tape<T>* tape, int id) : tape_(tape), id_(id) {}

  Tape<T>& tape() const { return *tape_; }
  int id() const { return id_; }
  bool valid() const { return tape_ != nullptr && id_ >= 0; }
  Node<T>& node() const { return tape_->node(id_); }
  const Shape& shape() const { return node().shape; }
  Index rows() const { return shape().rows(); }
  Index cols() const { return shape().cols(); }
  Index numel() const { return shape().numel(); }
  // Views valid until the tape is reset.
  MatrixMap<T> value() const { return node().value_matrix(); }
  ArrayMap<T> array() const { return node().value_array(); }
  // The gradient of the last backward() with respect to this value (zero if none reached it).
  MatrixMap<T> grad() const { return tape_->grad_of(id_); }
  // The value of a one-element tensor (a loss).
  T item() const {
    if (numel() != 1) throw ShapeError("Var::item: needs a one-element tensor, got " + shape().str());
    return node().value[0];
  }

 private:
  Tape<T>* tape_ = nullptr;
  int id_ = -1;
};

// What a backward pass computes gradients for: every parameter of a set, or one leaf.
template <class T>
struct GradTarget {
  GradTarget() = default;
  GradTarget(const ParameterSet<T>& params) : owner(&params) {}  // NOLINT: implicit by design
  GradTarget(const Var<T>& v) : node(v.id()) {}                  // NOLINT: implicit by design
  const ParameterSet<T>* owner = nullptr;
  int node = -1;
};

template <class T>
class Tape {
 public:
  Tape() = default;
  Tape(const Tape&) = delete;  // Vars hold a pointer to their tape
  Tape& operator=(const Tape&) = delete;

  // Forgets all nodes, keeps their memory for the next step.
  void reset() {
    size_ = 0;
    checked_ = 0;
  }
  int size() const { return size_; }
  Node<T>& node(int id) { return nodes_[static_cast<std::size_t>(id)]; }
  const Node<T>& node(int id) const { return nodes_[static_cast<std::size_t>(id)]; }

  // ---- leaves ---------------------------------------------------------------------------
  // A value that takes no gradient. The tape copies it into its own buffer.
  Var<T> constant(const Tensor<T>& t) { return constant(t.data(), t.shape()); }
  Var<T> constant(const T* data, Shape shape) {
    Node<T>& n = record_leaf("constant", shape);
    std::copy(data, data + shape.numel(), n.value);
    return Var<T>(this, size_ - 1);
  }
  // A constant tensor with every element equal to `value`.
  Var<T> full(Shape shape, T value) {
    Node<T>& n = record_leaf("full", shape);
    std::fill(n.value, n.value + shape.numel(), value);
    return Var<T>(this, size_ - 1);
  }
  // A value that takes a gradient (read back with Var::grad()). Copied into the tape.
  Var<T> variable(const Tensor<T>& t) {
    Var<T> v = constant(t);
    v.node().op = "variable";
    v.node().requires_grad = true;
    return v;
  }
  // A view of slice `index` of a parameter set; its gradient accumulates into the set.
  Var<T> parameter(ParameterSet<T>& params, int index) {
    const ParameterSlice& s = params.slice(index);
    Node<T>& n = append("parameter", s.shape);
    n.value = params.value_ptr(index);
    n.grad = params.grad_ptr(index);
    n.owner = &params;
    n.slice = index;
    n.requires_grad = true;
    n.external_grad = true;
    return Var<T>(this, size_ - 1);
  }

  // ---- recording (used by ops) -------------------------------------------------------------
  // Shapes are taken by value throughout: callers pass a Var's shape(), which lives inside
  // nodes_ and would dangle when appending a node makes the vector reallocate.
  //
  // Appends an op node over `inputs` with its own value buffer of `shape`.
  Node<T>& record(const char* op, BackwardFn<T> backward, Shape shape, std::initializer_list<Var<T>> inputs) {
    Node<T>& n = append(op, shape);
    n.value_buf.resize(shape);
    n.value = n.value_buf.data();
    bind_inputs(n, backward, inputs);
    return n;
  }
  // Appends an op node whose value aliases memory owned by another node (no copy).
  Node<T>& record_view(const char* op, BackwardFn<T> backward, Shape shape, T* value,
                       std::initializer_list<Var<T>> inputs) {
    Node<T>& n = append(op, shape);
    n.value = value;
    bind_inputs(n, backward, inputs);
    return n;
  }
  Var<T> last() { return Var<T>(this, size_ - 1); }

  // ---- numerics debug mode -----------------------------------------------------------------
  // Off by default: it reads every value and gradient once more (a few percent of a step).
  bool check_numerics() const { return check_numerics_; }
  void set_check_numerics(bool on) { check_numerics_ = on; }
  // Checks the values recorded since the last check, in record order; throws NumericError
  // naming the first node whose value is not finite. backward() calls it in debug mode.
  void check_recorded_values() {
    for (; checked_ < size_; ++checked_) {
      const Node<T>& n = nodes_[static_cast<std::size_t>(checked_)];
      if (n.value != nullptr && !all_finite(n.value, n.numel()))
        throw NumericError("first non-finite value on the tape: " + describe(checked_) + " holds NaN or infinity" +
                           (n.num_inputs > 0 ? " computed from finite inputs: " + describe_inputs(n) : "") +
                           "; lower the learning rates, or check the input data");
    }
  }
  // A description of node `id` for messages: its op (or parameter name), index and shape.
  std::string describe(int id) const {
    const Node<T>& n = node(id);
    std::string s = std::string("op '") + n.op + "'";
    if (n.owner != nullptr) {
      s = "parameter '" + n.owner->name() + "." + n.owner->slice(n.slice).name + "'";
    }
    return s + " (node " + std::to_string(id) + ", " + n.shape.str() + ")";
  }

  // ---- gradient mode ----------------------------------------------------------------------
  bool grad_enabled() const { return grad_enabled_; }
  void set_grad_enabled(bool on) { grad_enabled_ = on; }

  // ---- backward --------------------------------------------------------------------------
  // Computes d(loss)/d(target) for the given targets; with no targets, for every leaf that
  // requires a gradient. Parameter gradients accumulate into their ParameterSet.
  void backward(const Var<T>& loss, std::initializer_list<GradTarget<T>> targets = {}) {
    backward(loss, targets.begin(), targets.size());
  }
  // The same with the targets given as an array (a set chosen at run time). `seed` is
  // d(objective)/d(loss): 1 for the loss itself; data-parallel training passes
  // 1 / replicas, so that summing the replicas' gradients averages them.
  void backward(const Var<T>& loss, const GradTarget<T>* targets, std::size_t target_count, T seed = T(1)) {
    check_var("backward", loss);
    if (check_numerics_) check_recorded_values();
    Node<T>& out = node(loss.id());
    if (out.numel() != 1)
      throw ShapeError(std::string("backward: the loss must have one element, got ") + out.shape.str() + " from op '" +
                       out.op + "'");
    const int last_id = loss.id();
    for (int i = 0; i <= last_id; ++i) {
      Node<T>& n = nodes_[static_cast<std::size_t>(i)];
      n.grad_set = false;
      if (!n.requires_grad) {
        n.needed = false;
      } else if (n.backward == nullptr) {
        n.needed = is_target(i, n, targets, target_count);
      } else {
        bool any = false;
        for (int j = 0; j < n.num_inputs; ++j) any = any || node(n.inputs[j]).needed;
        n.needed = any;
      }
    }
    if (!out.needed) return;  // the loss does not depend on any target
    T* g = grad_for_write(out);
    g[0] = seed;
    for (int i = last_id; i >= 0; --i) {
      Node<T>& n = nodes_[static_cast<std::size_t>(i)];
      if (n.backward != nullptr && n.needed && n.grad_set) {
        VAEGAN_PROFILE_SCOPE("backward", std::string(n.op) + " " + n.shape.str(), 0, 0);
        n.backward(*this, n);
        if (check_numerics_) check_input_grads(i);
      }
    }
  }

  // ---- gradient accumulation (the add-or-set helper ops use) -------------------------------
  // Returns the node's gradient buffer and the factor to keep its old contents by: 0 for
  // the first contribution of a backward pass (overwrite), 1 afterwards (accumulate).
  // Callers write grad = contribution when keep is 0 and grad += contribution otherwise;
  // never contribution + keep * grad, since a reused buffer may hold a stale NaN.
  T* grad_for_write(Node<T>& n, T* keep = nullptr) { return grad_for_write_rows(n, 0, n.shape.rows(), keep); }
  // The same for a contribution that touches only rows [begin, end) of the gradient (of a
  // matrix-like node: rows() x the rest). On a first contribution with `keep`, the caller
  // writes rows [begin, end) and this zero-fills the others; the node's non-zero row range
  // becomes the hull of all contributions so far.
  T* grad_for_write_rows(Node<T>& n, Index begin, Index end, T* keep = nullptr) {
    if (n.external_grad) {
      // A parameter's gradient lives in its ParameterSet: accumulate, unless the set is in
      // overwrite mode and this is the slice's first write of the pass.
      const bool first = n.owner->take_first_write(n.slice);
      if (keep) {
        *keep = first ? T(0) : T(1);
        // A first write of rows [begin, end) replaces those rows; the others must not keep
        // the previous step's values (a parameter read through slice_rows).
        if (first) {
          const Index rows = n.shape.rows(), row_size = rows > 0 ? n.numel() / rows : 0;
          std::fill(n.grad, n.grad + begin * row_size, T(0));
          std::fill(n.grad + end * row_size, n.grad + n.numel(), T(0));
        }
      } else if (first) {
        std::fill(n.grad, n.grad + n.numel(), T(0));
      }
      n.grad_set = true;
      return n.grad;
    }
    if (!n.grad_set) {
      n.grad_buf.resize(n.shape);
      n.grad = n.grad_buf.data();
      const Index rows = n.shape.rows(), row_size = rows > 0 ? n.numel() / rows : 0;
      if (keep) {
        *keep = T(0);
        std::fill(n.grad, n.grad + begin * row_size, T(0));
        std::fill(n.grad + end * row_size, n.grad + n.numel(), T(0));
      } else {
        std::fill(n.grad, n.grad + n.numel(), T(0));
      }
      n.grad_set = true;
      n.grad_rows_begin = begin;
      n.grad_rows_end = end;
    } else {
      if (keep) *keep = T(1);
      n.grad_rows_begin = std::min(n.grad_rows_begin, begin);
      n.grad_rows_end = std::max(n.grad_rows_end, end);
    }
    return n.grad;
  }
  // A view's whole gradient becomes its input's, without a copy, when the input has no
  // gradient yet this pass (the usual case: one consumer): the buffers trade places. The
  // view then reads as having received no gradient (Var::grad() gives zeros); read its
  // input's instead. Returns false (nothing done) when the input already has a gradient,
  // belongs to a ParameterSet or has another size: the caller copies then.
  bool hand_over_grad(Node<T>& view, Node<T>& input) {
    if (input.grad_set || input.external_grad || input.numel() != view.numel() || view.external_grad) return false;
    const auto [begin, end] = grad_rows(view);
    view.grad_buf.swap(input.grad_buf);
    input.grad_buf.reshape(input.shape);
    input.grad = input.grad_buf.data();
    input.grad_set = true;
    input.grad_rows_begin = begin;
    input.grad_rows_end = end;
    view.grad = view.grad_buf.data();
    view.grad_set = false;
    return true;
  }
  // The rows of n's gradient that may be non-zero (all of them for a parameter's).
  std::pair<Index, Index> grad_rows(const Node<T>& n) const {
    if (n.external_grad || !n.grad_set) return {0, n.shape.rows()};
    return {n.grad_rows_begin, n.grad_rows_end};
  }
  // Adds `contribution` (any Eigen array expression of numel elements) into input j's gradient.
  template <class Expr>
  void accumulate(Node<T>& input, const Expr& contribution) {
    T keep;
    T* g = grad_for_write(input, &keep);
    ArrayMap<T> ga(g, input.numel());
    if (keep == T(0)) ga = contribution;
    else ga += contribution;
  }
  Node<T>& input(const Node<T>& n, int j) { return node(n.inputs[j]); }

  MatrixMap<T> grad_of(int id) {
    Node<T>& n = node(id);
    if (!n.grad_set && !n.external_grad) {
      // Nothing reached this node: its gradient is zero.
      n.grad_buf.resize(n.shape);
      n.grad_buf.set_zero();
      n.grad = n.grad_buf.data();
      n.grad_set = true;
    }
    return n.grad_matrix();
  }

  void check_var(const char* op, const Var<T>& v) const {
    if (!v.valid() || &v.tape() != this || v.id() >= size_)
      throw Error(std::string(op) + ": the Var does not belong to this tape, or the tape was reset since");
  }

 private:
  // By value: see record().
  Node<T>& append(const char* op, Shape shape) {
    if (static_cast<std::size_t>(size_) == nodes_.size()) nodes_.emplace_back();
    Node<T>& n = nodes_[static_cast<std::size_t>(size_)];
    ++size_;
    n.op = op;
    n.backward = nullptr;
    n.num_inputs = 0;
    n.shape = shape;
    n.value = nullptr;
    n.grad = nullptr;
    n.owner = nullptr;
    n.slice = -1;
    n.attrs = std::monostate{};
    n.requires_grad = false;
    n.needed = false;
    n.grad_set = false;
    n.external_grad = false;
    return n;
  }
  Node<T>& record_leaf(const char* op, Shape shape) {
    Node<T>& n = append(op, shape);
    n.value_buf.resize(shape);
    n.value = n.value_buf.data();
    return n;
  }
  void bind_inputs(Node<T>& n, BackwardFn<T> backward, std::initializer_list<Var<T>> inputs) {
    if (inputs.size() > static_cast<std::size_t>(Node<T>::kMaxInputs))
      throw Error(std::string(n.op) + ": too many inputs");
    bool any_grad = false;
    for (const Var<T>& v : inputs) {
      check_var(n.op, v);
      n.inputs[n.num_inputs++] = v.id();
      any_grad = any_grad || node(v.id()).requires_grad;
    }
    n.requires_grad = any_grad && grad_enabled_ && backward != nullptr;
    n.backward = n.requires_grad ? backward : nullptr;
  }
  std::string describe_inputs(const Node<T>& n) const {
    std::string s;
    for (int j = 0; j < n.num_inputs; ++j) s += (j ? ", " : "") + describe(n.inputs[j]);
    return s;
  }
  // Debug mode, after node i's backward: the gradients it wrote must be finite (its own
  // output gradient was, or the op that wrote it would have been named).
  void check_input_grads(int i) {
    const Node<T>& n = node(i);
    for (int j = 0; j < n.num_inputs; ++j) {
      const Node<T>& x = node(n.inputs[j]);
      if (!x.needed || !x.grad_set || x.grad == nullptr) continue;
      if (!all_finite(x.grad, x.numel()))
        throw NumericError("first non-finite gradient: the backward of " + describe(i) +
                           " wrote NaN or infinity into the gradient of its input " + describe(n.inputs[j]) +
                           " from a finite output gradient; lower the learning rates");
    }
  }
  static bool is_target(int id, const Node<T>& n, const GradTarget<T>* targets, std::size_t count) {
    if (count == 0) return true;
    for (std::size_t k = 0; k < count; ++k)
      if ((targets[k].owner != nullptr && targets[k].owner == n.owner) || targets[k].node == id) return true;
    return false;
  }

  std::vector<Node<T>> nodes_;
  int size_ = 0;
  int checked_ = 0;  // debug mode: nodes [0, checked_) hold finite values
  bool grad_enabled_ = true;
  bool check_numerics_ = false;
};

// Turns gradient recording off for its lifetime (evaluation, sampling).
template <class T>
class NoGradGuard {
 public:
  explicit NoGradGuard(Tape<T>& tape) : tape_(tape), previous_(tape.grad_enabled()) { tape.set_grad_enabled(false); }
  ~NoGradGuard() { tape_.set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  Tape<T>& tape_;
  bool previous_;
};

}  // namespace vaegan
