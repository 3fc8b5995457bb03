// Guard trees: building (from Python) and checking (from the hook). See guards.h.
//
// Ownership: every function here that returns a PyObject* returns a new
// reference or nullptr; nullptr may or may not come with an exception set
// (a missing dict key sets none), and check() clears whatever was raised.
#include "capture/guards.h"

#include <pybind11/numpy.h>

#include <cmath>
#include <utility>

namespace janus::capture {

namespace {

PyObject* data_name() {
  static PyObject* name = PyUnicode_InternFromString("_data");  // immortal for the process
  return name;
}

// "int", "janus.tensor.Tensor": builtins unqualified, others with their module.
std::string type_name(py::handle type) {
  const std::string qualname = py::str(type.attr("__qualname__"));
  const py::object module = py::getattr(type, "__module__", py::none());
  if (module.is_none() || py::str(module).cast<std::string>() == "builtins") return qualname;
  return py::str(module).cast<std::string>() + "." + qualname;
}

std::string short_repr(py::handle object) {
  std::string text = py::repr(object);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

// Constants compared by value: exact None, bool, int, float, str, and tuples of them.
bool is_value_constant(py::handle value) {
  PyObject* v = value.ptr();
  if (v == Py_None || PyBool_Check(v) || PyLong_CheckExact(v) || PyFloat_CheckExact(v) ||
      PyUnicode_CheckExact(v)) {
    return true;
  }
  if (!PyTuple_CheckExact(v)) return false;
  for (py::handle item : py::reinterpret_borrow<py::tuple>(value)) {
    if (!is_value_constant(item)) return false;
  }
  return true;
}

// An object hashed by identity (object.__hash__): as an item key it is the
// object itself (a parameter keying an optimizer's state), compared by `is`.
bool is_identity_key(py::handle value) {
  return Py_TYPE(value.ptr())->tp_hash == PyBaseObject_Type.tp_hash;
}

// 1 equal, 0 not, -1 error. Types must match exactly (so 1, 1.0 and True
// differ); for the builtin types allowed in constants `==` runs no Python code.
int values_equal(PyObject* value, PyObject* expected) {
  if (value == expected) return 1;
  if (Py_TYPE(value) != Py_TYPE(expected)) return 0;
  if (PyTuple_CheckExact(expected)) {
    const Py_ssize_t n = PyTuple_GET_SIZE(expected);
    if (PyTuple_GET_SIZE(value) != n) return 0;
    for (Py_ssize_t i = 0; i < n; ++i) {
      const int same = values_equal(PyTuple_GET_ITEM(value, i), PyTuple_GET_ITEM(expected, i));
      if (same != 1) return same;
    }
    return 1;
  }
  if (PyFloat_CheckExact(expected)) {
    // Bit for bit: -0.0 == 0.0 in Python, but 1 / -0.0 is -inf (NaN never
    // equals, as in Python).
    const double a = PyFloat_AS_DOUBLE(value);
    const double b = PyFloat_AS_DOUBLE(expected);
    return a == b && std::signbit(a) == std::signbit(b);
  }
  return PyObject_RichCompareBool(value, expected, Py_EQ);
}

// Keys for item accessors must be the same kind of constant, compared the same way.
bool same_key(py::handle a, py::handle b) {
  if (!is_value_constant(a) || !is_value_constant(b)) return a.ptr() == b.ptr();
  const int same = values_equal(a.ptr(), b.ptr());
  if (same < 0) PyErr_Clear();
  return same == 1;
}

// "AttributeError: 'A' object has no attribute 'b'", and clears the exception.
std::string take_error_message() {
  if (!PyErr_Occurred()) return {};
  py::error_already_set error;  // fetches and clears
  return std::string(py::str(error.type().attr("__name__"))) + ": " +
         std::string(py::str(error.value()));
}

PyObject* dict_read(PyObject* dict, PyObject* key) {
  if (dict == nullptr || !PyDict_Check(dict)) return nullptr;
  return Py_XNewRef(PyDict_GetItemWithError(dict, key));
}

PyObject* read_local(const GuardNode& node, const GuardInputs& in) {
  if (in.fast == nullptr) return dict_read(in.locals, node.key.ptr());
  const int slot = in.local_slots[node.local_ordinal];
  if (slot < 0) return nullptr;
  if (slot < in.free_offset) return Py_XNewRef(in.fast[slot]);
  // A free variable: the frame's slot is still empty, the cell is in the closure.
  PyObject* cell = PyTuple_GET_ITEM(in.closure, slot - in.free_offset);
  return Py_XNewRef(PyCell_GET(cell));
}

PyObject* read_item(const GuardNode& node, PyObject* container) {
  if (node.int_key && (PyList_CheckExact(container) || PyTuple_CheckExact(container))) {
    const Py_ssize_t n = Py_SIZE(container);
    const Py_ssize_t i = node.index < 0 ? node.index + n : node.index;
    if (i < 0 || i >= n) return nullptr;
    return Py_NewRef(PyList_CheckExact(container) ? PyList_GET_ITEM(container, i)
                                                  : PyTuple_GET_ITEM(container, i));
  }
  // A dict subclass that keeps dict's lookup (defaultdict, OrderedDict) is read
  // as a dict: a guard must not call __missing__, which would insert the key.
  if (PyDict_Check(container) &&
      Py_TYPE(container)->tp_as_mapping->mp_subscript == PyDict_Type.tp_as_mapping->mp_subscript) {
    return dict_read(container, node.key.ptr());
  }
  return PyObject_GetItem(container, node.key.ptr());
}

// The value a node's accessor reaches from its parent's value.
PyObject* read(const GuardNode& node, PyObject* parent, const GuardInputs& in) {
  switch (node.access) {
    case Access::kLocal:
      return read_local(node, in);
    case Access::kGlobal:
      return dict_read(in.globals, node.key.ptr());
    case Access::kBuiltin:
      return dict_read(in.builtins, node.key.ptr());
    case Access::kObject:
      return Py_XNewRef(node.object.get());
    case Access::kCall: {
      PyObject* fn = node.object.get();
      return fn ? PyObject_CallNoArgs(fn) : nullptr;
    }
    case Access::kAttr:
      return PyObject_GetAttr(parent, node.key.ptr());
    case Access::kItem:
      return read_item(node, parent);
    case Access::kLen: {
      const Py_ssize_t n = PyObject_Size(parent);
      return n < 0 ? nullptr : PyLong_FromSsize_t(n);
    }
    case Access::kRoot:
      break;
  }
  return nullptr;
}

// Shape of a non-numpy array (cupy): `shape` attribute, a tuple of ints.
int generic_shape_matches(const TensorSpec& spec, PyObject* data) {
  py::object shape = py::reinterpret_steal<py::object>(PyObject_GetAttrString(data, "shape"));
  if (!shape) return -1;
  if (!PyTuple_Check(shape.ptr())) return 0;
  const Py_ssize_t nd = PyTuple_GET_SIZE(shape.ptr());
  if (nd != static_cast<Py_ssize_t>(spec.shape.size())) return 0;
  for (Py_ssize_t i = 0; i < nd; ++i) {
    const Py_ssize_t size = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape.ptr(), i));
    if (size == -1 && PyErr_Occurred()) return -1;
    if (spec.shape[i] >= 0 && size != spec.shape[i]) return 0;
  }
  return 1;
}

// 1 pass, 0 fail, -1 raised; *which names the part that did not pass.
int check_tensor(const TensorSpec& spec, PyObject* tensor, const std::string** which) {
  *which = &spec.data_text;
  py::object data = py::reinterpret_steal<py::object>(PyObject_GetAttr(tensor, data_name()));
  if (!data) return -1;
  if (!spec.array_type.empty()) {
    PyObject* type = spec.array_type.get();
    *which = &spec.device_text;
    if (type == nullptr || reinterpret_cast<PyObject*>(Py_TYPE(data.ptr())) != type) return 0;
  }
  const bool numpy = Py_TYPE(data.ptr()) == spec.numpy_array_type;
  if (spec.dtype) {
    *which = &spec.dtype_text;
    if (numpy) {
      PyObject* descr = py::detail::array_proxy(data.ptr())->descr;
      if (descr != spec.dtype.ptr() && !spec.equivalent_dtypes(descr, spec.dtype.ptr())) return 0;
    } else {
      py::object dtype =
          py::reinterpret_steal<py::object>(PyObject_GetAttrString(data.ptr(), "dtype"));
      if (!dtype) return -1;
      const int same = PyObject_RichCompareBool(dtype.ptr(), spec.dtype.ptr(), Py_EQ);
      if (same != 1) return same;
    }
  }
  if (spec.check_shape) {
    *which = &spec.shape_text;
    if (numpy) {
      const auto* array = py::detail::array_proxy(data.ptr());
      if (array->nd != static_cast<int>(spec.shape.size())) return 0;
      for (int i = 0; i < array->nd; ++i) {
        if (spec.shape[i] >= 0 && array->dimensions[i] != spec.shape[i]) return 0;
      }
    } else {
      const int same = generic_shape_matches(spec, data.ptr());
      if (same != 1) return same;
    }
  }
  if (spec.requires_grad >= 0) {
    *which = &spec.requires_grad_text;
    py::object flag =
        py::reinterpret_steal<py::object>(PyObject_GetAttr(tensor, spec.requires_grad_attr.ptr()));
    if (!flag) return -1;
    const int truth = PyObject_IsTrue(flag.ptr());
    if (truth < 0) return -1;
    if (truth != spec.requires_grad) return 0;
  }
  return 1;
}

int check_leaf(const Leaf& leaf, PyObject* value, const std::string** which) {
  *which = &leaf.text;
  switch (leaf.kind) {
    case Leaf::Kind::kTypeIs: {
      PyObject* type = leaf.object.get();
      return type != nullptr && reinterpret_cast<PyObject*>(Py_TYPE(value)) == type;
    }
    case Leaf::Kind::kIs: {
      PyObject* object = leaf.object.get();
      return object != nullptr && value == object;
    }
    case Leaf::Kind::kEquals:
      return values_equal(value, leaf.value.ptr());
    case Leaf::Kind::kLenIs: {
      const Py_ssize_t n = PyObject_Size(value);
      return n < 0 ? -1 : n == leaf.length;
    }
    case Leaf::Kind::kContains: {
      const int found = PySequence_Contains(value, leaf.value.ptr());
      return found < 0 ? -1 : (found == 1) == leaf.present;
    }
    case Leaf::Kind::kTensor:
      return check_tensor(*leaf.tensor, value, which);
  }
  return 0;
}

// 0 (failed), or -1 when the pending exception is not an Exception
// (KeyboardInterrupt, SystemExit): those are left set, to propagate.
int record_failure(GuardFailure* failure, const std::string* text) {
  if (failure != nullptr) failure->last = text;
  if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_Exception)) return -1;
  if (failure != nullptr) {
    if (failure->text != nullptr) *failure->text = *text;
    if (failure->error != nullptr) *failure->error = take_error_message();
  }
  PyErr_Clear();
  return 0;
}

