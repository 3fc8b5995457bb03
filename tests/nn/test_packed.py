"""Packed variable-length sequences and recurrent layers over them, against PyTorch."""

import numpy as np
import pytest

import janus
from harness import assert_close, torch_or_skip

rng = np.random.default_rng(4)
PADDED = rng.standard_normal((5, 3, 4)).astype(np.float32)  # (steps, batch, features)
LENGTHS = [3, 5, 2]


@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_pack_and_unpack_match_pytorch(enforce_sorted):
    torch = torch_or_skip()
    lengths = sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS
    results = []
    for L in (janus, torch):
        x = L.tensor(PADDED, requires_grad=True)
        packed = L.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
        padded, out_lengths = L.nn.utils.rnn.pad_packed_sequence(packed, batch_first=True)
        (packed.data * 2).sum().backward()
        results.append((packed.data, packed.batch_sizes, padded, out_lengths, x.grad))
    for a, b in zip(*results):
        assert_close(a, b)


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_recurrent_layers_on_packed_input_match_pytorch(cls):
    torch = torch_or_skip()
    janus.manual_seed(0)
    jm = getattr(janus.nn, cls)(4, 6, num_layers=2, bidirectional=True)
    tm = getattr(torch.nn, cls)(4, 6, num_layers=2, bidirectional=True)
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in jm.state_dict().items()})
    results = []
    for L, m in ((janus, jm), (torch, tm)):
        x = L.tensor(PADDED, requires_grad=True)
        packed = L.nn.utils.rnn.pack_padded_sequence(x, LENGTHS, enforce_sorted=False)
        out, state = m(packed)
        h = state[0] if cls == "LSTM" else state
        padded, _ = L.nn.utils.rnn.pad_packed_sequence(out)
        (padded.sum() + (h * h).sum()).backward()
        results.append((out.data, padded, h, x.grad, m.weight_hh_l1_reverse.grad))
    for k, (a, b) in enumerate(zip(*results)):
        assert_close(a, b, rtol=1e-4, atol=1e-5, what=f"result {k}")


def test_pack_sequence_and_errors():
    seqs = [janus.ones(3, 2), janus.ones(2, 2), janus.ones(1, 2)]
    packed = janus.nn.utils.rnn.pack_sequence(seqs)
    assert packed.batch_sizes.tolist() == [3, 2, 1] and packed.data.shape == (6, 2)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        janus.nn.utils.rnn.pack_padded_sequence(janus.ones(3, 2, 1), [1, 3])
