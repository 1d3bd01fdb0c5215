"""What both experiments share: the command line, seeds, the parallel runner, claims, plots.

Seeds. Every random choice of a run (data, initialisation, batch order) derives from one
integer seed, so seed s gives the same numbers in any process and in any order. The
hyperparameters of both experiments were chosen on seeds >= TUNING_SEED_START (10 000 and
up); the claims are reported on seeds 0..K-1 (``--seed-offset 0``, the default), which
played no part in choosing them.

Parallel runs. ``--jobs N`` runs independent work units (one seed, or one seed of one
model variant) in N processes started with ``spawn`` (standard library only);
``--scheduler local`` runs them on a Dask cluster of N workers started for the run, and
``--scheduler tcp://HOST:PORT`` on a running Dask scheduler's workers, possibly on other
machines (docs/CLUSTER.md). Both go through :func:`demos.scheduler.run_units`. Each
process inherits the BLAS thread limits set by ``demos/__init__.py``; a unit's result
depends only on its seed and configuration, so the merged results equal a serial run
exactly (``tests/demos`` checks it).

Digits. ``--digits glyph`` (the default) draws every digit procedurally; ``--digits real``
uses scikit-learn's real handwritten digits (:func:`minitl.data.real_digits`) wherever
the target task reads digits, with the same claims, thresholds and tuned hyperparameters.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from minitl.transfer.stats import Claim, t_interval

from . import cli
from . import scheduler as scheduler_mod

#: Hyperparameters were tuned on seeds from here up; claims use seeds 0..K-1.
TUNING_SEED_START = 10_000
#: ``--digits``: procedural glyph digits, or scikit-learn's real handwritten digits.
DIGIT_KINDS = ("glyph", "real")


# ----------------------------------------------------------------------------- CLI


def parse_args(description: str, argv: Sequence[str] | None = None,
               default_seeds: int = 10, quick_seeds: int = 3) -> argparse.Namespace:
    """The interface both experiments accept."""
    parser = experiment_parser(description, default_seeds, quick_seeds)
    return check_args(parser, parser.parse_args(argv), quick_seeds)


def experiment_parser(description: str, default_seeds: int | None = 10,
                      quick_seeds: int = 3,
                      devices: Sequence[str] = ("cpu", "cuda")) -> argparse.ArgumentParser:
    """The options every experiment shares (seeds, block, quick, device, out, jobs,
    digits, scheduler); an experiment adds its own, then calls :func:`check_args`.
    ``default_seeds=None`` takes the pre-registered number from demos/claims.toml."""
    if default_seeds is None:
        from .protocol import evaluation_seeds
        default_seeds = evaluation_seeds()
    p = argparse.ArgumentParser(description=description)
    p.set_defaults(default_seeds=default_seeds)
    p.add_argument("--seeds", type=int, default=None,
                   help=f"number of seeds K (default {default_seeds}, the pre-registered "
                        f"number in demos/claims.toml; {quick_seeds} with --quick)")
    p.add_argument("--seed-offset", type=int, default=0,
                   help="first seed S: runs seeds S..S+K-1 (default 0; hyperparameters were "
                        f"tuned on seeds >= {TUNING_SEED_START})")
    p.add_argument("--quick", action="store_true",
                   help="a smoke check with few seeds: runs everything, decides no claim "
                        "(each reads 'not decided (quick)')")
    p.add_argument("--device", choices=tuple(devices), default="cpu")
    p.add_argument("--out", default=None, help="output folder (default out/<experiment>)")
    p.add_argument("--jobs", type=int, default=default_jobs(),
                   help="processes running seeds in parallel (default: the usable CPU cores)")
    p.add_argument("--digits", choices=DIGIT_KINDS, default="glyph",
                   help="the digits the experiment reads: procedural glyphs (default) or "
                        "scikit-learn's real handwritten digits (the `real` extra)")
    scheduler_mod.add_scheduler_argument(p)
    return p


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace,
               quick_seeds: int = 3) -> argparse.Namespace:
    """Fill in the number of seeds and refuse impossible counts, naming the option."""
    if args.seeds is None:
        args.seeds = quick_seeds if args.quick else args.default_seeds
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if args.seed_offset < 0:
        parser.error("--seed-offset must be >= 0")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    return args


def default_jobs() -> int:
    """One process per CPU core the process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def seeds_of(args) -> list[int]:
    return list(range(args.seed_offset, args.seed_offset + args.seeds))


