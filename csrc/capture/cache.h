// The per-code cache: what the hook keeps for each code object, in the code's
// co_extra slot, and the hook's global settings.
//
// The co_extra slot holds a CodeState pointer whose low bit is the skip
// verdict, so the hook's skip path reads one word and tests one bit (CodeState
// is at least 8-byte aligned). Every code object the hook has seen gets a
// state, skipped ones included, so stats stay readable and a reinstall can
// reset every verdict.
//
// Threading: everything here runs with the GIL held. The hook calls Python
// (guards' getters, entries, the callback) in the middle of using a state, and
// another thread may then change the same state (insert, reset). So users of
// `entries` walk it by index, re-reading the size, and keep a strong
// reference to the entry they are using; nothing drops a reference while a
// container is half-updated (references are moved out first, then dropped).
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "capture/guards.h"

namespace janus::capture {

namespace py = pybind11;

// The C++ side of capture.Entry: a guard and the callable that answers a call
// the guard accepts. Bound to one code object when first cached.
struct CacheEntry {
  std::shared_ptr<GuardTree> guard;
  py::object fn;
  bool bound = false;
  std::vector<int> local_slots;  // per guard local ordinal: localsplus index
  uint64_t hits = 0;
  const std::string* last_failure = nullptr;  // borrowed from `guard`
};

struct CachedEntry {
  py::object owner;  // the Python Entry; owns *entry
  CacheEntry* entry;
};

enum class SkipReason : uint8_t {
  kNone,
  kGenerator,    // generator, coroutine or async generator code
  kNotFunction,  // module or class body
  kOwnCode,      // under one of the skipped file prefixes (janus's own package)
  kCallback,     // the callback returned SKIP
  kBudget,       // the compile budget is spent
};
const char* skip_reason_name(SkipReason reason);

struct CodeState {
  PyCodeObject* code;         // borrowed: the state lives in the code's co_extra and dies with it
  CodeState* prev = nullptr;  // registry of live states (reset_all walks it)
  CodeState* next = nullptr;
  uint64_t calls = 0;       // calls seen while not skipped
  uint64_t compiles = 0;    // callback invocations
  uint64_t recompiles = 0;  // ... of which because every cached entry missed
  uint64_t hits = 0;
  uint64_t misses = 0;     // calls where entries existed and none passed
  uint64_t fallbacks = 0;  // entry hits whose fn returned FALLBACK
  SkipReason skip = SkipReason::kNone;
  bool compiling = false;            // a callback for this code is running (on some thread)
  std::vector<CachedEntry> entries;  // most recently used first
};

struct Settings {
  PyObject* callback = nullptr;  // strong; nullptr when not installed
  uint64_t hot_calls = 2;
  uint64_t budget = 8;
  std::vector<std::string> skip_prefixes;
  // An exception leaving the callback or an entry loses the traceback
  // entries of frames in files under these (the translator's own code).
  std::vector<std::string> hidden_prefixes;
  uint64_t epoch = 0;  // bumped by every install, uninstall and reset
};
// Process-wide; leaked on purpose (no destructor runs after Python is finalized).
Settings& settings();

// Sentinels of the protocol, made by the bindings; held for the process.
void set_sentinels(PyObject* skip, PyObject* fallback);
PyObject* skip_sentinel();
PyObject* fallback_sentinel();

// The co_extra slot's skip bit.
constexpr uintptr_t kSkipBit = 1;

// Requests the co_extra index once (when the module is bound); false when
// CPython has none left (it has 255), and then the hook cannot be installed.
bool init_cache();
namespace detail {
extern Py_ssize_t cache_index;  // -1 until init_cache
}
inline Py_ssize_t cache_index() { return detail::cache_index; }

// The state in the code's slot (skip bit removed), or nullptr.
CodeState* state_of(PyCodeObject* code);
// Creates, classifies and stores the state of a code that has none; nullptr
// (exception cleared) when co_extra cannot be set.
CodeState* create_state(PyCodeObject* code);
void mark_skipped(CodeState* state, SkipReason reason);
// Forgets entries, counters and verdicts; verdicts that depend only on the
// code are decided again at once.
void reset_state(CodeState* state);
void reset_all();

// Binds `entry` (a capture.Entry) to the state's code and puts it first.
// -1 with an exception when it is not an Entry, is already cached, or its
// guard reads a local that the code does not bind on entry.
int insert_entry(CodeState* state, PyObject* entry);
void move_to_front(CodeState* state, const CacheEntry* entry);

// Names of the values an entry's fn receives, in order: the parameters in
// co_varnames order, then the free variables (passed as their cells).
py::tuple entry_signature(PyCodeObject* code);

}  // namespace janus::capture
