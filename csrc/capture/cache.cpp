// The per-code cache in co_extra. See cache.h for the slot encoding and the
// threading rules.
#include "capture/cache.h"

#include <algorithm>
#include <new>
#include <string_view>
#include <utility>

#include "capture/frame_compat.h"

namespace janus::capture {

namespace compat = janus::capture::compat;

Py_ssize_t detail::cache_index = -1;

namespace {

CodeState* g_registry = nullptr;  // doubly linked through prev/next
void registry_add(CodeState* state) {
  state->next = g_registry;
  if (g_registry != nullptr) g_registry->prev = state;
  g_registry = state;
}

void registry_remove(CodeState* state) {
  if (state->prev != nullptr) state->prev->next = state->next;
  if (state->next != nullptr) state->next->prev = state->prev;
  if (g_registry == state) g_registry = state->next;
  state->prev = state->next = nullptr;
}

void write_slot(CodeState* state) {
  const uintptr_t bits =
      reinterpret_cast<uintptr_t>(state) | (state->skip != SkipReason::kNone ? kSkipBit : 0);
  compat::overwrite_code_extra(state->code, detail::cache_index, reinterpret_cast<void*>(bits));
}

// The verdicts that depend only on the code (and the skip prefixes).
SkipReason classify(PyCodeObject* code) {
  if (compat::code_is_generator_like(code)) return SkipReason::kGenerator;
  if (!compat::code_is_function(code)) return SkipReason::kNotFunction;
  Py_ssize_t size = 0;
  const char* utf8 = PyUnicode_AsUTF8AndSize(code->co_filename, &size);
  if (utf8 == nullptr) {
    PyErr_Clear();
    return SkipReason::kNone;
  }
  const std::string_view filename(utf8, static_cast<size_t>(size));
  for (const std::string& prefix : settings().skip_prefixes) {
    if (filename.substr(0, prefix.size()) == prefix) return SkipReason::kOwnCode;
  }
  return SkipReason::kNone;
}

// co_extra's freeing function: runs when the code object is deallocated (GIL held).
void free_state(void* slot) {
  auto* state = reinterpret_cast<CodeState*>(reinterpret_cast<uintptr_t>(slot) & ~kSkipBit);
  if (state == nullptr) return;
  registry_remove(state);
  // Entries may run arbitrary __del__ code when dropped; the state is already
  // unreachable from the registry and from its (dying) code.
  delete state;
}

// Resets counters and verdicts; hands the entries to `graveyard` so that the
// caller drops them once no container is mid-update.
void reset_into(CodeState* state, std::vector<CachedEntry>* graveyard) {
  for (CachedEntry& cached : state->entries) graveyard->push_back(std::move(cached));
  state->entries.clear();
  state->calls = state->compiles = state->recompiles = 0;
  state->hits = state->misses = state->fallbacks = 0;
  state->compiling = false;
  state->skip = classify(state->code);
  write_slot(state);
}

// True when localsplus[index] is bound when the frame starts: a parameter or
// a free variable.
bool bound_on_entry(PyCodeObject* code, int index) {
  return index < compat::code_param_count(code) || index >= compat::code_free_offset(code);
}

}  // namespace

const char* skip_reason_name(SkipReason reason) {
  switch (reason) {
    case SkipReason::kNone:
      return nullptr;
    case SkipReason::kGenerator:
      return "generator";
    case SkipReason::kNotFunction:
      return "not a function";
    case SkipReason::kOwnCode:
      return "skipped file";
    case SkipReason::kCallback:
      return "callback";
    case SkipReason::kBudget:
      return "budget";
  }
  return nullptr;
}

Settings& settings() {
  static Settings* instance = new Settings();
  return *instance;
}

namespace {
PyObject* g_skip = nullptr;
PyObject* g_fallback = nullptr;
}  // namespace

void set_sentinels(PyObject* skip, PyObject* fallback) {
  g_skip = Py_NewRef(skip);
  g_fallback = Py_NewRef(fallback);
}
PyObject* skip_sentinel() { return g_skip; }
PyObject* fallback_sentinel() { return g_fallback; }

bool init_cache() {
  if (detail::cache_index < 0) detail::cache_index = compat::request_code_extra_index(&free_state);
  return detail::cache_index >= 0;
}

CodeState* state_of(PyCodeObject* code) {
  if (detail::cache_index < 0) return nullptr;
  return reinterpret_cast<CodeState*>(
      reinterpret_cast<uintptr_t>(compat::code_extra(code, detail::cache_index)) & ~kSkipBit);
}

CodeState* create_state(PyCodeObject* code) {
  auto* state = new (std::nothrow) CodeState();  // the hook is C code to its caller: no throw
  if (state == nullptr) return nullptr;
  state->code = code;
  state->skip = classify(code);
  if (compat::set_code_extra(code, detail::cache_index, state) < 0) {
    PyErr_Clear();
    delete state;
    return nullptr;
  }
  registry_add(state);
  write_slot(state);
  return state;
}

void mark_skipped(CodeState* state, SkipReason reason) {
  state->skip = reason;
  write_slot(state);
}

void reset_state(CodeState* state) {
  std::vector<CachedEntry> graveyard;
  reset_into(state, &graveyard);
}

void reset_all() {
  std::vector<CachedEntry> graveyard;
  for (CodeState* state = g_registry; state != nullptr; state = state->next) {
    reset_into(state, &graveyard);
  }
  // `graveyard` dies here, after the walk: dropping entries may free code
  // objects, whose states then leave the registry.
}

int insert_entry(CodeState* state, PyObject* entry_object) {
  py::handle handle(entry_object);
  CacheEntry* entry = nullptr;
  try {
    entry = handle.cast<CacheEntry*>();
  } catch (const py::cast_error&) {
    PyErr_Format(PyExc_TypeError, "the callback's entry must be a capture.Entry or None, not %s",
                 Py_TYPE(entry_object)->tp_name);
    return -1;
  }
  if (entry->bound) {
    PyErr_SetString(PyExc_ValueError, "this Entry is already cached (make a new one)");
    return -1;
  }
  PyCodeObject* code = state->code;
  std::vector<int> slots;
  for (const py::object& name : entry->guard->local_names()) {
    int found = -1;
    for (int i = 0; i < code->co_nlocalsplus; ++i) {
      PyObject* candidate = PyTuple_GET_ITEM(code->co_localsplusnames, i);
      if (PyUnicode_Compare(candidate, name.ptr()) == 0 && bound_on_entry(code, i)) found = i;
    }
    if (found < 0) {
      PyErr_Format(PyExc_ValueError,
                   "the guard reads local %R, which %U does not bind on entry "
                   "(not a parameter or free variable)",
                   name.ptr(), code->co_qualname);
      return -1;
    }
    slots.push_back(found);
  }
  entry->local_slots = std::move(slots);
  entry->bound = true;
  entry->guard->freeze();
  state->entries.insert(state->entries.begin(),
                        CachedEntry{py::reinterpret_borrow<py::object>(handle), entry});
  return 0;
}

void move_to_front(CodeState* state, const CacheEntry* entry) {
  auto& entries = state->entries;
  auto it = std::find_if(entries.begin(), entries.end(),
                         [entry](const CachedEntry& cached) { return cached.entry == entry; });
  if (it != entries.end()) std::rotate(entries.begin(), it, it + 1);
}

py::tuple entry_signature(PyCodeObject* code) {
  const int params = compat::code_param_count(code);
  const int free_offset = compat::code_free_offset(code);
  py::list names;
  for (int i = 0; i < params; ++i) names.append(PyTuple_GET_ITEM(code->co_localsplusnames, i));
  for (int i = free_offset; i < code->co_nlocalsplus; ++i) {
    names.append(PyTuple_GET_ITEM(code->co_localsplusnames, i));
  }
  return py::tuple(names);
}

}  // namespace janus::capture