// 1 pass, 0 fail, -1 propagate. Depth-first; see the header for why
// recursion is bounded.
int check_node(const GuardNode& node, PyObject* value, const GuardInputs& in,
               GuardFailure* failure) {
  for (size_t i = 0; i < node.leaves.size(); ++i) {
    const std::string* which = nullptr;
    if (check_leaf(*node.leaves[i], value, &which) != 1) return record_failure(failure, which);
  }
  for (size_t i = 0; i < node.children.size(); ++i) {
    const GuardNode& child = *node.children[i];
    PyObject* child_value = read(child, value, in);
    if (child_value == nullptr) return record_failure(failure, &child.unreadable);
    const int ok = check_node(child, child_value, in, failure);
    Py_DECREF(child_value);
    if (ok != 1) return ok;
  }
  return 1;
}

void describe_node(const GuardNode& node, std::vector<std::string>* out) {
  for (const auto& leaf : node.leaves) {
    if (leaf->kind != Leaf::Kind::kTensor) {
      out->push_back(leaf->text);
      continue;
    }
    const TensorSpec& spec = *leaf->tensor;
    if (!spec.array_type.empty()) out->push_back(spec.device_text);
    if (spec.dtype) out->push_back(spec.dtype_text);
    if (spec.check_shape) out->push_back(spec.shape_text);
    if (spec.requires_grad >= 0) out->push_back(spec.requires_grad_text);
  }
  for (const auto& child : node.children) describe_node(*child, out);
}

