"""What an adversarial pass found around training: state dicts whose values do not fit,
optimizer state of the wrong shape, hyperparameters out of range or of the wrong type, a
negative step count, labels beyond int64, and a device that fails only later."""

from __future__ import annotations

import numpy as np
import pytest

import minitl as mt
from minitl import nn
from minitl.data import DataLoader
from minitl.errors import ArgumentError, CheckpointError, DeviceError, MinitlError
from minitl.optim import SGD, Adam, AdamW
from minitl.transfer import train_loop

# ---------------------------------------------------------------- S7 values that do not fit


class Holder(nn.Module):
    def __init__(self):
        super().__init__()
        self.half = nn.Parameter(np.zeros(2, np.float16))
        self.register_buffer("small", np.zeros(2, np.int8))
        self.register_buffer("count", np.zeros((), np.uint8))


def _state(**changes):
    state = {"half": np.zeros(2, np.float32), "small": np.zeros(2, np.int64),
             "count": np.zeros((), np.int64)}
    state.update(changes)
    return state


@pytest.mark.parametrize("key, value", [
    ("small", np.array([1, 300], np.int64)),
    ("small", np.array([-129, 0], np.int64)),
    ("count", np.array(-1, np.int64)),
    ("half", np.array([1.0, 1e6], np.float32)),
    ("half", np.array([-7e4, 0.0], np.float64)),
], ids=["int8-high", "int8-low", "uint8-negative", "float16-overflow", "float16-negative"])
def test_values_that_do_not_fit_the_target_dtype_are_refused_naming_the_key(key, value):
    model = Holder()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=key) as info:
        model.load_state_dict(_state(**{key: value}))
    assert "fit" in str(info.value)
    for k, v in model.state_dict().items():  # nothing was written
        np.testing.assert_array_equal(v, before[k])


def test_values_that_fit_load_and_special_floats_pass_through():
    model = Holder()
    model.load_state_dict(_state(half=np.array([np.inf, np.nan], np.float64),
                                 small=np.array([-128, 127], np.int64),
                                 count=np.array(255, np.int64)))
    assert model.small.data.tolist() == [-128, 127] and int(model.count.data) == 255
    assert np.isinf(model.half.data[0]) and np.isnan(model.half.data[1])


# ---------------------------------------------------------------- R6 optimizer state


def _trained(opt_class, **kwargs):
    model = nn.Linear(3, 2, rng=0)
    opt = opt_class(list(model.parameters()), lr=0.1, **kwargs)
    model(mt.tensor(np.ones((4, 3), np.float32))).sum().backward()
    opt.step()
    return model, opt


@pytest.mark.parametrize("opt_class, kwargs", [(Adam, {}), (AdamW, {}),
                                               (SGD, {"momentum": 0.9})],
                         ids=["Adam", "AdamW", "SGD"])
def test_optimizer_state_of_the_wrong_shape_is_refused(opt_class, kwargs):
    _, opt = _trained(opt_class, **kwargs)
    state = opt.state_dict()
    key = next(iter(state["state"][0]))
    if key == "step":
        key = "exp_avg"
    state["state"][0][key] = np.zeros((7, 7), np.float32)
    _, fresh = _trained(opt_class, **kwargs)
    with pytest.raises(CheckpointError, match=rf"{key}.*\(7, 7\)"):
        fresh.load_state_dict(state)


@pytest.mark.parametrize("bad", [{}, {"state": {}}, {"param_groups": []}, [], None,
                                 {"state": [], "param_groups": [{"params": [0, 1]}]}],
                         ids=["empty", "no-groups", "no-state", "list", "None", "state-list"])
def test_malformed_optimizer_state_dicts_are_named_errors(bad):
    _, opt = _trained(Adam)
    with pytest.raises(CheckpointError, match="load_state_dict"):
        opt.load_state_dict(bad)


