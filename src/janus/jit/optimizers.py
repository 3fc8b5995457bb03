"""Optimizer calls in the translator: `opt.step()` and `opt.zero_grad()` run
as janus library calls under the recorder, so forward, backward and update
form one graph, with what a compiled step must read afresh made explicit:
- the groups' hyperparameters are guarded equal, except a learning rate that
  keeps changing (a schedule): it is a float64 graph input, swapped in for
  the step's recording (janus's optimizers take tensor hyperparameters);
- parameters, gradients and the state tensors (`opt.state[p][key]`) are read
  through their sources, so a call uses the ones the optimizer holds then;
- a step that creates optimizer state (the first) is a break: compiled steps
  always find the state in place.
"""

from __future__ import annotations

from ..dtypes import float64
from ..tensor import Tensor
from .reads import equatable
from .values import OUTSIDE_PYTHON, Var


class OptimizerMixin:
    def call_optimizer(self, fn: Var, optimizer: Var, args, kwargs) -> Var:
        opt = optimizer.value
        data = []  # (group, key, Var): hyperparameters read as data
        if optimizer.source is not None:
            groups = optimizer.source.attr("param_groups")
            self.guard(groups, "len", len(opt.param_groups))
            for k, group in enumerate(opt.param_groups):
                data += self.read_hyperparameters(opt, group, groups.item(k))
            self.guard(optimizer.source.attr("state"), "len", len(opt.state))
            # A step reads the parameters and their gradients: through their
            # sources, since a gradient made outside the frame (by a backward
            # that ran before a resumed frame's step) is a new tensor on every
            # call, and a parameter without one is skipped (`.grad is None`).
            # (zero_grad reads no gradient's value; after a backward, zero_grad
            # or step in this frame, the gradients are the trace's own.)
            # zero_grad reads the parameters through their sources too: the
            # gradients it resets are found through them on each call (a
            # frame split right after it has read no parameter otherwise,
            # and would reset the translated call's parameters' gradients).
            name = getattr(fn.value, "__name__", "")
            stepping = name == "step" and not self.grads_dirty
            for k, group in enumerate(opt.param_groups if stepping or name == "zero_grad" else ()):
                params = groups.item(k).item("params")
                self.guard(params, "len", len(group["params"]))
                for i, p in enumerate(group["params"]):
                    self.read(p, params.item(i))
                    if stepping:
                        self.read(p._grad, params.item(i).attr("grad"))
            if getattr(fn.value, "__name__", "") == "step":
                self.read_optimizer_state(opt, optimizer.source)
        resets = getattr(fn.value, "__name__", "") == "zero_grad"
        for group in opt.param_groups:
            for p in group["params"]:
                (self.recorder.grad_set if resets else self.recorder.watch_grad)(p)
        before = _state_shape(opt)
        result = self.step_with_data(opt, data, lambda: self.opaque(fn, args, kwargs))
        self.grads_dirty = True
        if _state_shape(opt) != before:
            self.graph_break(
                "effect",
                f"{type(opt).__name__}.step created optimizer state",
                "the next step compiles, with the state in place",
                transient=True,
            )
        return result

    def read_hyperparameters(self, opt, group: dict, source) -> list:
        """Guards a parameter group's numbers and flags equal to their values,
        except those that are data of each call: an lr that keeps changing
        (read on entry), or one the frame itself set (the value it stored).
        Returns those as (group, key, Var)."""
        data = []
        for key, value in group.items():
            at = source.item(key)
            if self.is_mutated(group, key):  # set by the trace: its value, not the entry's
                stored = self.stored_var(group, key, value)
                if stored is None:
                    self.graph_break(
                        "effect",
                        f"{type(opt).__name__}.step reads a group's {key!r}, which the frame "
                        "changed where the trace could not follow",
                        "set optimizer hyperparameters with plain assignments",
                    )
                elif stored.host is not None:
                    data.append((group, key, stored))
            elif type(value) is float and at.name in self.data_sources:
                data.append((group, key, Var(value, at, host=OUTSIDE_PYTHON)))
            elif equatable(value):
                self.guard(at, "equals", value)
        return data

    def step_with_data(self, opt, data: list, step):
        """Runs `step()` with the hyperparameters in `data` swapped for number
        inputs (float64, as exact as the floats), so the recorded update
        reads each call's value; janus's optimizers take tensor
        hyperparameters as PyTorch's do. One that cannot be an input is a
        graph break."""
        devices = {p.device for group in opt.param_groups for p in group["params"]}
        swapped = []
        for group, key, var in data:
            made = None
            if len(devices) == 1 and type(var.value) in (int, float):
                made = self.number_input(var, float64, *devices)
            if made is None:  # (computed from tensor data)
                self.value(var, f"a hyperparameter of {type(opt).__name__}")  # a break
            else:
                swapped.append((group, key, var.value))
                group[key] = made
        try:
            return step()
        finally:
            for group, key, value in swapped:
                group[key] = value

    def read_optimizer_state(self, opt, source) -> None:
        """The state tensors a step reads and updates, through their sources
        (`opt.state[p][key]`, `p` keyed by its own object): a compiled step
        then uses the state the optimizer holds at that call, which
        `load_state_dict` replaces with new tensors."""
        state = source.attr("state")
        for k, group in enumerate(opt.param_groups):
            for i, p in enumerate(group["params"]):
                entries = dict.get(opt.state, p)  # (a defaultdict: never insert)
                if not entries:
                    continue
                at = state.item(p, f"<param_groups[{k}]['params'][{i}]>")
                self.guard(at, "len", len(entries))
                for key, value in entries.items():
                    if isinstance(value, Tensor):
                        self.read(value, at.item(key))


def _state_shape(opt) -> tuple:
    return (len(opt.state), tuple(sorted(len(s) for s in opt.state.values())))
