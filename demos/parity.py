"""Experiment 1, transfer that works (notes §5-§7, §9, §10): magnitude → parity.

    python -m demos.parity [--seeds 10] [--seed-offset 0] [--jobs 2] [--digits glyph|real]
                           [--scheduler local|tcp://HOST:PORT]
                           [--device cpu|cuda] [--out out/parity]

Numbers 0..99 are drawn as two handwritten glyphs (tens, units). One glyph encoder,
weight-shared, reads both slots; the two feature vectors are concatenated; a linear head
decides. Source tasks: magnitude as nine thresholds "v ≥ 10k" (thermometer), magnitude as
the notes' literal single threshold "v ≥ 50" (binary), and random labels (control).
Magnitude needs only the tens glyph, parity only the units glyph; the shared encoder is
what can carry "how to read a digit" from one slot to the other, and only a source that
needs every digit told apart teaches it (§7: transfer works when structures overlap).

Arms, paired by seed at every target size N (the claims are in demos/claims.toml, the
hyperparameters in demos/tuning/parity.json, chosen by ``make tune`` on seeds >= 10000):

================== =====================================================================
scratch            the same family of networks from random weights; its own tuned lr,
                   weight decay, steps and architecture (whitening, tanh, width)
fe_<source>        feature extraction: frozen encoder, new linear head (tuned)
lpft_<source>      safe transfer: LP-FT, probe to convergence then fine-tune (tuned)
naive_thermometer  all parameters, no freezing, scratch's learning rate and steps
================== =====================================================================

plus ``minitl.transfer.adapt`` (feature extraction first, unfreeze gradually, decide from
evidence) at one N.

``--digits real`` draws every number with scikit-learn's real handwritten digits
(:func:`minitl.data.real_two_digit_numbers`): the sources are pretrained on numbers made
of the images of the ``"source"`` pool, the parity target (training pool, validation,
test) uses the ``"target"`` pool, so no image is in both; within each split the tens and
units slots draw from disjoint halves of the images (``disjoint_slots``). Same claims,
thresholds, sizes and tuned hyperparameters (tuned on glyph numbers; not retuned). One
extra arm is shown beside them, ``lpft_glyphsource``: LP-FT on real parity from the
thermometer source pretrained on *glyph* numbers (no claim reads it); it runs at the
N of the other sources (``source_ns``).

Outputs in --out: results.json (runs, claims, adapt decisions), report.md, figures.
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import numpy as np

import minitl.nn.functional as F
from minitl import nn
from minitl.data import DataLoader, number_labels, real_two_digit_numbers, two_digit_numbers
from minitl.optim import Adam
from minitl.transfer import BodyHead, adapt, transferability
from minitl.transfer.loop import derive_seed, evaluate, extract_features
from minitl.transfer.stats import steps_to_reach

from . import claims as C
from . import experiment_common as xc
from . import protocol
from .models import GLYPH_FEATURES, TRAINED_PART, SharedSlots, make_model, shared_body, whiten_

EXPERIMENT = "parity"

CONFIG = {
    "ns": [10, 20, 40, 160, 640],
    # the step budget T(N) of every arm (batch 32); LP-FT adds its probe steps before these
    "steps": {10: 200, 20: 200, 40: 250, 160: 300, 640: 400},
    "source_ns": [10, 20, 40],    # N at which the binary/random/untrained sources run
    "fe_steps": 300,              # feature extraction's budget (head on cached features)
    "batch_size": 32,
    "evals_per_run": 10,
    "n_source": 4000,
    "n_pool": 700,
    "n_val": 300,
    "n_test": 2000,
    "pretrain_steps": 1500,
    "pretrain_lr": 2e-3,
    "pretrain_batch": 64,
    "n_whiten": 2000,
    "probe_lr": 0.1,              # LP-FT's probe (runs to convergence; lr sets only the pace)
    "probe_epochs": 100,
    "adapt_n": 20,
    "reach_n": 20,
}

#: Sizes of the hyperparameter search (make tune) and of the smoke tests.
TUNE = {"ns": [10, 40, 160], "n_test": 200}
SMOKE = {
    "ns": [10, 20], "source_ns": [10, 20], "steps": {10: 20, 20: 20}, "fe_steps": 20,
    "n_source": 300,
    "n_pool": 40, "n_val": 60, "n_test": 100, "pretrain_steps": 40, "probe_epochs": 10,
    "evals_per_run": 4, "adapt_n": 10, "reach_n": 10,
}

SOURCES = ("thermometer", "magnitude", "random")
#: Display names: "binary" is the notes' single-threshold "small vs large" source.
SOURCE_NAMES = {"thermometer": "thermometer", "magnitude": "binary", "random": "random",
                None: "untrained"}

#: The search space of ``make tune``: the same for every arm (the architecture options
#: are the ones transfer uses; the lr grid is each arm's own trained part's rate).
SEARCH = {
    "arch": [{"whiten": w, "tanh": t, "hidden": h}
             for w in (True, False) for t in (True, False) for h in (64, 128)],
    "lr": {"scratch": [1e-3, 3e-3, 1e-2], "fe": [1e-2, 3e-2, 1e-1],
           "lpft": [1e-5, 1e-4, 1e-3]},
    "weight_decay": [0.0, 0.01, 0.1],
    "steps_frac": [0.5, 1.0],
}


#: ``--digits real`` changes no size: numbers are composed, so any count of them can be
#: drawn from the real images (each split's images repeat across its numbers, never
#: across splits or pools; see minitl.data.real_digits).
REAL: dict = {}


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


def arch_key(arch: dict) -> str:
    return f"{'white' if arch['whiten'] else 'raw'}-{'tanh' if arch['tanh'] else 'relu'}" \
           f"-h{arch['hidden']}"


# ----------------------------------------------------------------------------- data


def glyph_numbers(seed: int, cfg: dict):
    """Source numbers and the target pool from one draw of the train split (disjoint);
    validation and test from their own splits: ``(source, pool, val, test)``, each
    ``(images, values)``."""
    train = two_digit_numbers(cfg["n_source"] + cfg["n_pool"], seed=seed, split="train")
    n_src = cfg["n_source"]
    return ((train.images[:n_src], train.values[:n_src]),
            (train.images[n_src:], train.values[n_src:]),
            tuple(two_digit_numbers(cfg["n_val"], seed=seed, split="val")),
            tuple(two_digit_numbers(cfg["n_test"], seed=seed, split="test")))


def real_numbers(seed: int, cfg: dict):
    """The same four sets drawn with real digit images: the source from the ``"source"``
    pool, the target pool, validation and test from the ``"target"`` pool (no image in
    both), tens and units from disjoint halves of each split's images."""
    def draw(n, split, pool):
        return tuple(real_two_digit_numbers(n, seed=seed, split=split, pool=pool,
                                            disjoint_slots=True))[:2]

    return (draw(cfg["n_source"], "train", "source"), draw(cfg["n_pool"], "train", "target"),
            draw(cfg["n_val"], "val", "target"), draw(cfg["n_test"], "test", "target"))


