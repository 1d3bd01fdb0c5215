"""layerwise_lr_groups, GradualUnfreezing, L2SP and clip_grad_norm_."""

import numpy as np
import pytest

from minitl import Tensor
from minitl.backend import to_device
from minitl.nn import Parameter
from minitl.optim import (
    L2SP,
    SGD,
    Adam,
    GradualUnfreezing,
    clip_grad_norm_,
    l2sp_penalty,
    layerwise_lr_groups,
)
from minitl.testing import gradcheck


class Block:
    """Anything with .parameters() counts as a block (a stand-in for a Module)."""

    def __init__(self, *shapes):
        self.params = [Parameter(np.full(s, 0.5)) for s in shapes]

    def parameters(self):
        return iter(self.params)


def test_layerwise_lr_groups():
    blocks = [Block((4, 2), (4,)), Block((3, 4)), Block((1, 3), (1,))]
    groups = layerwise_lr_groups(blocks, base_lr=1e-2, decay=1 / 2.6)
    assert [len(g["params"]) for g in groups] == [2, 1, 2]
    np.testing.assert_allclose([g["lr"] for g in groups], [1e-2 / 2.6**2, 1e-2 / 2.6, 1e-2])
    assert groups[0]["params"][0] is blocks[0].params[0]
    opt = SGD(groups, lr=1.0)
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in groups]
    # plain lists of parameters work too, and frozen parameters are kept
    frozen = Parameter(np.ones(2), requires_grad=False)
    groups = layerwise_lr_groups([[frozen], [Parameter(np.ones(1))]], base_lr=0.8, decay=0.75)
    assert groups[0]["params"][0] is frozen and groups[0]["lr"] == pytest.approx(0.6)
    with pytest.raises(TypeError, match="set"):
        layerwise_lr_groups([{frozen}], 0.1, 0.5)
    with pytest.raises(ValueError, match="decay"):
        layerwise_lr_groups(blocks, 0.1, 0.0)


def test_gradual_unfreezing_stages_with_an_optimizer_holding_everything():
    blocks = [Block((2,)), Block((2,)), Block((2,))]
    for block in blocks:
        for p in block.params:
            p.grad = Tensor(np.ones(2))  # stale gradients must not survive freezing
    opt = SGD(layerwise_lr_groups(blocks, 0.1, 0.5), lr=0.1)
    unfreeze = GradualUnfreezing(blocks)
    assert unfreeze.stage == 0 and unfreeze.num_stages == 3 and not unfreeze.done

    def trainable():
        return [b.params[0].requires_grad for b in blocks]

    def train_one_step():
        opt.zero_grad()
        loss = sum(((p * p).sum() for b in blocks for p in b.params), Tensor(0.0))
        loss.backward()
        opt.step()

    assert trainable() == [False, False, True]
    assert blocks[0].params[0].grad is None
    before = [b.params[0].data.copy() for b in blocks]
    train_one_step()
    after = [b.params[0].data.copy() for b in blocks]
    assert np.array_equal(after[0], before[0]) and np.array_equal(after[1], before[1])
    assert not np.array_equal(after[2], before[2])

    assert unfreeze.advance() is blocks[1]
    assert unfreeze.stage == 1 and trainable() == [False, True, True]
    train_one_step()
    assert np.array_equal(blocks[0].params[0].data, after[0])
    assert not np.array_equal(blocks[1].params[0].data, after[1])

    assert unfreeze.step_stage() is blocks[0]
    assert unfreeze.stage == 2 and unfreeze.done and trainable() == [True, True, True]
    assert unfreeze.advance() is None and unfreeze.stage == 2
    assert len(opt.param_groups) == 3  # nothing was added


def test_gradual_unfreezing_adds_groups_to_a_head_only_optimizer():
    blocks = [[Parameter(np.ones(2))], [Parameter(np.ones(3))], [Parameter(np.ones(1))]]
    opt = Adam(blocks[-1], lr=1e-2)
    unfreeze = GradualUnfreezing(blocks, optimizer=opt)
    assert len(opt.param_groups) == 1
    assert unfreeze.advance(lr=1e-3) is blocks[1]
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["lr"] == 1e-3
    assert opt.param_groups[1]["params"][0] is blocks[1][0]
    unfreeze.advance()
    assert len(opt.param_groups) == 3 and opt.param_groups[2]["lr"] == 1e-2  # the default


