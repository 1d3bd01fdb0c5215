"""Which layers transfer: the layer-transfer experiment of Yosinski et al. (2014) on digits.

    python -m demos.layers [--digits glyph|real] [--seeds 10] [--seed-offset 0] [--jobs 2]
                           [--device cpu|cuda]

Yosinski, Clune, Bengio and Lipson ("How transferable are features in deep neural
networks?", NeurIPS 2014) split a dataset's classes into two halves A and B, train a base
network on each, and then, for every depth n, cut a base network after its n-th layer:

* **BnB**  the first n layers of base B, copied and frozen; the layers above re-initialised
  and trained on B. A control: does cutting a trained network at layer n hurt by itself?
* **AnB**  the first n layers of base A, copied and frozen; the rest trained on B. How
  general are A's layer-n features for B?
* **BnB+ / AnB+**  the same with the copied layers fine-tuned instead of frozen.

Here the network is an MLP on flattened digit images: ``L`` hidden layers (Linear + ReLU,
width ``WIDTH``) and a Linear head; depth n = 1..L copies hidden layers 1..n (the head is
always new: A and B have different classes). Each seed draws its own split of the ten
digits into two halves of five (``class_split``), its own data, initialisations and batch
order; at a given seed and depth every arm starts from the same re-initialised upper
layers and sees the same batches, so arms are compared seed by seed (paired).

Base B is the scratch baseline at the full target size (the same network trained on B
alone). The target-size axis repeats AnB and AnB+ with only a few target examples per
class, next to a network trained from scratch on the same few examples; BnB is left out
there (base B saw all of B). Finally ``layers.choose_depth`` reads the recommended
freeze depth off the full-size validation curve
(:func:`minitl.transfer.depth.recommended_freeze_depth`), before the few-example target
is trained, and hands it to :func:`minitl.transfer.adapt` as ``freeze_depth``.

Freezing is the parameter's flag (``Module.freeze()`` on the copied Linear layers); the
optimizer has two named parameter groups, ``copied`` and ``new``, so the copied layers
could take their own learning rate (``--copied-lr-scale``; 1 by default, as in the paper).

Hyperparameters (learning rate, steps) come from ``demos/tuning/layers_<digits>.json``,
chosen on seeds >= 10 000 by ``python -m demos.layers --tune --digits <digits>``; the
claims' margins are in ``demos/claims.toml`` ([layers]), fixed before the evaluation seeds
were run.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from minitl import nn, no_grad, optim, tensor
from minitl.nn import functional as F
from minitl.transfer import BodyHead, adapt
from minitl.transfer.depth import recommended_freeze_depth
from minitl.transfer.loop import derive_seed
from minitl.transfer.model import copy_module, model_device
from minitl.transfer.stats import tost

from . import cli
from . import experiment_common as xc
from .claims import _lo, diff_by_seed, mark_quick, record, summary
from .protocol import TUNING_DIR, claim_spec

EXPERIMENT = "layers"
DEPTH = 4  # hidden layers L
WIDTH = 64
SIZE = 16  # images are SIZE x SIZE, flattened
FULL_PER_CLASS = 100  # target (and source) examples per class, the "full" size
FEW_PER_CLASS = (5,)  # the target-size axis: few examples per class, beside the full 100
VAL_PER_CLASS = 30
TEST_PER_CLASS = 100  # glyphs; the real digits use their whole (smaller) test split
BATCH = 32
TUNE_SEEDS = (10_000, 10_001, 10_002)
TUNE_GRID = {"lr": [1e-3, 3e-3], "steps": [100, 200]}  # 200 steps keeps make demo-layers < 60 s


# ----------------------------------------------------------------------------- data


def class_split(seed: int) -> tuple[list[int], list[int]]:
    """The two halves (A, B) of the ten digit classes for one seed: a seeded shuffle."""
    perm = np.random.default_rng(derive_seed(seed, "classes")).permutation(10)
    return sorted(int(c) for c in perm[:5]), sorted(int(c) for c in perm[5:])


def _images(digits: str, seed: int, split: str):
    from minitl.data import glyph_digits, real_digits

    if digits == "real":
        d = real_digits(None, seed=seed, split=split, pool="all", size=SIZE)
    else:
        n = {"train": FULL_PER_CLASS, "val": VAL_PER_CLASS, "test": TEST_PER_CLASS}[split]
        d = glyph_digits(10 * n, seed=seed, split=split, size=SIZE)
    return np.asarray(d.images, np.float32).reshape(len(d.labels), -1), np.asarray(d.labels)


def half(x, y, classes, per_class: int | None, rng) -> tuple[np.ndarray, np.ndarray]:
    """The examples of ``classes`` relabelled 0..4, at most ``per_class`` of each, in a
    class-balanced order whose prefixes are nested (5 per class is inside 20)."""
    keep = np.isin(y, classes)
    x, y = x[keep], np.searchsorted(classes, y[keep])
    order = xc.stratified_order(y, rng)
    if per_class is not None:
        order = order[: per_class * len(classes)]
    return x[order], y[order]


def load_task(digits: str, seed: int) -> dict:
    """Train/val/test of halves A and B, and B's few-example training sets."""
    a_cls, b_cls = class_split(seed)
    splits = {s: _images(digits, seed, s) for s in ("train", "val", "test")}
    rng = np.random.default_rng(derive_seed(seed, "subsets"))
    task = {"classes": {"A": a_cls, "B": b_cls}}
    for name, cls in (("A", a_cls), ("B", b_cls)):
        task[name] = {"train": half(*splits["train"], cls, FULL_PER_CLASS, rng),
                      "val": half(*splits["val"], cls, None, rng),
                      "test": half(*splits["test"], cls, None, rng)}
    xb, yb = task["B"]["train"]
    task["B_few"] = {k: (xb[: 5 * k], yb[: 5 * k]) for k in FEW_PER_CLASS}
    return task


