"""Learning-rate schedules: values per step and per param group, STLR by hand, state_dict."""

import math

import numpy as np
import pytest

from minitl import Tensor
from minitl.nn import Parameter
from minitl.optim import SGD
from minitl.optim.lr_scheduler import (
    CosineAnnealingLR,
    LambdaLR,
    LinearLR,
    LinearWarmup,
    SlantedTriangular,
    StepLR,
)


def two_group_optimizer(body_lr=1e-4, head_lr=1e-2):
    body, head = Parameter(np.ones(2)), Parameter(np.ones(1))
    return SGD([{"params": [body], "lr": body_lr}, {"params": [head], "lr": head_lr}], lr=1.0)


def trace(scheduler, steps):
    """The per-group lrs at t = 0 (after construction), 1, ..., steps."""
    out = [scheduler.get_last_lr()]
    for _ in range(steps):
        scheduler.step()
        out.append(scheduler.get_last_lr())
    return np.array(out)


def test_step_lr_per_group():
    opt = two_group_optimizer()
    lrs = trace(StepLR(opt, step_size=2, gamma=0.5), 5)
    factors = np.array([1, 1, 0.5, 0.5, 0.25, 0.25])
    np.testing.assert_allclose(lrs[:, 0], 1e-4 * factors, rtol=1e-15)
    np.testing.assert_allclose(lrs[:, 1], 1e-2 * factors, rtol=1e-15)
    np.testing.assert_allclose(lrs[:, 1] / lrs[:, 0], 100, rtol=1e-12)  # the ratio is kept
    assert [g["lr"] for g in opt.param_groups] == list(lrs[-1])
    assert [g["initial_lr"] for g in opt.param_groups] == [1e-4, 1e-2]


def test_cosine_annealing():
    opt = two_group_optimizer(body_lr=0.1, head_lr=1.0)
    lrs = trace(CosineAnnealingLR(opt, T_max=4, eta_min=0.01), 4)
    for base, column in [(0.1, lrs[:, 0]), (1.0, lrs[:, 1])]:
        expected = [0.01 + (base - 0.01) * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)]
        np.testing.assert_allclose(column, expected, rtol=1e-14)
        assert column[0] == pytest.approx(base) and column[4] == pytest.approx(0.01)
        assert column[2] == pytest.approx((base + 0.01) / 2)


def test_lambda_lr_one_function_and_one_per_group():
    opt = two_group_optimizer(body_lr=0.1, head_lr=1.0)
    lrs = trace(LambdaLR(opt, lambda t: 0.5**t), 3)
    np.testing.assert_allclose(lrs[:, 0], [0.1, 0.05, 0.025, 0.0125])
    opt = two_group_optimizer(body_lr=0.1, head_lr=1.0)
    lrs = trace(LambdaLR(opt, [lambda t: 1.0, lambda t: t + 1]), 2)
    np.testing.assert_allclose(lrs, [[0.1, 1.0], [0.1, 2.0], [0.1, 3.0]])
    with pytest.raises(ValueError, match="2 parameter groups"):
        LambdaLR(two_group_optimizer(), [lambda t: 1.0])


def test_linear_lr_and_warmup():
    opt = two_group_optimizer(body_lr=0.1, head_lr=1.0)
    lrs = trace(LinearLR(opt, start_factor=0.25, end_factor=1.0, total_iters=3), 5)
    np.testing.assert_allclose(lrs[:, 1], [0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(lrs[:, 0], lrs[:, 1] / 10)
    opt = two_group_optimizer(body_lr=0.1, head_lr=1.0)
    lrs = trace(LinearWarmup(opt, warmup_steps=4), 5)
    np.testing.assert_allclose(lrs[:, 1], [0.0, 0.25, 0.5, 0.75, 1.0, 1.0])


def stlr_by_hand(t, lr_max, T=100, cut_frac=0.1, ratio=32):
    cut = math.floor(T * cut_frac)
    p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    return lr_max * (1 + p * (ratio - 1)) / ratio


def test_slanted_triangular_matches_ulmfit_formula():
    opt = two_group_optimizer(body_lr=0.01 / 2.6, head_lr=0.01)
    lrs = trace(SlantedTriangular(opt, total_steps=100), 100)
    for t in range(101):
        assert lrs[t, 1] == pytest.approx(stlr_by_hand(t, 0.01), rel=1e-12)
        assert lrs[t, 0] == pytest.approx(stlr_by_hand(t, 0.01 / 2.6), rel=1e-12)
    assert lrs[0, 1] == pytest.approx(0.01 / 32)        # starts at lr_max / ratio
    assert lrs[10, 1] == pytest.approx(0.01)            # peak at t = cut = 10
    assert lrs.argmax(axis=0).tolist() == [10, 10]
    assert lrs[5, 1] == pytest.approx(0.01 * (1 + 0.5 * 31) / 32)   # halfway up: p = 0.5
    assert lrs[55, 1] == pytest.approx(lrs[5, 1])       # halfway down: p = 1 − 45/90
    assert lrs[100, 1] == pytest.approx(0.01 / 32)      # back to the floor at t = T
    np.testing.assert_allclose(lrs[:, 1] / lrs[:, 0], 2.6)


def test_slanted_triangular_floor_when_t_cut_frac_is_not_whole():
    # T = 25: cut = 2, the descent reaches p = 0 at t = 2 + 18 = 20; it then holds lr_max/ratio
    opt = two_group_optimizer(body_lr=0.1, head_lr=1.0)
    lrs = trace(SlantedTriangular(opt, total_steps=25), 40)
    assert lrs[2, 1] == pytest.approx(1.0)
    assert lrs[20:, 1] == pytest.approx(np.full(21, 1 / 32))
    assert (lrs > 0).all()
    with pytest.raises(ValueError, match="warm-up"):
        SlantedTriangular(two_group_optimizer(), total_steps=5)


def test_scheduler_drives_the_optimizer():
    p = Parameter(np.array([0.0]))
    opt = SGD([p], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    moves = []
    for _ in range(3):
        p.grad = Tensor(np.array([1.0]))
        before = p.data.copy()
        opt.step()
        sched.step()
        moves.append(float(before[0] - p.data[0]))
    assert moves == [1.0, 0.5, 0.25]


def test_scheduler_state_dict_round_trip():
    opt = two_group_optimizer()
    sched = CosineAnnealingLR(opt, T_max=10)
    for _ in range(3):
        sched.step()
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 3
    opt2 = two_group_optimizer()
    for g, g2 in zip(opt.param_groups, opt2.param_groups, strict=True):
        g2["initial_lr"] = g["initial_lr"]
    sched2 = CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(state)
    sched.step()
    sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_group_added_later_follows_the_schedule():
    opt = SGD([Parameter(np.ones(1))], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    sched.step()
    opt.add_param_group({"params": [Parameter(np.ones(1))], "lr": 0.1})
    sched.step()
    # the new group's lr at the time it was seen is its initial_lr, scaled from then on
    assert sched.get_last_lr() == [0.25, 0.1 * 0.25]
