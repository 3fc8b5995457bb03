"""CUDA kernels for the ops over 2-D windows: conv2d and its two gradients,
max and average pooling and the average's gradient (janus.ops.convolution,
janus.ops.pooling); the max's gradient is a scatter_add (cuda_gather.py).

Convolutions with one group run on cuBLAS, as the CPU runtime does:
    conv2d             y[n]  = W @ cols(x[n])                  (batched GEMM)
    conv2d_input_grad  dx[n] = col2im(W.T @ gy[n])             (batched GEMM, gather)
    conv2d_weight_grad dW    = gy' @ cols'(x).T                (one GEMM over the batch)
with W the (O, K) weight matrix, K = C * kh * kw, and cols(x[n]) the (K, P)
im2col matrix of one image (P = OH * OW positions). The batch is cut into
chunks so the cols scratch stays under `_COLS_BUDGET` elements. A 1x1
kernel of stride 1 without padding needs no im2col: the image is its cols.
col2im gathers (each input pixel sums the taps that read it), so it needs no
atomics and is deterministic.

Grouped convolutions (depthwise ones above all, where a GEMM per group
would be tiny) use direct kernels: a thread per output or input element, a
block per weight element for the weight gradient.

Every tap is range-checked, so padding is never read: it is 0 for sums and
skipped by max.
"""

from __future__ import annotations

from .cuda_elementwise import NoKernel
from .cuda_steps import BLOCK, MAX_BLOCKS, Gemm, Launch, block_fold_lines, blocks_for

_COLS_BUDGET = 16 << 20  # elements of im2col scratch per convolution node