# ----------------------------------------------------------------------------- running


def run_units(worker: Callable, units: Sequence, jobs: int, desc: str = "runs",
              scheduler: str | None = None) -> list:
    """``[worker(u) for u in units]`` where ``scheduler`` says: :func:`demos.scheduler.run_units`
    (``None``: ``jobs`` spawned processes, or this process when ``jobs`` is 1; ``"local"``:
    a Dask cluster started for the run; an address: a running Dask scheduler)."""
    return scheduler_mod.run_units(worker, units, jobs, scheduler=scheduler, desc=desc)


class Timer:
    """Named wall-clock sections: ``with timer("pretrain"): ...``; ``timer.seconds``."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str):
        timer = self

        class _Section:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                timer.seconds[name] = timer.seconds.get(name, 0.0) + time.perf_counter() - self.t0
                return False

        return _Section()


# ----------------------------------------------------------------------------- sources


def code_fingerprint(*functions) -> str:
    """A hash of the source code of ``functions``: new code, new zoo entries."""
    import hashlib
    import inspect

    text = "".join(inspect.getsource(f) for f in functions)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def zoo_cached(name: str, config: dict, train: Callable, untrained: Callable,
               metadata: dict | None = None):
    """A trained source model through the model zoo (``$MINITL_ZOO``).

    ``train()`` returns ``(model, info)``; ``untrained()`` the same architecture without
    training. The first call with a ``config`` trains and stores the model; later calls
    build the architecture and load the stored weights (``info["from_zoo"]`` says which).
    A damaged entry is reported, set aside and trained again (:func:`minitl.zoo.lookup`).
    """
    from minitl import zoo

    found = zoo.lookup(name, config)  # None: absent, stale, or corrupt (set aside)
    if found is not None:
        state, meta = found
        model = untrained()
        model.load_state_dict(state)
        return model, {**meta.get("info", {}), "from_zoo": True}
    model, info = train()
    zoo.store(name, model.state_dict(), config=config,
              metadata={**(metadata or {}), "info": info})
    return model, {**info, "from_zoo": False}


# ----------------------------------------------------------------------------- one arm


def train_arm(kind: str, source, train, val, *, head, steps: int, hp: dict, cfg: dict,
              seed: int, device: str = "cpu", monitor=None, eval_every: int | None = None):
    """One recipe of :mod:`minitl.transfer` with a known initial head; returns the result
    and how far body and head moved, ‖θ_end − θ₀‖/‖θ₀‖ per group.

    ``kind``: ``scratch``/``naive`` (every parameter at one rate ``hp["lr"]``; scratch
    passes the untrained model as ``source``), ``fe`` (frozen body, head at
    ``hp["lr"]``) or ``lpft`` (probe to convergence at ``cfg["probe_lr"]``, then every
    parameter at ``hp["lr"]``). ``head`` is the new head every arm of a cell starts from,
    so its θ₀ is known.
    """
    from minitl.transfer import feature_extraction, lp_ft, naive_finetune
    from minitl.transfer.mismatch import relative_update

    common = dict(seed=seed, device=device, batch_size=cfg["batch_size"], head=head,
                  weight_decay=hp["weight_decay"], monitor=monitor,
                  eval_every=eval_every or max(1, steps // cfg["evals_per_run"]))
    if kind in ("scratch", "naive"):
        res = naive_finetune(source, train, val, steps=steps, lr=hp["lr"], **common)
    elif kind == "fe":
        res = feature_extraction(source, train, val, steps=steps, lr=hp["lr"], **common)
    elif kind == "lpft":
        res = lp_ft(source, train, val, probe_lr=cfg["probe_lr"],
                    probe_epochs=cfg["probe_epochs"], lr=hp["lr"], steps=steps, **common)
    else:
        raise ValueError(f"unknown recipe {kind!r}")
    theta0 = {**{f"body.{k}": v for k, v in source.body.state_dict().items()},
              **{f"head.{k}": v for k, v in head.state_dict().items()}}
    return res, relative_update(theta0, res.model.state_dict())


# ----------------------------------------------------------------------------- results


def stratified_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An order of the indices whose every prefix is as class-balanced as possible.

    Taking the first N indices gives the training set of size N, so the sets are nested
    (the set for N = 10 is inside the one for N = 20) and each holds every class equally
    often (up to rounding).
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    queues = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    order = []
    for i in range(max(len(q) for q in queues)):
        for c in rng.permutation(len(classes)):
            if i < len(queues[c]):
                order.append(queues[c][i])
    return np.asarray(order, dtype=np.int64)


def values_of(runs: list[dict], arm: str, n: int, key: str = "test_acc") -> dict[int, float]:
    """``{seed: value}`` of one arm at one training-set size."""
    return {r["seed"]: r[key] for r in runs if r["arm"] == arm and r["n_train"] == n
            and r.get(key) is not None}


def summarise(runs: list[dict], key: str = "test_acc") -> dict:
    """``{arm: {N: {mean, ci95, sd, n_seeds}}}`` of a metric (t-interval of the mean)."""
    out: dict = {}
    for arm in sorted({r["arm"] for r in runs}):
        for n in sorted({r["n_train"] for r in runs if r["arm"] == arm}):
            vals = list(values_of(runs, arm, n, key).values())
            if not vals:
                continue
            ti = t_interval(vals)
            out.setdefault(arm, {})[str(n)] = {
                "mean": ti.mean, "ci95": [ti.ci[0], ti.ci[1]] if ti.n > 1 else None,
                "sd": ti.std if ti.n > 1 else None, "n_seeds": ti.n}
    return out


def claim_dict(id_: str, statement: str, passed: bool | None, estimate=None, ci95=None,
               n_seeds=None, **details) -> dict:
    """A claim as the results file stores it: the toolkit's Claim plus ``details``
    (``passed`` None: not decided)."""
    ci = None
    if ci95 is not None and all(math.isfinite(c) for c in ci95):
        ci = (float(ci95[0]), float(ci95[1]))
    est = None if estimate is None or not math.isfinite(estimate) else float(estimate)
    d = Claim(id_, statement, None if passed is None else bool(passed), est, ci,
              n_seeds).to_dict()
    d["details"] = details
    return d


def verdict_text(passed) -> str:
    return "not decided (quick)" if passed is None else ("PASS" if passed else "FAIL")


def _fmt(v, digits: int = 2) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def claims_table(claims: list[dict]) -> str:
    """The claims as a Markdown table."""
    lines = ["| id | claim | result | estimate | 95% CI | seeds |",
             "|---|---|---|---|---|---|"]
    for c in claims:
        ci = c.get("ci95")
        ci_text = f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "n/a"
        lines.append(f"| {c['id']} | {c['statement']} | **{verdict_text(c['passed'])}** "
                     f"| {_fmt(c.get('estimate'))} | {ci_text} | {_fmt(c.get('n_seeds'))} |")
    return "\n".join(lines)


def print_claims(claims: list[dict], stream=None) -> None:
    """One line per claim."""
    stream = stream or sys.stdout
    for c in claims:
        ci = c.get("ci95")
        ci_text = f", 95% CI [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else ""
        est = c.get("estimate")
        est_text = f" estimate {est:+.3g}" if est is not None else ""
        print(f"{c['id']:<32} {verdict_text(c['passed']):<20}{est_text}{ci_text} "
              f"({c.get('n_seeds')} seeds)", file=stream)


def jsonable_cfg(cfg: dict) -> dict:
    """The configuration with int dictionary keys as strings (JSON)."""
    return {k: ({str(a): b for a, b in v.items()} if isinstance(v, dict) else v)
            for k, v in cfg.items()}


def summary_table(summary: dict) -> str:
    """Mean test accuracy per arm and N as a Markdown table."""
    ns = sorted({int(n) for a in summary.values() for n in a})
    lines = ["| arm | " + " | ".join(f"N={n}" for n in ns) + " |", "|---|" + "---|" * len(ns)]
    for arm, by_n in summary.items():
        cells = [f"{100 * by_n[str(n)]['mean']:.1f}" if str(n) in by_n else "" for n in ns]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scores_table(scores: list[dict]) -> str:
    """Transferability scores per source, mean over seeds."""
    keys = ("logme", "h_score", "label_cka", "probe_accuracy")
    lines = ["| source | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for src in dict.fromkeys(s["source"] for s in scores):
        rows = [s for s in scores if s["source"] == src]
        lines.append(f"| {src} | " + " | ".join(f"{np.mean([r[k] for r in rows]):.3f}"
                                               for k in keys) + " |")
    return "\n".join(lines)


def adapt_table(adapts: list[dict]) -> str:
    """What ``adapt`` chose on each seed, and the decisions of the first seed in full."""
    if not adapts:
        return "*adapt did not run*"
    lines = ["| seed | chosen | steps | test acc |", "|---|---|---|---|"]
    for i, a in enumerate(adapts):
        lines.append(f"| {a.get('seed', i)} | {a['chosen']} | {a['steps']} | "
                     f"{100 * a['test_acc']:.1f} |")
    first = adapts[0]
    lines += ["", f"Decisions on the first seed (N = {first['n_train']}):", "",
              "| level | val acc | stability | decision | why |", "|---|---|---|---|---|"]
    for d in first["decisions"]:
        acc = "" if d.get("val_acc") is None else f"{d['val_acc']:.3f}"
        lines.append(f"| {d['level']} | {acc} | {d.get('stability') or ''} | "
                     f"{d['decision']} | {d['why']} |")
    return "\n".join(lines)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_json_default, allow_nan=True),
                   encoding="utf-8")
    tmp.replace(path)


# ----------------------------------------------------------------------------- figures


def new_figure(title: str, xlabel: str, ylabel: str, size=(6.4, 4.2), ncols: int = 1):
    """A matplotlib Figure on the Agg canvas (no pyplot state) and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return fig, (axes[0] if ncols == 1 else axes)


