"""C expressions for the elementwise ops, for the CUDA code generator
(cuda_codegen.py): one expression per op, numpy's semantics (NaN-propagating
max/min, true division in the result type, round half to even)."""

from __future__ import annotations

import math


class NoKernel(Exception):
    """The CUDA runtime has no kernel for this node (yet)."""


CTYPE = {
    "f32": "float",
    "f64": "double",
    "i64": "long long",
    "i32": "int",
    "i16": "short",
    "i8": "signed char",
    "u8": "unsigned char",
    "bool": "bool",
}


def literal_type(value) -> str:
    """The C type a Python constant operand is computed in."""
    if isinstance(value, bool):
        return "bool"
    return "double" if isinstance(value, float) else "long long"


def literal(value, ctype: str) -> str:
    if isinstance(value, bool) or ctype == "bool":
        return "true" if value else "false"
    if ctype in ("float", "double"):
        value = float(value)
        if math.isnan(value):
            return f"(({ctype})NAN)" if ctype == "double" else "((float)NAN)"
        if math.isinf(value):
            return f"(({ctype}){'-' if value < 0 else ''}JANUS_INF)"
        text = repr(value)
        return f"{text}f" if ctype == "float" else text
    return f"(({ctype}){int(value)}LL)"


# C expressions of elementwise ops over operands {a}, {b} already cast to the
# result's C type {T}; comparisons and logical ops are spelled out in
# `elementwise_expr`, which picks their operand type.
_UNARY = {
    "neg": "(-{a})",
    "abs": "({a} < 0 ? -{a} : {a})",
    "sign": "(({a} > 0) - ({a} < 0))",
    "exp": "exp({a})",
    "exp2": "exp2({a})",
    "expm1": "expm1({a})",
    "log": "log({a})",
    "log2": "log2({a})",
    "log10": "log10({a})",
    "log1p": "log1p({a})",
    "sqrt": "sqrt({a})",
    "rsqrt": "(1 / sqrt({a}))",
    "reciprocal": "(1 / {a})",
    "sin": "sin({a})",
    "cos": "cos({a})",
    "tan": "tan({a})",
    "asin": "asin({a})",
    "acos": "acos({a})",
    "atan": "atan({a})",
    "sinh": "sinh({a})",
    "cosh": "cosh({a})",
    "tanh": "tanh({a})",
    "sigmoid": "(1 / (1 + exp(-{a})))",
    "erf": "erf({a})",
    "relu": "janus_max({a}, ({T})0)",
    "floor": "floor({a})",
    "ceil": "ceil({a})",
    "trunc": "trunc({a})",
    "round": "rint({a})",
    "silu": "({a} / (1 + exp(-{a})))",
    "logical_not": "(!{a})",
    "bitwise_not": "(~{a})",
}
_BINARY = {
    "mul": "({a} * {b})",
    "div": "({a} / {b})",
    "pow": "pow({a}, {b})",
    "maximum": "janus_max({a}, {b})",
    "minimum": "janus_min({a}, {b})",
    "fmod": "fmod({a}, {b})",
    "bitwise_and": "({a} & {b})",
    "bitwise_or": "({a} | {b})",
    "bitwise_xor": "({a} ^ {b})",
    "tanh_backward": "({b} * (1 - {a} * {a}))",
    "sigmoid_backward": "({b} * {a} * (1 - {a}))",
}
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_LOGICAL = {"logical_and": "&&", "logical_or": "||", "logical_xor": "!="}
# Float tests (their result is bool, their operand any type).
_TESTS = {"isnan": "({a} != {a})", "isinf": "(isinf({a}))", "isfinite": "(isfinite({a}))"}
# Activations with attributes, as the eager ops compute them (ops/activation.py).
_ACTIVATIONS = {"elu", "softplus", "gelu"}
ELEMENTWISE = (
    set(_UNARY) | set(_BINARY) | set(_COMPARE) | set(_LOGICAL) | set(_TESTS) | _ACTIVATIONS
    | {"add", "sub", "where", "to_dtype", "clamp", "leaky_relu", "remainder", "floor_divide"}
)  # fmt: skip


def is_float(ctype: str) -> bool:
    return ctype in ("float", "double")


