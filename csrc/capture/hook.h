// The PEP 523 frame hook: installing it, and the per-thread switch that turns
// it off while the hook itself runs Python (the callback, guards, entries).
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

namespace janus::capture {

namespace py = pybind11;

// What the callback sees of a frame the hook holds. A snapshot: it owns its
// values and never points into the frame, so a callback may keep it.
struct FrameView {
  py::object code;
  py::object function;
  py::object globals;
  py::object builtins;
  py::object locals;  // dict: bound parameters and free variables' values
};

// Replaces the callback and settings (and resets every cache) when already installed.
void install_hook(py::object callback, uint64_t hot_calls, uint64_t budget,
                  std::vector<std::string> skip_prefixes, std::vector<std::string> hidden_prefixes);
void uninstall_hook();
bool hook_installed();

// The calling thread's switch. Nested: each disable needs one enable.
bool hook_enabled_here();
void disable_hook_here();
void enable_hook_here();
// Calls `fn(*args)` with the hook on for this thread (restoring the switch
// after, also on an exception): how a compiled entry hands the rest of a
// split frame to its resume function, which is then captured like any call.
py::object call_with_hook(const py::object& fn, const py::args& args);

}  // namespace janus::capture