# ----------------------------------------------------------------------------- model


def build_mlp(in_dim: int, n_classes: int, rng, depth: int = DEPTH,
              width: int = WIDTH) -> nn.Sequential:
    """``depth`` × (Linear + ReLU), then a Linear head; weights drawn from ``rng``."""
    layers, d = [], in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, width, rng=rng), nn.ReLU()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, n_classes, rng=rng))


def hidden_layers(model: nn.Sequential) -> list[nn.Linear]:
    """The hidden Linear layers, input side first (the head excluded)."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    return linears[:-1]


def make_arm(base: nn.Sequential, fresh: nn.Sequential, n: int, frozen: bool) -> nn.Sequential:
    """``fresh`` with its first ``n`` hidden layers replaced by copies of ``base``'s, frozen
    (``frozen=True``: AnB, BnB) or trainable (AnB+, BnB+). Neither input is modified."""
    arm = copy_module(fresh)
    for src, dst in zip(hidden_layers(base)[:n], hidden_layers(arm)[:n]):
        dst.load_state_dict(src.state_dict())
        if frozen:
            dst.freeze()
    return arm


def param_groups(model: nn.Sequential, n_copied: int, lr: float, copied_lr_scale: float):
    """Two named groups: the copied layers (their own learning rate) and the new ones."""
    copied = [p for layer in hidden_layers(model)[:n_copied] for p in layer.parameters()]
    ids = {id(p) for p in copied}
    new = [p for p in model.parameters() if id(p) not in ids]
    groups = [{"name": "new", "params": new, "lr": lr}]
    if copied:
        groups.insert(0, {"name": "copied", "params": copied, "lr": lr * copied_lr_scale})
    return groups


def fit(model, data, *, steps: int, lr: float, seed: int, n_copied: int = 0,
        copied_lr_scale: float = 1.0) -> nn.Sequential:
    """Adam on cross-entropy, ``steps`` minibatches of ``BATCH`` drawn by ``seed``, on the
    model's device."""
    x, y = data
    device = model_device(model)
    opt = optim.Adam(param_groups(model, n_copied, lr, copied_lr_scale), lr=lr)
    rng = np.random.default_rng(derive_seed(seed, "loader"))
    model.train()
    for _ in range(steps):
        idx = rng.choice(len(y), size=min(BATCH, len(y)), replace=False)
        opt.zero_grad()
        loss = F.cross_entropy(model(tensor(x[idx], device=device)),
                               tensor(y[idx], device=device))
        loss.backward()
        opt.step()
    return model


