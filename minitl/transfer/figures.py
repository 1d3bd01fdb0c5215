"""The checklist's figures, drawn with matplotlib's object API (Agg, no pyplot state).

Each function takes run records grouped by arm (``{arm: [record, ...]}``, records as
made by :meth:`TransferResult.record`) and a file path, draws one figure, and returns
the path, or None when no run recorded the quantity (e.g. no monitor was attached).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from . import thresholds as T

__all__ = [
    "plot_cka_drift", "plot_learning_curves", "plot_metric", "plot_update_ratios", "save_all",
]


def _new_figure(title: str, xlabel: str, ylabel: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def _series(record: dict, key: str):
    rows = [r for r in record.get("history", []) if r.get(key) is not None]
    steps = [r["step"] for r in rows]
    values = [float(r[key]) for r in rows]
    return steps, values


def _draw_arms(ax, by_arm: dict, key: str, linestyle: str = "-", label_suffix: str = ""):
    """One colour per arm: a thin line per seed and a thick mean when steps line up."""
    drawn = False
    for i, (arm, records) in enumerate(by_arm.items()):
        colour = f"C{i % 10}"
        curves = [c for c in (_series(r, key) for r in records) if c[0]]
        if not curves:
            continue
        drawn = True
        aligned = all(c[0] == curves[0][0] for c in curves)
        for steps, values in curves:
            ax.plot(steps, values, color=colour, alpha=0.3 if aligned and len(curves) > 1
                    else 0.8,
                    linewidth=0.8, linestyle=linestyle)
        if len(curves) > 1 and aligned:
            mean = np.mean([c[1] for c in curves], axis=0)
            ax.plot(curves[0][0], mean, color=colour, linewidth=2, linestyle=linestyle,
                    label=f"{arm}{label_suffix} (mean of {len(curves)})")
        else:
            ax.plot([], [], color=colour, linestyle=linestyle, label=f"{arm}{label_suffix}")
    return drawn


def _save(fig, ax, path) -> str:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return str(path)


def plot_learning_curves(by_arm: dict, path, key: str = "val_acc") -> str | None:
    """Validation accuracy (``key``) against step, every arm and seed."""
    fig, ax = _new_figure("Learning curves", "optimizer step", key.replace("_", " "))
    if not _draw_arms(ax, by_arm, key):
        return None
    return _save(fig, ax, path)


def plot_metric(by_arm: dict, key: str, path, title: str, ylabel: str,
                lines: dict | None = None) -> str | None:
    """Any per-evaluation monitor value against step; ``lines`` adds labelled levels."""
    fig, ax = _new_figure(title, "optimizer step", ylabel)
    if not _draw_arms(ax, by_arm, key):
        return None
    for label, y in (lines or {}).items():
        ax.axhline(y, color="grey", linestyle=":", linewidth=1)
        ax.annotate(label, (0.01, y), xycoords=("axes fraction", "data"), fontsize="x-small",
                    color="grey", va="bottom")
    return _save(fig, ax, path)


def plot_cka_drift(by_arm: dict, path) -> str | None:
    """CKA between pretrained and current body features: target probes solid, source
    probes dashed, with the 'shifting' and 'abrupt' thresholds."""
    fig, ax = _new_figure("Representation drift: linear CKA to the starting body\n"
                          "(pretrained; for scratch, its own initialisation)",
                          "optimizer step", "CKA")
    drawn = _draw_arms(ax, by_arm, "cka_target", "-", " (target inputs)")
    drawn = _draw_arms(ax, by_arm, "cka_source", "--", " (source inputs)") or drawn
    if not drawn:
        return None
    for label, y in ((f"shifting < {T.CKA_SHIFTING}", T.CKA_SHIFTING),
                     (f"abrupt < {T.CKA_ABRUPT}", T.CKA_ABRUPT)):
        ax.axhline(y, color="grey", linestyle=":", linewidth=1)
        ax.annotate(label, (0.01, y), xycoords=("axes fraction", "data"), fontsize="x-small",
                    color="grey", va="bottom")
    return _save(fig, ax, path)


def plot_update_ratios(record: dict, path, smooth: int = 5) -> str | None:
    """Per-layer relative update ‖Δθ‖/‖θ‖ per step of one run (log scale), averaged over
    ``smooth`` steps, with the 'shifting' and 'abrupt' levels of a body update."""
    rows = [r for r in record.get("history", []) if isinstance(r.get("update_ratio"), dict)]
    if not rows:
        return None
    fig, ax = _new_figure(f"Per-layer update ratio ({record.get('arm', 'run')})",
                          "optimizer step", "‖Δθ‖ / ‖θ‖ per step")
    layers = list(dict.fromkeys(k for r in rows for k in r["update_ratio"]))
    drawn = False
    for i, layer in enumerate(layers):
        pts = [(r["step"], r["update_ratio"].get(layer)) for r in rows]
        pts = [(s, v) for s, v in pts if v is not None and v > 0 and math.isfinite(v)]
        if not pts:
            continue
        steps, values = map(np.asarray, zip(*pts))
        if smooth > 1 and values.size >= smooth:
            values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
            steps = steps[smooth - 1:]
        ax.plot(steps, values, color=f"C{i % 10}", linewidth=1,
                linestyle="-" if layer.startswith("body") else "--", label=layer)
        drawn = True
    if not drawn:
        return None
    ax.set_yscale("log")
    for y in (T.UPDATE_SHIFTING, T.UPDATE_ABRUPT):
        ax.axhline(y, color="grey", linestyle=":", linewidth=1)
    return _save(fig, ax, path)


def save_all(by_arm: dict, transfer_arm: str | None, out_dir) -> dict[str, str]:
    """Every figure the checklist uses, written into ``out_dir``; returns name → path."""
    out_dir = Path(out_dir)
    paths = {
        "learning_curves": plot_learning_curves(by_arm, out_dir / "learning_curves.png"),
        "cka_drift": plot_cka_drift(by_arm, out_dir / "cka_drift.png"),
        "mismatch": plot_metric(by_arm, "mismatch", out_dir / "mismatch.png",
                                "Representation mismatch E_t = 1 − CKA(features, labels)",
                                "E_t"),
        "source_accuracy": plot_metric(by_arm, "source_acc", out_dir / "source_accuracy.png",
                                       "Source-task accuracy through the source head",
                                       "source accuracy"),
    }
    records = by_arm.get(transfer_arm) or []
    if records:
        paths["update_ratios"] = plot_update_ratios(records[0], out_dir / "update_ratios.png")
    return {k: v for k, v in paths.items() if v is not None}
