"""Optimizers: param groups, freezing, and update rules checked against hand-written references.

The references below are written out in plain NumPy from the published formulas
(PyTorch's documentation of SGD and Adam/AdamW), not from minitl's code.
"""

import numpy as np
import pytest

import minitl
from minitl import Tensor
from minitl.backend import to_device
from minitl.nn import Parameter
from minitl.optim import SGD, Adam, AdamW, Optimizer

GRADS = [np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.1, -1.0]), np.array([-0.7, 2.0, 0.2])]
W0 = np.array([0.5, -1.0, 2.0])


def run(optimizer_cls, grads=GRADS, w0=W0, **hyper):
    """Apply ``optimizer_cls`` to one float64 parameter with a fixed gradient sequence."""
    p = Parameter(w0.copy())
    opt = optimizer_cls([p], **hyper)
    trajectory = []
    for g in grads:
        p.grad = Tensor(g.copy())
        opt.step()
        trajectory.append(p.data.copy())
    return trajectory


# -- references, written from the formulas ----------------------------------------


def sgd_reference(lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    w, buf, out = W0.copy(), None, []
    for g in GRADS:
        d = g + weight_decay * w
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        w = w - lr * d
        out.append(w)
    return out


def adam_reference(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    b1, b2 = betas
    w, m, v, out = W0.copy(), np.zeros(3), np.zeros(3), []
    for t, g in enumerate(GRADS, start=1):
        if decoupled:
            w = w * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return out


@pytest.mark.parametrize("hyper", [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, dampening=0.5),
    dict(lr=0.1, momentum=0.9, nesterov=True),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True),
], ids=["plain", "momentum", "dampening", "nesterov", "weight_decay", "all"])
def test_sgd_matches_reference(hyper):
    np.testing.assert_allclose(run(SGD, **hyper), sgd_reference(**hyper), rtol=1e-13, atol=1e-15)


def test_sgd_hand_computed_scalars():
    # w0 = 1, gradients 1, 2, 3, lr = 0.1, momentum 0.9, dampening 0.5:
    # b = 1 (first step: no dampening) -> w = 0.9
    # b = 0.9·1 + 0.5·2 = 1.9          -> w = 0.71
    # b = 0.9·1.9 + 0.5·3 = 3.21       -> w = 0.389
    grads = [np.array(1.0), np.array(2.0), np.array(3.0)]
    traj = run(SGD, grads=grads, w0=np.array(1.0), lr=0.1, momentum=0.9, dampening=0.5)
    np.testing.assert_allclose(traj, [0.9, 0.71, 0.389], rtol=1e-14)
    # Nesterov, momentum 0.9: b = 1, 2.9, 5.61; steps 1.9, 4.61, 8.049 (g + 0.9 b)
    traj = run(SGD, grads=grads, w0=np.array(1.0), lr=0.1, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(traj, [0.81, 0.349, -0.4559], rtol=1e-13)
    # weight decay 0.1: steps 1.1, 2 + 0.089, 3 + 0.06811
    traj = run(SGD, grads=grads, w0=np.array(1.0), lr=0.1, weight_decay=0.1)
    np.testing.assert_allclose(traj, [0.89, 0.6811, 0.374289], rtol=1e-14)


@pytest.mark.parametrize("hyper", [
    dict(lr=0.1),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.1, weight_decay=0.1),
], ids=["default", "betas", "l2"])
def test_adam_matches_reference(hyper):
    np.testing.assert_allclose(run(Adam, **hyper), adam_reference(**hyper), rtol=1e-13)


@pytest.mark.parametrize("hyper", [dict(lr=0.1), dict(lr=0.1, weight_decay=0.5)])
def test_adamw_matches_reference(hyper):
    expected = adam_reference(decoupled=True, **{"weight_decay": 1e-2, **hyper})
    np.testing.assert_allclose(run(AdamW, **hyper), expected, rtol=1e-13)


def test_adam_first_step_is_lr_times_sign():
    # After bias correction the first Adam step is lr · g/(|g| + ε·…) ≈ lr · sign(g).
    (w1,) = run(Adam, grads=GRADS[:1], lr=0.1)
    np.testing.assert_allclose(W0 - w1, 0.1 * np.sign(GRADS[0]), rtol=1e-7)