def test_optimizer_state_with_unknown_entries_or_bad_hyperparameters_is_refused():
    _, adam = _trained(Adam)
    _, sgd = _trained(SGD, momentum=0.9)
    with pytest.raises(CheckpointError, match="Adam"):
        adam.load_state_dict(sgd.state_dict())  # SGD's groups and buffers are not Adam's
    state = adam.state_dict()
    state["state"][0] = {"momentum_buffer": np.zeros((2, 3), np.float32)}
    with pytest.raises(CheckpointError, match="momentum_buffer"):
        adam.load_state_dict(state)
    state = adam.state_dict()
    state["param_groups"][0]["lr"] = "fast"
    with pytest.raises(MinitlError, match="lr"):
        _trained(Adam)[1].load_state_dict(state)


def test_a_good_optimizer_state_still_round_trips():
    model, opt = _trained(Adam)
    _, fresh = _trained(Adam)
    fresh.load_state_dict(opt.state_dict())
    for a, b in zip(fresh.state.values(), opt.state.values()):
        np.testing.assert_array_equal(a["exp_avg"], b["exp_avg"])


# ---------------------------------------------------------------- C4, R8 hyperparameters


@pytest.mark.parametrize("opt_class, kwargs", [
    (SGD, {"lr": float("inf")}), (SGD, {"lr": None}), (SGD, {"lr": "0.1"}),
    (SGD, {"lr": float("nan")}), (SGD, {"lr": True}),
    (SGD, {"lr": 0.1, "momentum": 1.5}), (SGD, {"lr": 0.1, "momentum": "0.9"}),
    (SGD, {"lr": 0.1, "weight_decay": float("inf")}), (SGD, {"lr": 0.1, "dampening": 2.0}),
    (Adam, {"lr": float("inf")}), (Adam, {"lr": None}), (Adam, {"eps": float("nan")}),
    (Adam, {"betas": (0.9, "x")}), (Adam, {"betas": 0.9}), (AdamW, {"weight_decay": -1.0}),
], ids=lambda v: v.__name__ if isinstance(v, type) else
       ",".join(f"{k}={v!r}" for k, v in v.items()))
def test_optimizer_hyperparameters_are_checked(opt_class, kwargs):
    params = list(nn.Linear(2, 2, rng=0).parameters())
    name = next(k for k in kwargs if k != "lr" or len(kwargs) == 1)
    with pytest.raises(ArgumentError, match=name):
        opt_class(params, **kwargs)


def test_add_param_group_checks_the_new_group_too():
    model = nn.Linear(2, 2, rng=0)
    opt = SGD([model.weight], lr=0.1)
    with pytest.raises(ArgumentError, match="lr"):
        opt.add_param_group({"params": [model.bias], "lr": float("inf")})


@pytest.mark.parametrize("steps", [-1, 2.5, "3", True])
def test_train_loop_refuses_a_bad_step_count(steps):
    model = nn.Linear(2, 2, rng=0)
    loader = DataLoader(np.zeros((4, 2), np.float32), np.zeros(4, np.int64), batch_size=2)
    with pytest.raises(ArgumentError, match="steps"):
        train_loop(model, loader, SGD(list(model.parameters()), lr=0.1), steps=steps)


@pytest.mark.parametrize("epochs", [-1, 1.5])
def test_train_loop_refuses_a_bad_epoch_count(epochs):
    model = nn.Linear(2, 2, rng=0)
    loader = DataLoader(np.zeros((4, 2), np.float32), np.zeros(4, np.int64), batch_size=2)
    with pytest.raises(ArgumentError, match="epochs"):
        train_loop(model, loader, SGD(list(model.parameters()), lr=0.1), epochs=epochs)


def test_uint64_labels_beyond_int64_are_refused_not_wrapped():
    x = np.zeros((2, 2), np.float32)
    with pytest.raises(MinitlError, match="uint64"):
        DataLoader(x, np.array([2**63 + 5, 1], np.uint64), batch_size=2)
    loader = DataLoader(x, np.array([3, 1], np.uint64), batch_size=2)  # small ones are fine
    assert next(iter(loader))[1].numpy().tolist() == [3, 1]


def test_an_unknown_device_fails_at_the_call_not_later():
    x = np.zeros((2, 2), np.float32)
    with pytest.raises(DeviceError, match="tpu"):
        DataLoader(x, np.zeros(2, np.int64), batch_size=2, device="tpu")
