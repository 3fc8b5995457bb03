"""janus's JIT on the GPU: what a frame on CUDA tensors compiles to and how a
call behaves, against eager CUDA: moves between devices, random numbers
(the device's generator), numbers that change per call (host inputs),
aliased arguments, the default device, tensors the frame makes, data
checks, boolean masks, and janus.jit.trace. (test_cuda_program.py: the
CUDA program itself, and whole training steps.)

On a GPU machine these run on the GPU; elsewhere on the emulated device of
tests/fake_cuda.py (conftest.py), which checks janus's side only.
"""

import numpy as np
import pytest

import janus
from fake_cuda import USABLE
from harness import assert_trains_alike

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not USABLE, reason="needs a CUDA GPU (cupy), or g++ to emulate one"),
]


def _moving_step_losses(compiled, steps=6):
    """The usual loop body: the batch comes from the CPU and the step moves
    it to the GPU (x.to(device)), then trains there."""
    janus.manual_seed(0)
    model = janus.nn.Sequential(janus.nn.Linear(6, 16), janus.nn.Tanh(), janus.nn.Linear(16, 3))
    model.to("cuda")
    opt = janus.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)

    def step(x, y):
        x, y = x.to("cuda"), y.cuda()
        opt.zero_grad()
        loss = janus.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = janus.jit(step) if compiled else step
    losses = []
    for _ in range(steps):
        x = janus.tensor(rng.standard_normal((8, 6), dtype=np.float32))
        loss = fn(x, janus.tensor(rng.integers(0, 3, 8)))
        assert loss.device.type == "cuda"
        losses.append(float(loss))
    return np.array(losses), [p.detach().cpu().numpy() for p in model.parameters()]


def test_a_step_that_moves_its_batch_to_the_gpu_compiles_after_the_move(made_programs, hook_on):
    """Compiled, the CPU runtime once ran the move as a copy and the frame
    returned CPU tensors for x.to("cuda"). The move now runs in Python
    between compiled parts, and the training after it is a CUDA program."""
    assert_trains_alike(_moving_step_losses, 1e-5, 1e-4, 1e-6)
    assert sum(p.replays for p in made_programs) >= 2


def test_moves_between_devices_return_tensors_on_the_device_asked_for():
    def there(v):
        return (v * 2).to("cuda") + 1

    def back(v):
        return (v * 2).cpu() - 1

    x = janus.arange(4.0)
    for _ in range(4):
        moved = there(x)
        returned = back(moved)
        assert moved.device.type == "cuda" and returned.device.type == "cpu"
        np.testing.assert_array_equal(returned.numpy(), np.arange(4.0) * 4 + 1)


def test_a_new_cuda_seed_is_followed_and_two_devices_draws_run_eagerly(made_programs):
    """The device generator's seed is guarded: after janus.manual_seed the
    compiled frame draws the new seed's numbers. A frame that draws on the
    CPU and on the GPU runs eagerly (one program follows one generator)."""

    def run(compiled):
        janus.manual_seed(0)
        x = janus.ones(64, device="cuda")

        def noisy(x):
            return janus.nn.functional.dropout(x, 0.5) * 2

        def both(x):
            return noisy(x), janus.rand(4)

        fns = [janus.jit(f) if compiled else f for f in (noisy, both)]
        out = [fns[0](x).cpu().numpy() for _ in range(3)]
        janus.manual_seed(1)
        out += [fns[0](x).cpu().numpy() for _ in range(3)]
        for _ in range(3):
            a, b = fns[1](x)
            out += [a.cpu().numpy(), b.numpy()]
        return out

    eager, compiled = run(False), run(True)
    assert sum(p.replays for p in made_programs if p.lowered.uses_rng) >= 4
    for a, b in zip(eager, compiled):
        np.testing.assert_array_equal(a, b)