def load_data(seed: int, cfg: dict) -> dict:
    """Everything one seed's runs read: source inputs, the target pool in a stratified
    order (its first N examples are the training set of size N), validation, test; with
    real digits also the glyph source inputs (for the glyph-source arm)."""
    real = cfg.get("digits", "glyph") == "real"
    glyph = glyph_numbers(seed, cfg)
    (x_src, v_src), (x_pool, v_pool), val_d, test_d = real_numbers(seed, cfg) if real else glyph
    y_pool = number_labels(v_pool, "parity")
    order = xc.stratified_order(y_pool, np.random.default_rng(derive_seed(seed, "subsets")))
    data = {"x_src": x_src, "v_src": v_src, "x_pool": x_pool[order], "y_pool": y_pool[order],
            "val": (val_d[0], number_labels(val_d[1], "parity")),
            "test": (test_d[0], number_labels(test_d[1], "parity"))}
    if real:
        data["x_src_glyph"], data["v_src_glyph"] = glyph[0]
    return data


# ----------------------------------------------------------------------------- sources


def _bce(logits, targets):
    return F.binary_cross_entropy_with_logits(logits, targets)


def pretrain(task: str | None, seed: int, x: np.ndarray, values: np.ndarray, cfg: dict,
             arch: dict, device: str = "cpu") -> tuple[BodyHead, dict]:
    """A source model for ``task`` (``None``: the untrained initial model).

    Every source of one seed and architecture starts from the same initial weights, so
    the sources differ only in what they were trained on (and scratch starts there too).
    1. Train the encoder's first layers and a linear head on the source task.
    2. With ``arch["whiten"]``: set the encoder's last layer to PCA whitening of its
       features on unlabelled source inputs (for the untrained model: of its random
       features); the source head is then refitted on nothing: it is only used to
       measure the source task (thermometer heads are not needed by any claim).
    """
    rng = np.random.default_rng(derive_seed(seed, "init-shared"))
    body = shared_body(rng, hidden=arch["hidden"], tanh=arch["tanh"], whiten=arch["whiten"])
    trained = SharedSlots(body.encoder[:TRAINED_PART], features=GLYPH_FEATURES)
    outputs = 9 if task == "thermometer" else 2
    model = make_model(trained, 2 * GLYPH_FEATURES, outputs, rng).to(device)
    info: dict = {}
    if task is not None and cfg["pretrain_steps"] > 0:
        y = number_labels(values, task, seed=seed)
        loader = DataLoader(x, y, batch_size=cfg["pretrain_batch"], shuffle=True,
                            seed=derive_seed(seed, f"pretrain-{task}"))
        opt = Adam(list(model.parameters()), lr=cfg["pretrain_lr"])
        loss_fn = _bce if task == "thermometer" else F.cross_entropy
        step, losses = 0, []
        while step < cfg["pretrain_steps"]:
            for xb, yb in loader:
                if step >= cfg["pretrain_steps"]:
                    break
                loss = loss_fn(model(xb.to(device)), yb.to(device))
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
                if step > cfg["pretrain_steps"] - 50:
                    losses.append(loss.item())
        info["final_loss"] = float(np.mean(losses))
        info["source_train_acc"] = source_accuracy(model, task, x[:1000], values[:1000], seed)
    model.to("cpu")
    if arch["whiten"]:
        glyphs = x[: cfg["n_whiten"]]
        glyphs = glyphs.reshape(-1, *glyphs.shape[2:])
        white = whiten_(body.encoder[TRAINED_PART], extract_features(trained.encoder, glyphs))
        info["whitening_explained"] = white["explained"]
    return BodyHead(body, nn.Linear(2 * body.features, 2, rng=rng)).to(device), info