def plot_sample_efficiency(ax, runs: list[dict], arms: Sequence[str], labels=None,
                           key: str = "test_acc", scale: float = 100.0) -> None:
    """Mean of ``key`` against N for each arm, with its 95% t-interval as a band."""
    for i, arm in enumerate(arms):
        ns = sorted({r["n_train"] for r in runs if r["arm"] == arm})
        if not ns:
            continue
        means, lows, highs = mean_and_band(
            [v * scale for v in values_of(runs, arm, n, key).values()] for n in ns)
        colour = f"C{i % 10}"
        ax.plot(ns, means, "o-", color=colour, label=(labels or {}).get(arm, arm), lw=1.6, ms=4)
        ax.fill_between(ns, lows, highs, color=colour, alpha=0.15, lw=0)
    ax.set_xscale("log")
    ax.legend(fontsize=7)


def mean_and_band(groups) -> tuple[list, list, list]:
    """For each group of per-seed values: the mean and its 95% t-interval (non-finite
    values dropped; a group of one value is its own band, an empty group NaN)."""
    means, lows, highs = [], [], []
    for values in groups:
        values = np.asarray(list(values), dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size > 1:
            ti = t_interval(values)
            means.append(ti.mean)
            lows.append(ti.ci[0])
            highs.append(ti.ci[1])
        else:
            value = values.mean() if values.size else np.nan
            means.append(value)
            lows.append(value)
            highs.append(value)
    return means, lows, highs


def band(ax, x, per_seed: np.ndarray, colour: str, label: str, **kw) -> None:
    """Mean over seeds (rows of ``per_seed``) with its 95% t-band, drawn on ``ax``."""
    # seeds whose run has ended (NaN) drop out of later steps
    means, lows, highs = mean_and_band(np.asarray(per_seed, dtype=np.float64).T)
    ax.plot(x, np.asarray(means), color=colour, label=label, lw=1.8, **kw)
    ax.fill_between(x, lows, highs, color=colour, alpha=0.18, lw=0)


def on_grid(curve, grid) -> np.ndarray:
    """A learning curve ``(steps, values)`` read on ``grid``: the value last measured at or
    before each grid step (a curve is constant between its evaluations); NaN before its
    first and after its last evaluation (a run that ended is not extrapolated)."""
    steps, vals = np.asarray(curve[0], float), np.asarray(curve[1], float)
    grid = np.asarray(grid, float)
    idx = np.searchsorted(steps, grid, side="right") - 1
    out = np.where(idx >= 0, vals[np.clip(idx, 0, None)], np.nan)
    return np.where(grid > steps[-1], np.nan, out)


def plot_curve_bands(ax, curves_by_arm: dict, scale: float = 1.0, grid=None,
                     colours: dict | None = None) -> None:
    """``{label: [(steps, values) per seed]}``: every arm on one shared grid of steps
    (the union of the arms' lengths), mean over seeds with a 95% band. ``colours``:
    ``{label: colour}`` (default: the cycle, in order)."""
    all_curves = [c for cs in curves_by_arm.values() for c in cs if len(c[0])]
    if not all_curves:
        return
    if grid is None:
        end = max(max(c[0]) for c in all_curves)
        grid = np.unique(np.linspace(0, end, 120).astype(int))
    for i, (label, curves) in enumerate(curves_by_arm.items()):
        curves = [c for c in curves if len(c[0])]
        if curves:
            band(ax, grid, np.stack([on_grid(c, grid) * scale for c in curves]),
                 (colours or {}).get(label, f"C{i % 10}"), f"{label} ({len(curves)} seeds)")
    ax.legend(fontsize=7)


def plot_update_groups(ax, runs: list[dict], arms: dict, colours: dict | None = None) -> None:
    """Relative update ‖θ_end − θ₀‖/‖θ₀‖ of body (solid) and head (dashed) vs N, per arm,
    mean over seeds with 95% bands, log scale."""
    for i, (arm, label) in enumerate(arms.items()):
        ns = sorted({r["n_train"] for r in runs if r["arm"] == arm})
        for group, style in (("body", "-"), ("head", "--")):
            per = [[r["update"][group] for r in runs if r["arm"] == arm and r["n_train"] == n]
                   for n in ns]
            k = min(len(p) for p in per) if per else 0
            if k:
                band(ax, ns, np.array([p[:k] for p in per]).T,
                     (colours or {}).get(arm, f"C{i}"),
                     f"{label}: {'body g' if group == 'body' else 'head h'}", ls=style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.legend(fontsize=7)


def save_figure(fig, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return str(path)


def main(experiment: str, description: str, make_config: Callable, run: Callable,
         argv=None, *, smoke: bool = False) -> dict:
    """The command line both experiments share: parse, run every seed, write, summarise."""
    args = parse_args(description, argv)
    out = cli.output_folder(args.out or f"out/{experiment}")  # before any work
    cli.usable_device(args.device)
    cfg = make_config(quick=args.quick, smoke=smoke, digits=args.digits)
    where = f"{args.jobs} processes" if args.scheduler is None else \
        f"Dask scheduler {args.scheduler}" + (f", {args.jobs} workers"
                                              if args.scheduler == "local" else "")
    print(f"{experiment} ({args.digits} digits): seeds {args.seed_offset}.."
          f"{args.seed_offset + args.seeds - 1}, {where}", file=sys.stderr)
    seeds = seeds_of(args)
    results = run(seeds, cfg, jobs=args.jobs, device=args.device, out=out,
                  scheduler=args.scheduler)
    wall = results["timings"].get("wall_seconds_with_report", results["timings"]["wall_seconds"])
    print(f"{experiment}: {len(seeds)} seeds, {len(results['runs'])} runs in {wall:.0f} s "
          f"-> {out}/results.json, {out}/report.md")
    print_claims(results["claims"])
    return results