def accuracy(model, data) -> float:
    x, y = data
    model.eval()
    with no_grad():
        pred = model(tensor(x, device=model_device(model))).numpy().argmax(axis=1)
    return float((pred == y).mean())


# ----------------------------------------------------------------------------- one seed


def _init_rng(seed: int, purpose: str):
    return np.random.default_rng(derive_seed(seed, purpose))


def run_seed(unit) -> dict:
    """Every arm of one seed, on one device: ``unit = (seed, cfg, device)``. Returns runs
    and the depth choice."""
    seed, cfg, device = unit
    t0 = time.perf_counter()
    task = load_task(cfg["digits"], seed)
    hp, in_dim = cfg["hp"], task["A"]["train"][0].shape[1]
    scale = cfg["copied_lr_scale"]
    full_n = len(task["B"]["train"][1])
    runs: list[dict] = []

    def add(arm, depth, n_train, model, data_b):
        runs.append({"arm": arm, "depth": depth, "n_train": n_train, "seed": seed,
                     "val_acc": accuracy(model, data_b["val"]),
                     "test_acc": accuracy(model, data_b["test"])})

    bases = {}
    for name in ("A", "B"):
        model = build_mlp(in_dim, 5, _init_rng(seed, f"base{name}")).to(device)
        bases[name] = fit(model, task[name]["train"], steps=hp["steps"], lr=hp["lr"],
                          seed=derive_seed(seed, f"base{name}"))
    add("baseB", 0, full_n, bases["B"], task["B"])
    sizes = [(full_n, task["B"]["train"])] + [(5 * k, task["B_few"][k]) for k in FEW_PER_CLASS]
    for n_train, train in sizes:
        fresh = {n: build_mlp(in_dim, 5, _init_rng(seed, f"reinit{n}")).to(device)
                 for n in range(DEPTH + 1)}
        if n_train != full_n:
            scratch = fit(build_mlp(in_dim, 5, _init_rng(seed, "reinit0")).to(device), train,
                          steps=hp["steps"], lr=hp["lr"], seed=seed)
            add("scratch", 0, n_train, scratch, task["B"])
        sources = ("A", "B") if n_train == full_n else ("A",)
        for n in range(1, DEPTH + 1):
            for src in sources:
                for plus in (False, True):
                    model = make_arm(bases[src], fresh[n], n, frozen=not plus)
                    fit(model, train, steps=hp["steps"], lr=hp["lr"], seed=seed,
                        n_copied=n, copied_lr_scale=scale)
                    add(f"{src}{n}B{'+' if plus else ''}", n, n_train, model, task["B"])
    choice = choose_depth_run(seed, cfg, task, bases["A"], runs, full_n, device)
    return {"seed": seed, "runs": runs + choice.pop("runs"), "choice": choice,
            "classes": task["classes"], "seconds": time.perf_counter() - t0}