def test_quadratic_loss_through_autograd():
    # loss = ½‖A w − y‖², ∇ = Aᵀ(A w − y): SGD with momentum, gradients from backward().
    rng = np.random.default_rng(0)
    A, y = rng.standard_normal((5, 3)), rng.standard_normal(5)
    w = Parameter(W0.copy())
    opt = SGD([w], lr=0.05, momentum=0.9)
    ref_w, buf = W0.copy(), None
    for _ in range(3):
        r = minitl.matmul(Tensor(A), w) - Tensor(y)
        loss = (r * r).sum() * 0.5
        opt.zero_grad()
        loss.backward()
        opt.step()
        g = A.T @ (A @ ref_w - y)
        buf = g if buf is None else 0.9 * buf + g
        ref_w = ref_w - 0.05 * buf
        np.testing.assert_allclose(w.data, ref_w, rtol=1e-12)


# -- freezing ----------------------------------------------------------------------


def _two_layer_model(rng):
    W1 = Parameter(rng.standard_normal((8, 4)).astype(np.float32))
    b1 = Parameter(np.zeros(8, np.float32))
    W2 = Parameter(rng.standard_normal((3, 8)).astype(np.float32) * 0.3)
    b2 = Parameter(np.zeros(3, np.float32))
    return W1, b1, W2, b2


@pytest.mark.parametrize("make_opt", [
    lambda ps: SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.1),
    lambda ps: AdamW(ps, lr=0.01, weight_decay=0.1),
], ids=["sgd-momentum-wd", "adamw"])
def test_frozen_parameters_are_bit_identical_after_50_steps(make_opt):
    rng = np.random.default_rng(1)
    W1, b1, W2, b2 = params = _two_layer_model(rng)
    W1.requires_grad = False
    b1.requires_grad = False
    frozen_before = [W1.data.copy(), b1.data.copy()]
    trainable_before = [W2.data.copy(), b2.data.copy()]
    opt = make_opt(list(params))  # the optimizer holds the frozen ones too
    x = Tensor(rng.standard_normal((16, 4)).astype(np.float32))
    targets = Tensor(rng.integers(0, 3, 16))
    losses = []
    for _ in range(50):
        h = (x @ W1.T + b1).relu()
        loss = minitl.cross_entropy(h @ W2.T + b2, targets)
        opt.zero_grad()
        loss.backward()
        assert W1.grad is None and b1.grad is None
        opt.step()
        losses.append(loss.item())
    assert np.array_equal(W1.data, frozen_before[0]) and np.array_equal(b1.data, frozen_before[1])
    assert W1 not in opt.state and b1 not in opt.state
    assert not np.allclose(W2.data, trainable_before[0])
    assert not np.allclose(b2.data, trainable_before[1])
    assert losses[-1] < losses[0]


def test_parameter_without_gradient_gets_no_decay_nor_momentum_drift():
    a, b = Parameter(np.ones(3)), Parameter(np.ones(3))
    opt = SGD([a, b], lr=0.1, momentum=0.9, weight_decay=0.5)
    a.grad = Tensor(np.ones(3))
    b.grad = Tensor(np.ones(3))
    opt.step()
    b_after_one = b.data.copy()
    b.grad = None  # e.g. frozen after one step: its momentum must not keep moving it
    for _ in range(5):
        a.grad = Tensor(np.ones(3))
        opt.step()
    assert np.array_equal(b.data, b_after_one)
    adam = Adam([b], lr=0.1)
    adam.step()
    assert b not in adam.state


# -- groups ------------------------------------------------------------------------


def test_two_groups_move_by_their_own_learning_rate():
    body, head = Parameter(np.array([1.0, 2.0])), Parameter(np.array([3.0]))
    opt = SGD([{"params": [body], "lr": 1e-3}, {"params": [head]}], lr=0.5)
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 0.5]
    assert opt.param_groups[0]["momentum"] == 0.0  # filled from the defaults
    body.grad = Tensor(np.array([2.0, -4.0]))
    head.grad = Tensor(np.array([1.0]))
    opt.step()
    np.testing.assert_array_equal(body.data, [1.0 - 2e-3, 2.0 + 4e-3])
    np.testing.assert_array_equal(head.data, [2.5])


