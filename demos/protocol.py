"""The pre-registered protocol: ``demos/claims.toml`` and the tuned hyperparameters.

``claims.toml`` fixes, before any evaluation run, every claim of both experiments: its
sentence, the statistic, the threshold or equivalence margin, the training-set sizes and
the evaluation seeds. The experiments read their thresholds from here (never from their
own code), so the file that was committed first is the file that decides.

``demos/tuning/<experiment>.json`` holds the hyperparameter search (``make tune``):
every configuration tried on tuning seeds with its validation accuracy, and the choice
per arm. The experiments read the chosen values from there.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLAIMS_FILE = HERE / "claims.toml"
TUNING_DIR = HERE / "tuning"


def load_protocol(path: Path = CLAIMS_FILE) -> dict:
    """The parsed ``claims.toml``."""
    with open(path, "rb") as f:
        return tomllib.load(f)


def claim_spec(claim_id: str, protocol: dict | None = None) -> dict:
    """One claim's entry: ``{"id", "sentence", "statistic", ...thresholds}``."""
    protocol = protocol or load_protocol()
    experiment, name = claim_id.split(".", 1)
    try:
        spec = protocol[experiment]["claims"][name]
    except KeyError as e:
        raise KeyError(f"claims.toml has no claim {claim_id!r}") from e
    return {"id": claim_id, **spec}


def claim_ids(experiment: str, protocol: dict | None = None) -> list[str]:
    """The claim ids of one experiment, in the file's order."""
    protocol = protocol or load_protocol()
    return [f"{experiment}.{k}" for k in protocol[experiment]["claims"]]


def evaluation_seeds(protocol: dict | None = None) -> int:
    protocol = protocol or load_protocol()
    return int(protocol["evaluation"]["seeds"])


def load_tuning(experiment: str) -> dict:
    """``{"choices": {arm: {...}}, "log": [...]}`` written by ``make tune``."""
    path = TUNING_DIR / f"{experiment}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make tune` first")
    return json.loads(path.read_text(encoding="utf-8"))


def tuned(experiment: str) -> dict:
    """The chosen hyperparameters per arm, ``{arm: {name: value}}``."""
    return load_tuning(experiment)["choices"]