def test_l2sp_value_and_gradient():
    w = Parameter(np.array([1.0, 2.0]))
    v = Parameter(np.array([3.0]))
    frozen = Parameter(np.array([1.0]), requires_grad=False)
    reg = L2SP([w, frozen], [v], alpha=0.1, beta=0.01)
    assert reg().item() == pytest.approx(0.01 / 2 * 9)  # at the start only the new part counts
    w.data += np.array([1.0, 2.0])                      # w − w0 = (1, 2)
    frozen.data += 2.0                                  # counted in the value, no gradient
    np.testing.assert_array_equal(reg.reference[0], [1.0, 2.0])  # the snapshot was a copy
    penalty = reg()
    assert penalty.item() == pytest.approx(0.1 / 2 * (1 + 4 + 4) + 0.01 / 2 * 9)
    penalty.backward()
    np.testing.assert_allclose(w.grad.data, 0.1 * np.array([1.0, 2.0]))
    np.testing.assert_allclose(v.grad.data, 0.01 * np.array([3.0]))
    assert frozen.grad is None


def test_l2sp_gradcheck():
    rng = np.random.default_rng(3)
    w0, w0b = rng.standard_normal((3, 2)), rng.standard_normal(4)
    gradcheck(lambda a, b, c: l2sp_penalty([a, b], [w0, w0b], [c], alpha=0.7, beta=0.3),
              rng.standard_normal((3, 2)), rng.standard_normal(4), rng.standard_normal((2, 2)),
              rng=0)


def test_l2sp_as_a_loss_term_pulls_towards_the_source():
    w = Parameter(np.array([1.0, -1.0]))
    reg = L2SP([w], [], alpha=1.0, beta=0.0)
    opt = SGD([w], lr=0.1)
    target = Tensor(np.array([3.0, 3.0]))
    for _ in range(200):
        opt.zero_grad()
        diff = w - target
        loss = (diff * diff).sum() * 0.5 + reg()
        loss.backward()
        opt.step()
    # the minimum of ½‖w − t‖² + ½‖w − w0‖² is the midpoint of t and w0
    np.testing.assert_allclose(w.data, [2.0, 1.0], rtol=1e-6)
    with pytest.raises(ValueError, match="both"):
        L2SP([w], [w], 1.0, 1.0)
    assert L2SP([], [], 1.0, 1.0)().item() == 0.0


def test_clip_grad_norm():
    a, b, c = Parameter(np.zeros(2)), Parameter(np.zeros(1)), Parameter(np.zeros(3))
    ga, gb = np.array([3.0, 4.0]), np.array([12.0])
    a.grad, b.grad = Tensor(ga), Tensor(gb)
    total = clip_grad_norm_([a, b, c], max_norm=6.5)
    assert total == pytest.approx(13.0)
    scale = 6.5 / (13.0 + 1e-6)
    np.testing.assert_allclose(a.grad.data, ga * scale)
    np.testing.assert_allclose(b.grad.data, gb * scale)
    assert c.grad is None
    np.testing.assert_array_equal(ga, [3.0, 4.0])  # new tensors; the old arrays untouched
    kept = a.grad
    assert clip_grad_norm_([a, b], max_norm=100.0) == pytest.approx(6.5, rel=1e-6)
    assert a.grad is kept  # below the limit: nothing changes


def test_clip_grad_norm_keeps_float32_and_tolerates_nonfinite():
    p = Parameter(np.array([3.0, 4.0], np.float32))
    p.grad = Tensor(np.array([30.0, 40.0], np.float32))
    assert clip_grad_norm_(p, 1.0) == pytest.approx(50.0)
    assert p.grad.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(p.grad.data), 1.0, rtol=1e-5)
    p.grad = Tensor(np.array([np.inf, 1.0], np.float32))
    assert clip_grad_norm_([p], 1.0) == np.inf


def test_clip_and_l2sp_on_each_device(device):
    w = Parameter(to_device(np.array([1.0, 2.0]), device))
    reg = L2SP([w], [], alpha=2.0, beta=0.0)
    w.data = w.data + 1.0
    loss = reg()
    assert loss.device == device and loss.item() == pytest.approx(2.0)
    loss.backward()
    assert w.grad.device == device
    assert clip_grad_norm_([w], 1.0) == pytest.approx(np.sqrt(8.0))
    assert w.grad.device == device
    np.testing.assert_allclose(w.grad.numpy(), [np.sqrt(0.5), np.sqrt(0.5)], rtol=1e-6)