bool same_accessor(const GuardNode& node, Access access, py::handle key, py::handle object) {
  if (node.access != access) return false;
  switch (access) {
    case Access::kLocal:
    case Access::kGlobal:
    case Access::kBuiltin:
    case Access::kAttr:
    case Access::kItem:
      return same_key(node.key, key);
    case Access::kObject:
    case Access::kCall:
      return node.object.get() == object.ptr() && same_key(node.key, key);
    case Access::kLen:
    case Access::kRoot:
      return true;
  }
  return false;
}

}  // namespace

HeldObject::HeldObject(py::handle object, bool strong) {
  if (!strong && PyType_SUPPORTS_WEAKREFS(Py_TYPE(object.ptr()))) {
    ref_ = py::reinterpret_steal<py::object>(PyWeakref_NewRef(object.ptr(), nullptr));
    if (!ref_) throw py::error_already_set();
    weak_ = true;
  } else {
    ref_ = py::reinterpret_borrow<py::object>(object);
  }
}

PyObject* HeldObject::get() const {
  if (!weak_) return ref_.ptr();
  // A dead referent reads as None, and None is never held weakly (it does not
  // support weak references), so None here means dead.
  PyObject* object = PyWeakref_GET_OBJECT(ref_.ptr());
  return object == Py_None ? nullptr : object;
}