def choose_depth_run(seed, cfg, task, base_a, runs, full_n, device="cpu") -> dict:
    """Recommend a freeze depth from the full-size *validation* curve (AnB vs base B),
    then train the few-example target with :func:`adapt` told to keep that many layers
    frozen. Returns the recommendation, the frozen-layer check and adapt's run."""
    spec = cfg["choose_depth"]
    val = {r["depth"]: r["val_acc"] for r in runs
           if r["n_train"] == full_n and r["arm"] == f"A{r['depth']}B"}
    ref = next(r["val_acc"] for r in runs if r["arm"] == "baseB")
    depth = recommended_freeze_depth(val, ref, spec["margin"] / 100.0)
    k = spec["per_class"]
    body = copy_module(nn.Sequential(*list(base_a)[:-1]))  # the A network without its head
    source = BodyHead(body, nn.Linear(WIDTH, 5, rng=_init_rng(seed, "srchead")))
    before = [layer.state_dict() for layer in hidden_layers(base_a)[:depth]]
    head = nn.Linear(WIDTH, 5, rng=_init_rng(seed, "adapthead"))
    res = adapt(source, task["B_few"][k], task["B"]["val"], head=head, freeze_depth=depth,
                lr=cfg["hp"]["lr"], epochs_per_level=spec["epochs_per_level"],
                batch_size=BATCH, seed=seed, device=device)
    after = [m.state_dict() for m in res.model.body if isinstance(m, nn.Linear)]
    kept = all(np.array_equal(before[i][key], after[i][key])
               for i in range(depth) for key in before[i])
    run = {"arm": "recommended", "depth": depth, "n_train": 5 * k, "seed": seed,
           "val_acc": accuracy(res.model, task["B"]["val"]),
           "test_acc": accuracy(res.model, task["B"]["test"])}
    return {"depth": depth, "val_curve": val, "reference_val": ref,
            "frozen_layers_unchanged": bool(kept), "adapt_chose": res.chosen,
            "runs": [run]}


# ----------------------------------------------------------------------------- claims


def _spec(name: str, protocol=None) -> dict:
    return claim_spec(f"{EXPERIMENT}.{name}", protocol)


def _depth_runs(runs, arm_fmt, n_train) -> dict[int, dict[int, float]]:
    return {n: xc.values_of(runs, arm_fmt.format(n=n), n_train) for n in range(1, DEPTH + 1)}


def _pts(d: dict) -> dict:
    return {s: 100.0 * v for s, v in d.items()}


def within_base(runs, spec, arm_fmt) -> dict:
    """At every depth, base B − arm is not above ``delta`` points (TOST upper test)."""
    n_train = spec["n_train"]
    base = _pts(xc.values_of(runs, "baseB", n_train))
    per_n, ok, worst = {}, True, None
    for n, vals in _depth_runs(runs, arm_fmt, n_train).items():
        loss = diff_by_seed(base, _pts(vals))
        eq = tost(list(loss.values()), spec["delta"]) if len(loss) > 1 else None
        per_n[str(n)] = {**(summary(loss) or {}), "tost": eq.to_dict() if eq else None}
        ok = ok and eq is not None and eq.not_above
        if per_n[str(n)].get("mean") is not None and (
                worst is None or per_n[str(n)]["mean"] > per_n[str(worst)]["mean"]):
            worst = n
    stat = per_n[str(worst)] if worst else None
    # a dip in the middle: the largest loss is at an inner depth and is a real loss
    dip = bool(worst and 1 < worst < DEPTH and stat.get("ci95") and stat["ci95"][0] > 0)
    return record(spec, ok, stat, units="base B − arm at the depth of the largest loss, "
                  "points", loss_by_depth=per_n, largest_loss_at_depth=worst,
                  dip_in_middle=dip)


def general_to_specific(runs, spec) -> dict:
    curve = _depth_runs(runs, "A{n}B", spec["n_train"])
    d = summary(diff_by_seed(_pts(curve[1]), _pts(curve[DEPTH])))
    return record(spec, _lo(d) > spec["margin"], d, units="AnB(n=1) − AnB(n=L), points",
                  mean_by_depth={str(n): summary(_pts(v)) for n, v in curve.items()})


def few_samples(runs, spec) -> dict:
    """Best frozen depth per seed, chosen on validation, minus scratch (test, points)."""
    n_train = spec["n_train"]
    val = {n: xc.values_of(runs, f"A{n}B", n_train, "val_acc") for n in range(1, DEPTH + 1)}
    test = _depth_runs(runs, "A{n}B", n_train)
    scratch = _pts(xc.values_of(runs, "scratch", n_train))
    best, chosen = {}, {}
    for s in scratch:
        if all(s in val[n] for n in val):
            n_best = max(val, key=lambda n: (val[n][s], -n))
            chosen[s], best[s] = n_best, 100.0 * test[n_best][s]
    d = summary(diff_by_seed(best, scratch))
    return record(spec, _lo(d) > 0, d, units="best-frozen AnB − scratch, points",
                  chosen_depth=chosen, scratch=summary(scratch), best_frozen=summary(best))