def source_accuracy(model, task: str, x, values, seed: int) -> float:
    """Source-task accuracy of a (pre-whitening) source model; thermometer: all nine right."""
    logits = extract_features(model, x)
    y = number_labels(values, task, seed=seed)
    if task == "thermometer":
        return float(((logits > 0) == (y > 0.5)).all(axis=1).mean())
    return float((logits.argmax(axis=1) == y).mean())


PRETRAIN_KEYS = ("pretrain_steps", "pretrain_lr", "pretrain_batch", "n_source", "n_whiten")


#: A source task trained on glyph numbers when the experiment reads real ones.
GLYPH_SOURCE = "glyph-thermometer"


def source_model(task: str | None, seed: int, data: dict, cfg: dict, arch: dict,
                 device: str = "cpu") -> tuple[BodyHead, dict]:
    """:func:`pretrain` through the model zoo: a trained source is stored the first time
    and loaded afterwards (``info["from_zoo"]``). The zoo name and key hold the digits
    the source was trained on, so a real-digit source never loads a glyph-trained entry
    (and the glyph-source arm of ``--digits real`` loads the glyph run's own entry)."""
    digits, x, v = cfg.get("digits", "glyph"), data["x_src"], data["v_src"]
    if task == GLYPH_SOURCE:
        task, digits, x, v = "thermometer", "glyph", data["x_src_glyph"], data["v_src_glyph"]
    if task is None:  # the untrained control costs nothing to rebuild
        return pretrain(None, seed, x, v, cfg, arch, device)
    config = {"task": task, "seed": seed, "arch": arch_key(arch), "digits": digits,
              "code": xc.code_fingerprint(pretrain, shared_body, whiten_),
              **{k: cfg[k] for k in PRETRAIN_KEYS}}

    def train():
        return pretrain(task, seed, x, v, cfg, arch, device)

    def untrained():
        return pretrain(task, seed, x, v, {**cfg, "pretrain_steps": 0}, arch, device)[0]

    prefix = "" if digits == "glyph" else f"{digits}-"
    return xc.zoo_cached(f"parity/{prefix}{task}-{arch_key(arch)}-seed{seed}", config, train,
                         untrained, {"source_task": task, "data_seed": seed, "digits": digits,
                                     "experiment": EXPERIMENT})