def elementwise_expr(op: str, operands: list, types: list, out: str, attrs: dict) -> str:
    """C expression of one elementwise op: `operands` are C expressions of
    C types `types`; the result has C type `out`."""

    def as_(k, ctype):
        return operands[k] if types[k] == ctype else f"(({ctype}){operands[k]})"

    if op in _COMPARE or op in _LOGICAL:
        if op in _LOGICAL:
            return f"((bool){operands[0]} {_LOGICAL[op]} (bool){operands[1]})"
        common = "double" if "double" in types else "float" if "float" in types else "long long"
        if all(t == "bool" for t in types):
            common = "bool"
        return f"({as_(0, common)} {_COMPARE[op]} {as_(1, common)})"
    if op == "to_dtype":
        if out == "bool":
            return f"({operands[0]} != 0)"
        return as_(0, out)
    if op in _TESTS:
        if not is_float(types[0]):  # integers are never NaN or infinite
            return "true" if op == "isfinite" else "false"
        return _TESTS[op].format(a=operands[0])
    if op == "where":
        return f"({as_(0, 'bool')} ? {as_(1, out)} : {as_(2, out)})"
    ops = [as_(k, out) for k in range(len(operands))]
    if op in ("add", "sub"):
        alpha = attrs.get("alpha", 1)
        b = ops[1] if alpha == 1 else f"({literal(alpha, out)} * {ops[1]})"
        return f"({ops[0]} {'+' if op == 'add' else '-'} {b})"
    if op == "clamp":  # bounds are attributes (tensor bounds record maximum/minimum)
        expr = ops[0]
        if attrs.get("min") is not None:
            expr = f"janus_max({expr}, {literal(attrs['min'], out)})"
        if attrs.get("max") is not None:
            expr = f"janus_min({expr}, {literal(attrs['max'], out)})"
        return expr
    if op == "leaky_relu":
        slope = literal(attrs["negative_slope"], out)
        return f"({ops[0]} > 0 ? {ops[0]} : {ops[0]} * {slope})"
    if op in _ACTIVATIONS:
        if not is_float(out):
            raise NoKernel(f"{op} on {out}")
        return _activation(op, ops[0], out, attrs)
    if op in ("remainder", "floor_divide"):
        if out == "bool":
            raise NoKernel(f"{op} of booleans")
        if not is_float(out):
            return f"janus_{'floordiv' if op == 'floor_divide' else 'mod'}({ops[0]}, {ops[1]})"
        q = f"floor({ops[0]} / {ops[1]})"
        return q if op == "floor_divide" else f"({ops[0]} - {q} * {ops[1]})"
    if op in _UNARY:
        if op in ("sqrt", "rsqrt", "exp", "log", "tanh", "sigmoid", "erf") and not is_float(out):
            raise NoKernel(f"{op} on {out}")
        if op in ("floor", "ceil", "trunc", "round") and not is_float(out):
            return ops[0]  # (an integer is its own rounding; NVRTC has no int overloads)
        return _UNARY[op].format(a=ops[0], T=out)
    if op in _BINARY:
        return _BINARY[op].format(a=ops[0], b=ops[1])
    raise NoKernel(op)


def _activation(op: str, x: str, out: str, attrs: dict) -> str:
    if op == "elu":  # x > 0 ? x : alpha * expm1(x)
        return f"({x} > 0 ? {x} : {literal(attrs['alpha'], out)} * expm1({x}))"
    if op == "softplus":  # log(1 + exp(beta x)) / beta, x itself past the threshold
        beta, threshold = literal(attrs["beta"], out), literal(attrs["threshold"], out)
        scaled = f"({x} * {beta})"
        soft = f"((janus_max({scaled}, ({out})0) + log1p(exp(-fabs({scaled})))) / {beta})"
        return f"({scaled} > {threshold} ? {x} : {soft})"
    if attrs.get("approximate", "none") == "tanh":  # gelu
        inner = f"(({out})0.7978845608028654 * ({x} + ({out})0.044715 * {x} * {x} * {x}))"
        return f"(({out})0.5 * {x} * (1 + tanh({inner})))"
    return f"(({out})0.5 * {x} * (1 + erf({x} * ({out})0.7071067811865476)))"
