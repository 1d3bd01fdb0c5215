"""Version counters: in-place changes made through the library are counted, and backward
refuses a graph whose saved arrays were changed after the forward pass."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitl as mt
from minitl import backend, nn
from minitl.errors import GraphError, ModifiedInPlaceError
from minitl.optim import SGD, Adam, AdamW


def _model(device, seed=0):
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.Tanh(), nn.Linear(4, 2, rng=rng))
    x = mt.tensor(rng.standard_normal((5, 3)).astype(np.float32))
    return model.to(device), x.to(device)


def _grads(model):
    return [backend.to_numpy(p.grad.data).copy() for p in model.parameters()]


@pytest.mark.parametrize("make_opt", [
    lambda ps: SGD(ps, lr=0.1), lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda ps: Adam(ps, lr=0.01), lambda ps: AdamW(ps, lr=0.01),
], ids=["sgd", "sgd-momentum-wd", "adam", "adamw"])
def test_a_step_between_forward_and_backward_raises_naming_the_op(device, make_opt):
    model, x = _model(device)
    opt = make_opt(model.parameters())
    model(x).sum().backward()
    loss = (model(x) ** 2).sum()  # forward with the current weights ...
    opt.step()                     # ... which the step then changes in place
    opt.zero_grad()
    with pytest.raises(ModifiedInPlaceError, match=r"Linear.*Parameter of shape \(2, 4\)") as e:
        loss.backward()
    assert isinstance(e.value, GraphError)
    saved_at, now = map(int, re.search(r"at version (\d+).*now version (\d+)",
                                       str(e.value)).groups())
    assert now == saved_at + 1  # one step, one change
    assert all(p.grad is None for p in model.parameters())  # refused before any gradient

    # a forward and backward after the step works, and gives the true gradient
    (model(x) ** 2).sum().backward()
    after = _grads(model)
    model2, _ = _model(device)
    model2.load_state_dict(model.state_dict())
    (model2(x) ** 2).sum().backward()
    for a, b in zip(after, _grads(model2), strict=True):
        np.testing.assert_array_equal(a, b)


def test_retained_graph_used_again_after_a_step_raises(device):
    model, x = _model(device)
    opt = SGD(model.parameters(), lr=0.1)
    loss = (model(x) ** 2).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(ModifiedInPlaceError, match="optimizer.step"):
        loss.backward()


@pytest.mark.parametrize("change", ["load_state_dict", "init", "reinit"])
def test_other_in_place_changes_are_noticed(device, change):
    model, x = _model(device)
    loss = model(x).sum()
    first = model[0]
    before = first.weight._version
    if change == "load_state_dict":
        model.load_state_dict(model.state_dict())
    elif change == "init":
        nn.init.zeros_(first.weight)
    else:
        from minitl.transfer.reinit import match_weight_norms
        other, _ = _model(device, seed=1)
        match_weight_norms(model, other)
    assert first.weight._version > before
    with pytest.raises(ModifiedInPlaceError, match="Linear"):
        loss.backward()


def test_version_counts_each_library_change_and_nothing_else():
    p, q = nn.Parameter(np.ones(3)), nn.Parameter(np.ones(3))
    opt = SGD([p, q], lr=0.1)
    assert p._version == 0 and mt.tensor([1.0])._version == 0
    for k in range(1, 4):
        p.grad = mt.Tensor(np.ones(3))
        opt.step()
        assert p._version == k
    assert q._version == 0  # no gradient: not updated, not counted
    q.requires_grad = False
    p.grad, q.grad = None, mt.Tensor(np.ones(3))
    opt.step()
    assert q._version == 0  # frozen: not updated, not counted
    p.data[...] = 5.0       # a raw write into .data is documented as untracked
    assert p._version == 3


def test_batchnorm_running_statistics_are_counted():
    bn = nn.BatchNorm1d(2)
    bn(mt.tensor(np.arange(8.0, dtype=np.float32).reshape(4, 2)))
    assert bn.running_mean._version == 1 and bn.running_var._version == 1
    assert bn.num_batches_tracked._version == 1


def test_a_change_to_an_input_the_op_did_not_save_is_harmless():
    """Add saves nothing of its inputs: its gradient does not depend on their values."""
    b = nn.Parameter(np.array([1.0, 2.0]))
    x = mt.tensor(np.array([3.0, 4.0]), requires_grad=True)
    y = (x + b).sum()
    b.grad = mt.Tensor(np.ones(2))
    SGD([b], lr=0.5).step()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_frozen_weights_saved_by_the_graph_are_not_touched_by_the_step(device):
    model, x = _model(device)
    model[0].freeze()
    xg = x.detach().requires_grad_()
    opt = SGD(model.parameters(), lr=0.1)
    loss = model(xg).sum()  # Linear 0 saved its (frozen) weight for x's gradient
    model[2].weight.grad = mt.Tensor(model[2].weight.data * 0 + 1)
    model[2].bias.grad = mt.Tensor(model[2].bias.data * 0 + 1)
    opt.step()  # changes only the head, which Linear 2 saved
    with pytest.raises(ModifiedInPlaceError, match=r"shape \(2, 4\)"):
        loss.backward()
    loss = model(xg).sum()
    model[0].weight.grad = mt.Tensor(model[0].weight.data * 0 + 1)  # stale, ignored
    opt.zero_grad()
    opt.step()
    loss.backward()  # nothing changed: fine
    assert xg.grad is not None


@given(steps=st.integers(1, 5), backward_after=st.integers(0, 5))
def test_backward_works_exactly_when_no_step_came_after_the_forward(steps, backward_after):
    model, x = _model("cpu")
    opt = SGD(model.parameters(), lr=0.01)
    losses = []
    for _ in range(steps):
        losses.append(model(x).sum())
        losses[-1].backward(retain_graph=True)
        opt.step()
    k = min(backward_after, steps - 1)
    with pytest.raises(ModifiedInPlaceError):
        losses[k].backward()
    model(x).sum().backward()  # a fresh forward pass is always fine