def test_group_errors():
    p, q = Parameter(np.ones(2)), Parameter(np.ones(2))
    with pytest.raises(TypeError, match="set"):
        SGD({p, q}, lr=0.1)
    with pytest.raises(TypeError, match="set"):
        SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(ValueError, match="another parameter group"):
        SGD([{"params": [p]}, {"params": [q, p]}], lr=0.1)
    with pytest.raises(ValueError, match="twice"):
        SGD([p, p], lr=0.1)
    with pytest.raises(TypeError, match="cannot require a gradient"):
        SGD([Tensor(np.arange(3))], lr=0.1)
    with pytest.raises(TypeError, match="ndarray"):
        SGD([np.ones(3)], lr=0.1)
    with pytest.raises(TypeError, match="wrap it in a list"):
        SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="'lr'"):
        SGD([p])
    with pytest.raises(ValueError, match="learning rate"):
        Adam([p], lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        Adam([p], betas=(0.9, 1.0))
    opt = SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="another parameter group"):
        opt.add_param_group({"params": [p]})


def test_frozen_and_generator_params_are_accepted():
    p = Parameter(np.ones(2), requires_grad=False)
    q = Parameter(np.ones(2))
    opt = Adam(iter([p, q]))  # a generator, like model.parameters(); frozen p is allowed
    held = opt.param_groups[0]["params"]
    assert len(held) == 2 and held[0] is p and held[1] is q


def test_add_param_group_for_unfreezing():
    head, body = Parameter(np.array([1.0])), Parameter(np.array([1.0]), requires_grad=False)
    opt = SGD([head], lr=0.1, momentum=0.9)
    body.requires_grad = True
    opt.add_param_group({"params": [body], "lr": 0.01})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.01
    head.grad, body.grad = Tensor(np.array([1.0])), Tensor(np.array([1.0]))
    opt.step()
    np.testing.assert_array_equal(head.data, [0.9])
    np.testing.assert_array_equal(body.data, [0.99])


def test_zero_grad():
    p = Parameter(np.ones(3))
    shared = np.array([1.0, 2.0, 3.0])
    p.grad = Tensor(shared)
    opt = SGD([p], lr=0.1)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, np.zeros(3))
    np.testing.assert_array_equal(shared, [1.0, 2.0, 3.0])  # a new array, not written into
    opt.zero_grad()
    assert p.grad is None


