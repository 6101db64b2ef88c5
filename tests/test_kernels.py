"""The compiled kernels `torch.ops.inpaintzoo.*` against plain-PyTorch references.

Every CPU test runs on each instruction set compiled in (generic, AVX2, AVX-512: `_C.set_cpu_isa`); the
CUDA tests run where a GPU is present. The PixelCNN fill is checked against a naive fill that runs the whole
network on the whole image for every sub-pixel, and against the project's own PyTorch fill.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from helpers import needs

from inpaintzoo.errors import UsageError
from inpaintzoo.machine import read_cpuinfo
from inpaintzoo.ops import backend
from inpaintzoo.ops.lstm_cell import lstm_cell_reference

EXTENSION, WHY_NOT = backend.load_extension()
pytestmark = needs(EXTENSION is not None, f"inpaintzoo._C unavailable: {WHY_NOT}")
# without the extension one placeholder, so that each test exists and fails (CI) or skips for that reason
CPU_ISAS = list(EXTENSION.cpu_isas()) if EXTENSION is not None else ["generic"]
HAS_CUDA = torch.cuda.is_available()
needs_cuda = [pytest.mark.cuda, pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")]
DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]
WINDOW, LEVELS = 5, 256


@pytest.fixture(params=CPU_ISAS)
def cpu_isa(request: pytest.FixtureRequest):
    """Runs the test with the CPU kernels of one instruction set, then restores the default."""
    previous = EXTENSION.set_cpu_isa(request.param)
    yield request.param
    EXTENSION.set_cpu_isa(previous)


# --------------------------------------------------------------------------------------------------------------
# backend selection
# --------------------------------------------------------------------------------------------------------------


def test_backend_uses_the_extension_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backend.BACKEND_ENV, raising=False)
    assert backend.backend_name() == "extension"
    assert backend.extension_op("lstm_cell") is torch.ops.inpaintzoo.lstm_cell
    info = backend.backend_info()
    assert info["backend"] == "extension" and info["cpu_isa"] in info["cpu_isas"]
    assert info["openmp"] == torch.backends.openmp.is_available()


def test_backend_env_forces_torch_or_rejects_unknown_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backend.BACKEND_ENV, "torch")
    assert backend.backend_name() == "torch" and backend.extension_op("lstm_cell") is None
    assert backend.backend_info()["backend"] == "torch"
    monkeypatch.setenv(backend.BACKEND_ENV, "cuda-please")
    with pytest.raises(UsageError, match="INPAINTZOO_BACKEND"):
        backend.backend_name()


def test_each_instruction_set_this_cpu_has_is_compiled_in_and_can_be_forced() -> None:
    """On an AVX-512 machine the AVX2 and generic kernels run too: every CPU test takes each ISA (`cpu_isa`)."""
    _, flags = read_cpuinfo()
    expected = ["generic"]
    if {"avx2", "fma"} <= flags:
        expected.insert(0, "avx2")
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq", "fma"} <= flags:
        expected.insert(0, "avx512")
    assert CPU_ISAS == expected
    for isa in CPU_ISAS:
        previous = EXTENSION.set_cpu_isa(isa)
        try:
            assert EXTENSION.cpu_isa() == isa and backend.backend_info()["cpu_isa"] == isa
        finally:
            EXTENSION.set_cpu_isa(previous)


def test_set_cpu_isa_rejects_unknown_instruction_sets() -> None:
    with pytest.raises(RuntimeError, match="not compiled in"):
        EXTENSION.set_cpu_isa("avx9000")
    assert EXTENSION.cpu_isa() in CPU_ISAS


# --------------------------------------------------------------------------------------------------------------
# lstm_cell
# --------------------------------------------------------------------------------------------------------------

# (leading dims, H): single rows, H = 1 and 3 (no full vector), odd batches, a row width the Row LSTM uses
LSTM_SHAPES = [((), 5), ((5,), 1), ((7, 3), 3), ((3, 11), 33), ((9,), 64), ((2, 3, 5), 17)]


def _lstm_inputs(lead: tuple[int, ...], hidden: int, dtype: torch.dtype, device: str, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    gates = torch.randn(*lead, 4 * hidden, generator=generator, dtype=dtype) * 3  # reaches the saturated tails
    c_prev = torch.randn(*lead, hidden, generator=generator, dtype=dtype) * 2
    return gates.to(device), c_prev.to(device)


def _tolerances(dtype: torch.dtype) -> dict[str, float]:
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-13}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lead,hidden", LSTM_SHAPES)
def test_lstm_cell_forward_matches_reference(cpu_isa: str, lead, hidden: int, dtype: torch.dtype) -> None:
    gates, c_prev = _lstm_inputs(lead, hidden, dtype, "cpu")
    h, c = torch.ops.inpaintzoo.lstm_cell(gates, c_prev)
    h_ref, c_ref = lstm_cell_reference(gates, c_prev)
    assert h.shape == c.shape == c_prev.shape and h.dtype == dtype
    torch.testing.assert_close(c, c_ref, **_tolerances(dtype))
    torch.testing.assert_close(h, h_ref, **_tolerances(dtype))


def _reference_grads(gates, c_prev, grad_h, grad_c):
    gates = gates.detach().requires_grad_()
    c_prev = c_prev.detach().requires_grad_()
    h, c = lstm_cell_reference(gates, c_prev)
    return torch.autograd.grad((h, c), (gates, c_prev), (grad_h, grad_c))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lead,hidden", LSTM_SHAPES)
def test_lstm_cell_backward_op_matches_autograd_of_reference(cpu_isa: str, lead, hidden: int, dtype) -> None:
    gates, c_prev = _lstm_inputs(lead, hidden, dtype, "cpu", seed=1)
    grad_h, grad_c = torch.randn_like(c_prev), torch.randn_like(c_prev)
    _, c = torch.ops.inpaintzoo.lstm_cell(gates, c_prev)
    grad_gates, grad_c_prev = torch.ops.inpaintzoo.lstm_cell_backward(grad_h, grad_c, gates, c_prev, c)
    want_gates, want_c_prev = _reference_grads(gates, c_prev, grad_h, grad_c)
    tol = {"rtol": 2e-5, "atol": 2e-6} if dtype == torch.float32 else _tolerances(dtype)
    torch.testing.assert_close(grad_gates, want_gates, **tol)
    torch.testing.assert_close(grad_c_prev, want_c_prev, **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lead,hidden", LSTM_SHAPES)
def test_lstm_cell_train_returns_the_activated_gates(cpu_isa: str, lead, hidden: int, dtype) -> None:
    gates, c_prev = _lstm_inputs(lead, hidden, dtype, "cpu", seed=9)
    h, c, activations = torch.ops.inpaintzoo.lstm_cell_train(gates, c_prev)
    i, f, g, o = gates.chunk(4, dim=-1)
    want = torch.cat([torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)], dim=-1)
    torch.testing.assert_close(activations, want, **_tolerances(dtype))
    assert torch.equal(h, torch.ops.inpaintzoo.lstm_cell(gates, c_prev)[0])
    torch.testing.assert_close((h, c), lstm_cell_reference(gates, c_prev), **_tolerances(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lead,hidden", LSTM_SHAPES)
def test_lstm_cell_backward_activated_matches_autograd_of_reference(cpu_isa: str, lead, hidden: int, dtype) -> None:
    gates, c_prev = _lstm_inputs(lead, hidden, dtype, "cpu", seed=10)
    grad_h, grad_c = torch.randn_like(c_prev), torch.randn_like(c_prev)
    _, c, activations = torch.ops.inpaintzoo.lstm_cell_train(gates, c_prev)
    got = torch.ops.inpaintzoo.lstm_cell_backward_activated(grad_h, grad_c, activations, c_prev, c)
    tol = {"rtol": 2e-5, "atol": 2e-6} if dtype == torch.float32 else _tolerances(dtype)
    torch.testing.assert_close(got, _reference_grads(gates, c_prev, grad_h, grad_c), **tol)


class _OpLog(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the ops that run below autograd, i.e. what the C++ autograd of lstm_cell calls."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


# 4 x 16 x 4H floats: activations saved; 300 x 4H x 256: 1.2 MiB of gates, past the 1 MiB the cell saves them to
@pytest.mark.parametrize("rows,hidden,saved", [(4, 16, True), (300, 256, False)])
def test_lstm_cell_autograd_saves_activations_only_for_cache_sized_gates(rows: int, hidden: int, saved: bool) -> None:
    gates, c_prev = _lstm_inputs((rows,), hidden, torch.float32, "cpu", seed=11)
    gates.requires_grad_()
    c_prev.requires_grad_()
    grad_h, grad_c = torch.randn_like(c_prev), torch.randn_like(c_prev)
    with _OpLog() as log:
        h, c = torch.ops.inpaintzoo.lstm_cell(gates, c_prev)
        got = torch.autograd.grad((h, c), (gates, c_prev), (grad_h, grad_c))
    lstm_ops = [name for name in log.names if name.startswith("inpaintzoo.")]
    if saved:
        assert lstm_ops == ["inpaintzoo.lstm_cell_train", "inpaintzoo.lstm_cell_backward_activated"]
    else:
        assert lstm_ops == ["inpaintzoo.lstm_cell", "inpaintzoo.lstm_cell_backward"]
    torch.testing.assert_close(got, _reference_grads(gates, c_prev, grad_h, grad_c), rtol=2e-5, atol=2e-6)
    torch.testing.assert_close((h, c), lstm_cell_reference(gates, c_prev), rtol=1e-5, atol=1e-6)


def test_lstm_cell_without_gradients_runs_the_inference_forward_only() -> None:
    gates, c_prev = _lstm_inputs((4,), 16, torch.float32, "cpu", seed=12)
    gates.requires_grad_()
    with torch.no_grad(), _OpLog() as log:
        h, _ = torch.ops.inpaintzoo.lstm_cell(gates, c_prev)
    detached = gates.detach()
    with _OpLog() as log_no_input_grad:
        torch.ops.inpaintzoo.lstm_cell(detached, c_prev)
    assert log.names == log_no_input_grad.names == ["inpaintzoo.lstm_cell"]
    assert not h.requires_grad


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("lead,hidden", [((1,), 1), ((3,), 3), ((5, 3), 4), ((7,), 33)])
def test_lstm_cell_gradcheck(lead, hidden: int, device: str) -> None:
    gates, c_prev = _lstm_inputs(lead, hidden, torch.float64, device, seed=2)
    gates.requires_grad_()
    c_prev.requires_grad_()
    assert torch.autograd.gradcheck(torch.ops.inpaintzoo.lstm_cell, (gates, c_prev))


def test_lstm_cell_backward_with_one_output_unused() -> None:
    """Autograd hands no gradient for an unused output; the registration must treat it as zero."""
    gates, c_prev = _lstm_inputs((4,), 6, torch.float64, "cpu", seed=3)
    gates.requires_grad_()
    h, _ = torch.ops.inpaintzoo.lstm_cell(gates, c_prev)
    (grad_gates,) = torch.autograd.grad(h.sum(), gates)
    want = _reference_grads(gates, c_prev, torch.ones_like(c_prev), torch.zeros_like(c_prev))[0]
    torch.testing.assert_close(grad_gates, want)


def test_lstm_cell_accepts_non_contiguous_inputs() -> None:
    gates, c_prev = _lstm_inputs((6, 5), 8, torch.float32, "cpu", seed=4)
    gates_t = gates.transpose(0, 1).contiguous().transpose(0, 1)
    c_prev_t = c_prev.transpose(0, 1).contiguous().transpose(0, 1)
    assert not gates_t.is_contiguous() and not c_prev_t.is_contiguous()
    h, c = torch.ops.inpaintzoo.lstm_cell(gates_t, c_prev_t)
    h_ref, c_ref = lstm_cell_reference(gates, c_prev)
    torch.testing.assert_close((h, c), (h_ref, c_ref), rtol=1e-5, atol=1e-6)


def test_lstm_cell_parallel_rows_agree_with_one_thread() -> None:
    """2048 rows split over threads: every element must come out exactly as on one thread."""
    gates, c_prev = _lstm_inputs((2048,), 64, torch.float32, "cpu", seed=5)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = torch.ops.inpaintzoo.lstm_cell(gates, c_prev)
    finally:
        torch.set_num_threads(threads)
    many = torch.ops.inpaintzoo.lstm_cell(gates, c_prev)
    assert torch.equal(one[0], many[0]) and torch.equal(one[1], many[1])
    torch.testing.assert_close(many, lstm_cell_reference(gates, c_prev), rtol=1e-5, atol=1e-6)


def test_lstm_cell_opcheck() -> None:
    gates, c_prev = _lstm_inputs((3, 2), 5, torch.float64, "cpu", seed=6)
    torch.library.opcheck(torch.ops.inpaintzoo.lstm_cell.default, (gates.requires_grad_(), c_prev))
    _, c = torch.ops.inpaintzoo.lstm_cell(gates.detach(), c_prev)
    grads = (torch.randn_like(c), torch.randn_like(c))
    torch.library.opcheck(torch.ops.inpaintzoo.lstm_cell_backward.default, (*grads, gates.detach(), c_prev, c))
    torch.library.opcheck(torch.ops.inpaintzoo.lstm_cell_train.default, (gates.detach(), c_prev))
    _, _, activations = torch.ops.inpaintzoo.lstm_cell_train(gates.detach(), c_prev)
    op = torch.ops.inpaintzoo.lstm_cell_backward_activated.default
    torch.library.opcheck(op, (*grads, activations, c_prev, c))


def test_lstm_cell_traces_under_torch_compile() -> None:
    def step(gates: torch.Tensor, c_prev: torch.Tensor) -> torch.Tensor:
        h, c = torch.ops.inpaintzoo.lstm_cell(gates * 2, c_prev)
        return h.sum() + c.sum()

    gates, c_prev = _lstm_inputs((5,), 7, torch.float64, "cpu", seed=7)
    gates.requires_grad_()
    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    loss = compiled(gates, c_prev)
    (grad,) = torch.autograd.grad(loss, gates)
    gates_ref = gates.detach().requires_grad_()
    h_ref, c_ref = lstm_cell_reference(gates_ref * 2, c_prev)
    (grad_ref,) = torch.autograd.grad(h_ref.sum() + c_ref.sum(), gates_ref)
    torch.testing.assert_close(loss, h_ref.sum() + c_ref.sum())
    torch.testing.assert_close(grad, grad_ref)


@pytest.mark.parametrize(
    "gates_shape,c_shape,dtype,message",
    [
        ((3, 10), (3, 2), torch.float32, "divisible by 4"),
        ((3, 8), (3, 3), torch.float32, "c_prev must have shape"),
        ((3, 8), (4, 2), torch.float32, "c_prev must have shape"),
        ((3, 8), (3, 2), torch.int32, "float32 and float64"),
        ((3, 8), (3, 2), torch.float16, "float32 and float64"),
    ],
)
def test_lstm_cell_rejects_bad_inputs(gates_shape, c_shape, dtype, message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        torch.ops.inpaintzoo.lstm_cell(torch.zeros(gates_shape, dtype=dtype), torch.zeros(c_shape, dtype=dtype))


def test_lstm_cell_rejects_mixed_dtypes_and_bad_gradients() -> None:
    with pytest.raises(RuntimeError, match="dtype"):
        torch.ops.inpaintzoo.lstm_cell(torch.zeros(2, 8), torch.zeros(2, 2, dtype=torch.float64))
    gates, c = torch.zeros(2, 8), torch.zeros(2, 2)
    with pytest.raises(RuntimeError, match="grad_h must have the shape of c_prev"):
        torch.ops.inpaintzoo.lstm_cell_backward(torch.zeros(2, 3), c, gates, c, c)
    with pytest.raises(RuntimeError, match="lstm_cell_backward_activated: c must have the shape of c_prev"):
        torch.ops.inpaintzoo.lstm_cell_backward_activated(c, c, gates, c, torch.zeros(2, 3))
    with pytest.raises(RuntimeError, match="lstm_cell_train: c_prev must have shape"):
        torch.ops.inpaintzoo.lstm_cell_train(gates, torch.zeros(2, 3))


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=needs_cuda)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lstm_cell_cuda_matches_reference(device: str, dtype: torch.dtype) -> None:
    for lead, hidden in LSTM_SHAPES:
        gates, c_prev = _lstm_inputs(lead, hidden, dtype, device, seed=8)
        h, c = torch.ops.inpaintzoo.lstm_cell(gates, c_prev)
        torch.testing.assert_close((h, c), lstm_cell_reference(gates, c_prev), **_tolerances(dtype))
        grad_h, grad_c = torch.randn_like(c), torch.randn_like(c)
        got = torch.ops.inpaintzoo.lstm_cell_backward(grad_h, grad_c, gates, c_prev, c)
        tol = {"rtol": 2e-5, "atol": 2e-6} if dtype == torch.float32 else _tolerances(dtype)
        torch.testing.assert_close(got, _reference_grads(gates, c_prev, grad_h, grad_c), **tol)


# --------------------------------------------------------------------------------------------------------------
# row_lstm (one Row LSTM layer's recurrence)
# --------------------------------------------------------------------------------------------------------------

ROW_SHAPES = [(1, 1, 1, 1), (1, 3, 5, 2), (4, 2, 1, 3), (5, 2, 7, 3), (6, 3, 9, 17), (32, 2, 32, 16)]


def _row_inputs(rows: int, batch: int, width: int, hidden: int, dtype: torch.dtype, device: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    input_gates = torch.randn(rows, batch, width, 4 * hidden, generator=g, dtype=dtype)
    w_state = torch.randn(4 * hidden, hidden, 3, generator=g, dtype=dtype) / (3 * hidden) ** 0.5
    return input_gates.to(device), w_state.to(device)


def _row_grads(fn, input_gates, w_state, seed: int = 1):
    """h, c and the gradients of a random weighting of both with respect to input_gates and w_state."""
    x, w = input_gates.detach().requires_grad_(), w_state.detach().requires_grad_()
    h, c = fn(x, w)
    g = torch.Generator().manual_seed(seed)
    weights = [torch.randn(t.shape, generator=g, dtype=t.dtype).to(t.device) for t in (h, c)]
    loss = (h * weights[0]).sum() + (c * weights[1]).sum()
    grads = torch.autograd.grad(loss, (x, w), allow_unused=True, materialize_grads=True)
    return h.detach(), c.detach(), *grads


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", ROW_SHAPES)
def test_row_lstm_matches_the_reference_forward_and_backward(cpu_isa: str, shape, dtype: torch.dtype) -> None:
    from inpaintzoo.ops.row_lstm import row_lstm_reference

    inputs = _row_inputs(*shape, dtype, "cpu")
    got = _row_grads(torch.ops.inpaintzoo.row_lstm, *inputs)
    want = _row_grads(row_lstm_reference, *inputs)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-10}
    for name, a, b in zip(("h", "c", "grad input_gates", "grad w_state"), got, want):
        torch.testing.assert_close(a, b, **tol, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(1, 2, 3, 1), (3, 2, 4, 2), (4, 1, 1, 3), (3, 2, 5, 4)])
def test_row_lstm_gradcheck(shape, device: str) -> None:
    input_gates, w_state = _row_inputs(*shape, torch.float64, device, seed=2)
    args = (input_gates.requires_grad_(), w_state.requires_grad_())
    assert torch.autograd.gradcheck(torch.ops.inpaintzoo.row_lstm, args)


@pytest.mark.parametrize("used", ["h", "c"])
def test_row_lstm_backward_with_one_output_unused(used: str) -> None:
    """Autograd hands no gradient for an unused output (the model never uses c): it must count as zero."""
    from inpaintzoo.ops.row_lstm import row_lstm_reference

    input_gates, w_state = _row_inputs(4, 2, 5, 3, torch.float64, "cpu", seed=7)
    grads = []
    for fn in (torch.ops.inpaintzoo.row_lstm, row_lstm_reference):
        x, w = input_gates.clone().requires_grad_(), w_state.clone().requires_grad_()
        h, c = fn(x, w)
        grads.append(torch.autograd.grad((h if used == "h" else c).sin().sum(), (x, w)))
    torch.testing.assert_close(grads[0], grads[1])


def test_row_lstm_without_gradients_and_from_a_permuted_view() -> None:
    """The model hands over a permuted convolution output: any strides must give the same numbers."""
    input_gates, w_state = _row_inputs(5, 3, 6, 4, torch.float32, "cpu", seed=3)
    permuted = input_gates.permute(1, 3, 0, 2).contiguous().permute(2, 0, 3, 1)
    assert not permuted.is_contiguous()
    with torch.no_grad():
        h, c = torch.ops.inpaintzoo.row_lstm(permuted, w_state)
    from inpaintzoo.ops.row_lstm import row_lstm_reference

    torch.testing.assert_close((h, c), row_lstm_reference(input_gates, w_state), rtol=1e-5, atol=1e-6)


def test_row_lstm_opcheck_and_compile() -> None:
    input_gates, w_state = _row_inputs(3, 2, 4, 2, torch.float64, "cpu", seed=4)
    torch.library.opcheck(torch.ops.inpaintzoo.row_lstm.default, (input_gates.requires_grad_(), w_state))
    torch.library.opcheck(torch.ops.inpaintzoo.row_lstm_train.default, (input_gates.detach(), w_state))
    h, c, gates = torch.ops.inpaintzoo.row_lstm_train(input_gates.detach(), w_state)
    grads = (torch.randn_like(h), torch.randn_like(c))
    torch.library.opcheck(torch.ops.inpaintzoo.row_lstm_backward.default, (*grads, gates, h, c, w_state))

    def loss(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        h, c = torch.ops.inpaintzoo.row_lstm(x * 2, w)
        return h.sum() + c.square().sum()

    compiled = torch.compile(loss, backend="aot_eager", fullgraph=True)
    x = input_gates.detach().requires_grad_()
    torch.testing.assert_close(compiled(x, w_state), loss(x, w_state))
    torch.testing.assert_close(torch.autograd.grad(compiled(x, w_state), x), torch.autograd.grad(loss(x, w_state), x))


@pytest.mark.parametrize(
    "gates_shape,w_shape,message",
    [
        ((2, 3, 4), (8, 2, 3), "input_gates must be \\(rows, batch, width, 4H\\)"),
        ((2, 1, 4, 8), (8, 2, 2), "1x3 Conv1d weight"),
        ((2, 1, 4, 8), (12, 2, 3), "must be \\(4H, H, 3\\)"),
        ((2, 1, 4, 12), (8, 2, 3), "end in 12 channels but w_state has H = 2"),
    ],
)
def test_row_lstm_rejects_bad_inputs(gates_shape, w_shape, message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        torch.ops.inpaintzoo.row_lstm(torch.zeros(gates_shape), torch.zeros(w_shape))
    with pytest.raises(RuntimeError, match="dtype"):
        torch.ops.inpaintzoo.row_lstm(torch.zeros(2, 1, 4, 8), torch.zeros(8, 2, 3, dtype=torch.float64))


def test_row_lstm_model_trains_alike_with_either_recurrence(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Row LSTM's likelihood and its gradients do not depend on which recurrence runs."""
    from inpaintzoo.ops.row_lstm import row_lstm_reference
    from inpaintzoo.zoo.density import row_lstm

    torch.manual_seed(5)
    model = row_lstm.RowLSTM(8, hidden=6, layers=2)
    images = torch.randint(0, 256, (2, 3, 8, 8)) / 255.0
    results = []
    for recurrence in (torch.ops.inpaintzoo.row_lstm, row_lstm_reference):
        monkeypatch.setattr(row_lstm, "row_lstm", recurrence)
        model.zero_grad()
        nll = model.nll(images).sum()
        nll.backward()
        results.append((nll.detach(), [p.grad.clone() for p in model.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-5, atol=1e-4)
    for a, b in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=needs_cuda)])