def choose_depth(runs, choices, spec) -> dict:
    """adapt(freeze_depth=d*) kept the first d* layers and is not below scratch by more
    than ``delta`` points (TOST upper test on scratch − adapt)."""
    n_train = spec["per_class"] * 5
    rec = _pts(xc.values_of(runs, "recommended", n_train))
    scratch = _pts(xc.values_of(runs, "scratch", n_train))
    d = diff_by_seed(rec, scratch)
    eq = tost([-v for v in d.values()], spec["delta"]) if len(d) > 1 else None
    kept = bool(choices) and all(c["frozen_layers_unchanged"] for c in choices)
    ok = kept and eq is not None and eq.not_above
    return record(spec, ok, summary(d), units="adapt(freeze_depth=d*) − scratch, points",
                  no_worse_than_scratch=eq.to_dict() if eq else None,
                  recommended_depth={c["seed"]: c["depth"] for c in choices},
                  frozen_layers_unchanged=kept,
                  adapt_chose={c["seed"]: c["adapt_chose"] for c in choices})


def decide(runs, choices, protocol=None) -> list[dict]:
    return [general_to_specific(runs, _spec("general_to_specific", protocol)),
            within_base(runs, _spec("cut_is_harmless", protocol), "B{n}B"),
            within_base(runs, _spec("finetune_recovers", protocol), "A{n}B+"),
            few_samples(runs, _spec("few_samples", protocol)),
            choose_depth(runs, choices, _spec("choose_depth", protocol))]


# ----------------------------------------------------------------------------- figures


ARMS = {"B{n}B": ("BnB", "C0", "o-"), "B{n}B+": ("BnB+", "C0", "s--"),
        "A{n}B": ("AnB", "C3", "o-"), "A{n}B+": ("AnB+", "C3", "s--")}


def _band(ax, xs, rows, colour, style, label):
    means, lo, hi = xc.mean_and_band([100.0 * v for v in vals] for vals in rows)
    ax.plot(xs, means, style, color=colour, label=label, lw=1.6, ms=4)
    ax.fill_between(xs, lo, hi, color=colour, alpha=0.15, lw=0)


def plot_curve(ax, runs, n_train, arms=ARMS, title=""):
    """Accuracy vs depth for the four arms (mean, 95% band), base B as a line."""
    xs = list(range(1, DEPTH + 1))
    for fmt, (label, colour, style) in arms.items():
        rows = [list(xc.values_of(runs, fmt.format(n=n), n_train).values()) for n in xs]
        if all(rows):
            _band(ax, xs, rows, colour, style, label)
    base = [100.0 * v for v in xc.values_of(runs, "baseB", n_train).values()]
    if base:
        s = summary(base)
        ax.axhline(s["mean"], color="k", lw=1.2, label="base B")
        if s["ci95"]:
            ax.axhspan(*s["ci95"], color="k", alpha=0.08, lw=0)
    ax.set_xticks(xs)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def plot_sizes(ax, runs, sizes, title=""):
    """AnB (frozen) vs depth at each target size, scratch at that size at depth 0."""
    for i, n_train in enumerate(sizes):
        colour = f"C{i}"
        xs = list(range(0, DEPTH + 1))
        rows = [list(xc.values_of(runs, "scratch" if n == 0 else f"A{n}B", n_train).values())
                for n in xs]
        if n_train == max(sizes):
            rows[0] = list(xc.values_of(runs, "baseB", n_train).values())
        if all(rows):
            _band(ax, xs, rows, colour, "o-", f"AnB, {n_train // 5} per class")
    ax.set_xticks(range(0, DEPTH + 1))
    ax.set_xticklabels(["scratch"] + [str(n) for n in range(1, DEPTH + 1)])
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def figures(results_by_digits: dict, out: Path) -> list[str]:
    """The paper-style figure and the target-size figure; one panel per digit kind."""
    kinds = list(results_by_digits)
    fig, axes = xc.new_figure("Layer transfer: B's test accuracy vs copied depth n",
                              "layers copied from the base network (n)", "test accuracy (%)",
                              size=(5.2 * len(kinds), 4.0), ncols=len(kinds))
    axes = np.atleast_1d(axes)
    paths = []
    for ax, kind in zip(axes, kinds):
        res = results_by_digits[kind]
        plot_curve(ax, res["runs"], res["full_n"], title=f"{kind} digits")
    paths.append(xc.save_figure(fig, out / "layers_curve.png"))
    fig, axes = xc.new_figure("Frozen A layers vs target size (AnB)",
                              "layers copied from base A and frozen (n)", "test accuracy (%)",
                              size=(5.2 * len(kinds), 4.0), ncols=len(kinds))
    axes = np.atleast_1d(axes)
    for ax, kind in zip(axes, kinds):
        res = results_by_digits[kind]
        sizes = sorted({r["n_train"] for r in res["runs"] if r["arm"] == "A1B"})
        plot_sizes(ax, res["runs"], sizes, title=f"{kind} digits")
    paths.append(xc.save_figure(fig, out / "layers_sizes.png"))
    return paths


