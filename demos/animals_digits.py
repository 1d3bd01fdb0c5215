"""Experiment 2, transfer that fails (notes §6-§8, §10): animals → handwritten digits.

    python -m demos.animals_digits [--seeds 10] [--seed-offset 0] [--jobs 2]
                                   [--digits glyph|real] [--scheduler local|tcp://HOST:PORT]
                                   [--device cpu|cuda] [--out out/animals_digits]

A two-layer MLP learns to tell procedural mammals, birds, fish and insects apart by fur
stripes, feather chevrons, scale arcs and legs. Its body is reused for ten stroke
digits, a task that needs none of those features. A *related* source is the same
network pretrained on other glyph digits (different draws) sorted into five coarse
classes {0,1}, {2,3}, ..., {8,9}: it has to tell most digits apart, so its features
overlap the target's.

Arms, paired by seed at every target size N (claims in demos/claims.toml,
hyperparameters in demos/tuning/animals_digits.json from ``make tune`` on seeds >= 10000;
every arm uses the same network, 784-64-64 with a linear head):

==================== ===================================================================
scratch              random weights; its own tuned lr, weight decay and steps
naive_animals        every parameter, no freezing, scratch's lr and steps
naive_related        the same recipe from the related source (the control of §7/§8)
aggressive_animals   naive at 10× scratch's lr ("aggressive", shown, not the naive arm)
lpft_animals         safe transfer: converged ridge probe, then LP-FT (tuned lr, wd, steps)
fe_animals           feature extraction: frozen body, converged ridge probe
==================== ===================================================================

The fine-tuning arms at ``monitor_n`` run under the stability monitor: source accuracy
through the old head (forgetting), CKA to the pretrained features (drift), the mismatch
E_t with its useful and destructive parts, loss and gradient norms. ``minitl.transfer.
adapt`` runs from the animal source with the scratch comparison.

``--digits real``: the target is scikit-learn's real handwritten digits
(:func:`minitl.data.real_digits`, both pools): the training pool from the ``"train"``
split, validation and test from their own splits. Those hold 1,076, 360 and 361 images,
so the test set is capped at 360 (:data:`REAL`); every other size, the claims and the
tuned hyperparameters stay as they are (tuned on glyph digits; not retuned). The sources
do not change: the animals, and the related source on *glyph* digits (a related source
on real digits would take images the target needs for N = 1000). No source model is
trained on real digits, so the zoo entries are the glyph run's.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from pathlib import Path

import numpy as np

from minitl import nn
from minitl.data import DataLoader, animals, glyph_digits, real_digits
from minitl.optim import Adam
from minitl.transfer import (
    StabilityMonitor,
    adapt,
    representation_mismatch,
    ridge_probe,
    train_loop,
    transferability,
)
from minitl.transfer.loop import derive_seed, evaluate, extract_features

from . import claims as C
from . import experiment_common as xc
from . import protocol
from .models import IMAGE_FEATURES, image_body, make_model

EXPERIMENT = "animals_digits"

CONFIG = {
    "ns": [100, 1000],
    "steps": {100: 300, 1000: 500},
    "batch_size": 32,
    "evals_per_run": 10,
    "n_source": 2000,
    "n_pool": 1000,
    "n_val": 300,
    "n_test": 1000,
    "n_source_probe": 300,
    "pretrain_steps": 2000,
    "pretrain_lr": 1e-3,
    "pretrain_batch": 64,
    "ridge_l2": [1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1000.0],
    "probe_lr": 1e-2,
    "probe_epochs": 50,
    "aggressive_factor": 10.0,
    "monitor_n": 100,
    "monitor_eval_every": 5,
    "probe_size": 256,
    "adapt_n": 100,
}

TUNE = {"ns": [100, 1000], "n_test": 200}
SMOKE = {
    "ns": [40, 80], "steps": {40: 20, 80: 20}, "n_source": 300, "n_pool": 80, "n_val": 60,
    "n_test": 100, "n_source_probe": 60, "pretrain_steps": 40, "probe_epochs": 5,
    "probe_size": 32, "monitor_n": 40, "adapt_n": 40,
}

SEARCH = {
    "lr": {"scratch": [1e-3, 3e-3, 1e-2], "lpft": [1e-4, 1e-3, 1e-2]},
    "weight_decay": [0.0, 1e-4, 1e-3],
    "steps_frac": [0.5, 1.0],
}
TUNED_ARMS = ("scratch", "lpft")

ARMS = ("scratch", "naive_animals", "naive_related", "aggressive_animals",
        "aggressive_related", "lpft_animals", "fe_animals")
MONITORED = ("naive_animals", "naive_related", "aggressive_animals", "aggressive_related",
             "lpft_animals")
LABELS = {"scratch": "scratch (tuned)", "naive_animals": "naive fine-tune, animals",
          "naive_related": "naive fine-tune, related digits source",
          "aggressive_animals": "aggressive (10× lr), animals",
          "aggressive_related": "aggressive (10× lr), related source",
          "lpft_animals": "LP-FT (safe), animals", "fe_animals": "frozen animal features"}


#: ``--digits real``: the real test split holds 361 images (val 360, train 1,076), so the
#: test set is capped; the other sizes fit.
REAL = {"n_test": 360}


def make_config(quick: bool = False, smoke: bool = False, digits: str = "glyph",
                **overrides) -> dict:
    cfg = copy.deepcopy(CONFIG)
    if digits == "real":
        cfg.update(copy.deepcopy(REAL))
    if smoke:
        cfg.update(copy.deepcopy(SMOKE))
    cfg.update(overrides)
    cfg["digits"] = digits
    cfg["steps"] = {int(k): int(v) for k, v in cfg["steps"].items()}
    cfg["quick"] = bool(quick)
    return cfg


# ----------------------------------------------------------------------------- data, sources


def load_data(seed: int, cfg: dict) -> dict:
    src = animals(cfg["n_source"], seed=seed, split="train")
    src_probe = animals(cfg["n_source_probe"], seed=seed, split="test")
    rel = glyph_digits(cfg["n_source"], seed=derive_seed(seed, "related-source") % 2**62,
                       split="train")
    target = real_digits if cfg.get("digits", "glyph") == "real" else glyph_digits
    pool = target(cfg["n_pool"], seed=seed, split="train")
    val = target(cfg["n_val"], seed=seed, split="val")
    test = target(cfg["n_test"], seed=seed, split="test")
    order = xc.stratified_order(pool.labels, np.random.default_rng(derive_seed(seed, "subsets")))
    return {"src": (src.images, src.labels), "src_probe": (src_probe.images, src_probe.labels),
            "related": (rel.images, rel.labels // 2),
            "x_pool": pool.images[order], "y_pool": pool.labels[order],
            "val": (val.images, val.labels), "test": (test.images, test.labels)}


def pretrain(seed: int, data, classes: int, cfg: dict, device: str = "cpu",
             train: bool = True, tag: str = "animals"):
    """A source model on ``data`` = (x, y) (``train=False``: the initial weights). Every
    source of a seed starts from the same initial body, as scratch does."""
    rng = np.random.default_rng(derive_seed(seed, "init-animals"))
    model = make_model(image_body(rng), IMAGE_FEATURES, 4, rng)
    if classes != 4:
        model.head = nn.Linear(IMAGE_FEATURES, classes, rng=rng)
    model.to(device)
    if train:
        x, y = data
        loader = DataLoader(x, y, batch_size=cfg["pretrain_batch"], shuffle=True,
                            seed=derive_seed(seed, f"pretrain-{tag}"))
        opt = Adam(list(model.parameters()), lr=cfg["pretrain_lr"])
        train_loop(model, loader, opt, steps=cfg["pretrain_steps"], phase="pretrain",
                   eval_every=cfg["pretrain_steps"] + 1, eval_at_start=False)
    return model


PRETRAIN_KEYS = ("pretrain_steps", "pretrain_lr", "pretrain_batch", "n_source")


def sources_of(seed: int, data: dict, cfg: dict, device: str = "cpu") -> dict:
    """The animal and related sources (through the model zoo) and the untrained model."""
    out = {"untrained": pretrain(seed, data["src"], 4, cfg, device, train=False)}
    for name, classes in (("animals", 4), ("related", 5)):
        config = {"source": name, "seed": seed, "code": xc.code_fingerprint(pretrain, image_body),
                  **{k: cfg[k] for k in PRETRAIN_KEYS}}
        out[name], _ = xc.zoo_cached(
            f"animals_digits/{name}-seed{seed}", config,
            lambda name=name, classes=classes: (
                pretrain(seed, data[name if name == "related" else "src"], classes, cfg,
                         device, tag=name), {}),
            lambda name=name, classes=classes: pretrain(
                seed, data["src"], classes, cfg, device, train=False),
            {"source_task": name, "data_seed": seed, "experiment": EXPERIMENT})
    return out


# ----------------------------------------------------------------------------- one run


def cell_seed(seed: int, n: int) -> int:
    return derive_seed(seed, f"cell-{n}")


def ridge_fit(body, train, val, cfg: dict, test=None) -> tuple[dict, nn.Linear]:
    """Feature extraction with a converged probe: frozen, standardised features and a
    closed-form ridge regression on one-hot labels, its penalty picked on validation
    data per run (a fixed-budget SGD probe is not converged on these features)."""
    f_train, f_val = extract_features(body, train[0]), extract_features(body, val[0])
    val_accs = {l2: ridge_probe(f_train, train[1], f_val, val[1], l2=l2) for l2 in cfg["ridge_l2"]}
    l2 = max(val_accs, key=val_accs.get)
    _, weights = ridge_probe(f_train, train[1], f_val, val[1], l2=l2, return_weights=True)
    out = {"val_acc": val_accs[l2], "ridge_l2": l2}
    if test is not None:
        out["test_acc"] = ridge_probe(f_train, train[1], extract_features(body, test[0]),
                                      test[1], l2=l2)
    return out, ridge_head(weights, f_train)


def ridge_head(weights: np.ndarray, train_features: np.ndarray) -> nn.Linear:
    """The ridge probe as a Linear head on the raw features: the probe standardises with
    the training mean μ and std σ, so W_raw = W/σ and b = b_std − Σ (μ/σ) W."""
    mean = train_features.mean(axis=0)
    std = np.maximum(train_features.std(axis=0), 1e-8)
    w_std, b_std = weights[:-1], weights[-1]
    head = nn.Linear(w_std.shape[0], w_std.shape[1])
    head.weight.data[...] = (w_std / std[:, None]).T.astype(np.float32)
    head.bias.data[...] = (b_std - (mean / std) @ w_std).astype(np.float32)
    return head


def fresh_head(seed: int, n: int) -> nn.Linear:
    return nn.Linear(IMAGE_FEATURES, 10,
                     rng=np.random.default_rng(derive_seed(cell_seed(seed, n), "head")))


def run_recipe(kind: str, source, train, val, n: int, seed: int, hp: dict, cfg: dict,
               device: str = "cpu", monitor=None, eval_every: int | None = None,
               probe_head=None):
    """One arm. ``scratch``/``naive``: every parameter at one rate (from the untrained or a
    pretrained model); ``lpft``: from the converged ridge probe ``probe_head``."""
    if kind not in ("scratch", "naive", "lpft"):
        raise ValueError(f"unknown recipe {kind!r}")
    steps = max(1, int(round(hp["steps_frac"] * cfg["steps"][n])))
    return xc.train_arm(kind, source, train, val,
                        head=probe_head if kind == "lpft" else fresh_head(seed, n),
                        steps=steps, hp=hp, cfg=cfg, seed=cell_seed(seed, n), device=device,
                        monitor=monitor, eval_every=eval_every)


def arm_setup(arm: str, choices: dict, cfg: dict) -> tuple[str, str, dict]:
    """(recipe kind, source name, hyperparameters) of an arm."""
    if arm == "scratch":
        return "scratch", "untrained", choices["scratch"]
    if arm.startswith("naive_"):
        return "naive", arm.split("_", 1)[1], choices["scratch"]
    if arm.startswith("aggressive_"):
        return "naive", arm.split("_", 1)[1], {**choices["scratch"],
                                    "lr": choices["scratch"]["lr"] * cfg["aggressive_factor"]}
    if arm == "lpft_animals":
        return "lpft", "animals", choices["lpft"]
    raise ValueError(arm)


def monitor_summary(history, window: int) -> dict:
    """What the claims read from one monitored run: curves, and the early-window numbers."""
    rows = history.rows

    def series(key):
        return [(r["step"], r[key]) for r in rows if r.get(key) is not None]

    out = {}
    for key in ("source_acc", "cka_target", "mismatch", "mismatch_useful",
                "mismatch_destructive", "val_loss"):
        s = series(key)
        if s:
            out[f"{key}_curve"] = [[a for a, _ in s], [b for _, b in s]]
    e = series("mismatch")
    if e:
        early = [(st, v) for st, v in e if st <= window]
        out["E0"], out["E_window"] = e[0][1], early[-1][1]
        out["useful_window"] = sum(v for st, v in series("mismatch_useful") if 0 < st <= window)
        out["destructive_window"] = sum(v for st, v in series("mismatch_destructive")
                                        if 0 < st <= window)
        out["E_max_window"] = max(v for _, v in early)
    cka = [(st, v) for st, v in series("cka_target") if 0 < st <= window]
    if cka:
        out["drift_rate"] = (1.0 - cka[-1][1]) / cka[-1][0]
    src = series("source_acc")
    if src:
        out["source_acc_start"], out["source_acc_end"] = src[0][1], src[-1][1]
    accs = series("val_acc")
    if accs:
        out["val_acc_drops"] = float(sum(max(0.0, a - b) for (_, a), (_, b)
                                         in zip(accs, accs[1:])))
    val_loss = series("val_loss")
    if val_loss:
        early = [v for st, v in val_loss if st <= window]
        rises = [max(0.0, b - a) for a, b in zip(early, early[1:])]
        out["val_loss_rise"] = float(sum(rises) / max(early[0], 1e-12))
    losses = [r["loss"] for r in rows if r.get("loss") is not None]
    out["loss_curve"] = [[r["step"] for r in rows if r.get("loss") is not None][::2], losses[::2]]
    norms = [r["grad_norm"] for r in rows if r.get("grad_norm")]
    body = [math.sqrt(sum(v * v for k, v in g.items() if k.startswith("body"))) for g in norms]
    if body:
        out["grad_spike"] = float(max(body) / max(np.median(body), 1e-12))
    return out


def run_unit(unit) -> dict:
    """One seed: the sources, then every arm at every N, adapt. A function of
    (seed, config) only."""
    seed, cfg, device = unit
    choices = cfg["hparams"]
    t0 = time.perf_counter()
    timer = xc.Timer()
    with timer("data"):
        data = load_data(seed, cfg)
    with timer("pretrain"):
        sources = sources_of(seed, data, cfg, device)
        source_acc = evaluate(sources["animals"], *data["src_probe"])["acc"]
    probe_x, probe_y = data["val"][0][:cfg["probe_size"]], data["val"][1][:cfg["probe_size"]]
    with timer("transferability"):
        e0 = {name: representation_mismatch(extract_features(m.body, probe_x), probe_y)
              for name, m in sources.items()}
        pool_n = max(cfg["ns"])
        scores = {name: {k: v for k, v in transferability(
            sources[name].body, data["x_pool"][:pool_n], data["y_pool"][:pool_n],
            seed=seed).items() if k in ("logme", "h_score", "label_cka", "probe_accuracy")}
            for name in ("animals", "related")}
    runs = []
    window = cfg["claims"]["window"]
    with timer("arms"):
        for n in cfg["ns"]:
            train = (data["x_pool"][:n], data["y_pool"][:n])
            t_arm = time.perf_counter()
            fe, probe_head = ridge_fit(sources["animals"].body, train, data["val"], cfg,
                                       data["test"])
            runs.append({"arm": "fe_animals", "n_train": n, "seed": seed, **fe, "steps": 0,
                         "seconds": time.perf_counter() - t_arm})
            for arm in ARMS[:-1]:
                kind, src, hp = arm_setup(arm, choices, cfg)
                monitor, every = None, None
                if arm in MONITORED and n == cfg["monitor_n"]:
                    monitor = StabilityMonitor(
                        target_probe=(probe_x, probe_y),
                        source_probe=data["src_probe"] if src == "animals" else None,
                        probe_size=cfg["probe_size"], seed=seed, mismatch_parts=True)
                    every = cfg["monitor_eval_every"]
                t_arm = time.perf_counter()
                res, moved = run_recipe(kind, sources[src], train, data["val"], n, seed, hp,
                                        cfg, device, monitor, every, probe_head)
                steps, accs = res.history.column("val_acc")
                run = {"arm": arm, "n_train": n, "seed": seed,
                       "test_acc": evaluate(res.model, *data["test"])["acc"],
                       "val_acc": res.final.get("val_acc"), "steps": res.history.step,
                       "val_curve": [steps, accs], "update": moved,
                       "seconds": time.perf_counter() - t_arm}
                if monitor is not None:
                    run["monitor"] = monitor_summary(res.history, window)
                runs.append(run)
    with timer("adapt"):
        adapt_record = run_adapt(seed, data, sources, cfg, device, e0, scores)
    return {"seed": seed, "runs": runs, "source_test_acc": source_acc, "E0": e0,
            "transferability": {"seed": seed, **{f"{k}_{m}": v for k, d in scores.items()
                                                 for m, v in d.items()}},
            "adapt": adapt_record,
            "timings": {**timer.seconds, "total": time.perf_counter() - t0}}


def run_adapt(seed, data, sources, cfg, device, e0, scores) -> dict:
    """§10's loop from the animal source at N = adapt_n, with the scratch comparison; the
    record adds the before-training evidence (E₀ vs the related source, LogME)."""
    choices = cfg["hparams"]
    n = cfg["adapt_n"]
    train = (data["x_pool"][:n], data["y_pool"][:n])
    _, probe_head = ridge_fit(sources["animals"].body, train, data["val"], cfg)
    res = adapt(sources["animals"], train, data["val"], head=probe_head, head_lr=1e-3,
                lr=choices["scratch"]["lr"],
                epochs_per_level=5, compare_scratch=True, scratch_lr=choices["scratch"]["lr"],
                source_probe=data["src_probe"], seed=cell_seed(seed, n), device=device)
    evidence = (f"before training: mismatch E₀ = {e0['animals']:.2f} (related source "
                f"{e0['related']:.2f}), LogME {scores['animals']['logme']:.3f} (related "
                f"{scores['related']['logme']:.3f})")
    return {"seed": seed, "n_train": n, "chosen": res.chosen, "decisions": res.decisions,
            "steps": res.history.step, "evidence": evidence,
            "test_acc": evaluate(res.model, *data["test"])["acc"]}


# ----------------------------------------------------------------------------- tuning


def tune_unit(unit) -> list[dict]:
    """Validation accuracy of one arm with each of ``configs`` on one tuning seed."""
    arm, seed, configs, cfg = unit
    data = load_data(seed, cfg)
    sources = sources_of(seed, data, cfg)
    rows = []
    for index, config in configs:
        for n in cfg["ns"]:
            train = (data["x_pool"][:n], data["y_pool"][:n])
            probe_head = None
            if arm == "lpft":
                _, probe_head = ridge_fit(sources["animals"].body, train, data["val"], cfg)
            src = "untrained" if arm == "scratch" else "animals"
            res, _ = run_recipe(arm, sources[src], train, data["val"], n, seed,
                                {**config, "steps_frac": 1.0}, cfg, probe_head=probe_head)
            budget, end = cfg["steps"][n], res.history.step
            half = end - budget + budget // 2
            steps, accs = res.history.column("val_acc")
            rows.append({"arm": arm, "seed": seed, "n": n, "config_index": index,
                         "config": config,
                         "val_0.5": [a for s, a in zip(steps, accs) if s <= half][-1],
                         "val_1.0": accs[-1]})
    return rows


# ----------------------------------------------------------------------------- claims


def evaluate_claims(runs, parts, cfg, spec=None) -> list[dict]:
    spec = spec or protocol.load_protocol()
    e0 = {p["seed"]: p["E0"] for p in parts}
    return [C.mismatch_start(e0, protocol.claim_spec("animals.mismatch_start", spec)),
            C.negative_transfer(runs, protocol.claim_spec("animals.negative_transfer", spec)),
            C.forgetting(runs, protocol.claim_spec("animals.forgetting", spec)),
            C.representation_shifts(runs, protocol.claim_spec("animals.representation_shifts",
                                                              spec)),
            C.unstable(runs, protocol.claim_spec("animals.unstable", spec)),
            C.mismatch_rises(runs, protocol.claim_spec("animals.mismatch_rises", spec)),
            C.safe_cannot_rescue(runs, protocol.claim_spec("animals.safe_cannot_rescue", spec))]


# ----------------------------------------------------------------------------- figures


def _monitor_curves(runs, arm, n, key):
    return [r["monitor"][f"{key}_curve"] for r in runs if r["arm"] == arm
            and r["n_train"] == n and f"{key}_curve" in r.get("monitor", {})]


#: One colour per arm in every figure.
COLOURS = {"scratch": "C0", "naive_animals": "C1", "naive_related": "C2",
           "aggressive_animals": "C3", "aggressive_related": "C4", "lpft_animals": "C5",
           "fe_animals": "C6"}
_BY_LABEL = {LABELS[a]: c for a, c in COLOURS.items()}


def make_figures(results: dict, out: Path, cfg: dict) -> dict:
    runs = results["runs"]
    n = cfg["monitor_n"]
    figs = {}
    fig, ax = xc.new_figure("Animals → digits: test accuracy vs N (mean over seeds, 95% band)",
                            "target training digits N", "test accuracy (%)", size=(7.5, 4.8))
    xc.plot_sample_efficiency(ax, runs, list(ARMS), LABELS)
    ax.set_ylim(50, 100)
    figs["sample_efficiency"] = xc.save_figure(fig, out / "sample_efficiency.png")

    fig, axes = xc.new_figure(f"Mismatch E_t = 1 − CKA(features, labels) and its parts "
                              f"(N = {n}, mean over seeds, 95% band)", "optimizer step", "",
                              size=(13, 4.4), ncols=2)
    xc.plot_curve_bands(axes[0], {LABELS[a]: _monitor_curves(runs, a, n, "mismatch")
                                  for a in ("naive_animals", "naive_related",
                                            "aggressive_animals", "lpft_animals")},
                        colours=_BY_LABEL)
    axes[0].set_ylabel("E_t")
    axes[0].set_ylim(0, 1)
    grid = None
    for arm in ("naive_animals", "naive_related"):
        for part, style in (("mismatch_useful", "-"), ("mismatch_destructive", "--")):
            curves = [[c[0], np.cumsum(c[1])] for c in _monitor_curves(runs, arm, n, part)]
            if not curves:
                continue
            grid = np.asarray(curves[0][0]) if grid is None else grid
            xc.band(axes[1], grid, np.stack([xc.on_grid(c, grid) for c in curves]), COLOURS[arm],
                    f"{LABELS[arm]}: Σ {part.split('_')[1]}", ls=style)
    axes[1].set_ylabel("cumulative part of ΔE (E_t − E₀ = Σdestructive − Σuseful)")
    axes[1].axvline(cfg["claims"]["window"], color="grey", ls=":", lw=1)
    axes[1].legend(fontsize=7)
    figs["mismatch_parts"] = xc.save_figure(fig, out / "mismatch_parts.png")

    fig, axes = xc.new_figure(f"Forgetting and drift (N = {n}, mean over seeds, 95% band)",
                              "optimizer step", "", size=(13, 4.4), ncols=2)
    xc.plot_curve_bands(axes[0], {LABELS[a]: _monitor_curves(runs, a, n, "source_acc")
                                  for a in ("naive_animals", "aggressive_animals",
                                            "lpft_animals")}, scale=100.0, colours=_BY_LABEL)
    axes[0].axhline(25, color="grey", ls=":", lw=1, label="chance")
    axes[0].set_ylabel("source (animal) accuracy through the old head (%)")
    axes[0].set_ylim(0, 100)
    xc.plot_curve_bands(axes[1], {LABELS[a]: _monitor_curves(runs, a, n, "cka_target")
                                  for a in MONITORED}, colours=_BY_LABEL)
    axes[1].set_ylabel("CKA to the pretrained features (digits)")
    axes[1].set_ylim(0, 1.02)
    figs["forgetting_drift"] = xc.save_figure(fig, out / "forgetting_drift.png")

    spec = protocol.claim_spec("animals.unstable")
    fig, axes = xc.new_figure(f"Instability (N = {n}): seed-to-seed spread of the validation "
                              "curve, and how far body and head moved", "", "",
                              size=(13, 4.4), ncols=2)
    for arm in ("naive_animals", "naive_related", "aggressive_animals", "aggressive_related"):
        curves = [r["val_curve"] for r in runs if r["arm"] == arm and r["n_train"] == n]
        if len(curves) > 1:
            grid = np.asarray(curves[0][0])
            acc = np.stack([xc.on_grid(c, grid) for c in curves]) * 100.0
            axes[0].plot(grid, acc.std(axis=0, ddof=1), color=COLOURS[arm], lw=1.8,
                         label=f"{LABELS[arm]} ({len(curves)} seeds)")
    axes[0].set_xlabel("optimizer step")
    axes[0].set_ylabel("SD over seeds of validation accuracy (points)")
    axes[0].set_title(f"pre-registered measure: its mean over the run, "
                      f"{spec['arm']} vs {spec['control_arm']}", fontsize=8)
    axes[0].legend(fontsize=7)
    xc.plot_update_groups(axes[1], runs, {"lpft_animals": "LP-FT (safe)",
                                          "naive_animals": "naive",
                                          "aggressive_animals": "aggressive"}, COLOURS)
    axes[1].set_xlabel("target training digits N")
    axes[1].set_ylabel("‖θ_end − θ₀‖/‖θ₀‖")
    figs["instability_updates"] = xc.save_figure(fig, out / "instability_updates.png")
    return figs


# ----------------------------------------------------------------------------- main


def run(seeds, cfg: dict, jobs: int = 1, device: str = "cpu", out: Path | None = None,
        write: bool = True, scheduler: str | None = None) -> dict:
    """Run the experiment on ``seeds``; returns (and with ``write``, saves) the results.
    ``scheduler``: where the seeds run (:func:`demos.scheduler.run_units`)."""
    t0 = time.perf_counter()
    cfg = {**cfg, "hparams": cfg.get("hparams") or protocol.tuned(EXPERIMENT),
           "claims": {"window": protocol.load_protocol()["animals"]["window"]}}
    parts = xc.run_units(run_unit, [(seed, cfg, device) for seed in seeds], jobs,
                         desc=EXPERIMENT, scheduler=scheduler)
    runs = [r for p in parts for r in p["runs"]]
    claims = evaluate_claims(runs, parts, cfg)
    if cfg.get("quick"):
        claims = C.mark_quick(claims)
    results = {
        "experiment": EXPERIMENT, "seeds": list(seeds), "config": xc.jsonable_cfg(cfg),
        "device": device, "jobs": jobs, "scheduler": scheduler,
        "digits": cfg.get("digits", "glyph"),
        "tuning_note": f"hyperparameters from demos/tuning/animals_digits.json (seeds >= "
                       f"{xc.TUNING_SEED_START}, glyph digits)",
        "source_test_acc": [p["source_test_acc"] for p in parts],
        "E0": [{"seed": p["seed"], **p["E0"]} for p in parts],
        "transferability": [p["transferability"] for p in parts],
        "adapt": [p["adapt"] for p in parts], "runs": runs,
        "summary": xc.summarise(runs), "claims": claims,
        "timings": {"units": [{"seed": p["seed"], **p["timings"]} for p in parts],
                    "wall_seconds": time.perf_counter() - t0},
    }
    if write and out is not None:
        out.mkdir(parents=True, exist_ok=True)
        figs = make_figures(results, out, cfg)
        write_report(results, figs, out)
        results["timings"]["wall_seconds_with_report"] = time.perf_counter() - t0
        xc.write_json(out / "results.json", results)
    return results


def write_report(results: dict, figs: dict, out: Path) -> None:
    e0 = results["E0"]
    lines = [f"# Experiment 2: animals → digits ({results['digits']} digits)", "",
             f"Seeds {results['seeds'][0]}..{results['seeds'][-1]} ({len(results['seeds'])}); "
             f"{results['tuning_note']}. Accuracies in points (%), paired by seed.", "",
             f"Source (animals) test accuracy: mean {np.mean(results['source_test_acc']):.3f}. "
             f"Mismatch E₀ on digits (mean): animals {np.mean([e['animals'] for e in e0]):.3f}, "
             f"related {np.mean([e['related'] for e in e0]):.3f}, untrained "
             f"{np.mean([e['untrained'] for e in e0]):.3f}.", "",
             "## Claims", "", xc.claims_table(results["claims"]), "",
             "## Test accuracy (mean over seeds)", "", xc.summary_table(results["summary"]), "",
             "## adapt (§10 loop) decisions", "", xc.adapt_table(results["adapt"]), "",
             f"Evidence before training (first seed): {results['adapt'][0]['evidence']}.", "",
             "## Figures", ""]
    lines += [f"![{k}]({Path(v).name})" for k, v in figs.items()]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv=None, *, smoke: bool = False) -> dict:
    return xc.main(EXPERIMENT, __doc__.split("\n")[0], make_config, run, argv, smoke=smoke)


if __name__ == "__main__":
    main(sys.argv[1:])
