"""state_dict / load_state_dict: contents, copies, strictness, shapes, dtypes, devices."""

from collections import OrderedDict

import numpy as np
import pytest

import minitl
from minitl import nn
from minitl.errors import CheckpointError, ShapeError


def make_model(seed):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=rng), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(3 * 4 * 4, 5, rng=rng))


def test_state_dict_keys_order_and_buffers():
    sd = make_model(0).state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                        "1.running_var", "1.num_batches_tracked", "4.weight", "4.bias"]
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    assert sd["1.num_batches_tracked"].dtype == np.int64 and sd["1.num_batches_tracked"].shape == ()


def test_state_dict_arrays_are_copies():
    model = make_model(0)
    sd = model.state_dict()
    before = sd["4.weight"].copy()
    model[4].weight.data[...] += 1.0       # what an optimizer step does
    model(minitl.randn(4, 2, 4, 4, rng=1))   # updates BatchNorm's running stats
    np.testing.assert_array_equal(sd["4.weight"], before)
    assert sd["1.num_batches_tracked"] == 0 and np.all(sd["1.running_mean"] == 0)


def test_round_trip_into_a_fresh_model_gives_identical_outputs():
    source, target = make_model(0), make_model(1)
    source(minitl.randn(4, 2, 4, 4, rng=2))  # non-trivial running statistics
    source.eval()
    target.eval()
    x = minitl.randn(3, 2, 4, 4, rng=3)
    assert not np.allclose(source(x).numpy(), target(x).numpy())
    params = list(target.parameters())
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    np.testing.assert_array_equal(source(x).numpy(), target(x).numpy())
    assert all(a is b for a, b in zip(params, target.parameters()))  # loaded in place
    assert int(target[1].num_batches_tracked.item()) == 1


def test_loaded_model_does_not_alias_the_state_dict():
    model = make_model(0)
    sd = make_model(1).state_dict()
    model.load_state_dict(sd)
    sd["4.weight"][...] = 123.0
    assert not np.any(model[4].weight.numpy() == 123.0)


def test_strict_reports_missing_and_unexpected_keys_and_loads_nothing():
    model = make_model(0)
    before = model.state_dict()
    sd = make_model(1).state_dict()
    del sd["4.bias"]
    sd["5.weight"] = np.zeros(3)
    with pytest.raises(CheckpointError) as info:
        model.load_state_dict(sd)
    message = str(info.value)
    assert "Missing keys" in message and "4.bias" in message
    assert "Unexpected keys" in message and "5.weight" in message
    for key, value in model.state_dict().items():  # untouched
        np.testing.assert_array_equal(value, before[key])


def test_non_strict_returns_the_keys_and_loads_the_rest():
    model = make_model(0)
    sd = make_model(1).state_dict()
    del sd["4.bias"]
    sd["extra"] = np.zeros(1)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert missing == ["4.bias"] and unexpected == ["extra"]
    np.testing.assert_array_equal(model[4].weight.numpy(), sd["4.weight"])


def test_shape_mismatch_names_key_and_both_shapes_even_when_not_strict():
    model = make_model(0)
    sd = model.state_dict()
    sd["4.weight"] = np.zeros((7, 48), dtype=np.float32)
    for strict in (True, False):
        with pytest.raises(ShapeError) as info:
            model.load_state_dict(sd, strict=strict)
        assert isinstance(info.value, CheckpointError)
        message = str(info.value)
        assert "4.weight" in message and "(7, 48)" in message and "(5, 48)" in message


def test_values_are_cast_to_the_models_dtype():
    model = make_model(0)
    sd = {k: v.astype(np.float64) if v.dtype.kind == "f" else v
          for k, v in make_model(1).state_dict().items()}
    sd["1.num_batches_tracked"] = np.array(3, dtype=np.int32)
    model.load_state_dict(sd)
    assert model[0].weight.dtype == np.float32
    np.testing.assert_allclose(model[0].weight.numpy(), sd["0.weight"], rtol=1e-6)
    assert model[1].num_batches_tracked.dtype == np.int64
    assert int(model[1].num_batches_tracked.item()) == 3
    # and the other way: a float32 checkpoint into a float64 model
    wide = make_model(2).double()
    wide.load_state_dict(make_model(1).state_dict())
    assert wide[4].weight.dtype == np.float64


@pytest.mark.parametrize("key, bad", [("0.weight", "int64"), ("0.weight", "bool"),
                                      ("1.num_batches_tracked", "float32")])
def test_a_dtype_of_another_kind_is_refused(key, bad):
    model = make_model(0)
    before = model.state_dict()
    sd = make_model(1).state_dict()
    sd[key] = sd[key].astype(bad)
    with pytest.raises(CheckpointError, match=rf"{key}: the state dict holds {bad}"):
        model.load_state_dict(sd)
    for name, value in model.state_dict().items():  # nothing was written
        np.testing.assert_array_equal(value, before[name])


def test_tensors_are_accepted_as_values():
    model = nn.Linear(2, 2, rng=0)
    model.load_state_dict({"weight": minitl.ones(2, 2), "bias": minitl.zeros(2)})
    assert model.weight.numpy().tolist() == [[1, 1], [1, 1]]


def test_load_onto_device(device):
    model = make_model(0).to(device)
    sd = make_model(1).state_dict()  # host arrays
    model.load_state_dict(sd)
    assert all(t.device == device for t in [*model.parameters(), *model.buffers()])
    back = model.state_dict()
    np.testing.assert_array_equal(minitl.backend.to_numpy(back["4.weight"]), sd["4.weight"])


def test_body_weights_carry_from_source_to_target_with_a_new_head():
    source = make_model(0)
    target = make_model(1)
    target[4] = nn.Linear(48, 2, rng=5)  # a new head for a 2-class target task
    body_sd = {k: v for k, v in source.state_dict().items() if not k.startswith("4.")}
    missing, unexpected = target.load_state_dict(body_sd, strict=False)
    assert missing == ["4.weight", "4.bias"] and unexpected == []
    np.testing.assert_array_equal(target[0].weight.numpy(), source[0].weight.numpy())