def _changing_numbers_losses(compiled, steps=12):
    """A step whose numbers change every call: the learning rate (a
    schedule), a scale, slice bounds, an index, and a tensor made of them."""
    janus.manual_seed(0)
    model = janus.nn.Linear(5, 3).to("cuda")
    opt = janus.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    schedule = janus.optim.lr_scheduler.StepLR(opt, 2, gamma=0.5)
    table = janus.randn(10, 5, device="cuda")

    def step(i, scale, j):
        opt.zero_grad()
        x = table[i : i + 4] * scale + table[j]
        w = janus.tensor([i, j], device="cuda").float().sum()
        loss = (model(x) ** 2).mean() + w * 0.01
        loss.backward()
        opt.step()
        return loss

    fn = janus.jit(step) if compiled else step
    losses = []
    for k in range(steps):
        losses.append(float(fn(k % 5, 1.0 + k / 10, (3 * k) % 10)))
        schedule.step()
    return np.array(losses), [p.detach().cpu().numpy() for p in model.parameters()]


def test_numbers_that_change_per_call_are_host_inputs_of_one_program(made_programs):
    """They reach the GPU with one copy per call into the program's own
    area, so the captured graph is replayed, not captured again. (On CUDA
    they were graph breaks; a 0-d number could not be packed.)"""
    assert_trains_alike(_changing_numbers_losses, 1e-5, 1e-5, 1e-6)
    hosted = [p for p in made_programs if len(p.host_inputs) >= 4]
    assert hosted and max(p.replays for p in hosted) >= 5
    assert all(p.captures == 1 for p in hosted)


def _cpu_scale_losses(compiled, steps=6):
    """A GPU step scaled by a 0-d CPU tensor that changes every call (a
    loss weight kept as `torch.tensor(w)`), and a CPU constant."""
    janus.manual_seed(0)
    model = janus.nn.Linear(3, 2).to("cuda")
    opt = janus.optim.SGD(model.parameters(), lr=0.1)
    x = janus.randn(5, 3, device="cuda")

    def step(scale):
        opt.zero_grad()
        loss = (model(x) * scale).pow(2).mean() * janus.tensor(0.5)
        loss.backward()
        opt.step()
        return loss

    fn = janus.jit(step) if compiled else step
    losses = [float(fn(janus.tensor(1.0 + k / 2))) for k in range(steps)]
    return np.array(losses), [p.detach().cpu().numpy() for p in model.parameters()]


def test_a_zero_d_cpu_tensor_beside_gpu_tensors_is_a_host_input(made_programs):
    """Eager lets a 0-d CPU tensor join GPU tensors; such a frame ran eagerly
    ("it mixes tensors on cpu and cuda:0"). It compiles now, the scalar
    copied in with the host inputs. Backward reads it too: the copy eager
    made on the GPU for autograd was read as a fixed input, so the
    gradients of every replay used the first call's scale."""
    assert_trains_alike(_cpu_scale_losses, 1e-5, 1e-5, 1e-6)
    [program] = made_programs
    assert program.host_inputs and program.captures == 1 and program.replays >= 4


def test_an_index_list_or_cpu_index_tensor_of_a_gpu_tensor_compiles(made_programs):
    """`x[[i, 0]]` and `x[janus.tensor([2, 0])]` on a GPU tensor index with a
    CPU tensor that eager moves to the GPU: the frame ran eagerly ("it mixes
    tensors"); the index is now a host input and the move a copy."""

    def pick(x, i):
        rows = x[[i, 0]] * 2 + x[janus.tensor([2, 0])]
        rows.sum().backward()
        return rows

    def run(f):
        x = janus.arange(12.0, device="cuda").reshape(4, 3).requires_grad_()
        outs = [f(x, i).detach().cpu().numpy() for i in (1, 1, 1, 3, 3, 2)]
        return outs + [x.grad.cpu().numpy()]

    for got, want in zip(run(janus.jit(pick)), run(pick)):
        np.testing.assert_array_equal(got, want)
    assert any(p.replays for p in made_programs)


