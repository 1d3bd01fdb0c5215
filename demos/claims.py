"""Deciding the pre-registered claims: one function per claim, thresholds from claims.toml.

Every function takes the runs (plain dicts: ``arm``, ``n_train``, ``seed`` and the
measurements) and the claim's entry of ``demos/claims.toml``, and returns the claim
record the results file stores: ``id``, ``statement``, ``passed``, ``estimate``,
``ci95``, ``n_seeds``, ``details``. Nothing here knows a threshold of its own: change
the file, not the code (and only before an evaluation run).

The statistics come from :mod:`minitl.transfer.stats`: paired Student-t intervals over
seeds, TOST for "no more than δ" / "within δ", Spearman's ρ per seed with a t-interval.
"""

from __future__ import annotations

import math

import numpy as np

from minitl.transfer.stats import spearman, t_interval, tost

from .experiment_common import claim_dict

# ----------------------------------------------------------------------------- helpers


def by_seed(runs: list[dict], arm: str, n: int, key: str = "test_acc",
            scale: float = 100.0) -> dict[int, float]:
    """``{seed: value·scale}`` of one arm at one N (``key`` may be a callable of a run)."""
    get = key if callable(key) else (lambda r: r.get(key))
    out = {}
    for r in runs:
        if r["arm"] == arm and r["n_train"] == n:
            v = get(r)
            if v is not None and math.isfinite(v):
                out[r["seed"]] = v * scale
    return out


def diff_by_seed(a: dict, b: dict) -> dict[int, float]:
    return {s: a[s] - b[s] for s in sorted(set(a) & set(b))}


def summary(values: dict | list) -> dict | None:
    """Mean and 95% t-interval of per-seed values (None without values)."""
    v = list(values.values()) if isinstance(values, dict) else list(values)
    if not v:
        return None
    ti = t_interval(v)
    return {"mean": ti.mean, "ci95": list(ti.ci) if ti.n > 1 else None, "n": ti.n}


def _lo(s):
    return s["ci95"][0] if s and s["ci95"] else -math.inf


def _hi(s):
    return s["ci95"][1] if s and s["ci95"] else math.inf


def gains(runs, arm, baseline, n, key="test_acc") -> dict[int, float]:
    """Per-seed (arm − baseline) in points at one N."""
    return diff_by_seed(by_seed(runs, arm, n, key), by_seed(runs, baseline, n, key))


def mean_gain(runs, arm, baseline, ns) -> dict[int, float]:
    """Per-seed gain averaged over several N."""
    per_n = [gains(runs, arm, baseline, n) for n in ns]
    seeds = set.intersection(*(set(g) for g in per_n)) if per_n else set()
    return {s: float(np.mean([g[s] for g in per_n])) for s in sorted(seeds)}


def record(spec: dict, passed, stat: dict | None, **details) -> dict:
    stat = stat or {}
    return claim_dict(spec["id"], spec["sentence"], passed, stat.get("mean"),
                      stat.get("ci95"), stat.get("n"), statistic=spec.get("statistic"),
                      **details)


def mark_quick(claims: list[dict]) -> list[dict]:
    """A reduced run decides nothing: every claim reads "not decided (quick)"."""
    return [{**c, "passed": None, "details": {**c.get("details", {}),
                                              "not_decided": "quick run"}} for c in claims]


# ----------------------------------------------------------------------------- parity


def fewer_samples(runs, spec) -> dict:
    arm, base = spec["arm"], spec["baseline"]
    per_n = {n: summary(gains(runs, arm, base, n)) for n in spec["ns"]}
    small = spec["small_ns"]
    shrink = diff_by_seed(gains(runs, arm, base, small[0]), gains(runs, arm, base,
                                                                  spec["large_n"]))
    s_shrink = summary(shrink)
    ok = all(_lo(per_n[n]) > 0 for n in small) and _lo(s_shrink) > 0
    return record(spec, ok, per_n[small[0]], gain_by_n={str(n): v for n, v in per_n.items()},
                  shrink=s_shrink)


def _log_steps(runs, arm, n, threshold):
    from .parity import steps_to
    return {s: math.log2(1 + v) for s, v in steps_to(runs, arm, n, threshold).items()}, \
        steps_to(runs, arm, n, threshold)


def faster(runs, spec) -> dict:
    n, thr = spec["n"], spec["threshold_val_acc"]
    a_log, a_raw = _log_steps(runs, spec["arm"], n, thr)
    b_log, b_raw = _log_steps(runs, spec["baseline"], n, thr)
    d = summary(diff_by_seed(a_log, b_log))
    ok = _hi(d) < 0
    return record(spec, ok, d, step_ratio=2 ** d["mean"] if d else None,
                  transfer_steps=a_raw, scratch_steps=b_raw,
                  median_steps={"transfer": float(np.median(list(a_raw.values()))),
                                "scratch": float(np.median(list(b_raw.values())))}
                  if a_raw and b_raw else None)


