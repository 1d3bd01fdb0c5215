"""The engine's contract: what backward computes, when a graph is recorded, and that it
is freed."""

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import minitl as mt
from minitl.autograd import Function, unbroadcast
from minitl.errors import DeviceError, DTypeError, GraphError, ShapeError

# ---------------------------------------------------------------- tensor() and dtypes


def test_tensor_dtype_rules():
    assert mt.tensor(1.5).dtype == np.float32
    assert mt.tensor([[1.0, 2.0]]).dtype == np.float32
    assert mt.tensor(np.zeros(3, dtype=np.float64)).dtype == np.float64
    assert mt.tensor(np.zeros(3, dtype=np.float16)).dtype == np.float16
    assert mt.tensor([1, 2, 3]).dtype == np.int64
    assert mt.tensor(np.arange(3, dtype=np.int32)).dtype == np.int32
    assert mt.tensor([True, False]).dtype == np.bool_
    assert mt.tensor([1, 2], dtype="float64").dtype == np.float64


def test_tensor_copies_its_input():
    data = np.ones(3)
    t = mt.tensor(data)
    data[0] = 5
    assert t.numpy()[0] == 1


def test_numpy_scalars_keep_their_dtype():
    assert mt.Tensor(np.float64(2.0)).dtype == np.float64
    x = mt.tensor(np.array(2.0), requires_grad=True)  # 0-d float64
    assert (x * x).dtype == np.float64


def test_python_scalars_take_the_tensor_dtype():
    x = mt.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = (x * 2.5 + 1) / 3.0 - 0.5
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(DTypeError, match="floating-point"):
        mt.tensor([1, 2], requires_grad=True)


def test_array_facts():
    x = mt.tensor(np.arange(6.0).reshape(2, 3))
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and len(x) == 2
    assert x.device == "cpu" and x.T.shape == (3, 2)
    assert mt.tensor(3.0).item() == 3.0
    assert isinstance(x.numpy(), np.ndarray)
    with pytest.raises(ShapeError, match="item"):
        x.item()


# ---------------------------------------------------------------- backward


def test_gradient_of_a_diamond_graph_sums_both_paths():
    x = mt.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    y = x * x + x  # x reaches y along two paths
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 1)


def test_grad_accumulates_until_reset():
    x = mt.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_grad_is_a_tensor_with_the_input_shape():
    b = mt.tensor(np.zeros((1, 3)), requires_grad=True)
    (mt.tensor(np.ones((4, 5, 3))) + b).sum().backward()
    assert isinstance(b.grad, mt.Tensor)
    assert b.grad.shape == (1, 3)
    np.testing.assert_array_equal(b.grad.numpy(), np.full((1, 3), 20.0))


def test_backward_with_explicit_upstream_gradient():
    x = mt.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = x * x
    y.backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, -6.0])


def test_backward_on_non_scalar_needs_a_gradient():
    x = mt.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(GraphError, match=r"shape \(2, 3\)"):
        (x * 2).backward()


def test_backward_gradient_shape_must_match():
    x = mt.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ShapeError, match=r"\(3,\).*\(2, 3\)"):
        (x * 2).backward(np.ones(3))


