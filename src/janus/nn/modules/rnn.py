"""Recurrent layers: RNNCell, LSTMCell, GRUCell and the multi-layer RNN, LSTM, GRU.

Parameter names, shapes, gate order and initialization follow PyTorch, so
state dicts move between the two. The sequence layers project the whole input
sequence through `weight_ih` in one matrix product per layer and direction,
then run the recurrence with a Python loop over time steps.
"""

from __future__ import annotations

import math

import numpy as np

from ... import creation
from ...ops import elementwise as E
from ...ops import shape as S
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _rnn_step(mode, x_proj, h, c, w_hh, b_hh):
    """One time step given the input projection `x_proj` (x @ W_ih^T + b_ih).
    Returns (h', c') (c is None except for LSTM)."""
    h_proj = F.linear(h, w_hh, b_hh)
    if mode == "LSTM":
        i, f, g, o = (x_proj + h_proj).chunk(4, -1)
        c = E.sigmoid(f) * c + E.sigmoid(i) * E.tanh(g)
        return E.sigmoid(o) * E.tanh(c), c
    if mode == "GRU":
        xr, xz, xn = x_proj.chunk(3, -1)
        hr, hz, hn = h_proj.chunk(3, -1)
        r = E.sigmoid(xr + hr)
        z = E.sigmoid(xz + hz)
        n = E.tanh(xn + r * hn)
        return (1 - z) * n + z * h, None
    pre = x_proj + h_proj
    return (E.tanh(pre) if mode == "RNN_TANH" else E.relu(pre)), None


