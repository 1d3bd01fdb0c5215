"""Host/device discipline: what a user on a GPU meets where host data meets device tensors.

The data decides the device, and nothing moves behind the user's back: a scalar (Python or
NumPy) and Python data (a list) are made on the tensors' device; an array that lives on
another device is a DeviceError naming the op and both devices; the documented moves
(``mt.tensor(x, device=...)``, ``.to(...)``) are the way across. Every test here failed on
the device double before the guards (``guards.on_device_of``) and the fixes below it.
"""

from __future__ import annotations

import numpy as np
import pytest

import minitl as mt
from minitl import backend, nn, optim
from minitl.errors import DeviceError
from minitl.transfer import StabilityMonitor
from minitl.transfer.mismatch import mismatch_decomposition


def _t(values, device, dtype=np.float32, requires_grad=False):
    return mt.tensor(np.asarray(values, dtype=dtype), device=device,
                     requires_grad=requires_grad)


# ----------------------------------------------------------------------------- scalars

NUMPY_SCALAR_CASES = [  # (tensor dtype, scalar, result dtype by minitl's rules)
    (np.float32, np.float32(2), np.float32),
    (np.float16, np.float32(2), np.float32),  # a NumPy scalar keeps its dtype, as a 0-d array
    (np.float32, np.float64(2), np.float32),  # np.float64 is a Python float: the tensor's
    (np.int64, np.int64(1), np.int64),
    (np.int32, np.int64(1), np.int64),
    (np.float32, np.int64(1), np.float32),
]


@pytest.mark.parametrize("dtype,scalar,expected", NUMPY_SCALAR_CASES)
def test_numpy_scalars_are_scalars_on_every_device(device, dtype, scalar, expected):
    t, on_cpu = _t([1, 2, 3], device, dtype), _t([1, 2, 3], "cpu", dtype)
    uses = [lambda a: a * scalar, lambda a: scalar * a, lambda a: a + scalar,
            lambda a: a - scalar]
    for use in uses:
        out = use(t)
        assert out.device == device and out.dtype == expected
        np.testing.assert_array_equal(out.numpy(), use(on_cpu).numpy())
    cond = mt.tensor(np.array([True, False, True]), device=device)
    picked = mt.where(cond, t, scalar)
    assert picked.device == device and picked.dtype == expected
    np.testing.assert_array_equal(picked.numpy(), mt.where(cond.cpu(), on_cpu, scalar).numpy())
    assert (t == scalar).device == device


def test_python_and_numpy_scalar_upstream_gradients(device):
    for grad in (1.0, np.float32(1.0), 2):
        x = _t([1.0, 2.0], device, requires_grad=True)
        (x * x).sum().backward(grad)
        assert x.grad.device == device
        np.testing.assert_allclose(x.grad.numpy(), 2 * float(grad) * np.array([1.0, 2.0]))


def test_lists_are_made_on_the_tensors_device(device):
    t = _t([1.0, 2.0, 3.0], device)
    assert (t + [1.0, 1.0, 1.0]).device == device
    assert (t == [1.0, 0.0, 3.0]).numpy().tolist() == [True, False, True]


# ----------------------------------------------------------------------------- arrays


CROSSINGS = {  # case: (the op the error names, the use)
    "t + host": ("add", lambda t, h: t + h),
    "host + t": ("add", lambda t, h: h + t),
    "t * host": ("mul", lambda t, h: t * h),
    "t == host": ("eq", lambda t, h: t == h),
    "t < host": ("lt", lambda t, h: t < h),
    "where(c, t, host)": ("where", lambda t, h: mt.where(t > 0, t, h)),
    "t @ host": ("matmul", lambda t, h: t @ h.reshape(3, 1)),
    "backward(host)": ("backward", lambda t, h: (t * 1).backward(h)),
    "stack([t, host])": ("stack", lambda t, h: mt.stack([t, h])),
    "0-d array": ("add", lambda t, h: t + h[:1].reshape(())),
}


@pytest.mark.device_leg
@pytest.mark.parametrize("op,use", list(CROSSINGS.values()), ids=list(CROSSINGS))
@pytest.mark.parametrize("tensor_on", ["cpu", "cuda"])
def test_an_array_from_another_device_is_a_device_error_naming_both(tensor_on, op, use):
    array_on = "cpu" if tensor_on == "cuda" else "cuda"
    t = _t([1.0, 2.0, 3.0], tensor_on, requires_grad=True)
    other = backend.to_device(np.ones(3, np.float32), array_on)
    with pytest.raises(DeviceError) as info:
        use(t, other)
    message = str(info.value)
    assert message.startswith(f"{op}:"), message
    assert f"on {array_on}" in message and f"on {tensor_on}" in message