class _Conv:
    """The geometry of a convolution from x (N, C, H, W), w (O, C/groups,
    kh, kw) and y (N, O, OH, OW), and the node's attributes."""

    def __init__(self, x_shape, w_shape, y_shape, attrs):
        if len(x_shape) != 4 or len(w_shape) != 4 or len(y_shape) != 4:
            raise NoKernel("convolutions of 4-D tensors only")
        self.n, self.c, self.h, self.w = x_shape
        self.o, cg, self.kh, self.kw = w_shape
        self.oh, self.ow = y_shape[2:]
        self.groups = int(attrs["groups"])
        self.sh, self.sw = attrs["stride"]
        self.ph, self.pw = attrs["padding"]
        self.dh, self.dw = attrs["dilation"]
        if self.c != cg * self.groups or self.o % self.groups:
            raise NoKernel("conv: channels and groups disagree")
        self.cg, self.og = cg, self.o // self.groups
        self.depth = cg * self.kh * self.kw  # K
        self.positions = self.oh * self.ow  # P

    def identity_cols(self) -> bool:
        return (self.kh, self.kw, self.sh, self.sw, self.ph, self.pw) == (1, 1, 1, 1, 0, 0)

    def chunks(self) -> list:
        """(first image, image count) of each chunk of the batch."""
        per = max(1, min(self.n, _COLS_BUDGET // max(1, self.depth * self.positions)))
        return [(n0, min(per, self.n - n0)) for n0 in range(0, self.n, per)]

    def tap_lines(self, oy: str, ox: str, ki: str, kj: str) -> list:
        """C lines that set `iy`, `ix` (the input pixel of a tap) and `inside`."""
        return [
            f"i64 iy = {oy} * {self.sh} + {ki} * {self.dh} - {self.ph};",
            f"i64 ix = {ox} * {self.sw} + {kj} * {self.dw} - {self.pw};",
            f"bool inside = iy >= 0 && iy < {self.h} && ix >= 0 && ix < {self.w};",
        ]

    def output_lines(self, iy: str, ix: str, ki: str, kj: str) -> list:
        """C lines that set `oy`, `ox` (the output position whose tap (ki,
        kj) reads input pixel (iy, ix)) and `hit` (whether there is one)."""
        return [
            f"i64 ty = {iy} + {self.ph} - {ki} * {self.dh};",
            f"i64 tx = {ix} + {self.pw} - {kj} * {self.dw};",
            f"i64 oy = ty / {self.sh}, ox = tx / {self.sw};",
            f"bool hit = ty >= 0 && tx >= 0 && ty % {self.sh} == 0 && tx % {self.sw} == 0"
            f" && oy < {self.oh} && ox < {self.ow};",
        ]


def _accumulator(ct: str) -> str:
    return "double" if ct == "double" else "float"


def _float_type(low, names) -> str:
    cts = {low.ctype(n) for n in names}
    if len(cts) != 1 or cts.pop() not in ("float", "double"):
        raise NoKernel("convolutions of float32 or float64 tensors of one dtype")
    return low.ctype(names[0])


def _gemm_dtype(ct: str) -> str:
    return "float32" if ct == "float" else "float64"


def _im2col(low, g: _Conv, x: str, cols: str, n0: int, count: int, wide: bool) -> Launch:
    """cols gets the taps of images [n0, n0 + count): element (k, j, p) (tap
    k of image n0 + j at position p) at j*K*P + k*P + p, or at k*count*P +
    j*P + p when `wide` (one matrix whose columns run over the chunk)."""
    ct = low.ctype(cols)
    K, P = g.depth, g.positions
    if wide:
        split = f"i64 k = i / {count * P}, j = (i / {P}) % {count}, p = i % {P};"
    else:
        split = f"i64 j = i / {K * P}, k = (i / {P}) % {K}, p = i % {P};"
    body = [
        f"JANUS_FOR(i, {count * K * P}LL) {{",
        "  " + split,
        f"  i64 c = k / {g.kh * g.kw}, ki = (k / {g.kw}) % {g.kh}, kj = k % {g.kw};",
        f"  i64 oy = p / {g.ow}, ox = p % {g.ow};",
        *("  " + line for line in g.tap_lines("oy", "ox", "ki", "kj")),
        f"  r0[i] = inside ? a0[(({n0} + j) * {g.c} + c) * {g.h * g.w} + iy * {g.w} + ix]"
        f" : ({ct})0;",
        "}",
    ]
    params = [f"const {ct}* a0", f"{ct}* r0"]
    return Launch(low.src.add(params, body), blocks_for(count * K * P), [x, cols])


def _col2im(low, g: _Conv, cols: str, dx: str, n0: int, count: int) -> Launch:
    """dx for images [n0, n0 + count) from cols laid out (j, k, p): each
    input pixel sums the taps that read it."""
    ct, acc = low.ctype(dx), _accumulator(low.ctype(dx))
    K, P = g.depth, g.positions
    plane = g.h * g.w
    body = [
        f"JANUS_FOR(i, {count * g.c * plane}LL) {{",
        f"  i64 j = i / {g.c * plane}, c = (i / {plane}) % {g.c};",
        f"  i64 iy = (i % {plane}) / {g.w}, ix = i % {g.w};",
        f"  {acc} sum = 0;",
        f"  for (i64 ki = 0; ki < {g.kh}; ++ki)",
        f"    for (i64 kj = 0; kj < {g.kw}; ++kj) {{",
        *("      " + line for line in g.output_lines("iy", "ix", "ki", "kj")),
        f"      if (hit) sum += a0[j * {K * P} + ((c * {g.kh} + ki) * {g.kw} + kj) * {P}"
        f" + oy * {g.ow} + ox];",
        "    }",
        f"  r0[{n0 * g.c * plane} + i] = ({ct})sum;",
        "}",
    ]
    params = [f"const {ct}* a0", f"{ct}* r0"]
    return Launch(low.src.add(params, body), blocks_for(count * g.c * plane), [cols, dx])


def _conv2d(low, x: str, w: str, y: str, g: _Conv) -> list:
    ct = low.ctype(y)
    K, P = g.depth, g.positions
    if g.identity_cols():  # y[n] = W @ x[n]: one batched GEMM
        return [Gemm(False, False, g.o, P, K, g.n, 0, K * P, g.o * P, 0.0, _gemm_dtype(ct),
                     [w, x, y])]  # fmt: skip
    chunks = g.chunks()
    cols = low.scratch(f"{y}.cols", low.types[y][0], (chunks[0][1] * K * P,))
    steps = []
    for n0, count in chunks:
        steps.append(_im2col(low, g, x, cols, n0, count, wide=False))
        steps.append(
            Gemm(False, False, g.o, P, K, count, 0, K * P, g.o * P, 0.0, _gemm_dtype(ct),
                 [w, cols, y], (0, 0, n0 * g.o * P))
        )  # fmt: skip
    return steps


def _conv2d_input_grad(low, gy: str, w: str, dx: str, g: _Conv) -> list:
    ct = low.ctype(dx)
    K, P = g.depth, g.positions
    if g.identity_cols():  # dx[n] = W.T @ gy[n]
        return [Gemm(True, False, K, P, g.o, g.n, 0, g.o * P, K * P, 0.0, _gemm_dtype(ct),
                     [w, gy, dx])]  # fmt: skip
    chunks = g.chunks()
    cols = low.scratch(f"{dx}.cols", low.types[dx][0], (chunks[0][1] * K * P,))
    steps = []
    for n0, count in chunks:
        steps.append(
            Gemm(True, False, K, P, g.o, count, 0, g.o * P, K * P, 0.0, _gemm_dtype(ct),
                 [w, gy, cols], (0, n0 * g.o * P, 0))
        )  # fmt: skip
        steps.append(_col2im(low, g, cols, dx, n0, count))
    return steps


def _conv2d_weight_grad(low, x: str, gy: str, dw: str, g: _Conv) -> list:
    """dW (O, K) = sum over chunks of gy' (O, count*P) @ cols' (K, count*P).T,
    with gy' the chunk's gradient laid out (o, j, p): gy itself for one image,
    a transposed copy otherwise."""
    ct = low.ctype(dw)
    K, P = g.depth, g.positions
    chunks = g.chunks()
    wide = chunks[0][1]
    cols = None if g.identity_cols() and g.n == 1 else low.scratch(
        f"{dw}.cols", low.types[dw][0], (wide * K * P,)
    )  # fmt: skip
    gy_t = low.scratch(f"{dw}.gy", low.types[dw][0], (g.o * wide * P,)) if wide > 1 else None
    steps = []
    for at, (n0, count) in enumerate(chunks):
        if cols is None:
            b, b_offset = x, n0 * g.c * g.h * g.w
        else:
            steps.append(_im2col(low, g, x, cols, n0, count, wide=True))
            b, b_offset = cols, 0
        if gy_t is None:
            a, a_offset = gy, n0 * g.o * P
        else:
            body = [
                f"JANUS_FOR(i, {g.o * count * P}LL) {{",
                f"  i64 o = i / {count * P}, j = (i / {P}) % {count}, p = i % {P};",
                f"  r0[i] = a0[({n0} + j) * {g.o * P} + o * {P} + p];",
                "}",
            ]
            kernel = low.src.add([f"const {ct}* a0", f"{ct}* r0"], body)
            steps.append(Launch(kernel, blocks_for(g.o * count * P), [gy, gy_t]))
            a, a_offset = gy_t, 0
        steps.append(
            Gemm(False, True, g.o, K, count * P, 1, 0, 0, 0, 1.0 if at else 0.0,
                 _gemm_dtype(ct), [a, b, dw], (a_offset, b_offset, 0))
        )  # fmt: skip
    return steps


def _direct_conv2d(low, x: str, w: str, y: str, g: _Conv) -> list:
    """A thread per output element, over its group's channels and taps."""
    ct, acc = low.ctype(y), _accumulator(low.ctype(y))
    P = g.positions
    work = g.n * g.o * P
    body = [
        f"JANUS_FOR(i, {work}LL) {{",
        f"  i64 n = i / {g.o * P}, o = (i / {P}) % {g.o}, p = i % {P};",
        f"  i64 oy = p / {g.ow}, ox = p % {g.ow}, c0 = (o / {g.og}) * {g.cg};",
        f"  {acc} sum = 0;",
        f"  for (i64 c = 0; c < {g.cg}; ++c)",
        f"    for (i64 ki = 0; ki < {g.kh}; ++ki)",
        f"      for (i64 kj = 0; kj < {g.kw}; ++kj) {{",
        *("        " + line for line in g.tap_lines("oy", "ox", "ki", "kj")),
        f"        if (inside) sum += ({acc})a0[((n * {g.c} + c0 + c) * {g.h} + iy) * {g.w} + ix]"
        f" * a1[((o * {g.cg} + c) * {g.kh} + ki) * {g.kw} + kj];",
        "      }",
        f"  r0[i] = ({ct})sum;",
        "}",
    ]
    params = [f"const {ct}* a0", f"const {ct}* a1", f"{ct}* r0"]
    return [Launch(low.src.add(params, body), blocks_for(work), [x, w, y])]


def _direct_input_grad(low, gy: str, w: str, dx: str, g: _Conv) -> list:
    """A thread per input element, over its group's output channels and the
    taps that read it."""
    ct, acc = low.ctype(dx), _accumulator(low.ctype(dx))
    plane = g.h * g.w
    work = g.n * g.c * plane
    body = [
        f"JANUS_FOR(i, {work}LL) {{",
        f"  i64 n = i / {g.c * plane}, ci = (i / {plane}) % {g.c};",
        f"  i64 iy = (i % {plane}) / {g.w}, ix = i % {g.w};",
        f"  i64 c = ci % {g.cg}, o0 = (ci / {g.cg}) * {g.og};",
        f"  {acc} sum = 0;",
        f"  for (i64 ki = 0; ki < {g.kh}; ++ki)",
        f"    for (i64 kj = 0; kj < {g.kw}; ++kj) {{",
        *("      " + line for line in g.output_lines("iy", "ix", "ki", "kj")),
        "      if (!hit) continue;",
        f"      for (i64 o = o0; o < o0 + {g.og}; ++o)",
        f"        sum += ({acc})a0[((n * {g.o} + o) * {g.oh} + oy) * {g.ow} + ox]"
        f" * a1[((o * {g.cg} + c) * {g.kh} + ki) * {g.kw} + kj];",
        "    }",
        f"  r0[i] = ({ct})sum;",
        "}",
    ]
    params = [f"const {ct}* a0", f"const {ct}* a1", f"{ct}* r0"]
    return [Launch(low.src.add(params, body), blocks_for(work), [gy, w, dx])]


def _direct_weight_grad(low, x: str, gy: str, dw: str, g: _Conv) -> list:
    """A block per weight element: its threads split the batch's positions,
    then reduce in shared memory."""
    ct, acc = low.ctype(dw), _accumulator(low.ctype(dw))
    P = g.positions
    count = g.o * g.depth
    body = [
        f"JANUS_SHARED {acc} partial[{BLOCK}];",
        f"for (i64 e = blockIdx.x; e < {count}LL; e += gridDim.x) {{",
        f"  i64 o = e / {g.depth}, c = (e / {g.kh * g.kw}) % {g.cg};",
        f"  i64 ki = (e / {g.kw}) % {g.kh}, kj = e % {g.kw}, ci = (o / {g.og}) * {g.cg} + c;",
        f"  {acc} sum = 0;",
        f"  for (i64 r = threadIdx.x; r < {g.n * P}LL; r += blockDim.x) {{",
        f"    i64 n = r / {P}, oy = (r % {P}) / {g.ow}, ox = r % {g.ow};",
        *("    " + line for line in g.tap_lines("oy", "ox", "ki", "kj")),
        f"    if (inside) sum += ({acc})a0[((n * {g.c} + ci) * {g.h} + iy) * {g.w} + ix]"
        f" * a1[(n * {g.o} + o) * {P} + oy * {g.ow} + ox];",
        "  }",
        *block_fold_lines("sum", acc, "a + b"),
        f"  if (threadIdx.x == 0) r0[e] = ({ct})partial[0];",
        "  JANUS_SYNC();",
        "}",
    ]
    params = [f"const {ct}* a0", f"const {ct}* a1", f"{ct}* r0"]
    return [Launch(low.src.add(params, body), max(1, min(MAX_BLOCKS, count)), [x, gy, dw])]


def lower_conv(low, op: str, values: list, attrs: dict, out: str) -> list:
    if op == "conv2d":
        x, w = values
        g = _Conv(low.shape(x), low.shape(w), low.shape(out), attrs)
        _float_type(low, [x, w, out])
        return (_conv2d if g.groups == 1 else _direct_conv2d)(low, x, w, out, g)
    if op == "conv2d_input_grad":
        gy, w = values
        g = _Conv(low.shape(out), low.shape(w), low.shape(gy), attrs)
        _float_type(low, [gy, w, out])
        return (_conv2d_input_grad if g.groups == 1 else _direct_input_grad)(low, gy, w, out, g)
    x, gy = values
    g = _Conv(low.shape(x), low.shape(out), low.shape(gy), attrs)
    _float_type(low, [x, gy, out])
    return (_conv2d_weight_grad if g.groups == 1 else _direct_weight_grad)(low, x, gy, out, g)


# ----- pooling -----


class _Pool:
    """(N, C, H, W) -> (N, C, OH, OW) windows of `kernel` taps at `stride`,
    `padding` and `dilation` (pairs)."""

    def __init__(self, x_shape, y_shape, attrs):
        if len(x_shape) != 4 or len(y_shape) != 4 or tuple(x_shape[:2]) != tuple(y_shape[:2]):
            raise NoKernel("pooling of 4-D tensors of one batch and channel count")
        self.planes = x_shape[0] * x_shape[1]
        self.h, self.w = x_shape[2:]
        self.oh, self.ow = y_shape[2:]
        self.kh, self.kw = attrs["kernel"]
        self.sh, self.sw = attrs["stride"]
        self.ph, self.pw = attrs["padding"]
        self.dh, self.dw = attrs.get("dilation", (1, 1))

    def every_window_reads_input(self) -> bool:
        def axis(out, size, k, s, p, d):
            return all(any(0 <= o * s - p + t * d < size for t in range(k)) for o in range(out))

        return axis(self.oh, self.h, self.kh, self.sh, self.ph, self.dh) and axis(
            self.ow, self.w, self.kw, self.sw, self.pw, self.dw
        )

    def divisor_lines(self, oy: str, ox: str, attrs) -> list:
        """C lines that set `div`, PyTorch's divisor of window (oy, ox)."""
        if attrs.get("divisor_override"):
            return [f"double div = {float(attrs['divisor_override'])!r};"]
        lines = [
            f"i64 hs = {oy} * {self.sh} - {self.ph}, ws = {ox} * {self.sw} - {self.pw};",
            f"i64 he = hs + {self.kh} < {self.h + self.ph} ? hs + {self.kh} : {self.h + self.ph};",
            f"i64 we = ws + {self.kw} < {self.w + self.pw} ? ws + {self.kw} : {self.w + self.pw};",
        ]
        if not attrs["count_include_pad"]:
            lines += [
                "hs = hs > 0 ? hs : 0; ws = ws > 0 ? ws : 0;",
                f"he = he < {self.h} ? he : {self.h}; we = we < {self.w} ? we : {self.w};",
            ]
        return lines + ["double div = (double)((he - hs) * (we - ws));"]


def _max_pool2d(low, x: str, outs: list, attrs) -> list:
    values, indices = outs
    p = _Pool(low.shape(x), low.shape(values), attrs)
    if not p.every_window_reads_input():
        raise NoKernel("a pooling window that holds only padding")
    ct = low.ctype(values)
    work = p.planes * p.oh * p.ow
    # PyTorch's scan: the first tap inside the input, then any tap greater or
    # NaN (so the first maximum wins, or the last NaN).
    body = [
        f"JANUS_FOR(i, {work}LL) {{",
        f"  i64 plane = i / {p.oh * p.ow}, oy = (i / {p.ow}) % {p.oh}, ox = i % {p.ow};",
        f"  const {ct}* src = a0 + plane * {p.h * p.w};",
        f"  {ct} best = 0; i64 at = -1;",
        f"  for (i64 ki = 0; ki < {p.kh}; ++ki) {{",
        f"    i64 iy = oy * {p.sh} - {p.ph} + ki * {p.dh};",
        f"    if (iy < 0 || iy >= {p.h}) continue;",
        f"    for (i64 kj = 0; kj < {p.kw}; ++kj) {{",
        f"      i64 ix = ox * {p.sw} - {p.pw} + kj * {p.dw};",
        f"      if (ix < 0 || ix >= {p.w}) continue;",
        f"      {ct} v = src[iy * {p.w} + ix];",
        f"      if (at < 0 || v > best || v != v) {{ best = v; at = iy * {p.w} + ix; }}",
        "    }",
        "  }",
        "  r0[i] = best; r1[i] = at;",
        "}",
    ]
    params = [f"const {ct}* a0", f"{ct}* r0", f"{low.ctype(indices)}* r1"]
    return [Launch(low.src.add(params, body), blocks_for(work), [x, values, indices])]


def _avg_pool2d(low, x: str, out: str, attrs) -> list:
    p = _Pool(low.shape(x), low.shape(out), attrs)
    ct = low.ctype(out)
    if ct not in ("float", "double"):
        raise NoKernel("average pooling of integers")
    work = p.planes * p.oh * p.ow
    body = [
        f"JANUS_FOR(i, {work}LL) {{",
        f"  i64 plane = i / {p.oh * p.ow}, oy = (i / {p.ow}) % {p.oh}, ox = i % {p.ow};",
        f"  const {ct}* src = a0 + plane * {p.h * p.w};",
        "  double sum = 0;",
        f"  for (i64 ki = 0; ki < {p.kh}; ++ki) {{",
        f"    i64 iy = oy * {p.sh} - {p.ph} + ki;",
        f"    if (iy < 0 || iy >= {p.h}) continue;",
        f"    for (i64 kj = 0; kj < {p.kw}; ++kj) {{",
        f"      i64 ix = ox * {p.sw} - {p.pw} + kj;",
        f"      if (ix >= 0 && ix < {p.w}) sum += src[iy * {p.w} + ix];",
        "    }",
        "  }",
        *("  " + line for line in p.divisor_lines("oy", "ox", attrs)),
        f"  r0[i] = ({ct})(sum / div);",
        "}",
    ]
    params = [f"const {ct}* a0", f"{ct}* r0"]
    return [Launch(low.src.add(params, body), blocks_for(work), [x, out])]


def _avg_pool2d_backward(low, g: str, dx: str, attrs) -> list:
    """Each input pixel sums the shares of the windows that cover it."""
    p = _Pool(low.shape(dx), low.shape(g), attrs)
    ct = low.ctype(dx)
    if ct not in ("float", "double"):
        raise NoKernel("average pooling of integers")
    work = p.planes * p.h * p.w
    body = [
        f"JANUS_FOR(i, {work}LL) {{",
        f"  i64 plane = i / {p.h * p.w}, iy = (i / {p.w}) % {p.h}, ix = i % {p.w};",
        "  double sum = 0;",
        f"  for (i64 ki = 0; ki < {p.kh}; ++ki) {{",
        f"    i64 ty = iy + {p.ph} - ki, oy = ty / {p.sh};",
        f"    if (ty < 0 || ty % {p.sh} != 0 || oy >= {p.oh}) continue;",
        f"    for (i64 kj = 0; kj < {p.kw}; ++kj) {{",
        f"      i64 tx = ix + {p.pw} - kj, ox = tx / {p.sw};",
        f"      if (tx < 0 || tx % {p.sw} != 0 || ox >= {p.ow}) continue;",
        *("      " + line for line in p.divisor_lines("oy", "ox", attrs)),
        f"      sum += a0[(plane * {p.oh} + oy) * {p.ow} + ox] / div;",
        "    }",
        "  }",
        f"  r0[i] = ({ct})sum;",
        "}",
    ]
    params = [f"const {low.ctype(g)}* a0", f"{ct}* r0"]
    return [Launch(low.src.add(params, body), blocks_for(work), [g, dx])]


def lower_pool(low, op: str, values: list, attrs: dict, outs: list) -> list:
    if op == "max_pool2d":
        return _max_pool2d(low, values[0], outs, attrs)
    if op == "avg_pool2d":
        return _avg_pool2d(low, values[0], outs[0], attrs)
    return _avg_pool2d_backward(low, values[0], outs[0], attrs)


CONV_OPS = ("conv2d", "conv2d_input_grad", "conv2d_weight_grad")
POOL_OPS = ("max_pool2d", "avg_pool2d", "avg_pool2d_backward")
