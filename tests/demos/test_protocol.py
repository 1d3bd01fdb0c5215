"""The protocol file and the claim deciders: the 13 fixed ids, and decisions on made-up
runs whose answer is known."""

import numpy as np

from demos import claims as C
from demos import protocol

IDS = ["parity.fewer_samples", "parity.faster", "parity.structure_matters",
       "parity.body_moves_less", "parity.fe_vs_ft", "parity.scores_rank",
       "animals.mismatch_start", "animals.negative_transfer", "animals.forgetting",
       "animals.representation_shifts", "animals.unstable", "animals.mismatch_rises",
       "animals.safe_cannot_rescue"]


def test_claims_file_has_the_fixed_ids_with_sentences():
    spec = protocol.load_protocol()
    assert protocol.claim_ids("parity", spec) + protocol.claim_ids("animals", spec) == IDS
    for claim_id in IDS:
        entry = protocol.claim_spec(claim_id, spec)
        assert entry["sentence"] and entry["statistic"]
    assert protocol.evaluation_seeds(spec) >= 10


def _runs(arm, values, n=100):
    return [{"arm": arm, "n_train": n, "seed": s, "test_acc": v} for s, v in enumerate(values)]


def test_safe_cannot_rescue_uses_the_margin_not_the_ci_of_zero():
    spec = {"id": "animals.safe_cannot_rescue", "sentence": "s", "arm": "a", "baseline": "b",
            "ns": [100], "delta": 1.0}
    base = np.full(10, 0.90)
    noise = np.array([-1, 1, -1, 1, -1, 1, -1, 1, -1, 1]) * 0.003  # ±0.3 points
    # exactly as good as scratch, little noise: the 90% CI lies inside ±1 point -> holds
    same = C.safe_cannot_rescue(_runs("a", base + noise) + _runs("b", base), spec)
    assert same["passed"] is True
    # 2 points better: "no better than +1" fails although the CI excludes nothing odd
    better = C.safe_cannot_rescue(_runs("a", base + 0.02 + noise) + _runs("b", base), spec)
    assert better["passed"] is False
    # very noisy and on average equal: the CI includes 0, but that is not evidence -> fails
    wild = np.array([-1, 1, -1, 1, -1, 1, -1, 1, -1, 1]) * 0.08
    noisy = C.safe_cannot_rescue(_runs("a", base + wild) + _runs("b", base), spec)
    assert noisy["passed"] is False


def test_negative_transfer_decides_on_the_paired_interval():
    spec = {"id": "animals.negative_transfer", "sentence": "s", "arm": "scratch",
            "baseline": "naive", "n": 100, "ns": [100]}
    scratch = np.linspace(0.88, 0.92, 10)
    lower = C.negative_transfer(_runs("scratch", scratch) + _runs("naive", scratch - 0.03),
                                spec)
    assert lower["passed"] is True and abs(lower["estimate"] - 3.0) < 1e-9
    equal = C.negative_transfer(_runs("scratch", scratch) + _runs("naive", scratch), spec)
    assert equal["passed"] is False


def test_mark_quick_decides_nothing():
    claims = [{"id": "x", "statement": "s", "passed": True, "details": {}}]
    assert C.mark_quick(claims)[0]["passed"] is None
