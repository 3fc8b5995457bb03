// The eval-frame function. For every Python call CPython hands it the new,
// not yet started frame; it either lets CPython's evaluator run the frame, or
// answers the call itself (a cached entry, or the callback's result) and then
// releases the frame as CPython would have.
//
// Paths, fastest first:
//   skip:     this thread has the hook off, or the code's co_extra slot has its
//             skip bit: one thread-local read, one co_extra read.
//   hit:      a cached entry's guard passes: its fn answers the call.
//   cold:     not hot yet, or the budget is spent: CPython runs the frame.
//   compile:  the callback sees a FrameView and answers None, SKIP or
//             (entry, result).
// The hook is off on the calling thread while it runs guards, entries and the
// callback, so Python code they call is never captured re-entrantly.
//
// Frame ownership: the frame (and every reference in it) belongs to CPython's
// caller. Answering without evaluating means calling release_unevaluated_frame
// exactly once, on every path that does not pass the frame on to the
// evaluator, error paths included.
#include "capture/frame_compat.h"
// frame_compat.h first: it includes Python.h before the internal headers.
#include "capture/cache.h"
#include "capture/hook.h"

#include <cstring>
#include <stdexcept>
#include <vector>

namespace janus::capture {

namespace compat = janus::capture::compat;
using compat::Frame;

namespace {

// >0 while the hook is off on this thread. initial-exec: a plain
// %fs-relative access instead of a __tls_get_addr call; on
// bench/capture_overhead.py the entry-hit path was ~15 ns faster with it on
// 3.11. It takes 4 bytes of the static TLS surplus glibc keeps for dlopen'ed
// modules (if that ever ran out, importing janus._C would fail: drop the
// attribute then).
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
__attribute__((tls_model("initial-exec")))
#endif
thread_local int t_disabled = 0;

struct HookOff {
  HookOff() : disabled_(t_disabled) { ++disabled_; }
  ~HookOff() { --disabled_; }
  HookOff(const HookOff&) = delete;
  HookOff& operator=(const HookOff&) = delete;

