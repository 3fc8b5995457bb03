"""Sources: where a Python value the translator saw came from.

A source is a path from the frame's entry state (its arguments and free
variables, its globals and builtins, or a fixed object) through attributes,
items and cell contents. Guards are built on sources (a decision the trace
made on a value becomes a check of its source), and a compiled frame reads
its inputs through them at each call.
"""

from __future__ import annotations

import functools
import keyword

import numpy as np

from ..tensor import _make


class Source:
    __slots__ = ("name",)

    def attr(self, name: str) -> Source:
        return Attr(self, name)

    def item(self, key, key_name: str | None = None) -> Source:
        return Item(self, key, key_name)

    def cell_contents(self) -> Source:
        return Attr(self, "cell_contents")

    def expression(self, params: dict, consts: dict) -> str:
        """This source as a Python expression over `v` (the entry's values,
        `params` gives each name's position), `g` and `b` (globals and
        builtins); objects it needs go into `consts` by name. Compiled
        calls read their inputs through one generated function (fast_reader)."""
        raise NotImplementedError(type(self).__name__)

    def array_expression(self, params: dict, consts: dict) -> str:
        """The expression of the array of the tensor at this source."""
        return f"{self.expression(params, consts)}._data"

    def node(self, guard, nodes: dict):
        """The guard tree node reading this source (one per source and guard)."""
        found = nodes.get(self.name)
        if found is None:
            found = nodes[self.name] = self._node(guard, nodes)
        return found

    def __repr__(self) -> str:
        return self.name


class _Root(Source):
    """A name in one of the frame's tables (`prefix[key]`)."""

    __slots__ = ("key",)
    prefix = ""

    def __init__(self, key: str):
        self.key, self.name = key, f"{self.prefix}[{key!r}]"


class Local(_Root):
    """A parameter or free variable (its cell) of the translated frame."""

    __slots__ = ()
    prefix = "L"

    def _node(self, guard, nodes):
        return guard.local(self.key)

    def evaluate(self, env):
        return env.locals[self.key]

    def expression(self, params, consts):
        return f"v[{params[self.key]}]"


class FreeVar(Local):
    """The contents of one of the translated frame's free variables. Guards
    read the contents (the hook sees the closure's cells' values); the
    compiled entry receives the cell itself."""

    __slots__ = ()

    def evaluate(self, env):
        return env.locals[self.key].cell_contents

    def expression(self, params, consts):
        return f"v[{params[self.key]}].cell_contents"

    def cell(self) -> Source:
        return Local(self.key)  # evaluates to the cell; never guarded


class Global(_Root):
    __slots__ = ()
    prefix = "G"

    def _node(self, guard, nodes):
        return guard.global_(self.key)

    def evaluate(self, env):
        return env.globals[self.key]

    def expression(self, params, consts):
        return f"g[{self.key!r}]"


class Builtin(_Root):
    __slots__ = ()
    prefix = "B"

    def _node(self, guard, nodes):
        return guard.builtin(self.key)

    def evaluate(self, env):
        return env.builtins[self.key]

    def expression(self, params, consts):
        return f"b[{self.key!r}]"


class Fixed(Source):
    """An object that does not depend on the call (a closure cell of an inlined
    function, module state such as the grad mode)."""

    __slots__ = ("obj",)

    def __init__(self, obj, name: str):
        self.obj, self.name = obj, name

    def _node(self, guard, nodes):
        return guard.object(self.obj, self.name)

    def evaluate(self, env):
        return self.obj

    def expression(self, params, consts):
        name = f"c{len(consts)}"
        consts[name] = self.obj
        return name


class Attr(Source):
    __slots__ = ("base", "attr_name")

    def __init__(self, base: Source, attr_name: str):
        self.base, self.attr_name = base, attr_name
        self.name = f"{base.name}.{attr_name}"

    def _node(self, guard, nodes):
        return self.base.node(guard, nodes).attr(self.attr_name)

    def evaluate(self, env):
        return getattr(self.base.evaluate(env), self.attr_name)

    def expression(self, params, consts):
        base = self.base.expression(params, consts)
        if self.attr_name.isidentifier() and not keyword.iskeyword(self.attr_name):
            return f"{base}.{self.attr_name}"
        return f"getattr({base}, {self.attr_name!r})"


class Item(Source):
    """`base[key]`. `key_name` names a key whose repr says nothing useful
    (a parameter tensor keying `opt.state`); a guard holds the key itself."""

    __slots__ = ("base", "key", "key_name")

    def __init__(self, base: Source, key, key_name: str | None = None):
        self.base, self.key, self.key_name = base, key, key_name
        self.name = f"{base.name}[{key_name or repr(key)}]"

    def _node(self, guard, nodes):
        return self.base.node(guard, nodes).item(self.key, self.key_name or "")

    def evaluate(self, env):
        return self.base.evaluate(env)[self.key]

    def expression(self, params, consts):
        key = self.key
        if type(key) not in (int, str):  # a key whose repr may not read back
            name = f"c{len(consts)}"
            consts[name] = key
            key = name
        else:
            key = repr(key)
        return f"{self.base.expression(params, consts)}[{key}]"


