// janus._C.capture: the PEP 523 frame hook, its per-code cache and native
// guards (csrc/capture). The protocol is documented in docs/capture.md.
#pragma once

#include <pybind11/pybind11.h>

// Adds the `capture` submodule to janus._C.
void bind_capture(pybind11::module_& m);