@pytest.mark.device_leg
def test_an_index_on_the_gpu_for_a_cpu_tensor_is_a_device_error():
    on_cpu = _t([[1.0, 2.0], [3.0, 4.0]], "cpu")
    for index in (mt.tensor([1, 0], device="cuda"), mt.tensor([True, False], device="cuda"),
                  (0, mt.tensor([1], device="cuda").data)):
        with pytest.raises(DeviceError, match="getitem: an index array on cuda"):
            on_cpu[index]
    on_gpu = _t([[1.0, 2.0], [3.0, 4.0]], "cuda", requires_grad=True)
    on_gpu[np.array([1, 1])].sum().backward()  # a host index is copied over, as in CuPy
    np.testing.assert_array_equal(on_gpu.grad.numpy(), [[0, 0], [2, 2]])


@pytest.mark.device_leg
def test_the_documented_moves_still_move():
    host = np.arange(3, dtype=np.float32)
    t = mt.tensor(host, device="cuda")
    assert t.device == "cuda" and (t + mt.tensor(host).to("cuda")).device == "cuda"
    assert mt.tensor(t.data, device="cpu").device == "cpu"


# ----------------------------------------------------------------------------- mismatch


def _body(seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(6, 8, rng=rng), nn.Tanh(), nn.Linear(8, 5, rng=rng))


def _probe(n=40, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return (rng.normal(size=(n, 6)) + y[:, None]).astype(np.float32), y


def test_mismatch_decomposition_on_the_bodys_device_equals_the_cpu(device):
    """The decomposition pushes its upstream gradient (computed on the host) through the
    body on the body's device."""
    x, y = _probe()
    before = {n: p.data.copy() for n, p in _body().named_parameters()}
    after = {n: v + np.float32(0.1) * np.sign(v) for n, v in before.items()}
    on_cpu = mismatch_decomposition(_body(), x, y, before, after)
    on_device = mismatch_decomposition(_body().to(device), x, y, before, after)
    for key, value in on_cpu.items():
        assert on_device[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key


def test_the_monitor_splits_the_mismatch_on_the_models_device(device):
    from minitl.transfer import BodyHead

    def model():
        return BodyHead(_body(), nn.Linear(5, 3, rng=np.random.default_rng(1))).to(device)

    rows = {}
    for where in ("cpu", device):
        m = model().to(where)
        monitor = StabilityMonitor(target_probe=_probe(), mismatch_parts=True).attach(m)
        opt = optim.SGD(m.parameters(), lr=0.5)
        x, y = _probe(seed=1)
        loss = mt.nn.functional.cross_entropy(m(mt.tensor(x, device=where)),
                                              mt.tensor(y, device=where))
        loss.backward()
        opt.step()
        rows[where] = monitor.on_eval(1)
    for key in ("mismatch", "mismatch_useful", "mismatch_destructive"):
        assert rows[device][key] == pytest.approx(rows["cpu"][key], rel=1e-4, abs=1e-7), key


# ----------------------------------------------------------------------------- L2-SP


def test_l2sp_moves_a_host_reference_to_the_weights_device(device):
    w = _t([[1.0, 2.0], [3.0, 4.0]], device, requires_grad=True)
    reference = np.zeros((2, 2), np.float32)  # e.g. straight from mt.load
    penalty = optim.l2sp_penalty([w], [reference], [], alpha=2.0, beta=0.0)
    assert penalty.device == device and penalty.item() == pytest.approx(30.0)
    penalty.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2.0 * w.numpy())


def test_an_l2sp_made_before_model_to_follows_the_weights(device):
    body = nn.Linear(2, 2, rng=np.random.default_rng(0))
    head = nn.Linear(2, 2, rng=np.random.default_rng(1))
    l2sp = optim.L2SP(body.parameters(), head.parameters(), alpha=1.0, beta=0.5)
    on_cpu = l2sp().item()
    body.to(device), head.to(device)
    penalty = l2sp()
    assert penalty.device == device and penalty.item() == pytest.approx(on_cpu)
    loss = head(body(_t([[1.0, 1.0]], device))).sum() + penalty
    loss.backward()
    assert body.weight.grad.device == device


def test_a_zero_l2sp_penalty_is_made_on_the_device_asked(device):
    zero = optim.l2sp_penalty([], [], [], alpha=1.0, beta=1.0, device=device)
    assert zero.device == device and zero.item() == 0.0
    assert (_t([1.0], device) + zero).device == device
    assert optim.L2SP([], [], alpha=1.0, beta=1.0)(device=device).device == device