class Computed(Source):
    """A Python number a pure operation computes from numbers at other
    sources (`-lr`, `lr * decay`): `fn(*parts)`, each part a source (a
    constant is `Fixed`). Never guarded: what it is computed from is."""

    __slots__ = ("fn", "parts")

    def __init__(self, fn, parts: list):
        self.fn, self.parts = fn, parts
        label = getattr(fn, "__name__", type(fn).__name__)
        if getattr(fn, "__module__", None) == "math":  # (math.pow is not `**`)
            label = f"math.{label}"
        # The name keys the value (entry reads, number inputs): equal names
        # must mean equal values.
        self.name = f"{label}({', '.join(p.name for p in parts)})"

    def evaluate(self, env):
        return self.fn(*[p.evaluate(env) for p in self.parts])

    def expression(self, params, consts):
        name = f"c{len(consts)}"
        consts[name] = self.fn
        return f"{name}({', '.join(p.expression(params, consts) for p in self.parts)})"


class SlicePositions:
    """A `Computed` source's function: the positions `[start:stop:step]`
    takes along a dimension of `size` elements, as int64s, for a slice whose
    bounds change from call to call (reads.py, `dynamic_slice`). The graph
    assumes `length` positions: a call whose slice has another length raises
    ValueError, and so runs as usual (compiled.py)."""

    def __init__(self, size: int, length: int):
        self.size, self.length = size, length
        self.__name__ = f"slice_positions[{size}->{length}]"  # (`Computed`'s name)

    def __call__(self, *bounds):  # (start, stop[, step]), as `slice` takes them
        where = slice(*bounds)
        if where.step is not None and where.step <= 0:
            raise ValueError("a tensor's slice step must be positive")  # (eager raises)
        taken = range(*where.indices(self.size))
        if len(taken) != self.length:
            raise ValueError(f"a slice of {len(taken)} positions; the graph takes {self.length}")
        return np.arange(taken.start, taken.stop, taken.step, dtype=np.int64)


class IndexPosition:
    """A `Computed` source's function: the position `x[i]` takes along a
    dimension of `size` elements, as one int64, for an index that changes
    from call to call (reads.py, `dynamic_slice`). An index out of range
    raises IndexError, and the call runs as usual (and raises as eager)."""

    def __init__(self, size: int):
        self.size = size
        self.__name__ = f"index_position[{size}]"  # (`Computed`'s name)

    def __call__(self, index):
        if not -self.size <= index < self.size:
            raise IndexError(f"index {index} is out of range for a dimension of {self.size}")
        return np.array([index % self.size], dtype=np.int64)


class Elements(Source):
    """A list of the values at other sources, nested as written
    (`tensor([tree.word])` made from the number at `L['tree'].word`)."""

    __slots__ = ("parts",)

    def __init__(self, parts: list):
        self.parts = parts
        self.name = f"[{', '.join(p.name for p in parts)}]"

    def evaluate(self, env):
        return [p.evaluate(env) for p in self.parts]

    def expression(self, params, consts):
        return f"[{', '.join(p.expression(params, consts) for p in self.parts)}]"


class NumberInput(Source):
    """A graph input: the number at `number` as a 0-d tensor of `dtype`
    (a number that changes from call to call, used as a tensor operand:
    `x * scale`, an optimizer's lr), or the numbers of an `Elements` as a
    tensor of their nesting's shape (`tensor([word])`), made afresh by each
    compiled call."""

    __slots__ = ("number", "dtype")

    def __init__(self, number: Source, dtype):
        self.number, self.dtype = number, dtype
        self.name = f"tensor({number.name}, dtype={dtype.name})"

    def evaluate(self, env):
        return _make(np.asarray(self.number.evaluate(env), self.dtype.np))

    def array_expression(self, params, consts):
        name = f"c{len(consts)}"
        consts[name] = functools.partial(np.asarray, dtype=self.dtype.np)
        return f"{name}({self.number.expression(params, consts)})"


class Env:
    """What sources are read from at a call: the frame's entry values by name."""

    __slots__ = ("locals", "globals", "builtins")

    def __init__(self, locals_: dict, globals_: dict, builtins: dict):
        self.locals, self.globals, self.builtins = locals_, globals_, builtins


def fast_reader(sources: list, names: list):
    """One generated function `read(v, g, b)` returning the arrays of the
    tensors at `sources` (`v`: the entry's values in `names` order): what a
    compiled call does first, without walking source objects each time."""
    params = {name: k for k, name in enumerate(names)}
    consts: dict = {}
    items = ", ".join(s.array_expression(params, consts) for s in sources)
    namespace = dict(consts)
    exec(f"def read(v, g, b):\n    return [{items}]\n", namespace)  # noqa: S102
    return namespace["read"]