def test_row_lstm_cuda_matches_the_cpu(device: str) -> None:
    inputs = _row_inputs(32, 4, 32, 16, torch.float32, "cpu", seed=6)
    want = _row_grads(torch.ops.inpaintzoo.row_lstm, *inputs)
    got = _row_grads(torch.ops.inpaintzoo.row_lstm, *(t.to(device) for t in inputs))
    for a, b in zip(got, want):
        torch.testing.assert_close(a.cpu(), b, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------------------------------
# pixelcnn_fill
# --------------------------------------------------------------------------------------------------------------


def make_weights(width: int, depth: int, seed: int, logit_scale: float = 8.0) -> list:
    """Random weights with the causal masks of the contract (window ending at the pixel, R -> G -> B).

    `logit_scale` spreads the logits so that no two classes tie within float rounding: greedy decisions are
    then the same for every summation order.
    """
    generator = torch.Generator().manual_seed(seed)
    group = torch.arange(width) * 3 // width
    out_group = torch.arange(3 * LEVELS) // LEVELS
    w_in = torch.randn(width, 3, WINDOW, WINDOW, generator=generator) / 75**0.5
    w_in[:, :, -1, -1] *= (torch.arange(3)[None, :] < group[:, None]).float()  # mask A at the pixel itself
    w_hidden = [
        torch.randn(width, width, generator=generator) / width**0.5 * (group[None, :] <= group[:, None]).float()
        for _ in range(depth)
    ]
    w_out = torch.randn(3 * LEVELS, width, generator=generator) * logit_scale / width**0.5
    w_out *= (group[None, :] <= out_group[:, None]).float()
    b_in = torch.randn(width, generator=generator) * 0.1
    b_hidden = [torch.randn(width, generator=generator) * 0.1 for _ in range(depth)]
    b_out = torch.randn(3 * LEVELS, generator=generator)
    return [w_in, b_in, w_hidden, b_hidden, w_out, b_out]


def network_logits(images: torch.Tensor, weights: list, slope: float) -> torch.Tensor:
    """The whole network on whole images: logits (B, 3, 256, H, W) of every sub-pixel given the rest."""
    w_in, b_in, w_hidden, b_hidden, w_out, b_out = weights
    pad = WINDOW - 1
    h = F.leaky_relu(F.conv2d(F.pad(images, (pad, 0, pad, 0)), w_in, b_in), slope)
    for w, b in zip(w_hidden, b_hidden):
        h = F.leaky_relu(torch.einsum("oi,bihw->bohw", w, h) + b[:, None, None], slope)
    logits = torch.einsum("oi,bihw->bohw", w_out, h) + b_out[:, None, None]
    return logits.view(images.shape[0], 3, LEVELS, *images.shape[2:])


def decode_level(logits: torch.Tensor, mode: int) -> torch.Tensor:
    """Greedy (first argmax) or rounded mean, as the contract in inpaintzoo/ops/pixelcnn_fill.py says."""
    if mode == 0:
        return logits.argmax(dim=-1).float()
    return torch.round(torch.softmax(logits, dim=-1) @ torch.arange(LEVELS, dtype=logits.dtype))


def naive_fill(images: torch.Tensor, mask: torch.Tensor, weights: list, mode: int, slope: float) -> torch.Tensor:
    """The whole network on the whole image for every sub-pixel, in raster order, R then G then B."""
    work = images.masked_fill(mask[:, None], 0.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: a second thread only adds fork/join waits on a busy machine
    try:
        for b in range(images.shape[0]):
            for pixel in mask[b].flatten().nonzero().flatten().tolist():
                i, j = divmod(pixel, images.shape[3])
                for c in range(3):
                    logits = network_logits(work[b : b + 1], weights, slope)[0, c, :, i, j]
                    work[b, c, i, j] = decode_level(logits[None], mode)[0] / 255
    finally:
        torch.set_num_threads(threads)
    return torch.where(mask[:, None], work, images)


@functools.cache
def naive_case(mode: int, depth: int) -> tuple[torch.Tensor, torch.Tensor, list, torch.Tensor]:
    """Inputs, weights and the naive fill, computed once and shared by the instruction sets."""
    images, mask = fill_inputs()
    weights = make_weights(12, depth, seed=depth)
    return images, mask, weights, naive_fill(images, mask, weights, mode, slope=0.1)


def fill(images, mask, weights, mode: int, temperature: float = 1.0, slope: float = 0.1, seed: int = 0):
    return torch.ops.inpaintzoo.pixelcnn_fill(images, mask, *weights, mode, temperature, slope, seed)


def fill_inputs(batch: int = 4, height: int = 9, width: int = 10, seed: int = 0):
    """Images with NaN in their holes (a fill must never read them) and holes of several kinds."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, height, width, generator=generator)
    mask = torch.zeros(batch, height, width, dtype=torch.bool)
    mask[0, 3:5, 3:7] = True  # a box inside
    if batch > 1:
        mask[1, :3, :2] = True  # the top-left corner: windows run off the image
    if batch > 2:
        mask[2] = torch.rand(height, width, generator=generator) < 0.15  # scattered pixels
    # image 3 (if any) has no hole at all
    return images.masked_fill(mask[:, None], float("nan")), mask


@pytest.mark.parametrize("mode", [0, 1])
@pytest.mark.parametrize("depth", [0, 2])
def test_fill_matches_the_naive_fill(cpu_isa: str, mode: int, depth: int) -> None:
    images, mask, weights, want = naive_case(mode, depth)
    got = fill(images, mask, weights, mode)
    assert torch.equal(got[mask[:, None].expand_as(got)], want[mask[:, None].expand_as(want)])
    outside = ~mask[:, None].expand_as(got)
    assert torch.equal(got[outside], images[outside])  # copied bit for bit
    assert torch.isfinite(got).all()


def assert_decisions_follow_the_network(filled, mask, weights, mode: int, slope: float) -> None:
    """One forward of the whole network over the filled image gives the logits every decision saw (the network
    is causal), so each written value must be their decode, up to float rounding of the summation order."""
    logits = network_logits(filled, weights, slope).permute(0, 1, 3, 4, 2)  # (B, 3, H, W, 256)
    holes = mask[:, None].expand_as(filled)
    written = (filled[holes] * 255).round()
    assert torch.allclose(filled[holes] * 255, written, atol=1e-4)  # on the 1/255 grid
    decided = logits[holes]
    if mode == 0:
        chosen = decided.gather(1, written.long()[:, None])[:, 0]
        assert (chosen >= decided.max(dim=1).values - 1e-4).all()
    else:
        mean = torch.softmax(decided.double(), dim=1) @ torch.arange(LEVELS, dtype=torch.float64)
        assert ((written - mean).abs() <= 0.5 + 1e-4).all()


def default_size_inputs():
    """Width 120, depth 4 (the study's network), an 8x8 hole in 12x12 images."""
    images = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(2, 12, 12, dtype=torch.bool)
    mask[:, 3:11, 2:10] = True
    images = images.masked_fill(mask[:, None], float("nan"))
    return images, mask, make_weights(120, 4, seed=3)


@pytest.mark.parametrize("mode", [0, 1])
def test_fill_decisions_follow_the_network_at_default_size(cpu_isa: str, mode: int) -> None:
    images, mask, weights = default_size_inputs()
    assert_decisions_follow_the_network(fill(images, mask, weights, mode, slope=0.01), mask, weights, mode, 0.01)


def test_fill_matches_the_pytorch_fill_of_the_pixelcnn() -> None:
    """The op against the project's PyTorch windowed fill, with weights from a real PixelCNN."""
    from inpaintzoo.ops.pixelcnn_fill import decode_subpixel, pixelcnn_fill_torch
    from inpaintzoo.zoo.density.pixelcnn import PixelCNN

    torch.manual_seed(0)
    model = PixelCNN(image_size=10, width=24, depth=2, negative_slope=0.05).eval()
    with torch.no_grad():
        model.conv_out.weight.mul_(20)  # spread the logits (see make_weights)
    w = model.fill_weights()
    weights = [w.w_in, w.b_in, w.w_hidden, w.b_hidden, w.w_out, w.b_out]
    images, mask = fill_inputs(batch=3, height=10, width=10, seed=2)
    with torch.no_grad():
        torch.testing.assert_close(network_logits(images.nan_to_num(0), weights, 0.05), model(images.nan_to_num(0)))
    for mode in (0, 1):
        want = pixelcnn_fill_torch(images, mask, w, 0.05, lambda logits, m=mode: decode_subpixel(logits, m))
        assert torch.equal(fill(images, mask, weights, mode, slope=0.05), want)


def test_fill_sample_is_reproducible_on_the_grid_and_leaves_the_rest(cpu_isa: str) -> None:
    images, mask = fill_inputs(seed=3)
    weights = make_weights(12, 2, seed=4, logit_scale=1.0)  # flat enough that samples vary
    first = fill(images, mask, weights, 2, temperature=1.0, seed=11)
    assert torch.equal(first, fill(images, mask, weights, 2, temperature=1.0, seed=11))
    assert not torch.equal(first, fill(images, mask, weights, 2, temperature=1.0, seed=12))
    holes = mask[:, None].expand_as(first)
    assert torch.allclose(first[holes] * 255, (first[holes] * 255).round(), atol=1e-4)
    assert ((first[holes] >= 0) & (first[holes] <= 1)).all()
    assert torch.equal(first[~holes], images[~holes])
    # samples differ from greedy somewhere, and every drawn class had a real chance
    assert not torch.equal(first, fill(images, mask, weights, 0))
    logits = network_logits(first, weights, slope=0.1).permute(0, 1, 3, 4, 2)[holes]
    probs = torch.softmax(logits, dim=1).gather(1, (first[holes] * 255).round().long()[:, None])
    assert (probs > 1e-6).all()


def test_fill_sample_at_low_temperature_is_greedy(cpu_isa: str) -> None:
    images, mask = fill_inputs(seed=4)
    weights = make_weights(12, 1, seed=5)
    assert torch.equal(fill(images, mask, weights, 2, temperature=1e-4, seed=3), fill(images, mask, weights, 0))


def test_fill_is_the_same_on_one_thread_and_in_parallel() -> None:
    images, mask = fill_inputs(batch=7, seed=5)
    mask[3:, 4:7, 4:9] = True
    weights = make_weights(24, 2, seed=6, logit_scale=1.0)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = [fill(images, mask, weights, mode, seed=9) for mode in (0, 1, 2)]
    finally:
        torch.set_num_threads(threads)
    for mode, want in zip((0, 1, 2), alone):
        assert torch.equal(fill(images, mask, weights, mode, seed=9), want)


def test_fill_handles_an_empty_batch_and_no_holes() -> None:
    weights = make_weights(6, 1, seed=7)
    empty = torch.zeros(0, 3, 4, 4)
    assert fill(empty, torch.zeros(0, 4, 4, dtype=torch.bool), weights, 0).shape == empty.shape
    images = torch.rand(2, 3, 4, 4)
    assert torch.equal(fill(images, torch.zeros(2, 4, 4, dtype=torch.bool), weights, 0), images)


def test_fill_opcheck() -> None:
    images, mask = fill_inputs(batch=2, height=5, width=6, seed=6)
    weights = make_weights(6, 1, seed=8)
    args = (images.nan_to_num(0), mask, *weights, 1, 1.0, 0.1, 0)
    torch.library.opcheck(torch.ops.inpaintzoo.pixelcnn_fill.default, args)


def _bad_fill_calls():
    images, mask = torch.rand(2, 3, 5, 5), torch.zeros(2, 5, 5, dtype=torch.bool)
    w_in, b_in, w_hidden, b_hidden, w_out, b_out = make_weights(6, 1, seed=9)
    good = dict(
        images=images, mask=mask, w_in=w_in, b_in=b_in, w_hidden=w_hidden, b_hidden=b_hidden, w_out=w_out, b_out=b_out
    )
    good.update(mode=0, temperature=1.0, negative_slope=0.1, seed=0)
    cases = [
        ({"images": images[:, :2]}, "images must have shape"),
        ({"images": images.double()}, "images must be float32"),
        ({"mask": mask.float()}, "mask must be bool"),
        ({"mask": mask[:, :4]}, "mask must have shape"),
        ({"w_in": torch.zeros(4, 3, 5, 5)}, "multiple of 3"),
        ({"w_in": torch.zeros(6, 3, 3, 3)}, "w_in must have shape"),
        ({"b_hidden": []}, "hidden biases"),
        ({"w_hidden": [torch.zeros(6, 5)]}, "w_hidden"),
        ({"w_out": torch.zeros(767, 6)}, "w_out must have shape"),
        ({"mode": 3}, "mode must be 0"),
        ({"temperature": 0.0}, "temperature must be a positive"),
    ]
    return [({**good, **change}, message) for change, message in cases]


@pytest.mark.parametrize("kwargs,message", _bad_fill_calls())
def test_fill_rejects_bad_inputs(kwargs: dict, message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        torch.ops.inpaintzoo.pixelcnn_fill(*kwargs.values())


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=needs_cuda)])
def test_fill_cuda_matches_the_cpu_kernel(device: str) -> None:
    images, mask = fill_inputs(seed=7)
    for width, depth in [(12, 0), (12, 2)]:
        weights = make_weights(width, depth, seed=width + depth)
        on_gpu = [w.to(device) if torch.is_tensor(w) else [t.to(device) for t in w] for w in weights]
        for mode in (0, 1):
            got = fill(images.to(device), mask.to(device), on_gpu, mode).cpu()
            assert_decisions_follow_the_network(got, mask, weights, mode, 0.1)
            if mode == 0:  # spread logits: no tie that a different summation order could flip
                assert torch.equal(got, fill(images, mask, weights, mode))


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=needs_cuda)])
def test_fill_cuda_at_default_size_and_sampling(device: str) -> None:
    images, mask, weights = default_size_inputs()
    on_gpu = [w.to(device) if torch.is_tensor(w) else [t.to(device) for t in w] for w in weights]
    args = (images.to(device), mask.to(device), on_gpu)
    for mode in (0, 1):
        assert_decisions_follow_the_network(fill(*args, mode, slope=0.01).cpu(), mask, weights, mode, 0.01)
    sampled = fill(*args, 2, slope=0.01, seed=5).cpu()
    assert torch.equal(sampled, fill(*args, 2, slope=0.01, seed=5).cpu())
    holes = mask[:, None].expand_as(sampled)
    assert torch.equal(sampled[~holes], images[~holes])
    assert torch.allclose(sampled[holes] * 255, (sampled[holes] * 255).round(), atol=1e-4)