# ----------------------------------------------------------------------------- one run


def cell_seed(seed: int, n: int) -> int:
    """The recipe seed of one (seed, N) cell: every arm of the cell uses it (pairing)."""
    return derive_seed(seed, f"cell-{n}")


def fresh_head(model: BodyHead, seed: int, n: int) -> nn.Linear:
    """The new parity head of one cell (the same initial head for every arm of the cell
    with the same feature width), so its θ₀ is known for the update ratios."""
    rng = np.random.default_rng(derive_seed(cell_seed(seed, n), "head"))
    return nn.Linear(model.head.in_features, 2, rng=rng)


def run_recipe(kind: str, source: BodyHead, train, val, n: int, seed: int, hp: dict,
               cfg: dict, device: str = "cpu", eval_every: int | None = None):
    """One arm: ``kind`` in scratch / naive / fe / lpft with hyperparameters ``hp``
    (``lr``, ``weight_decay``, ``steps_frac``). Scratch and naive are the same recipe
    (every parameter trained at one rate), from the untrained or a pretrained model."""
    budget = cfg["fe_steps"] if kind == "fe" else cfg["steps"][n]
    steps = max(1, int(round(hp["steps_frac"] * budget)))
    return xc.train_arm(kind, source, train, val, head=fresh_head(source, seed, n),
                        steps=steps, hp=hp, cfg=cfg, seed=cell_seed(seed, n), device=device,
                        eval_every=eval_every)


#: (arm, recipe kind, source task); the source's architecture is the arm's tuned one.
ARMS = (
    ("scratch", "scratch", None),
    ("naive_thermometer", "naive", "thermometer"),
    ("fe_thermometer", "fe", "thermometer"),
    ("lpft_thermometer", "lpft", "thermometer"),
    ("lpft_binary", "lpft", "magnitude"),
    ("lpft_random", "lpft", "random"),
    ("lpft_untrained", "lpft", None),
)
#: With ``--digits real``: LP-FT from the thermometer source trained on glyph numbers.
GLYPH_SOURCE_ARM = ("lpft_glyphsource", "lpft", GLYPH_SOURCE)


def arms_of(cfg: dict) -> tuple:
    """The arms one run trains: :data:`ARMS`, plus the glyph-source arm on real digits."""
    return ARMS + ((GLYPH_SOURCE_ARM,) if cfg.get("digits") == "real" else ())


def arm_hparams(arm: str, choices: dict) -> tuple[str, dict]:
    """(tuned arm whose values apply, hyperparameters): naive uses scratch's rate, weight
    decay and steps (the notes' "standard learning rate for this model") on the
    architecture of the transfer arms."""
    kind = arm.split("_")[0]
    if kind == "naive":
        return "scratch", {**choices["scratch"], "arch": choices["lpft"]["arch"]}
    return kind, choices[kind]


