// janus._C.ir: the IR graph builder, passes and analyses (bind_ir.cpp), and
// the conversion of IR constants to Python that the CPU bindings share.
#pragma once

#include <pybind11/pybind11.h>

#include "ir/attr.h"

// IR constants as Python values (None, bool, int, float, str, tuples).
pybind11::object from_attr(const janus::ir::Attr& attr);
// Adds the `ir` submodule to janus._C.
void bind_ir(pybind11::module_& m);