class _CellBase(Module):
    _mode = "RNN_TANH"

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gates = _GATES[self._mode] * hidden_size
        self.weight_ih = Parameter(creation.empty(gates, input_size, device=device, dtype=dtype))
        self.weight_hh = Parameter(creation.empty(gates, hidden_size, device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(creation.empty(gates, device=device, dtype=dtype))
            self.bias_hh = Parameter(creation.empty(gates, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _prepare(self, input):
        """(batched input, whether it was batched); checks the feature size."""
        if input.ndim not in (1, 2):
            raise ValueError(
                f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.ndim}D instead"
            )
        if input._data.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {input._data.shape[-1]} expected "
                f"{self.input_size}"
            )
        if input.ndim == 2:
            return input, True
        return S.unsqueeze(input, 0), False

    def _zeros(self, input):
        return creation.zeros(
            input._data.shape[0], self.hidden_size, dtype=input.dtype, device=input.device
        )

    def forward(self, input, hx=None):
        """One step; `hx` defaults to zeros. (LSTMCell overrides this for (h, c).)"""
        input, batched = self._prepare(input)
        h = self._zeros(input) if hx is None else (hx if batched else S.unsqueeze(hx, 0))
        h, _ = _rnn_step(
            self._mode,
            F.linear(input, self.weight_ih, self.bias_ih),
            h,
            None,
            self.weight_hh,
            self.bias_hh,
        )
        return h if batched else S.squeeze(h, 0)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        return s


class RNNCell(_CellBase):
    def __init__(
        self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self._mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device, dtype)


class LSTMCell(_CellBase):
    """One LSTM step: `(h, c) = cell(x, (h, c))`, gates in PyTorch's i, f, g, o order."""

    _mode = "LSTM"

    def forward(self, input, hx=None):
        input, batched = self._prepare(input)
        if hx is None:
            h = c = self._zeros(input)
        else:
            h, c = hx if batched else (S.unsqueeze(hx[0], 0), S.unsqueeze(hx[1], 0))
        h, c = _rnn_step(
            "LSTM",
            F.linear(input, self.weight_ih, self.bias_ih),
            h,
            c,
            self.weight_hh,
            self.bias_hh,
        )
        return (h, c) if batched else (S.squeeze(h, 0), S.squeeze(c, 0))


class GRUCell(_CellBase):
    _mode = "GRU"


class _RNNBase(Module):
    def __init__(
        self,
        mode,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        proj_size=0,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if proj_size:
            raise NotImplementedError("LSTM(proj_size=...) is not implemented yet")
        if not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1]")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional = float(dropout), bidirectional
        directions = 2 if bidirectional else 1
        gates = _GATES[mode] * hidden_size
        self._flat_names = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = [("weight_ih", (gates, layer_input)), ("weight_hh", (gates, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
                for name, shape in shapes:
                    setattr(
                        self,
                        name + suffix,
                        Parameter(creation.empty(*shape, device=device, dtype=dtype)),
                    )
                    self._flat_names.append(name + suffix)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _layer_params(self, layer: int, direction: int):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        get = lambda name: getattr(self, name + suffix, None)  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def forward(self, input, hx=None):
        from ..utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

        is_lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        lengths = None
        if packed:
            sorted_indices = input.sorted_indices
            input, lengths = pad_packed_sequence(input)  # time-major, original batch order
            lengths = np.asarray(lengths)
            batched = True
        else:
            if input.ndim not in (2, 3):
                raise ValueError(
                    f"{type(self).__name__}: Expected input to be 2D or 3D, got "
                    f"{input.ndim}D instead"
                )
            batched = input.ndim == 3
            if not batched:
                input = S.unsqueeze(input, 1)
                if hx is not None:
                    hx = tuple(S.unsqueeze(h, 1) for h in hx) if is_lstm else S.unsqueeze(hx, 1)
            elif self.batch_first:
                input = S.transpose(input, 0, 1)
        output, h_n, c_n = self._run(input, hx, lengths)
        if packed:
            output = pack_padded_sequence(
                output,
                lengths,
                sorted_indices=sorted_indices,
                enforce_sorted=sorted_indices is None,
            )
        elif not batched:
            output = S.squeeze(output, 1)
            h_n = S.squeeze(h_n, 1)
            c_n = S.squeeze(c_n, 1) if is_lstm else None
        elif self.batch_first:
            output = S.transpose(output, 0, 1)
        return output, ((h_n, c_n) if is_lstm else h_n)

    def _run(self, input, hx, lengths):
        """The recurrence over a time-major (steps, batch, features) input. With
        `lengths`, sequence b only advances while t < lengths[b]: its state then
        stays put and its outputs are zero, which is what packed input means."""
        is_lstm = self.mode == "LSTM"
        if input._data.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {input._data.shape[-1]}"
            )
        steps, batch = input._data.shape[:2]
        directions = 2 if self.bidirectional else 1
        state_shape = (self.num_layers * directions, batch, self.hidden_size)
        if hx is None:
            zeros = creation.zeros(*state_shape, dtype=input.dtype, device=input.device)
            h0, c0 = zeros, (zeros if is_lstm else None)
        elif is_lstm:
            h0, c0 = hx
        else:
            h0, c0 = hx, None
        for state in (h0, c0):
            if state is not None and tuple(state.shape) != state_shape:
                raise RuntimeError(f"Expected hidden size {state_shape}, got {tuple(state.shape)}")
        masks = None
        if lengths is not None:
            alive = np.arange(steps)[:, None] < np.asarray(lengths)[None, :]
            masks = [creation.tensor(alive[t][:, None], device=input.device) for t in range(steps)]
        layer_input = input
        final_h, final_c = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                w_ih, w_hh, b_ih, b_hh = self._layer_params(layer, direction)
                index = layer * directions + direction
                h = h0[index]
                c = c0[index] if is_lstm else None
                projected = F.linear(layer_input, w_ih, b_ih)  # all time steps at once
                order = range(steps - 1, -1, -1) if direction else range(steps)
                hs = [None] * steps
                for t in order:
                    h_new, c_new = _rnn_step(self.mode, projected[t], h, c, w_hh, b_hh)
                    if masks is None:
                        h, c = h_new, c_new
                        hs[t] = h
                    else:
                        h = E.where(masks[t], h_new, h)
                        c = E.where(masks[t], c_new, c) if is_lstm else None
                        hs[t] = E.where(masks[t], h_new, 0.0)
                outputs.append(S.stack(hs) if steps else projected[:, :, : self.hidden_size])
                final_h.append(h)
                if is_lstm:
                    final_c.append(c)
            layer_input = outputs[0] if directions == 1 else S.cat(outputs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        return layer_input, S.stack(final_h), (S.stack(final_c) if is_lstm else None)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        nonlinearity="tanh",
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        device=None,
        dtype=None,
    ):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'")
        self.nonlinearity = nonlinearity
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(
            mode,
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )


class LSTM(_RNNBase):
    """Multi-layer LSTM over (seq, batch, feature) inputs (or batch_first)."""

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        proj_size=0,
        device=None,
        dtype=None,
    ):
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
        )


class GRU(_RNNBase):
    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        device=None,
        dtype=None,
    ):
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )
