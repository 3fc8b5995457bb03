"""Random model code in the Python that real models use: hypothesis writes
a module's forward from methods, properties, `super()`, a named tuple, a
loop over a ModuleList, `*args` and keywords, isinstance dispatch, and
state the module keeps (a counter, a cache), all steered by a config object
whose attributes change from call to call. Every call must agree with
eager: results, gradients, parameters and the module's state."""

from __future__ import annotations

import collections
import textwrap

from hypothesis import given
from hypothesis import strategies as st
from tests.jit.differential import generated, run_both

import janus
import janus.nn as nn

Out = collections.namedtuple("Out", "hidden total")

STATEMENTS = (
    ["if cfg.skip:", "    h = h + self.inp(x)"],
    ["h = self.helper(h, scale=cfg.scale)"],
    ["h = self.act(h)"],
    ["out = Out(h, h.sum())", "h = out.hidden * 0.5 + out.total * 0.1"],
    ["for i, layer in enumerate(self.layers):", "    h = layer(h) * (i + 1)"],
    ["h = self.combine(h, *cfg.extra)"],
    ["self.calls += 1", "h = h * (1 + self.calls % 2)"],
    ["self.cache['last'] = h.detach()"],
    ["if 'last' in self.cache:", "    h = h + self.cache['last'] * 0.1"],
    ["if isinstance(cfg.extra[0], float):", "    h = h * cfg.extra[0]"],
    ["h = super().forward(h)"],
    ["h = self.norm(h) if cfg.mode == 'norm' else h.tanh()"],
    ["for k in range(cfg.depth):", "    h = self.layers[k % 2](h).relu()"],
)


class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.base = nn.Linear(4, 4)

    def forward(self, h):
        return self.base(h).sigmoid()


@st.composite
def module_program(draw):
    chosen = draw(st.lists(st.sampled_from(STATEMENTS), min_size=1, max_size=6))
    body = ["h = self.inp(x)", *[line for stmt in chosen for line in stmt], "return h"]
    return "\n".join(
        [
            "class Model(Base):",
            "    def __init__(self):",
            "        super().__init__()",
            "        self.inp = nn.Linear(3, 4)",
            "        self.layers = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])",
            "        self.norm = nn.LayerNorm(4)",
            "        self.calls = 0",
            "        self.cache = {}",
            "        self.mode = 'tanh'",
            "    @property",
            "    def act(self):",
            "        return janus.tanh if self.mode == 'tanh' else janus.relu",
            "    def helper(self, h, scale=1.0, shift=0.5):",
            "        return h * scale + shift",
            "    def combine(self, h, *factors):",
            "        for f in factors:",
            "            h = h * f",
            "        return h",
            "    def forward(self, x, cfg):",
            *["        " + line for line in body],
        ]
    )


class Cfg:
    def __init__(self, skip, scale, extra, mode, depth):
        self.skip, self.scale, self.extra, self.mode, self.depth = skip, scale, extra, mode, depth


CONFIGS = [
    Cfg(True, 0.5, (0.5, 2.0), "norm", 1),
    Cfg(True, 0.5, (0.5, 2.0), "norm", 1),
    Cfg(False, 1.5, (1.5,), "tanh", 2),
    Cfg(True, 0.25, (0.5, 2.0), "norm", 1),
    Cfg(True, 0.75, (0.5, 2.0), "norm", 1),
    Cfg(False, 1.5, (2,), "tanh", 0),
    Cfg(True, 0.5, (0.5, 2.0), "norm", 1),
]


@generated(30)
@given(source=module_program())
def test_generated_modules_agree(source):
    janus.jit.reset()  # (equal sources make equal codes: nothing learned carries over)

    def make():
        namespace = {"janus": janus, "nn": nn, "Out": Out, "Base": Base}
        exec(compile(source, "<generated>", "exec"), namespace)
        janus.manual_seed(0)
        model = namespace["Model"]()
        opt = janus.optim.SGD(model.parameters(), lr=0.05)

        def step(x, cfg):
            opt.zero_grad()
            h = model(x, cfg)
            loss = (h**2).mean()
            loss.backward()
            opt.step()
            return loss.detach(), h.detach()

        return step, lambda: {"model": model, "calls": model.calls, "cache": model.cache}

    def calls(j):
        janus.manual_seed(50 + j)
        return janus.randn(2, 3), CONFIGS[j]

    calls.count = len(CONFIGS)
    try:
        run_both(make, calls, rtol=1e-4, atol=1e-5)
    except Exception as failure:  # (an error eager did not raise counts too)
        raise AssertionError(f"{failure!r}\n{textwrap.indent(source, '  ')}") from None
