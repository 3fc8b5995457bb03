// CPython-version glue for the frame hook: the only header of janus that sees
// CPython's internal frame and code layouts. Include it from capture .cpp files
// only (it defines Py_BUILD_CORE for the internal headers, which must never
// leak into other translation units).
//
// What the hook relies on, per version:
//   - _PyInterpreterFrame: 3.11 keeps the function in `f_func`, 3.12 in
//     `f_funcobj`; both keep `f_code`, `f_globals`, `f_builtins`, `localsplus`.
//   - Who releases a frame the hook answers without evaluating it: on 3.11
//     the caller (_PyEval_Vector) clears and pops it after the hook returns;
//     on 3.12 the eval loop does that itself, so the hook must
//     (release_unevaluated_frame below).
//   - A frame the hook sees is fresh: argument slots are bound; cell
//     variables are not yet cells (MAKE_CELL has not run) so an argument that
//     is also a cell still holds its plain value; free-variable slots are NULL
//     (COPY_FREE_VARS has not run): their cells are in the function's closure.
#pragma once

#include <Python.h>

#define Py_BUILD_CORE
#include <internal/pycore_code.h>
#include <internal/pycore_frame.h>
#undef Py_BUILD_CORE

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define JANUS_CAPTURE_PY311 1
#elif PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000
#define JANUS_CAPTURE_PY312 1
#else
#error "janus capture supports CPython 3.11 and 3.12; check csrc/capture/frame_compat.* first"
#endif

#include <cstdint>

namespace janus::capture::compat {

using Frame = _PyInterpreterFrame;

inline PyCodeObject* frame_code(Frame* frame) { return frame->f_code; }

// Borrowed; the frame holds a strong reference until it is released.
inline PyFunctionObject* frame_function(Frame* frame) {
#if defined(JANUS_CAPTURE_PY311)
  return frame->f_func;
#else
  return reinterpret_cast<PyFunctionObject*>(frame->f_funcobj);
#endif
}

inline PyObject* frame_globals(Frame* frame) { return frame->f_globals; }
inline PyObject* frame_builtins(Frame* frame) { return frame->f_builtins; }

// The fast-locals array: arguments first, then other locals, cells, free variables.
inline PyObject* const* frame_fast_locals(Frame* frame) { return frame->localsplus; }

// True for the frames the hook may answer in CPython's place: pushed on this
// thread's data stack by a function call (not a generator's, not a frame
// object's), not started, with no frame object or locals dict. Anything else is
// left to the default evaluator.
inline bool frame_is_fresh_call(Frame* frame) {
  return frame->owner == FRAME_OWNED_BY_THREAD && frame->frame_obj == nullptr &&
         frame->f_locals == nullptr && frame->prev_instr == _PyCode_CODE(frame->f_code) - 1;
}

// Releases a fresh frame the hook answered without evaluating it, so that the
// caller sees what CPython's own evaluation would have left. Consumes the
// frame's references on 3.12; a no-op on 3.11, where _PyEval_Vector does it.
void release_unevaluated_frame(PyThreadState* tstate, Frame* frame);

// ----- code objects -----

inline bool code_is_generator_like(PyCodeObject* code) {
  return (code->co_flags &
          (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR | CO_ITERABLE_COROUTINE)) != 0;
}

// CO_OPTIMIZED: a function body (module and class bodies run once and keep
// their locals in a dict; they are never captured).
inline bool code_is_function(PyCodeObject* code) { return (code->co_flags & CO_OPTIMIZED) != 0; }

inline unsigned char local_kind(PyCodeObject* code, int index) {
  return static_cast<unsigned char>(_PyLocals_GetKind(code->co_localspluskinds, index));
}
inline bool kind_is_free(unsigned char kind) { return (kind & CO_FAST_FREE) != 0; }

// Parameters, in co_varnames order: positional, keyword-only, *args, **kwargs.
inline int code_param_count(PyCodeObject* code) {
  return code->co_argcount + code->co_kwonlyargcount + ((code->co_flags & CO_VARARGS) ? 1 : 0) +
         ((code->co_flags & CO_VARKEYWORDS) ? 1 : 0);
}

// Index of the first free variable in localsplus (free variables come last).
inline int code_free_offset(PyCodeObject* code) {
  return code->co_nlocalsplus - code->co_nfreevars;
}

// ----- co_extra -----

// Mirrors CPython's private holder of co_extra (Objects/codeobject.c, the same
// in 3.11 and 3.12) so the hook reads its slot inline instead of calling
// _PyCode_GetExtra on every call.
struct CodeExtraTable {
  Py_ssize_t size;
  void* slots[1];
};

inline void* code_extra(PyCodeObject* code, Py_ssize_t index) {
  const auto* table = static_cast<const CodeExtraTable*>(code->co_extra);
  return (table != nullptr && index < table->size) ? table->slots[index] : nullptr;
}

// Overwrites a slot that set_code_extra has filled, without calling the
// slot's freeing function on the old value.
inline void overwrite_code_extra(PyCodeObject* code, Py_ssize_t index, void* value) {
  static_cast<CodeExtraTable*>(code->co_extra)->slots[index] = value;
}

// First store into a slot (allocates the table); -1 with an exception on failure.
int set_code_extra(PyCodeObject* code, Py_ssize_t index, void* value);
Py_ssize_t request_code_extra_index(freefunc free_slot);

}  // namespace janus::capture::compat