def test_backward_twice_needs_retain_graph():
    x = mt.tensor(np.array([2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [8.0])
    with pytest.raises(GraphError, match="second time"):
        y.backward()


def test_backward_on_a_tensor_without_graph_is_an_error():
    with pytest.raises(GraphError, match="does not require a gradient"):
        mt.tensor([1.0, 2.0]).sum().backward()


def test_a_ten_thousand_op_chain_backpropagates_without_recursion():
    x = mt.tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001**10_000)


def test_leaf_backward_sets_its_own_grad():
    x = mt.tensor(np.array(3.0), requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


# ---------------------------------------------------------------- when a graph is recorded


def test_no_graph_without_an_input_that_requires_grad():
    a, b = mt.tensor([1.0]), mt.tensor([2.0])
    y = a * b
    assert not y.requires_grad and y.grad_fn is None


def test_no_grad_context_and_decorator():
    x = mt.tensor([1.0], requires_grad=True)
    with mt.no_grad():
        assert not mt.is_grad_enabled()
        y = x * 2
        with mt.enable_grad():
            z = x * 2
    assert mt.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad
    assert z.requires_grad

    @mt.no_grad()
    def evaluate(t):
        return t * 2

    assert not evaluate(x).requires_grad
    assert mt.is_grad_enabled()


def test_frozen_inputs_get_no_gradient_and_skip_work():
    calls = []

    class Spy(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, grad_out):
            calls.append(ctx.needs_input_grad)
            return None, grad_out * 2.0  # ∂(a·b)/∂b = a = 2

    frozen = mt.tensor([2.0], requires_grad=False)
    trained = mt.tensor([3.0], requires_grad=True)
    Spy.apply(frozen, trained).sum().backward()
    assert calls == [(False, True)]
    assert frozen.grad is None and trained.grad.item() == 2.0


def test_detach_shares_data_and_leaves_the_graph():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.grad_fn is None
    with pytest.raises(GraphError, match="leaf"):
        (x * 2).requires_grad = False


def test_comparisons_give_boolean_tensors_without_grad():
    x = mt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = x > 1.5
    assert mask.dtype == np.bool_ and not mask.requires_grad
    assert (x == mt.tensor([1.0, 0.0, 3.0])).numpy().tolist() == [True, False, True]


# ---------------------------------------------------------------- memory


def test_graph_is_freed_when_the_output_is_dropped():
    x = mt.tensor(np.ones(4), requires_grad=True)
    loss = (x * 2).sum()
    ctx_ref = weakref.ref(loss.grad_fn)
    del loss
    gc.collect()
    assert ctx_ref() is None


def test_backward_releases_saved_arrays():
    x = mt.tensor(np.ones(4), requires_grad=True)
    hidden = x * x
    loss = hidden.sum()
    loss.backward()
    assert hidden.grad_fn.released and hidden.grad_fn.saved == ()


def test_training_loop_memory_does_not_grow():
    rng = np.random.default_rng(0)
    w = mt.tensor(rng.standard_normal((32, 32)) * 0.1, requires_grad=True)
    x = mt.tensor(rng.standard_normal((64, 32)))
    history = []

    def step():
        loss = ((x @ w).tanh() @ w).relu().mean()
        loss.backward()
        with mt.no_grad():
            w.data -= 0.01 * w.grad.data
        w.grad = None

    tracemalloc.start()
    try:
        for i in range(1000):
            step()
            if i in (99, 999):
                gc.collect()  # also empties CPython's free lists, which tracemalloc counts
                history.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert history[1] - history[0] < 64 * 1024, history


# ---------------------------------------------------------------- unbroadcast, the one place


def test_unbroadcast_sums_new_and_stretched_axes():
    g = np.ones((4, 2, 3))
    assert unbroadcast(g, (3,)).tolist() == [8.0, 8.0, 8.0]
    assert unbroadcast(g, (2, 1)).tolist() == [[12.0], [12.0]]
    assert unbroadcast(g, ()).item() == 24.0
    with pytest.raises(GraphError, match="shape"):
        unbroadcast(g, (5,))


def test_a_function_returning_a_bad_gradient_shape_is_caught():
    class Broken(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1

        @staticmethod
        def backward(ctx, grad_out):
            return np.ones(7)

    with pytest.raises(GraphError, match="Broken"):
        Broken.apply(mt.tensor(np.ones(3), requires_grad=True)).sum().backward()


# ---------------------------------------------------------------- devices


def test_to_cpu_and_device(device):
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(device)
    assert y.device == device
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_cuda_without_cupy_says_how_to_install(monkeypatch):
    from minitl import backend

    monkeypatch.setattr(backend, "cupy", None)
    monkeypatch.setattr(backend, "CUPY_IMPORT_ERROR", "ModuleNotFoundError: No module 'cupy'")
    with pytest.raises(DeviceError, match=r"minitl\[cuda12\]"):
        mt.tensor([1.0]).to("cuda")


def test_mixing_devices_names_both(device):
    if device == "cpu":
        pytest.skip("needs a GPU to mix devices")
    a, b = mt.tensor([1.0]), mt.tensor([1.0]).to("cuda")
    with pytest.raises(DeviceError, match="cpu.*cuda|cuda.*cpu"):
        a + b
