// Native guards: a tree of accessors (how to reach a value from the frame)
// with leaf checks on the values they reach, built once from Python by the
// translator and checked in C++ on every call of a cached entry.
//
// A guard tree reads a value once per node and shares it with the node's
// leaves and children, so `L['x']._data` is fetched once however many checks
// hang off it. Leaves run in the order they were added, then children in
// order; the translator should add the cheap and the likely-to-fail checks
// first. Trees are as deep as the longest source (a handful of accessors), so
// the recursive walk is bounded by that depth, not by the guard's size.
//
// A guard is mutable while it is being built and frozen once an Entry holds
// it; a frozen tree is only read, so a check that runs Python code (an
// attribute getter) cannot observe or cause a change of shape.
//
// Objects the tree refers to (types, identities, module state) are held by
// weak reference where they support it, so a guard never keeps a class or an
// instance alive through the co_extra cache (which the garbage collector does
// not traverse); a dead referent fails the check. Values compared by equality
// are immutable builtins and are held strongly.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <vector>

namespace janus::capture {

namespace py = pybind11;

// Where a guard reads its inputs from. Exactly one form is used:
//   frame form (the hook): `fast` is the fresh frame's localsplus and
//     `local_slots` maps each local the guard reads (by ordinal, see
//     GuardTree::local_names) to its localsplus index; indices at or past
//     `free_offset` are free variables, read from `closure`'s cells.
//   dict form (Python calls to check): `locals` maps names to values.
// All pointers are borrowed and outlive the check.
struct GuardInputs {
  PyObject* const* fast = nullptr;
  const int* local_slots = nullptr;
  int free_offset = 0;
  PyObject* closure = nullptr;
  PyObject* locals = nullptr;
  PyObject* globals = nullptr;
  PyObject* builtins = nullptr;
};

// An object a guard refers to: a weak reference where the type allows one
// (unless `strong`), else a strong reference.
class HeldObject {
 public:
  HeldObject() = default;
  explicit HeldObject(py::handle object, bool strong = false);
  // Borrowed; nullptr when a weakly held object has died.
  PyObject* get() const;
  bool empty() const { return !ref_; }

 private:
  py::object ref_;
  bool weak_ = false;
};

struct TensorSpec {
  HeldObject array_type;  // type(t._data): numpy.ndarray for "cpu"; empty: any
  // numpy's C API, looked up when the leaf is built: numpy arrays have their
  // dtype and shape read from the array struct; other arrays (cupy) through
  // their `dtype` and `shape` attributes.
  PyTypeObject* numpy_array_type = nullptr;
  bool (*equivalent_dtypes)(PyObject*, PyObject*) = nullptr;
  py::object dtype;  // a numpy dtype, or None for any
  bool check_shape = false;
  std::vector<Py_ssize_t> shape;  // -1: any size in that dimension
  int requires_grad = -1;         // -1 any, else 0/1
  py::object requires_grad_attr;  // attribute name read for requires_grad
  std::string data_text, device_text, dtype_text, shape_text, requires_grad_text;
};

struct Leaf {
  enum class Kind { kTypeIs, kIs, kEquals, kLenIs, kContains, kTensor };
  explicit Leaf(Kind leaf_kind) : kind(leaf_kind) {}
  Kind kind;
  HeldObject object;      // kTypeIs: the type; kIs: the object
  py::object value;       // kEquals; kContains: the key
  Py_ssize_t length = 0;  // kLenIs
  bool present = false;   // kContains: whether the key must be in the value
  std::unique_ptr<TensorSpec> tensor;
  std::string text;  // the expectation, as first_failure reports it
};

enum class Access { kRoot, kLocal, kGlobal, kBuiltin, kObject, kCall, kAttr, kItem, kLen };

struct GuardNode {
  Access access = Access::kRoot;
  py::object key;     // name (local, global, builtin, attr) or item key
  HeldObject object;  // kObject: the object (weak); kCall: the callable (strong: it may be
                      // a bound method, made for the call to Guard.call and only held here)
  bool int_key = false;
  Py_ssize_t index = 0;  // kItem with an int key
  int local_ordinal = -1;
  std::string source;      // e.g. "L['x']._data"
  std::string unreadable;  // the expectation when the accessor fails: "<source> can be read"
  // unique_ptr elements: a check walks by index while an unfrozen tree may
  // still grow (a getter run by the check can switch threads), and the
  // elements themselves must not move.
  std::vector<std::unique_ptr<Leaf>> leaves;
  std::vector<std::unique_ptr<GuardNode>> children;
};

// What made a check fail. `last` (borrowed from the tree, cheap enough for
// the hook) is the expectation that did not hold: a leaf's text, or an
// accessor's "<source> can be read". When `text`/`error` are set they receive
// a copy of that text and the message of the exception raised, if any.
struct GuardFailure {
  const std::string* last = nullptr;
  std::string* text = nullptr;
  std::string* error = nullptr;
};

class GuardTree {
 public:
  GuardTree() = default;
  GuardTree(const GuardTree&) = delete;
  GuardTree& operator=(const GuardTree&) = delete;

  // 1 when every leaf passes, 0 when one fails: an accessor or leaf that
  // raises an Exception fails the check, and the exception is cleared.
  // -1 when a BaseException that is not an Exception (KeyboardInterrupt,
  // SystemExit) was raised: it stays set, for the caller to propagate.
  // `failure` (optional) says which expectation did not hold.
  int check(const GuardInputs& inputs, GuardFailure* failure) const;

  // Builders (Python-facing; raise when frozen). The returned node is owned by the tree.
  GuardNode* add_root(Access access, py::object key, py::handle object, const std::string& source);
  // `key_name` names an item key in the source text (default: its repr).
  GuardNode* add_child(GuardNode* parent, Access access, py::object key,
                       const std::string& key_name = "");
  void add_leaf(GuardNode* node, Leaf leaf);

  // The code object whose parameters `local(index)` counts (weakly held; may be empty).
  HeldObject code;

  void freeze() { frozen_ = true; }
  bool frozen() const { return frozen_; }
  // Local names the tree reads, indexed by GuardNode::local_ordinal.
  const std::vector<py::object>& local_names() const { return local_names_; }
  // Every expectation, in check order (for logs and janus.explain).
  std::vector<std::string> describe() const;

 private:
  void check_mutable() const;

  GuardNode root_;
  std::vector<py::object> local_names_;
  bool frozen_ = false;
};

// Leaf constructors: validate the arguments and write the expectation text.
Leaf make_type_is(const GuardNode& node, py::handle type);
Leaf make_is(const GuardNode& node, py::handle object, const std::string& name);
Leaf make_equals(const GuardNode& node, py::handle value);
Leaf make_len_is(const GuardNode& node, Py_ssize_t length);
Leaf make_contains(const GuardNode& node, py::handle key, bool present);
Leaf make_tensor(const GuardNode& node, py::handle dtype, py::handle shape,
                 py::handle requires_grad, py::handle device,
                 const std::string& requires_grad_attr);

}  // namespace janus::capture
