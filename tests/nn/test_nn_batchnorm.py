"""BatchNorm: values against NumPy, running statistics, and freezing versus eval()."""

import numpy as np
import pytest

import minitl
from minitl import nn
from minitl.errors import ShapeError


def reference(x, axes, gamma, beta, eps=1e-5):
    shape = [1] * x.ndim
    shape[1] = -1
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)


CASES = [(nn.BatchNorm1d, (8, 3), (0,)), (nn.BatchNorm1d, (4, 3, 5), (0, 2)),
         (nn.BatchNorm2d, (4, 3, 2, 5), (0, 2, 3))]


@pytest.mark.parametrize("cls,shape,axes", CASES)
def test_train_mode_uses_batch_statistics_and_updates_running_ones(cls, shape, axes):
    rng = np.random.default_rng(0)
    bn = cls(3, dtype=np.float64)
    bn.weight.data[...] = rng.standard_normal(3)
    bn.bias.data[...] = rng.standard_normal(3)
    x = rng.standard_normal(shape) * 2 + 1
    out = bn(minitl.tensor(x)).numpy()
    np.testing.assert_allclose(out, reference(x, axes, bn.weight.numpy(), bn.bias.numpy()),
                               rtol=1e-10, atol=1e-12)
    n = x.size // 3
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * x.mean(axis=axes), rtol=1e-12)
    unbiased = x.var(axis=axes) * n / (n - 1)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * unbiased, rtol=1e-12)
    assert int(bn.num_batches_tracked.item()) == 1


@pytest.mark.parametrize("cls,shape,axes", CASES)
def test_eval_mode_uses_running_statistics_and_does_not_update_them(cls, shape, axes):
    rng = np.random.default_rng(1)
    bn = cls(3, dtype=np.float64).eval()
    bn.running_mean.data[...] = [0.5, -1.0, 2.0]
    bn.running_var.data[...] = [4.0, 0.25, 1.0]
    bn.weight.data[...] = [1.0, 2.0, -1.0]
    bn.bias.data[...] = [0.0, 0.1, 0.2]
    x = rng.standard_normal(shape)
    s = [1, 3] + [1] * (x.ndim - 2)
    expected = ((x - bn.running_mean.numpy().reshape(s))
                / np.sqrt(bn.running_var.numpy().reshape(s) + 1e-5)
                * bn.weight.numpy().reshape(s) + bn.bias.numpy().reshape(s))
    np.testing.assert_allclose(bn(minitl.tensor(x)).numpy(), expected, rtol=1e-10)
    assert bn.running_mean.tolist() == [0.5, -1.0, 2.0]
    assert bn.running_var.tolist() == [4.0, 0.25, 1.0]
    assert int(bn.num_batches_tracked.item()) == 0


def test_freezing_does_not_freeze_running_stats_but_eval_does():
    bn = nn.BatchNorm2d(3)
    bn.freeze()
    x = minitl.randn(4, 3, 2, 2, rng=0) * 3 + 2
    y = bn(x)  # train mode, frozen parameters
    assert not y.requires_grad and y.grad_fn is None  # no gradient, no graph...
    after_train = bn.running_mean.numpy().copy()
    assert np.abs(after_train).sum() > 0, "...but the running statistics still moved"
    assert int(bn.num_batches_tracked.item()) == 1
    bn.eval()
    bn(x)
    np.testing.assert_array_equal(bn.running_mean.numpy(), after_train)
    assert int(bn.num_batches_tracked.item()) == 1


def test_frozen_body_in_train_mode_drifts_in_eval_mode_does_not():
    """The transfer-learning trap: a frozen pretrained body still adapts its BN statistics."""
    body = nn.Sequential(nn.Linear(4, 3, rng=0), nn.BatchNorm1d(3)).freeze()
    state = body.state_dict()
    body(minitl.randn(16, 4, rng=1) + 5)
    assert not np.allclose(body.state_dict()["1.running_mean"], state["1.running_mean"])
    body.load_state_dict(state)
    body.eval()
    body(minitl.randn(16, 4, rng=1) + 5)
    for key, value in body.state_dict().items():
        np.testing.assert_array_equal(value, state[key])


def test_momentum_none_is_a_cumulative_average():
    bn = nn.BatchNorm1d(2, momentum=None, dtype=np.float64)
    batches = [np.random.default_rng(i).standard_normal((5, 2)) + i for i in range(3)]
    for b in batches:
        bn(minitl.tensor(b))
    np.testing.assert_allclose(bn.running_mean.numpy(),
                               np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-12)


def test_options_and_errors():
    bn = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(bn.parameters()) == [] and list(bn.buffers()) == []
    x = minitl.randn(6, 3, rng=0)
    bn.eval()  # no running statistics: batch statistics are used in eval too
    out = bn(x).numpy()
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-6)
    with pytest.raises(ShapeError, match="3 channels"):
        nn.BatchNorm1d(3)(minitl.randn(4, 2, rng=0))
    with pytest.raises(ShapeError, match="more than 1 value"):
        nn.BatchNorm1d(3)(minitl.randn(1, 3, rng=0))
    with pytest.raises(ShapeError):
        nn.BatchNorm2d(3)(minitl.randn(4, 3, rng=0))
    assert "Freezing is not eval" in nn.BatchNorm2d.__doc__