def test_a_frame_keeps_cpu_results_on_the_cpu(made_programs):
    """The scalar handed back, or a CPU op on it, stays a CPU tensor: the
    first is the input itself (the frame compiles for the GPU), the second
    makes the frame run eagerly."""

    def handed_back(x, s):
        return x * s, s, s.item()

    def computed_on_cpu(x, s):
        return x * (s * 2), s + 1

    for fn in (handed_back, computed_on_cpu):
        compiled = janus.jit(fn)
        x = janus.ones(3, device="cuda")
        for k in range(4):
            s = janus.tensor(1.0 + k)
            for got, want in zip(compiled(x, s), fn(x, s)):
                if isinstance(want, janus.Tensor):
                    assert got.device == want.device
                    got, want = got.cpu().numpy(), want.cpu().numpy()
                np.testing.assert_array_equal(got, want)
        if fn is handed_back:
            assert made_programs and made_programs[0].replays >= 2
    [why] = janus.jit.explain(computed_on_cpu, x, s).breaks
    assert "mixes tensors on cpu and cuda:0" in why.explanation and "one device" in why.hint


def test_a_buffer_made_anew_each_call_and_updated_in_place_replays(made_programs):
    """The frame updates in place a buffer its caller makes anew each call:
    one capture, then replays (each call was captured again)."""

    def step(buffer, x):
        buffer.mul_(0.5).add_(x)
        return (buffer * 2).sum()

    def run(fn):
        x = janus.arange(8.0, device="cuda")
        out = []
        for k in range(6):
            buffer = janus.full((8,), float(k), device="cuda")
            out += [fn(buffer, x).cpu().numpy(), buffer.cpu().numpy()]
        return out

    for got, want in zip(run(janus.jit(step)), run(step)):
        np.testing.assert_array_equal(got, want)
    [program] = made_programs
    assert program.replays >= 4 and program.captures <= 2  # (the moved input: staged once)


@pytest.mark.parametrize("written", ["updated", "overwritten"])
@pytest.mark.parametrize("aliased", ["the same tensor", "overlapping views"])
def test_an_update_through_one_argument_shows_in_an_aliased_other(aliased, written):
    """Compiled for distinct tensors, `f(a, a)` (or views that overlap) must
    see the update of `x` in `y`, as eagerly: the program finds the inputs
    share memory and the frame falls back to Python."""

    def fn(x, y):
        if written == "updated":
            x.add_(1)
        else:
            x.copy_(y * 3)
        return y * 2

    def run(f):
        base = janus.arange(6.0, device="cuda")
        outs = [f(base[:3], base[3:]).cpu().numpy() for _ in range(3)]  # compiled apart
        a, b = (base, base) if aliased == "the same tensor" else (base[1:4], base[:3])
        outs.append(f(a, b).cpu().numpy())
        return outs + [base.cpu().numpy()]

    compiled = janus.jit(fn)
    for got, want in zip(run(compiled), run(fn)):
        np.testing.assert_array_equal(got, want)


def test_the_default_device_is_guarded():
    """A frame whose factories made CPU tensors is traced again after
    janus.set_default_device("cuda"): its tensors are on the GPU then. (No
    tensor comes in, so only the default device's guard tells the calls
    apart.)"""

    def fn(n):
        return janus.ones(3) * n + janus.arange(3.0)

    compiled = janus.jit(fn)
    try:
        for place in ("cpu", "cpu", "cpu", "cuda", "cuda", "cuda", None):
            janus.set_default_device(place)
            out = compiled(2.0)
            assert out.device == janus.get_default_device()
            np.testing.assert_array_equal(out.cpu().numpy(), [2.0, 3.0, 4.0])
    finally:
        janus.set_default_device(None)


def test_an_index_out_of_range_only_the_backward_reads_raises_eagers_error():
    """The lookup's result is used only through backward, so the graph keeps
    index_add alone: its kernel must check the index too (it wrote past the
    gradient's buffer), and the call falls back to eager's IndexError."""
    table = janus.nn.Embedding(10, 3).to("cuda")

    @janus.jit
    def step(words):
        table(words).sum().backward()

    for k in range(5):
        step(janus.tensor([k], device="cuda"))
    grad = table.weight.grad.cpu().numpy().copy()
    with pytest.raises(IndexError):
        step(janus.tensor([12], device="cuda"))
    np.testing.assert_array_equal(table.weight.grad.cpu().numpy(), grad)