int GuardTree::check(const GuardInputs& inputs, GuardFailure* failure) const {
  return check_node(root_, nullptr, inputs, failure);
}

void GuardTree::check_mutable() const {
  if (frozen_) throw py::value_error("this guard belongs to an Entry and can no longer change");
}

GuardNode* GuardTree::add_root(Access access, py::object key, py::handle object,
                               const std::string& source) {
  check_mutable();
  for (const auto& child : root_.children) {
    if (same_accessor(*child, access, key, object)) return child.get();
  }
  auto node = std::make_unique<GuardNode>();
  node->access = access;
  node->key = std::move(key);
  if (object) node->object = HeldObject(object, access == Access::kCall);
  node->source = source;
  node->unreadable = source + " can be read";
  if (access == Access::kLocal) {
    int ordinal = -1;
    for (size_t i = 0; i < local_names_.size(); ++i) {
      if (same_key(local_names_[i], node->key)) ordinal = static_cast<int>(i);
    }
    if (ordinal < 0) {
      ordinal = static_cast<int>(local_names_.size());
      local_names_.push_back(node->key);
    }
    node->local_ordinal = ordinal;
  }
  root_.children.push_back(std::move(node));
  return root_.children.back().get();
}

GuardNode* GuardTree::add_child(GuardNode* parent, Access access, py::object key,
                                const std::string& key_name) {
  check_mutable();
  for (const auto& child : parent->children) {
    if (same_accessor(*child, access, key, py::handle())) return child.get();
  }
  auto node = std::make_unique<GuardNode>();
  node->access = access;
  switch (access) {
    case Access::kAttr:
      node->source = parent->source + "." + std::string(py::str(key));
      break;
    case Access::kItem:
      if (!is_value_constant(key) && !is_identity_key(key)) {
        throw py::type_error(
            "item keys must be None, bool, int, float, str, tuples of them, or objects hashed "
            "by identity");
      }
      if (PyLong_CheckExact(key.ptr())) {
        node->int_key = true;
        node->index = key.cast<Py_ssize_t>();
      }
      node->source =
          parent->source + "[" + (key_name.empty() ? std::string(py::repr(key)) : key_name) + "]";
      break;
    case Access::kLen:
      node->source = "len(" + parent->source + ")";
      break;
    default:
      throw py::value_error("not a child accessor");
  }
  node->key = std::move(key);
  node->unreadable = node->source + " can be read";
  parent->children.push_back(std::move(node));
  return parent->children.back().get();
}

void GuardTree::add_leaf(GuardNode* node, Leaf leaf) {
  check_mutable();
  node->leaves.push_back(std::make_unique<Leaf>(std::move(leaf)));
}

std::vector<std::string> GuardTree::describe() const {
  std::vector<std::string> out;
  describe_node(root_, &out);
  return out;
}

Leaf make_type_is(const GuardNode& node, py::handle type) {
  if (!PyType_Check(type.ptr())) throw py::type_error("type_is expects a type");
  Leaf leaf(Leaf::Kind::kTypeIs);
  leaf.object = HeldObject(type);
  leaf.text = "type(" + node.source + ") is " + type_name(type);
  return leaf;
}