def run_unit(unit) -> dict:
    """Everything of one seed: sources, transferability scores, every arm at every N,
    adapt. A function of (seed, config) only."""
    seed, cfg, device = unit
    choices = cfg["hparams"]
    t0 = time.perf_counter()
    timer = xc.Timer()
    with timer("data"):
        data = load_data(seed, cfg)
    sources, source_info = {}, []
    with timer("pretrain"):
        needed = {(task, arch_key(arm_hparams(arm, choices)[1]["arch"]))
                  for arm, _, task in arms_of(cfg)}
        for task, key in sorted(needed, key=str):
            arch = next(a for a in SEARCH["arch"] if arch_key(a) == key)
            model, info = source_model(task, seed, data, cfg, arch, device)
            sources[(task, key)] = model
            source_info.append({"seed": seed, "source": SOURCE_NAMES.get(task, task),
                                "arch": key,
                                **info})
    scores = []
    with timer("transferability"):
        key = arch_key(choices["lpft"]["arch"])
        n_score = min(len(data["y_pool"]), max(cfg["ns"]))
        for task in (*SOURCES, None):
            s = transferability(sources[(task, key)].body, data["x_pool"][:n_score],
                                data["y_pool"][:n_score], seed=seed)
            scores.append({"seed": seed, "source": SOURCE_NAMES[task],
                           **{k: s[k] for k in ("logme", "h_score", "label_cka",
                                                "probe_accuracy", "chance")}})
    runs = []
    with timer("arms"):
        for n in cfg["ns"]:
            train = (data["x_pool"][:n], data["y_pool"][:n])
            for arm, kind, task in arms_of(cfg):
                if task != "thermometer" and kind == "lpft" and n not in cfg["source_ns"]:
                    continue
                _, hp = arm_hparams(arm, choices)
                source = sources[(task, arch_key(hp["arch"]))]
                every = 1 if n == cfg["reach_n"] and arm in ("scratch", "lpft_thermometer") \
                    else None
                t_arm = time.perf_counter()
                res, moved = run_recipe(kind, source, train, data["val"], n, seed, hp, cfg,
                                        device, eval_every=every)
                steps, accs = res.history.column("val_acc")
                runs.append({
                    "arm": arm, "n_train": n, "seed": seed,
                    "test_acc": evaluate(res.model, *data["test"])["acc"],
                    "val_acc": res.final.get("val_acc"), "steps": res.history.step,
                    "val_curve": [steps, accs], "update": moved,
                    "probe_steps": res.info.get("probe_steps"),
                    "seconds": time.perf_counter() - t_arm})
    with timer("adapt"):
        adapt_record = run_adapt(seed, data, sources, cfg, device)
    return {"seed": seed, "runs": runs, "sources": source_info, "transferability": scores,
            "adapt": adapt_record, "timings": {**timer.seconds, "total": time.perf_counter() - t0}}


def run_adapt(seed: int, data: dict, sources: dict, cfg: dict, device: str) -> dict:
    """The notes' §10 loop on the thermometer source at N = adapt_n, with the scratch
    comparison at the same budget; returns its decisions and the chosen model's test
    accuracy."""
    choices = cfg["hparams"]
    n = cfg["adapt_n"]
    source = sources[("thermometer", arch_key(choices["lpft"]["arch"]))]
    res = adapt(source, (data["x_pool"][:n], data["y_pool"][:n]), data["val"],
                head=fresh_head(source, seed, n), head_lr=cfg["probe_lr"],
                lr=choices["lpft"]["lr"] * 10, epochs_per_level=5, compare_scratch=True,
                scratch_lr=choices["scratch"]["lr"], seed=cell_seed(seed, n), device=device)
    return {"n_train": n, "chosen": res.chosen, "decisions": res.decisions,
            "steps": res.history.step,
            "test_acc": evaluate(res.model, *data["test"])["acc"]}


# ----------------------------------------------------------------------------- tuning

#: The arms ``make tune`` searches (naive takes scratch's values by definition).
TUNED_ARMS = ("scratch", "fe", "lpft")
_TUNE_TASK = {"scratch": None, "fe": "thermometer", "lpft": "thermometer"}