def test_tensors_a_cuda_frame_makes_are_constants_made_afresh_each_call(made_programs):
    """janus.zeros(..., device="cuda") or janus.tensor([...], device="cuda")
    inside a step (an RNN's first state) is a constant of the graph, as on
    the CPU; such frames did not compile on CUDA ("a tensor made inside the
    frame is updated in place")."""

    def step(x, n):
        h = janus.zeros(2, 3, device="cuda")
        h.add_(x)
        scale = janus.tensor([1.0, float(n), 2.0], device="cuda")
        return h * scale + janus.full((3,), 0.5, device="cuda")

    compiled = janus.jit(step)
    x = janus.ones(2, 3, device="cuda")
    for n in (1, 1, 1, 2, 2, 2):
        np.testing.assert_array_equal(compiled(x, n).cpu().numpy(), step(x, n).cpu().numpy())
    assert sum(p.replays for p in made_programs) >= 3


def test_an_output_that_is_an_input_updated_in_place_keeps_its_value_on_entry():
    """`a = x * 1` becomes x itself (mul by one folds away), then x.add_():
    the result is copied before the replay commits the update into x's
    buffer (it was copied after, and returned the updated values)."""

    def run(f):
        x = janus.arange(6.0, device="cuda")

        def fn():
            a = x * 1
            x.add_(1.5)
            return a

        step = f(fn)
        return [step().cpu().numpy() for _ in range(5)] + [x.cpu().numpy()]

    for got, want in zip(run(janus.jit), run(lambda fn: fn)):
        np.testing.assert_array_equal(got, want)


def test_a_frame_whose_only_tensors_it_makes_on_the_gpu_runs_there():
    """No tensor input: the program's device comes from the tensors the
    graph makes (it was the CPU's, and returned CPU tensors)."""

    def fn(n):
        out = janus.zeros(3, device="cuda")
        for k in range(n):
            out = out + k
        return out

    compiled = janus.jit(fn)
    for n in (2, 2, 2, 3, 3):
        got = compiled(n)
        assert got.device.type == "cuda"
        np.testing.assert_array_equal(got.cpu().numpy(), fn(n).cpu().numpy())


def test_a_data_check_over_many_elements_is_an_assert_on_the_gpu():
    """binary_cross_entropy checks every element of its input: an assert on
    many elements (such frames did not compile on CUDA); a call whose data
    fails it raises eager's error and changes no parameter."""
    janus.manual_seed(0)
    model = janus.nn.Linear(3, 1).to("cuda")
    opt = janus.optim.SGD(model.parameters(), lr=0.1)

    @janus.jit
    def step(x, y, scale):
        opt.zero_grad()
        loss = janus.nn.functional.binary_cross_entropy(model(x).sigmoid() * scale, y)
        loss.backward()
        opt.step()
        return loss

    x, y = janus.randn(4, 3, device="cuda"), janus.rand(4, 1, device="cuda")
    for _ in range(3):
        step(x, y, janus.tensor(1.0, device="cuda"))
    assert sum(e[1].calls for e in step.entries) >= 1
    before = [p.detach().cpu().numpy() for p in model.parameters()]
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        step(x, y, janus.tensor(2.0, device="cuda"))
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.detach().cpu().numpy(), b)


def test_a_trace_on_the_gpu_runs_a_cuda_program_and_follows_its_generator(made_programs):
    """janus.jit.trace: the recorded graph compiles for the inputs' device,
    and each replay shifts and advances that device's generator (it followed
    the CPU's: every replay of a dropout drew the same mask)."""

    def run(f):
        janus.manual_seed(3)
        x = janus.ones(64, device="cuda")
        return [f(x).cpu().numpy() for _ in range(4)]

    dropout = lambda x: janus.nn.functional.dropout(x * 2, 0.5, True)  # noqa: E731
    traced = run(janus.jit.trace(dropout, warmup=0))
    for got, want in zip(traced, run(dropout)):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(traced[1], traced[2])
    assert made_programs and sum(p.replays for p in made_programs) >= 3


def test_a_trace_whose_first_input_is_a_cpu_scalar_runs_on_the_gpu(made_programs):
    """The trace's device was its first input's: with a 0-d CPU tensor
    first, the CPU runtime ran the GPU graph and returned CPU tensors."""

    def scaled(s, x):
        return x * s + 1

    traced = janus.jit.trace(scaled, warmup=0)
    x = janus.arange(3.0, device="cuda")
    for k in range(3):
        got = traced(janus.tensor(float(k)), x)
        assert got.device.type == "cuda"
        np.testing.assert_array_equal(got.cpu().numpy(), np.arange(3.0) * k + 1)
    assert made_programs and made_programs[0].replays == 2  # (the first call records)