Leaf make_is(const GuardNode& node, py::handle object, const std::string& name) {
  Leaf leaf(Leaf::Kind::kIs);
  leaf.object = HeldObject(object);
  leaf.text = node.source + " is " + (name.empty() ? short_repr(object) : name);
  return leaf;
}

Leaf make_equals(const GuardNode& node, py::handle value) {
  if (!is_value_constant(value)) {
    throw py::type_error("equals expects None, bool, int, float, str or tuples of them, got " +
                         type_name(py::type::handle_of(value)));
  }
  Leaf leaf(Leaf::Kind::kEquals);
  leaf.value = py::reinterpret_borrow<py::object>(value);
  leaf.text = node.source + " == " + short_repr(value);
  return leaf;
}

Leaf make_len_is(const GuardNode& node, Py_ssize_t length) {
  if (length < 0) throw py::value_error("a length is >= 0");
  Leaf leaf(Leaf::Kind::kLenIs);
  leaf.length = length;
  leaf.text = "len(" + node.source + ") == " + std::to_string(length);
  return leaf;
}

Leaf make_contains(const GuardNode& node, py::handle key, bool present) {
  if (!is_value_constant(key)) {
    throw py::type_error("contains expects None, bool, int, float, str or tuples of them, got " +
                         type_name(py::type::handle_of(key)));
  }
  Leaf leaf(Leaf::Kind::kContains);
  leaf.value = py::reinterpret_borrow<py::object>(key);
  leaf.present = present;
  leaf.text = short_repr(key) + (present ? " in " : " not in ") + node.source;
  return leaf;
}

Leaf make_tensor(const GuardNode& node, py::handle dtype, py::handle shape,
                 py::handle requires_grad, py::handle device,
                 const std::string& requires_grad_attr) {
  auto spec = std::make_unique<TensorSpec>();
  const auto& npy = py::detail::npy_api::get();
  spec->numpy_array_type = npy.PyArray_Type_;
  spec->equivalent_dtypes = npy.PyArray_EquivTypes_;
  const std::string data = node.source + "._data";
  spec->data_text = data + " can be read";
  if (!device.is_none()) {
    py::object type;
    if (PyType_Check(device.ptr())) {
      type = py::reinterpret_borrow<py::object>(device);
    } else {
      const std::string name = py::str(device);
      if (name == "cpu") {
        type = py::module_::import("numpy").attr("ndarray");
      } else if (name.rfind("cuda", 0) == 0) {
        type = py::module_::import("cupy").attr("ndarray");
      } else {
        throw py::value_error("device must be 'cpu', 'cuda' or an array type, got '" + name + "'");
      }
    }
    spec->array_type = HeldObject(type);
    spec->device_text = "type(" + data + ") is " + type_name(type);
  }
  if (!dtype.is_none()) {
    spec->dtype = py::module_::import("numpy").attr("dtype")(dtype);
    spec->dtype_text = data + ".dtype == " + std::string(py::str(spec->dtype));
  }
  if (!shape.is_none()) {
    spec->check_shape = true;
    bool dynamic = false;
    py::list shown;
    for (py::handle dim : shape) {
      if (dim.is_none()) {
        spec->shape.push_back(-1);
        dynamic = true;
      } else {
        const auto size = dim.cast<Py_ssize_t>();
        if (size < 0) throw py::value_error("dimension sizes are >= 0 (None for any)");
        spec->shape.push_back(size);
      }
      shown.append(dim);
    }
    spec->shape_text =
        data + ".shape " + (dynamic ? "matches " : "== ") + std::string(py::repr(py::tuple(shown)));
  }
  if (!requires_grad.is_none()) {
    spec->requires_grad = requires_grad.cast<bool>() ? 1 : 0;
    spec->requires_grad_attr = py::str(requires_grad_attr);
    PyUnicode_InternInPlace(&spec->requires_grad_attr.ptr());
    spec->requires_grad_text =
        node.source + "." + requires_grad_attr + (spec->requires_grad ? " == True" : " == False");
  }
  Leaf leaf(Leaf::Kind::kTensor);
  leaf.text = node.source + " is a matching tensor";
  leaf.tensor = std::move(spec);
  return leaf;
}

}  // namespace janus::capture