def test_step_never_writes_into_the_gradient_array():
    g = np.array([1.0, -2.0, 0.5])
    for opt_cls, hyper in [(SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
                           (Adam, dict(weight_decay=0.1)), (AdamW, {})]:
        p = Parameter(W0.copy())
        opt = opt_cls([p], **hyper)
        for _ in range(3):
            p.grad = Tensor(g)
            opt.step()
        np.testing.assert_array_equal(g, [1.0, -2.0, 0.5])


def test_step_runs_without_recording_and_returns_closure_loss():
    p = Parameter(np.array([2.0]))
    opt = SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with minitl.no_grad():
        loss = opt.step(closure)  # the closure still records (enable_grad inside step)
    assert loss.item() == 4.0
    np.testing.assert_array_equal(p.data, [1.0])  # 2 − 0.25 · 4
    assert p.is_leaf


def test_read_only_parameter_array_is_replaced_not_written():
    data = np.ones(2)
    data.flags.writeable = False
    p = Parameter(data)
    opt = SGD([p], lr=0.5)
    p.grad = Tensor(np.ones(2))
    opt.step()
    np.testing.assert_array_equal(p.data, [0.5, 0.5])
    np.testing.assert_array_equal(data, [1.0, 1.0])


# -- state_dict ----------------------------------------------------------------------


@pytest.mark.parametrize("make_opt", [
    lambda ps: SGD([{"params": ps[:1], "lr": 0.05}, {"params": ps[1:]}], lr=0.1, momentum=0.9),
    lambda ps: Adam([{"params": ps[:1], "lr": 0.05}, {"params": ps[1:]}], lr=0.1),
    lambda ps: AdamW(ps, lr=0.1),
], ids=["sgd", "adam", "adamw"])
def test_state_dict_round_trip_continues_identically(make_opt):
    rng = np.random.default_rng(2)
    grads = [[rng.standard_normal(3), rng.standard_normal(2)] for _ in range(6)]
    a = [Parameter(np.ones(3)), Parameter(np.zeros(2))]
    opt_a = make_opt(a)

    def steps(params, opt, gs):
        for g in gs:
            for p, gi in zip(params, g, strict=True):
                p.grad = Tensor(gi)
            opt.step()

    steps(a, opt_a, grads[:3])
    saved = opt_a.state_dict()
    snapshot = {k: {n: np.array(v, copy=True) for n, v in s.items()}
                for k, s in saved["state"].items()}
    b = [Parameter(p.data.copy()) for p in a]
    opt_b = make_opt(b)
    opt_b.load_state_dict(saved)
    steps(a, opt_a, grads[3:])
    steps(b, opt_b, grads[3:])
    for pa, pb in zip(a, b, strict=True):
        np.testing.assert_array_equal(pa.data, pb.data)
    # the state_dict was a copy: later steps did not change it
    for k, s in saved["state"].items():
        for n, v in s.items():
            np.testing.assert_array_equal(v, snapshot[k][n])
    assert [g["params"] for g in saved["param_groups"]] in ([[0], [1]], [[0, 1]])


def test_load_state_dict_restores_hyperparameters_and_checks_layout():
    p = Parameter(np.ones(2))
    opt = SGD([p], lr=0.1)
    opt.param_groups[0]["lr"] = 0.02
    state = opt.state_dict()
    fresh = SGD([Parameter(np.ones(2))], lr=0.1)
    fresh.load_state_dict(state)
    assert fresh.param_groups[0]["lr"] == 0.02
    with pytest.raises(ValueError, match="groups"):
        SGD([{"params": [Parameter(np.ones(2))]}, {"params": [Parameter(np.ones(1))]}],
            lr=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match="parameters"):
        SGD([Parameter(np.ones(2)), Parameter(np.ones(1))], lr=0.1).load_state_dict(state)


def test_base_class_needs_an_update_rule():
    p = Parameter(np.ones(1))
    opt = Optimizer([p], {"lr": 0.1})
    p.grad = Tensor(np.ones(1))
    with pytest.raises(NotImplementedError):
        opt.step()


@pytest.mark.parametrize("opt_cls,hyper", [
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    (Adam, dict(lr=0.1, weight_decay=0.1)),
    (AdamW, dict(lr=0.1)),
])
def test_optimizers_on_each_device(device, opt_cls, hyper):
    # The update uses the parameter's own array module: CuPy state for CuPy parameters.
    p = Parameter(to_device(W0.copy(), device))  # on the CPU to_device would share W0
    opt = opt_cls([p], **hyper)
    for g in GRADS:
        p.grad = Tensor(to_device(g, device))
        opt.step()
    assert p.device == device
    assert all(to_device(v, device) is v for v in opt.state[p].values() if hasattr(v, "shape"))
    np.testing.assert_allclose(p.numpy(), run(opt_cls, **hyper)[-1], rtol=1e-12)
    state = opt.state_dict()
    fresh = opt_cls([Parameter(to_device(W0.copy(), device))], **hyper)
    fresh.load_state_dict(state)
    assert fresh.state[fresh.param_groups[0]["params"][0]].keys() == opt.state[p].keys()


@pytest.mark.parametrize("opt_cls,hyper", [
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    (Adam, dict(lr=0.1, weight_decay=0.1)),
    (AdamW, dict(lr=0.1)),
])
def test_zero_dimensional_parameters(opt_cls, hyper):
    # NumPy turns some 0-d results into scalars; state must stay arrays updated in place.
    grads_0d = [np.array(g[0]) for g in GRADS]
    traj_0d = run(opt_cls, grads=grads_0d, w0=np.array(W0[0]), **hyper)
    traj_1d = run(opt_cls, grads=[g[:1] for g in GRADS], w0=W0[:1], **hyper)
    assert traj_0d[-1].shape == ()
    np.testing.assert_array_equal(np.ravel(traj_0d), np.ravel(traj_1d))