def prepare_tuning(unit) -> None:
    """Train (into the zoo) every source the search needs on one tuning seed."""
    seed, cfg = unit
    data = load_data(seed, cfg)
    for arch in SEARCH["arch"]:
        source_model("thermometer", seed, data, cfg, arch)


def tune_unit(unit) -> list[dict]:
    """Validation accuracy of one arm with each of ``configs`` on one tuning seed, at every
    tuned N, after half (``val_0.5``) and all (``val_1.0``) of the step budget."""
    arm, seed, configs, cfg = unit
    data = load_data(seed, cfg)
    rows = []
    for index, config in configs:
        source, _ = source_model(_TUNE_TASK[arm], seed, data, cfg, config["arch"])
        for n in cfg["ns"]:
            res, _ = run_recipe(arm, source, (data["x_pool"][:n], data["y_pool"][:n]),
                                data["val"], n, seed, {**config, "steps_frac": 1.0}, cfg)
            budget = cfg["fe_steps"] if arm == "fe" else cfg["steps"][n]
            end = res.history.step
            half = end - budget + budget // 2
            steps, accs = res.history.column("val_acc")
            at_half = [a for s, a in zip(steps, accs) if s <= half][-1]
            rows.append({"arm": arm, "seed": seed, "n": n, "config_index": index,
                         "config": config, "val_0.5": at_half, "val_1.0": accs[-1]})
    return rows


# ----------------------------------------------------------------------------- claims


def evaluate_claims(runs: list[dict], scores: list[dict], cfg: dict,
                    spec: dict | None = None) -> list[dict]:
    """Every parity claim of claims.toml, decided by the statistic it names."""
    spec = spec or protocol.load_protocol()
    out = [C.fewer_samples(runs, protocol.claim_spec("parity.fewer_samples", spec)),
           C.faster(runs, protocol.claim_spec("parity.faster", spec)),
           C.structure_matters(runs, protocol.claim_spec("parity.structure_matters", spec)),
           C.body_moves_less(runs, protocol.claim_spec("parity.body_moves_less", spec)),
           C.fe_vs_ft(runs, protocol.claim_spec("parity.fe_vs_ft", spec)),
           C.scores_rank(runs, scores, protocol.claim_spec("parity.scores_rank", spec))]
    return out


def steps_to(runs: list[dict], arm: str, n: int, threshold: float) -> dict[int, float]:
    """``{seed: steps}`` to reach ``threshold`` validation accuracy (every step counted,
    LP-FT's probe included); a run that never gets there counts as budget + 1."""
    out = {}
    for r in runs:
        if r["arm"] == arm and r["n_train"] == n:
            s = steps_to_reach(r["val_curve"][0], r["val_curve"][1], threshold)
            out[r["seed"]] = float(r["steps"] + 1 if s is None else s)
    return out


# ----------------------------------------------------------------------------- figures

LABELS = {
    "scratch": "scratch (tuned)", "naive_thermometer": "naive fine-tune (scratch's lr)",
    "fe_thermometer": "feature extraction", "lpft_thermometer": "LP-FT (safe), thermometer",
    "lpft_binary": "LP-FT, binary (n ≥ 50) source", "lpft_random": "LP-FT, random-label source",
    "lpft_untrained": "LP-FT, untrained encoder",
    "lpft_glyphsource": "LP-FT, thermometer source on glyph numbers",
}