# ----------------------------------------------------------------------------- driver


def tuning_file(digits: str) -> Path:
    return TUNING_DIR / f"{EXPERIMENT}_{digits}.json"


def load_hp(digits: str) -> dict:
    path = tuning_file(digits)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m demos.layers --tune "
                                f"--digits {digits}`")
    return json.loads(path.read_text(encoding="utf-8"))["choice"]


#: Used by --tune only, before claims.toml had a [layers] section.
PROVISIONAL_CHOOSE_DEPTH = {"margin": 2.0, "per_class": 5, "epochs_per_level": 100}


def config(digits: str, quick: bool, copied_lr_scale: float = 1.0, hp=None,
           choose=None) -> dict:
    spec = choose or _spec("choose_depth")
    return {"digits": digits, "hp": hp or load_hp(digits), "copied_lr_scale": copied_lr_scale,
            "depth": DEPTH, "width": WIDTH, "size": SIZE, "batch": BATCH,
            "few_per_class": list(FEW_PER_CLASS), "quick": quick,
            "choose_depth": {"margin": spec["margin"], "per_class": spec["per_class"],
                             "epochs_per_level": spec["epochs_per_level"]}}


def run(seeds, cfg, jobs: int, scheduler: str | None = None, device: str = "cpu") -> dict:
    t0 = time.perf_counter()
    per_seed = xc.run_units(run_seed, [(s, cfg, device) for s in seeds], jobs, desc="seeds",
                            scheduler=scheduler)
    runs = [r for p in per_seed for r in p["runs"]]
    choices = [{"seed": p["seed"], **p["choice"]} for p in per_seed]
    claims = decide(runs, choices)
    if cfg["quick"]:
        claims = mark_quick(claims)
    full_n = next(r["n_train"] for r in runs if r["arm"] == "baseB")
    return {"experiment": EXPERIMENT, "digits": cfg["digits"], "seeds": list(seeds), "jobs": jobs,
            "device": device, "config": cfg, "full_n": full_n, "claims": claims, "runs": runs,
            "choices": choices, "summary": xc.summarise(runs),
            "classes": {p["seed"]: p["classes"] for p in per_seed},
            "timings": {"wall_seconds": time.perf_counter() - t0,
                        "seed_seconds": [p["seconds"] for p in per_seed]}}


def report(res: dict) -> str:
    lines = [f"# Layer transfer ({res['digits']} digits), seeds {res['seeds'][0]}.."
             f"{res['seeds'][-1]}", "", xc.claims_table(res["claims"]), "",
             "Mean test accuracy (%) per arm and target size:", "",
             xc.summary_table(res["summary"]), ""]
    return "\n".join(lines)


