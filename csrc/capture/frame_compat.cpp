// Out-of-line parts of the CPython-version glue (see frame_compat.h): the
// frame release that CPython 3.12 does inside its eval loop, rewritten from
// CPython's unexported helpers (clear_thread_frame and _PyFrame_ClearExceptCode
// in Python/ceval.c and Python/frame.c, _PyThreadState_PopFrame in
// Python/pystate.c), and the co_extra API under its per-version names.
#include "capture/frame_compat.h"

namespace janus::capture::compat {

#if defined(JANUS_CAPTURE_PY312)
namespace {

// _PyThreadState_PopFrame: hands the frame's data-stack space back. A frame
// that opened a new chunk frees that chunk (never the root chunk: push_chunk
// keeps the root's first slot unused).
void pop_frame(PyThreadState* tstate, Frame* frame) {
  PyObject** base = reinterpret_cast<PyObject**>(frame);
  _PyStackChunk* chunk = tstate->datastack_chunk;
  if (base == &chunk->data[0]) {
    _PyStackChunk* previous = chunk->previous;
    tstate->datastack_top = &previous->data[previous->top];
    tstate->datastack_chunk = previous;
    tstate->datastack_limit =
        reinterpret_cast<PyObject**>(reinterpret_cast<char*>(previous) + previous->size);
    PyObjectArenaAllocator arena;
    PyObject_GetArenaAllocator(&arena);
    arena.free(arena.ctx, chunk, chunk->size);
  } else {
    tstate->datastack_top = base;
  }
}

}  // namespace
#endif

void release_unevaluated_frame(PyThreadState* tstate, Frame* frame) {
#if defined(JANUS_CAPTURE_PY312)
  // Invariants (checked by frame_is_fresh_call before the hook took the frame,
  // and kept since: the frame was never linked into the thread's frame chain,
  // so nothing could reach it to make a frame object for it): owned by the
  // thread, on top of the data stack, frame_obj == NULL. So the take_ownership
  // branch of _PyFrame_ClearExceptCode cannot apply.
  tstate->c_recursion_remaining--;
  for (int i = 0; i < frame->stacktop; i++) Py_XDECREF(frame->localsplus[i]);
  Py_XDECREF(frame->f_locals);
  Py_DECREF(frame->f_funcobj);
  Py_DECREF(frame->f_code);
  tstate->c_recursion_remaining++;
  pop_frame(tstate, frame);
#else
  (void)tstate;
  (void)frame;
#endif
}

int set_code_extra(PyCodeObject* code, Py_ssize_t index, void* value) {
#if defined(JANUS_CAPTURE_PY311)
  return _PyCode_SetExtra(reinterpret_cast<PyObject*>(code), index, value);
#else
  return PyUnstable_Code_SetExtra(reinterpret_cast<PyObject*>(code), index, value);
#endif
}

Py_ssize_t request_code_extra_index(freefunc free_slot) {
#if defined(JANUS_CAPTURE_PY311)
  return _PyEval_RequestCodeExtraIndex(free_slot);
#else
  return PyUnstable_Eval_RequestCodeExtraIndex(free_slot);
#endif
}

}  // namespace janus::capture::compat
