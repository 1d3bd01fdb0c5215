"""The experiments keep their pretrained source models in the model zoo; tests use a
fresh zoo folder of their own, never the user's ~/.cache/minitl/zoo."""

import pytest


@pytest.fixture(autouse=True)
def private_zoo(tmp_path, monkeypatch):
    monkeypatch.setenv("MINITL_ZOO", str(tmp_path / "zoo"))
    return tmp_path / "zoo"