def structure_matters(runs, spec) -> dict:
    ns, base = spec["ns"], spec["baseline"]
    g = {src: mean_gain(runs, arm, base, ns) for src, arm in spec["arms"].items()}
    order = spec["order"]
    pairs = {}
    ok = True
    for hi, lo in zip(order, order[1:]):
        s = summary(diff_by_seed(g[hi], g[lo]))
        pairs[f"{hi} − {lo}"] = s
        ok = ok and _lo(s) > 0
    rnd = g[spec["null_source"]]
    eq = tost(list(rnd.values()), spec["delta"]) if len(rnd) > 1 else None
    ok = ok and eq is not None and eq.not_above
    first = pairs[f"{order[0]} − {order[1]}"]
    return record(spec, ok, first, gain_by_source={k: summary(v) for k, v in g.items()},
                  ordering=pairs, null_vs_scratch=eq.to_dict() if eq else None)


def body_moves_less(runs, spec) -> dict:
    n = spec["n"]

    def log_ratio(arm):
        return by_seed(runs, arm, n, lambda r: math.log10(max(r["update"]["body"], 1e-300)
                                                          / max(r["update"]["head"], 1e-300)),
                       scale=1.0)

    safe, naive = log_ratio(spec["safe_arm"]), log_ratio(spec["naive_arm"])
    s_safe = summary(safe)
    eq = tost(list(naive.values()), math.log10(spec["naive_within_factor"])) \
        if len(naive) > 1 else None
    ok = _hi(s_safe) < math.log10(spec["safe_max_ratio"]) and eq is not None and eq.equivalent
    groups = {arm: {g: summary(by_seed(runs, arm, n, lambda r, g=g: r["update"][g], 1.0))
                    for g in ("body", "head")} for arm in (spec["safe_arm"], spec["naive_arm"])}
    return record(spec, ok, s_safe, units="log10(Δθ_g/Δθ_h)",
                  safe_ratio=10 ** s_safe["mean"] if s_safe else None,
                  naive_log10_ratio=summary(naive), naive_equivalence=eq.to_dict() if eq else None,
                  relative_update=groups)


def fe_vs_ft(runs, spec) -> dict:
    fe, ft = spec["fe_arm"], spec["ft_arm"]
    small = gains(runs, fe, ft, spec["fe_wins_n"])
    large = gains(runs, fe, ft, spec["large_n"])
    s_small, s_shrink = summary(small), summary(diff_by_seed(small, large))
    ok = _lo(s_small) > 0 and _lo(s_shrink) > 0
    by_n = {str(n): summary(gains(runs, fe, ft, n)) for n in spec["ns"]}
    return record(spec, ok, s_small, fe_minus_ft_by_n=by_n, advantage_shrink=s_shrink)


def scores_rank(runs, scores, spec) -> dict:
    key, base, ns = spec["score"], spec["baseline"], spec["ns"]
    g = {src: mean_gain(runs, arm, base, ns) for src, arm in spec["arms"].items()}
    rhos = {}
    for seed in sorted({s["seed"] for s in scores}):
        sc = {s["source"]: s[key] for s in scores if s["seed"] == seed}
        if all(src in sc and seed in g[src] for src in g):
            rhos[seed] = spearman([sc[src] for src in g], [g[src][seed] for src in g])
    s = summary(rhos)
    ok = _lo(s) > spec["min_rho_ci_low"]
    mean_scores = {src: float(np.mean([x[key] for x in scores if x["source"] == src]))
                   for src in g}
    return record(spec, ok, s, rho_by_seed=rhos, mean_score=mean_scores,
                  mean_gain={k: summary(v) for k, v in g.items()})


# ----------------------------------------------------------------------------- animals


def difference_claim(runs, spec, key="test_acc", scale=100.0) -> dict:
    """``arm`` − ``baseline`` at N, per seed: passes when the 95% CI's low end exceeds
    ``margin`` (0 unless given)."""
    d = summary(diff_by_seed(by_seed(runs, spec["arm"], spec["n"], key, scale),
                             by_seed(runs, spec["baseline"], spec["n"], key, scale)))
    return d, _lo(d) > spec.get("margin", 0.0)


def _mon(runs, arm, n, key) -> dict[int, float]:
    return {r["seed"]: r["monitor"][key] for r in runs if r["arm"] == arm
            and r["n_train"] == n and r.get("monitor", {}).get(key) is not None}


def mismatch_start(e0: dict, spec) -> dict:
    """``e0``: ``{seed: {source: E₀}}``."""
    d = summary({s: v[spec["source"]] - v[spec["related"]] for s, v in e0.items()})
    ok = _lo(d) > spec["margin"]
    return record(spec, ok, d, E0_by_source={src: summary({s: v[src] for s, v in e0.items()})
                                             for src in next(iter(e0.values()))})


def negative_transfer(runs, spec) -> dict:
    d, ok = difference_claim(runs, spec)
    return record(spec, ok, d, by_n={str(n): summary(gains(runs, spec["baseline"], spec["arm"],
                                                           n)) for n in spec["ns"]})