def make_figures(results: dict, out: Path, cfg: dict) -> dict:
    runs = results["runs"]
    figs = {}
    fig, axes = xc.new_figure("Parity: test accuracy vs N (mean over seeds, 95% band)",
                              "target training numbers N", "test accuracy (%)",
                              size=(12, 4.4), ncols=2)
    xc.plot_sample_efficiency(axes[0], runs, ["scratch", "naive_thermometer",
                                              "fe_thermometer", "lpft_thermometer"], LABELS)
    axes[0].set_title("recipes, thermometer source")
    xc.plot_sample_efficiency(axes[1], runs, ["scratch", "lpft_thermometer", "lpft_binary",
                                              "lpft_random", "lpft_untrained",
                                              "lpft_glyphsource"], LABELS)
    axes[1].set_title("which source (same LP-FT recipe)")
    for ax in axes:
        ax.set_ylim(45, 100)
    figs["sample_efficiency"] = xc.save_figure(fig, out / "sample_efficiency.png")

    n = cfg["reach_n"]
    fig, ax = xc.new_figure(f"Learning curves at N = {n} (mean over seeds, 95% band;\n"
                            "every optimizer step counted, LP-FT's probe included)",
                            "optimizer step", "validation accuracy (%)", size=(7.5, 4.6))
    xc.plot_curve_bands(ax, {LABELS[a]: [r["val_curve"] for r in runs
                                         if r["arm"] == a and r["n_train"] == n]
                             for a in ("scratch", "lpft_thermometer")}, scale=100.0)
    ax.axhline(100 * protocol.claim_spec("parity.faster")["threshold_val_acc"], color="grey",
               ls=":", lw=1, label="pre-registered threshold")
    ax.set_ylim(40, 100)
    ax.legend(fontsize=7)
    figs["learning_curves"] = xc.save_figure(fig, out / "learning_curves.png")

    fig, ax = xc.new_figure("How far each part moved: ‖Δθ‖/‖θ₀‖ per group over the run "
                            "(mean, 95% CI)", "target training numbers N",
                            "relative update ‖θ_end − θ₀‖/‖θ₀‖")
    xc.plot_update_groups(ax, runs, {"lpft_thermometer": "LP-FT (safe)",
                                     "naive_thermometer": "naive"})
    figs["body_vs_head"] = xc.save_figure(fig, out / "body_vs_head.png")
    return figs


# ----------------------------------------------------------------------------- main


def run(seeds, cfg: dict, jobs: int = 1, device: str = "cpu", out: Path | None = None,
        write: bool = True, scheduler: str | None = None) -> dict:
    """Run the experiment on ``seeds``; returns (and with ``write``, saves) the results.
    ``scheduler``: where the seeds run (:func:`demos.scheduler.run_units`)."""
    t0 = time.perf_counter()
    cfg = {**cfg, "hparams": cfg.get("hparams") or protocol.tuned(EXPERIMENT)}
    parts = xc.run_units(run_unit, [(seed, cfg, device) for seed in seeds], jobs,
                         desc=EXPERIMENT, scheduler=scheduler)
    runs = [r for p in parts for r in p["runs"]]
    scores = [s for p in parts for s in p["transferability"]]
    claims = evaluate_claims(runs, scores, cfg)
    if cfg.get("quick"):
        claims = C.mark_quick(claims)
    results = {
        "experiment": EXPERIMENT, "seeds": list(seeds), "config": xc.jsonable_cfg(cfg),
        "device": device, "jobs": jobs, "scheduler": scheduler,
        "digits": cfg.get("digits", "glyph"),
        "tuning_note": f"hyperparameters from demos/tuning/parity.json (seeds >= "
                       f"{xc.TUNING_SEED_START}, glyph numbers)",
        "sources": [s for p in parts for s in p["sources"]], "transferability": scores,
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
    lines = [f"# Experiment 1: magnitude → parity ({results['digits']} digits)", "",
             f"Seeds {results['seeds'][0]}..{results['seeds'][-1]} ({len(results['seeds'])}); "
             f"{results['tuning_note']}. Accuracies in points (%), paired by seed.", "",
             "## Claims", "", xc.claims_table(results["claims"]), "",
             "## Test accuracy (mean over seeds)", "", xc.summary_table(results["summary"]), "",
             "## Transferability scores (before training, mean over seeds)", "",
             xc.scores_table(results["transferability"]), "",
             "## adapt (§10 loop) decisions", "", xc.adapt_table(results["adapt"]), "",
             "## Figures", ""]
    lines += [f"![{k}]({Path(v).name})" for k, v in figs.items()]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv=None, *, smoke: bool = False) -> dict:
    return xc.main(EXPERIMENT, __doc__.split("\n")[0], make_config, run, argv, smoke=smoke)


if __name__ == "__main__":
    main(sys.argv[1:])
