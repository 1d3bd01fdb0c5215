"""The zoo keeps trained models with what made them, and finds them again."""

import numpy as np
import pytest

from minitl import nn, zoo
from minitl.errors import CheckpointError


def test_store_list_load_and_config_fingerprints(tmp_path):
    model = nn.Linear(3, 2, rng=0)
    config = {"task": "magnitude", "seed": 0, "lr": 0.1}
    zoo.store("parity/thermometer", model.state_dict(), {"accuracy": 0.97}, config=config,
              root=tmp_path)
    assert zoo.contains("parity/thermometer", config, root=tmp_path)
    assert not zoo.contains("parity/thermometer", {**config, "lr": 0.2}, root=tmp_path)
    assert not zoo.contains("parity/binary", root=tmp_path)
    [entry] = zoo.list(root=tmp_path)
    assert entry["name"] == "parity/thermometer" and entry["accuracy"] == 0.97
    state, meta = zoo.load("parity/thermometer", root=tmp_path)
    fresh = nn.Linear(3, 2, rng=1)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.weight.numpy(), model.weight.numpy())
    assert meta["config"] == config


def test_environment_variable_sets_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MINITL_ZOO", str(tmp_path))
    zoo.store("m", {"w": np.zeros(2, np.float32)})
    assert [e["name"] for e in zoo.list()] == ["m"]


def test_unknown_and_unsafe_names(tmp_path):
    with pytest.raises(CheckpointError, match="no model named"):
        zoo.load("missing", root=tmp_path)
    with pytest.raises(CheckpointError, match="invalid model name"):
        zoo.store("../outside", {"w": np.zeros(1, np.float32)}, root=tmp_path)


def test_the_zoo_takes_only_verified_files(tmp_path):
    # A file another tool wrote loads with minitl.load, but a zoo entry must be minitl's
    # own, verified by its digest: one without is "does not load", set aside and retrained.
    import safetensors.numpy

    path = tmp_path / "m.safetensors"
    safetensors.numpy.save_file({"w": np.zeros(2, np.float32)}, str(path))
    with pytest.raises(CheckpointError, match="require_digest=True"):
        zoo.load("m", root=tmp_path)
    assert not zoo.contains("m", {"seed": 0}, root=tmp_path)
    assert "require_digest" in zoo.list(root=tmp_path)[0]["error"]
    with pytest.warns(RuntimeWarning, match="does not load"):
        assert zoo.lookup("m", {"seed": 0}, root=tmp_path) is None
    assert not path.exists() and path.with_name("m.safetensors.corrupt").exists()