def forgetting(runs, spec) -> dict:
    n, chance = spec["n"], spec["chance"]

    def lost(arm):
        start, end = _mon(runs, arm, n, "source_acc_start"), _mon(runs, arm, n, "source_acc_end")
        return {s: (start[s] - end[s]) / max(start[s] - chance, 1e-9) for s in start if s in end}

    naive, safe = summary(lost(spec["naive_arm"])), summary(lost(spec["safe_arm"]))
    ok = _lo(naive) >= spec["naive_min_lost"] and _hi(safe) <= spec["safe_max_lost"]
    return record(spec, ok, naive, units="share of the source margin above chance lost",
                  safe_lost=safe,
                  source_acc_start=summary(_mon(runs, spec["naive_arm"], n, "source_acc_start")),
                  naive_source_acc_end=summary(_mon(runs, spec["naive_arm"], n,
                                                    "source_acc_end")),
                  safe_source_acc_end=summary(_mon(runs, spec["safe_arm"], n, "source_acc_end")))


def _paired_monitor(runs, spec, key):
    n = spec["n"]
    a, b = _mon(runs, spec["arm"], n, key), _mon(runs, spec["control_arm"], n, key)
    return summary(diff_by_seed(a, b)), summary(a), summary(b)


def representation_shifts(runs, spec) -> dict:
    d, a, b = _paired_monitor(runs, spec, "drift_rate")
    return record(spec, _lo(d) > 0, d, units="(1 − CKA) per step over the early window",
                  animals=a, related=b)


def curve_spread(curves: dict[int, list], seeds, window: int) -> float:
    """Seed-to-seed standard deviation of validation-accuracy curves (points), averaged
    over the evaluation steps 1..window they share. ``curves``: {seed: (steps, accs)}."""
    steps = sorted(set.intersection(*(set(curves[s][0]) for s in seeds)))
    steps = [t for t in steps if 0 < t <= window]
    acc = np.array([[dict(zip(*curves[s]))[t] for t in steps] for s in seeds]) * 100.0
    return float(acc.std(axis=0, ddof=1).mean())


def unstable(runs, spec) -> dict:
    """Instability as seed-to-seed spread (as fine-tuning instability is measured in the
    literature: the same recipe, different seeds, how different the runs are). One
    number per arm, so its CI comes from a paired percentile bootstrap over seeds."""
    n, window = spec["n"], spec["window"]
    curves = {arm: {r["seed"]: r["val_curve"] for r in runs
                    if r["arm"] == arm and r["n_train"] == n}
              for arm in (spec["arm"], spec["control_arm"])}
    seeds = sorted(set(curves[spec["arm"]]) & set(curves[spec["control_arm"]]))
    if len(seeds) < 3:
        return record(spec, False, None, reason="fewer than 3 seeds")

    def diff(sample):
        return (curve_spread(curves[spec["arm"]], sample, window)
                - curve_spread(curves[spec["control_arm"]], sample, window))

    rng = np.random.default_rng(spec.get("bootstrap_seed", 0))
    boot = []
    for _ in range(spec["bootstrap_resamples"]):
        sample = list(rng.choice(seeds, len(seeds), replace=True))
        if len(set(sample)) > 1:
            boot.append(diff(sample))
    lo, hi = np.quantile(boot, [0.025, 0.975])
    est = diff(seeds)
    stat = {"mean": est, "ci95": [float(lo), float(hi)], "n": len(seeds)}
    return record(spec, bool(lo > 0), stat, units="points of validation accuracy (SD over "
                  "seeds, mean over evaluations)",
                  animals=curve_spread(curves[spec["arm"]], seeds, window),
                  related=curve_spread(curves[spec["control_arm"]], seeds, window))


def mismatch_rises(runs, spec) -> dict:
    n = spec["n"]

    def rise(arm):
        e0, ew = _mon(runs, arm, n, "E0"), _mon(runs, arm, n, "E_window")
        return {s: ew[s] - e0[s] for s in e0 if s in ew}

    def parts(arm):
        return {k: summary(_mon(runs, arm, n, f"{k}_window")) for k in ("useful", "destructive")}

    a, b = summary(rise(spec["arm"])), summary(rise(spec["control_arm"]))
    ok = _lo(a) > 0 and _hi(b) < 0
    return record(spec, ok, a, units="E_W − E_0 = Σdestructive − Σuseful over the window",
                  control_rise=b, parts={spec["arm"]: parts(spec["arm"]),
                                         spec["control_arm"]: parts(spec["control_arm"])},
                  E_max_minus_E0=summary({s: _mon(runs, spec["arm"], n, "E_max_window")[s]
                                          - _mon(runs, spec["arm"], n, "E0")[s]
                                          for s in _mon(runs, spec["arm"], n, "E0")}))


def safe_cannot_rescue(runs, spec) -> dict:
    per_n, ok = {}, True
    for n in spec["ns"]:
        g = gains(runs, spec["arm"], spec["baseline"], n)
        eq = tost(list(g.values()), spec["delta"]) if len(g) > 1 else None
        per_n[str(n)] = {**(summary(g) or {}), "tost": eq.to_dict() if eq else None}
        ok = ok and eq is not None and eq.not_above
    first = summary(gains(runs, spec["arm"], spec["baseline"], spec["ns"][0]))
    return record(spec, ok, first, by_n=per_n)