 private:
  int& disabled_;
};

// The evaluator the hook replaced (CPython's, unless another hook was there).
_PyFrameEvalFunction g_previous = _PyEval_EvalFrameDefault;

PyObject* eval_default(PyThreadState* tstate, Frame* frame, int throw_flag) {
  return g_previous(tstate, frame, throw_flag);
}

// A C++ exception from pybind11 as a Python exception; the hook is C code to its caller.
void set_python_error_from_current_exception() {
  try {
    throw;
  } catch (py::error_already_set& error) {
    error.restore();
  } catch (const std::exception& error) {
    PyErr_SetString(PyExc_RuntimeError, error.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "janus capture: unknown C++ exception");
  }
}

bool in_hidden_file(PyTracebackObject* entry) {
  PyCodeObject* code = PyFrame_GetCode(entry->tb_frame);  // new reference
  const char* file = PyUnicode_AsUTF8(code->co_filename);
  Py_DECREF(code);
  if (file == nullptr) {
    PyErr_Clear();
    return false;
  }
  for (const std::string& prefix : settings().hidden_prefixes) {
    if (std::strncmp(file, prefix.c_str(), prefix.size()) == 0) return true;
  }
  return false;
}

// `tb` without the entries of frames in hidden files, relinked in place (as
// assigning `tb_next` from Python does). Steals `tb`; returns a new reference.
PyObject* without_hidden_entries(PyObject* tb) {
  std::vector<PyTracebackObject*> kept;
  size_t total = 0;
  for (PyObject* at = tb; at != nullptr && PyTraceBack_Check(at);
       at = reinterpret_cast<PyObject*>(reinterpret_cast<PyTracebackObject*>(at)->tb_next)) {
    ++total;
    auto* entry = reinterpret_cast<PyTracebackObject*>(at);
    if (!in_hidden_file(entry)) kept.push_back(entry);
  }
  if (kept.size() == total) return tb;
  for (size_t i = 0; i < kept.size(); ++i) {
    // The next kept entry gains its reference before the hidden ones in
    // between lose theirs (which may free them).
    PyTracebackObject* next = i + 1 < kept.size() ? kept[i + 1] : nullptr;
    Py_XINCREF(next);
    PyTracebackObject* old = kept[i]->tb_next;
    kept[i]->tb_next = next;
    Py_XDECREF(old);
  }
  PyObject* head = kept.empty() ? nullptr : reinterpret_cast<PyObject*>(kept[0]);
  Py_XINCREF(head);
  Py_XDECREF(tb);
  return head;
}

// The pending exception came out of the callback or an entry: its traceback
// loses janus's own frames (the translator running the user's code, the
// compiled entry handing a split frame on), so it reads as the user's code
// run as usual, which the translator's synthetic entries stand in for.
void hide_janus_frames() {
  if (settings().hidden_prefixes.empty()) return;
#if PY_VERSION_HEX >= 0x030C0000
  PyObject* exc = PyErr_GetRaisedException();
  if (exc == nullptr) return;
  PyObject* tb = without_hidden_entries(PyException_GetTraceback(exc));
  PyException_SetTraceback(exc, tb != nullptr ? tb : Py_None);
  Py_XDECREF(tb);
  PyErr_SetRaisedException(exc);
#else
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (type == nullptr) return;
  PyErr_NormalizeException(&type, &value, &tb);
  tb = without_hidden_entries(tb);
  if (value != nullptr) PyException_SetTraceback(value, tb != nullptr ? tb : Py_None);
  PyErr_Restore(type, value, tb);
#endif
}

// New reference to the entry's answer, or nullptr with an exception. The fn
// receives the parameters and free-variable cells borrowed from the frame,
// which keeps them alive for the call.
PyObject* call_entry(const CacheEntry& entry, Frame* frame) {
  PyCodeObject* code = compat::frame_code(frame);
  const int params = compat::code_param_count(code);
  const int free_vars = code->co_nfreevars;
  const int count = params + free_vars;
  // One spare slot in front: PY_VECTORCALL_ARGUMENTS_OFFSET lets the callee
  // use it (bound methods prepend self without copying).
  PyObject* small[16];
  PyObject** buffer = small;
  if (count + 1 > 16) {
    buffer = static_cast<PyObject**>(PyMem_Malloc(sizeof(PyObject*) * (count + 1)));
    if (buffer == nullptr) return PyErr_NoMemory();
  }
  PyObject** args = buffer + 1;
  PyObject* const* fast = compat::frame_fast_locals(frame);
  for (int i = 0; i < params; ++i) args[i] = fast[i];  // bound on entry, never NULL
  PyObject* closure = compat::frame_function(frame)->func_closure;
  for (int i = 0; i < free_vars; ++i) args[params + i] = PyTuple_GET_ITEM(closure, i);
  PyObject* result = PyObject_Vectorcall(
      entry.fn.ptr(), args, static_cast<size_t>(count) | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
  if (buffer != small) PyMem_Free(buffer);
  return result;
}

enum class Cached { kMiss, kAnswered, kFallback };

// Tries the cached entries, most recently used first. kAnswered: *result is
// the fn's answer (nullptr with an exception when it, or a guard, raised).
Cached run_cached(Frame* frame, CodeState* state, PyObject** result) {
  HookOff off;
  PyCodeObject* code = compat::frame_code(frame);
  GuardInputs inputs;
  inputs.fast = compat::frame_fast_locals(frame);
  inputs.free_offset = compat::code_free_offset(code);
  inputs.closure = compat::frame_function(frame)->func_closure;
  inputs.globals = compat::frame_globals(frame);
  inputs.builtins = compat::frame_builtins(frame);
  // By index, re-reading the size: a guard's getter may switch threads, and
  // another thread may insert or reset entries meanwhile.
  for (size_t i = 0; i < state->entries.size(); ++i) {
    const py::object owner = state->entries[i].owner;  // keeps the entry alive
    CacheEntry* entry = state->entries[i].entry;
    inputs.local_slots = entry->local_slots.data();
    GuardFailure failure;
    const int passed = entry->guard->check(inputs, &failure);
    if (passed < 0) {  // KeyboardInterrupt or SystemExit while checking: the call raises it
      *result = nullptr;
      return Cached::kAnswered;
    }
    if (passed == 0) {
      entry->last_failure = failure.last;
      continue;
    }
    ++state->hits;
    ++entry->hits;
    if (i != 0) move_to_front(state, entry);
    PyObject* answer = call_entry(*entry, frame);
    if (answer == fallback_sentinel()) {
      Py_DECREF(answer);
      ++state->fallbacks;
      return Cached::kFallback;
    }
    *result = answer;
    return Cached::kAnswered;
  }
  return Cached::kMiss;
}

// New reference to a dict of the fresh frame's bound locals: parameters (an
// argument that is also a cell still holds its plain value: MAKE_CELL has not
// run) and free variables (read from the closure: COPY_FREE_VARS has not run).
PyObject* fresh_frame_locals(Frame* frame) {
  PyCodeObject* code = compat::frame_code(frame);
  PyObject* locals = PyDict_New();
  if (locals == nullptr) return nullptr;
  const int free_offset = compat::code_free_offset(code);
  PyObject* closure = compat::frame_function(frame)->func_closure;
  PyObject* const* fast = compat::frame_fast_locals(frame);
  for (int i = 0; i < code->co_nlocalsplus; ++i) {
    PyObject* value =
        i < free_offset ? fast[i] : PyCell_GET(PyTuple_GET_ITEM(closure, i - free_offset));
    if (value == nullptr) continue;  // not bound yet (plain locals, cells) or an empty cell
    if (PyDict_SetItem(locals, PyTuple_GET_ITEM(code->co_localsplusnames, i), value) < 0) {
      Py_DECREF(locals);
      return nullptr;
    }
  }
  return locals;
}

// New reference to a FrameView of the frame, or nullptr with an exception.
PyObject* make_frame_view(Frame* frame) {
  PyObject* locals = fresh_frame_locals(frame);
  if (locals == nullptr) return nullptr;
  try {
    FrameView view{
        py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(compat::frame_code(frame))),
        py::reinterpret_borrow<py::object>(
            reinterpret_cast<PyObject*>(compat::frame_function(frame))),
        py::reinterpret_borrow<py::object>(compat::frame_globals(frame)),
        py::reinterpret_borrow<py::object>(compat::frame_builtins(frame)),
        py::reinterpret_steal<py::object>(locals)};
    return py::cast(std::move(view)).release().ptr();
  } catch (...) {
    set_python_error_from_current_exception();
    return nullptr;
  }
}

int insert_entry_checked(CodeState* state, PyObject* entry) {
  try {
    return insert_entry(state, entry);
  } catch (...) {
    set_python_error_from_current_exception();
    return -1;
  }
}

// Acts on the callback's answer (a new reference, or nullptr if it raised).
PyObject* finish_callback(PyThreadState* tstate, Frame* frame, CodeState* state, PyObject* answer,
                          uint64_t epoch) {
  if (answer == nullptr) {
    hide_janus_frames();
    compat::release_unevaluated_frame(tstate, frame);
    return nullptr;
  }
  const py::object owned = py::reinterpret_steal<py::object>(answer);
  if (answer == Py_None) return eval_default(tstate, frame, 0);
  if (answer == skip_sentinel()) {
    mark_skipped(state, SkipReason::kCallback);
    return eval_default(tstate, frame, 0);
  }
  if (!PyTuple_CheckExact(answer) || PyTuple_GET_SIZE(answer) != 2) {
    PyErr_Format(PyExc_TypeError,
                 "the capture callback must return None, capture.SKIP or (entry, result), "
                 "not %.100s",
                 Py_TYPE(answer)->tp_name);
    compat::release_unevaluated_frame(tstate, frame);
    return nullptr;
  }
  PyObject* entry = PyTuple_GET_ITEM(answer, 0);
  PyObject* result = PyTuple_GET_ITEM(answer, 1);
  // An install, uninstall or reset during the callback made its entry stale.
  if (entry != Py_None && epoch == settings().epoch && state->skip == SkipReason::kNone) {
    if (insert_entry_checked(state, entry) < 0) {
      compat::release_unevaluated_frame(tstate, frame);
      return nullptr;
    }
  }
  if (result == fallback_sentinel()) return eval_default(tstate, frame, 0);
  Py_INCREF(result);
  compat::release_unevaluated_frame(tstate, frame);
  return result;
}

PyObject* run_callback(PyThreadState* tstate, Frame* frame, CodeState* state) {
  const uint64_t epoch = settings().epoch;
  // Strong for the call: the callback may uninstall the hook.
  const py::object callback = py::reinterpret_borrow<py::object>(settings().callback);
  ++state->compiles;
  if (!state->entries.empty()) ++state->recompiles;
  PyObject* view = make_frame_view(frame);
  if (view == nullptr) {
    compat::release_unevaluated_frame(tstate, frame);
    return nullptr;
  }
  PyObject* answer;
  state->compiling = true;
  {
    HookOff off;
    answer = PyObject_CallOneArg(callback.ptr(), view);
  }
  state->compiling = false;
  Py_DECREF(view);
  return finish_callback(tstate, frame, state, answer, epoch);
}

// Everything past the skip path; kept out of line so the skip path stays small.
__attribute__((noinline)) PyObject* capture_call(PyThreadState* tstate, Frame* frame,
                                                 CodeState* state) {
  const Settings& config = settings();
  if (config.callback == nullptr) return eval_default(tstate, frame, 0);
  if (state == nullptr) {
    state = create_state(compat::frame_code(frame));
    if (state == nullptr || state->skip != SkipReason::kNone) return eval_default(tstate, frame, 0);
  }
  if (!compat::frame_is_fresh_call(frame)) return eval_default(tstate, frame, 0);
  ++state->calls;
  if (!state->entries.empty()) {
    PyObject* result = nullptr;
    switch (run_cached(frame, state, &result)) {
      case Cached::kAnswered:
        if (result == nullptr) hide_janus_frames();
        compat::release_unevaluated_frame(tstate, frame);
        return result;
      case Cached::kFallback:
        return eval_default(tstate, frame, 0);
      case Cached::kMiss:
        ++state->misses;
        break;
    }
  }
  if (state->calls < config.hot_calls || state->compiling) return eval_default(tstate, frame, 0);
  if (state->compiles >= config.budget) {
    mark_skipped(state, SkipReason::kBudget);
    return eval_default(tstate, frame, 0);
  }
  return run_callback(tstate, frame, state);
}

PyObject* eval_frame(PyThreadState* tstate, Frame* frame, int throw_flag) {
  // throw_flag: a generator being thrown into; generators are never captured.
  if (t_disabled != 0 || throw_flag != 0) return eval_default(tstate, frame, throw_flag);
  const auto slot =
      reinterpret_cast<uintptr_t>(compat::code_extra(compat::frame_code(frame), cache_index()));
  if (slot & kSkipBit) return eval_default(tstate, frame, 0);
  return capture_call(tstate, frame, reinterpret_cast<CodeState*>(slot));
}

}  // namespace

void install_hook(py::object callback, uint64_t hot_calls, uint64_t budget,
                  std::vector<std::string> skip_prefixes,
                  std::vector<std::string> hidden_prefixes) {
  if (!init_cache()) {
    throw std::runtime_error("janus capture: CPython has no co_extra index left for the hook");
  }
  Settings& config = settings();
  PyObject* old = config.callback;
  config.callback = callback.release().ptr();
  config.hot_calls = hot_calls;
  config.budget = budget;
  config.skip_prefixes = std::move(skip_prefixes);
  config.hidden_prefixes = std::move(hidden_prefixes);
  ++config.epoch;
  PyInterpreterState* interp = PyInterpreterState_Get();
  const _PyFrameEvalFunction current = _PyInterpreterState_GetEvalFrameFunc(interp);
  if (current != &eval_frame) {
    g_previous = current;
    _PyInterpreterState_SetEvalFrameFunc(interp, &eval_frame);
  }
  reset_all();
  Py_XDECREF(old);
}

void uninstall_hook() {
  Settings& config = settings();
  if (config.callback == nullptr) return;
  PyInterpreterState* interp = PyInterpreterState_Get();
  // Another hook installed over this one keeps calling it; with no callback
  // it passes every frame on.
  if (_PyInterpreterState_GetEvalFrameFunc(interp) == &eval_frame) {
    _PyInterpreterState_SetEvalFrameFunc(interp, g_previous);
  }
  PyObject* old = config.callback;
  config.callback = nullptr;
  ++config.epoch;
  reset_all();
  Py_DECREF(old);
}

bool hook_installed() { return settings().callback != nullptr; }

bool hook_enabled_here() { return hook_installed() && t_disabled == 0; }
void disable_hook_here() { ++t_disabled; }
void enable_hook_here() { --t_disabled; }

py::object call_with_hook(const py::object& fn, const py::args& args) {
  struct Restore {
    int saved = t_disabled;
    ~Restore() { t_disabled = saved; }
  } restore;
  t_disabled = 0;
  return fn(*args);
}

}  // namespace janus::capture