def test_a_masked_loss_compiles_and_a_new_count_falls_back(made_programs):
    """loss over x[mask]: the program is made for the recorded count of true
    elements; a call with another count runs as usual (and is compiled for
    its own count), with eager's results throughout."""

    def run(f):
        janus.manual_seed(0)
        w = janus.randn(4, 3, device="cuda", requires_grad=True)
        outs = []
        for k in (2, 2, 2, 3, 3, 2):
            mask = janus.arange(4, device="cuda") < k
            loss = f(w, mask)
            loss.backward()
            outs += [loss.detach().cpu().numpy(), w.grad.cpu().numpy().copy()]
        return outs

    def masked(w, mask):
        return (w[mask] ** 2).sum()

    for got, want in zip(run(janus.jit(masked)), run(masked)):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert sum(p.replays for p in made_programs) >= 3


def test_unique_compiles_for_its_count_and_another_count_falls_back(made_programs):
    """Class weights from the labels a batch holds (unique with counts): the
    program is made for the recorded number of distinct labels; a batch
    with another number runs as usual, with eager's results throughout."""

    def weighted(scores, labels):
        present, counts = labels.unique(return_counts=True)
        weights = counts.float() / labels.numel()
        return (scores[:, present] * weights).sum(1)

    def run(f):
        scores = janus.arange(20.0, device="cuda").reshape(4, 5)
        batches = ([0, 2, 2, 4], [4, 0, 0, 2], [2, 2, 4, 0], [1, 1, 1, 1], [3, 0, 3, 3])
        return [f(scores, janus.tensor(b, device="cuda")).cpu().numpy() for b in batches * 2]

    for got, want in zip(run(janus.jit(weighted)), run(weighted)):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert any(p.replays >= 2 and "unique" in str(p.graph) for p in made_programs)


@pytest.mark.parametrize("weighted", [False, True])
def test_class_weights_compile_and_a_target_out_of_range_raises_eagers_error(
    weighted, made_programs
):
    """cross_entropy with class weights ran eagerly on the GPU (no kernel);
    and a target out of range read past the row (the loss was garbage,
    with no error): it now flags the run, which raises eager's IndexError."""
    weight = janus.tensor([1.0, 2.0, 0.5], device="cuda") if weighted else None

    def loss(logits, target):
        return janus.nn.functional.cross_entropy(logits, target, weight=weight, ignore_index=1)

    compiled = janus.jit(loss)
    logits = janus.randn(4, 3, device="cuda", requires_grad=True)
    for target in ([0, 2, 1, 2], [2, 2, 0, 1], [0, 0, 2, 2]):
        target = janus.tensor(target, device="cuda")
        got, want = compiled(logits, target), loss(logits, target)
        np.testing.assert_allclose(got.detach().cpu().numpy(), want.detach().cpu().numpy(), 1e-6)
    assert any("nll_loss" in str(p.graph) and p.replays for p in made_programs)
    with pytest.raises(IndexError):
        compiled(logits, janus.tensor([0, 2, 3, 2], device="cuda"))


def test_a_failing_trace_replay_on_the_gpu_raises_as_on_the_cpu_and_commits_nothing():
    w = janus.tensor([1.0, 2.0, 3.0], device="cuda")

    def update(idx):
        w.add_(janus.ones(3, device="cuda"))
        return janus.nn.functional.embedding(idx, w.reshape(3, 1))

    traced = janus.jit.trace(update, warmup=0)
    traced(janus.tensor([0, 1], device="cuda"))
    before = w.cpu().numpy().copy()
    with pytest.raises(IndexError, match="index out of range"):
        traced(janus.tensor([0, 7], device="cuda"))
    np.testing.assert_array_equal(w.cpu().numpy(), before)
    traced(janus.tensor([2, 1], device="cuda"))
    np.testing.assert_array_equal(w.cpu().numpy(), before + 1)