def tune(digits: str, jobs: int) -> dict:
    """Grid over learning rate and steps on tuning seeds: the highest mean validation
    accuracy of base B and of scratch at the few sizes (the networks every arm is)."""
    log = []
    for lr in TUNE_GRID["lr"]:
        for steps in TUNE_GRID["steps"]:
            hp = {"lr": lr, "steps": steps}
            cfg = config(digits, False, hp=hp, choose=PROVISIONAL_CHOOSE_DEPTH)
            per_seed = xc.run_units(run_seed, [(s, cfg, "cpu") for s in TUNE_SEEDS], jobs,
                                    desc=f"lr={lr} steps={steps}")
            runs = [r for p in per_seed for r in p["runs"]]
            score = float(np.mean([r["val_acc"] for r in runs
                                   if r["arm"] in ("baseB", "scratch")]))
            log.append({"hp": hp, "mean_val_acc": score, "runs": runs,
                        "choices": [p["choice"] for p in per_seed]})
    best = max(log, key=lambda e: (e["mean_val_acc"], -e["hp"]["steps"]))
    return {"seeds": list(TUNE_SEEDS), "digits": digits, "grid": TUNE_GRID,
            "criterion": "mean validation accuracy of base B and scratch (every size)",
            "choice": best["hp"], "log": log}


def parse(argv=None):
    """The options every experiment shares (:func:`experiment_common.experiment_parser`),
    plus this experiment's own."""
    p = xc.experiment_parser(__doc__.splitlines()[0], default_seeds=None)
    p.add_argument("--copied-lr-scale", type=float, default=1.0,
                   help="learning rate of the copied layers in the + arms, as a multiple "
                        "of the new layers' (default 1, as in the paper)")
    p.add_argument("--tune", action="store_true",
                   help=f"search lr and steps on seeds {TUNE_SEEDS} and write "
                        "demos/tuning/layers_<digits>.json")
    p.add_argument("--figure-with", default=None,
                   help="another run's folder (the other digit kind) to draw beside this one")
    return xc.check_args(p, p.parse_args(argv))


#: ``main(smoke=True)``: a tiny configuration for the tests (a few steps per network).
SMOKE_HP = {"lr": 1e-3, "steps": 3}


def main(argv=None, *, smoke: bool = False) -> dict:
    args = parse(argv)
    if args.tune:
        result = tune(args.digits, args.jobs)
        xc.write_json(tuning_file(args.digits), result)
        print(f"chosen: {result['choice']}")
        return result
    out = cli.output_folder(args.out or f"out/{EXPERIMENT}_{args.digits}")
    device = cli.usable_device(args.device)
    if smoke:
        cfg = config(args.digits, args.quick, args.copied_lr_scale, hp=SMOKE_HP,
                     choose={**_spec("choose_depth"), "epochs_per_level": 1})
    else:
        cfg = config(args.digits, args.quick, args.copied_lr_scale)
    seeds = xc.seeds_of(args)
    print(f"layers ({args.digits}): seeds {seeds[0]}..{seeds[-1]}, {args.jobs} processes, "
          f"{device}", file=sys.stderr)
    res = run(seeds, cfg, args.jobs, args.scheduler, device=device)
    xc.write_json(out / "results.json", res)
    (out / "report.md").write_text(report(res), encoding="utf-8")
    both = {res["digits"]: res}
    if args.figure_with and (Path(args.figure_with) / "results.json").exists():
        other = json.loads((Path(args.figure_with) / "results.json").read_text())
        both = {k: both.get(k) or other for k in sorted({res["digits"], other["digits"]},
                                                        key=["glyph", "real"].index)}
    figures(both, out)
    print(f"layers ({args.digits}): {len(seeds)} seeds, {len(res['runs'])} runs in "
          f"{res['timings']['wall_seconds']:.0f} s -> {out}/results.json")
    xc.print_claims(res["claims"])
    return res


if __name__ == "__main__":
    main()
