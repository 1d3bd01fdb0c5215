"""GPU training steps: minitl on CuPy vs hand-written CuPy (vs PyTorch CUDA).

Usage: ``python bench/bench_gpu.py [--dry-run-cpu]``. On a machine where
``minitl.backend.cupy_available()``, times one forward + backward + SGD step of the MLP
784-256-256-10 at batch 128 and 4096 and of the CNN at batch 4096: minitl with its
tensors and model on "cuda", the hand-written reference of bench/reference_numpy.py
run with CuPy arrays (the same code: it takes its array module from its inputs), and
PyTorch on CUDA when installed with CUDA support. The device is synchronised
(``cupy.cuda.Device().synchronize()``) before every clock read. Without CuPy the
section is written as skipped, with the reason.

``--dry-run-cpu`` runs the same code path on NumPy at small batches (no goals), to
check the script on a machine without a GPU.
"""

from __future__ import annotations

import argparse
import time

import harness
import models
import numpy as np
from bench_models import reference

# (name, kind, batch, goal: (against, limit) or None, timed steps)
CASES = [
    ("MLP 784-256-256-10, b128", "mlp", 128, ("cupy", 1.2), 100),
    ("MLP 784-256-256-10, b4096", "mlp", 4096, ("cupy", 1.2), 50),
    ("CNN 28×28, b4096", "cnn", 4096, ("torch", 1.5), 30),
]
DRY_RUN_BATCH = {"mlp": 64, "cnn": 16}


def skipped(reason):
    goals = [harness.goal(f"{name.split(',')[0]} ({name.split(', ')[-1]}) GPU step / "
                          f"{against}", None, limit, note=reason)
             for name, _, _, (against, limit), _ in CASES]
    return {"skipped": reason, "rows": [], "goals": goals}


def _to_device(ref, xp):
    """Move a reference model's arrays onto the array module ``xp`` (in place)."""
    for holder in [ref, getattr(ref, "conv1", None), getattr(ref, "conv2", None)]:
        if holder is None:
            continue
        for name, value in vars(holder).items():
            if isinstance(value, np.ndarray):
                setattr(holder, name, xp.asarray(value))
            elif isinstance(value, list) and value and isinstance(value[0], np.ndarray):
                setattr(holder, name, [xp.asarray(v) for v in value])
        if hasattr(holder, "padded"):
            holder.padded = None
    return ref


def run(dry_run=False):
    from minitl import backend

    if dry_run:
        xp, device, sync, torch_device = np, "cpu", None, "cpu"
    else:
        if not backend.cupy_available():
            return skipped(f"CuPy unavailable ({backend.CUPY_IMPORT_ERROR}); "
                           "GPU benchmarks not run")
        xp = backend.cupy
        device, torch_device = "cuda", "cuda"

        def sync():
            xp.cuda.Device().synchronize()

    torch = harness.optional_torch()
    if torch is not None and not dry_run and not torch.cuda.is_available():
        torch = None  # the CPU build
    rows, goals = [], []
    for name, kind, n, (against, limit), steps in CASES:
        n = DRY_RUN_BATCH[kind] if dry_run else n
        x, y = models.batch(kind, n)
        build = models.mlp if kind == "mlp" else models.cnn
        model = build()
        ref = _to_device(reference(model, kind), xp)
        net = None
        if torch is not None:  # copied from the host weights, before the model moves
            net = models.torch_model(torch, model).to(torch_device)
        model.to(device)
        # Same math: a few steps on copies, compared on the host.
        check_model = build()
        check_ref = _to_device(reference(check_model, kind), xp)
        check_model.to(device)
        xd, yd = xp.asarray(x), xp.asarray(y)
        models.check_same_math(_minitl_step(model=check_model, x=x, y=y, device=device),
                               check_model, lambda r=check_ref, a=xd, b=yd: r.step(a, b),
                               check_ref.params,
                               rtol=1e-2, atol=1e-4)
        cases = {"minitl": _minitl_step(model, x, y, device),
                 "cupy": lambda ref=ref, xd=xd, yd=yd: ref.step(xd, yd)}
        if net is not None:
            cases["torch"] = models.torch_step(torch, net, x, y, device=torch_device)
        with harness.pin_blas(1):
            stats = harness.compare_stats(cases, steps=max(30, steps), warmup=10, sync=sync)
        ms = {k: v["median_ms"] for k, v in stats.items()}
        row = {"model": name.split(",")[0] + f", b{n}", "ms": ms, "stats": stats,
               "minitl_vs_cupy": ms["minitl"] / ms["cupy"],
               "minitl_vs_torch": ms["minitl"] / ms["torch"] if "torch" in ms else None}
        rows.append(row)
        if not dry_run:
            measured = row[f"minitl_vs_{against}"]
            goals.append(harness.goal(f"{row['model']} GPU step / {against}", measured, limit,
                                      note="" if measured is not None else
                                      "PyTorch with CUDA not installed"))
    device_name = "NumPy dry run" if dry_run else _gpu_name(xp)
    return {"rows": rows, "goals": goals, "device": device_name,
            "measured_on": {**harness.machine_info(), "gpu": device_name,
                            "at": time.strftime("%Y-%m-%d %H:%M:%S")}}


def _gpu_name(cupy):
    try:
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        return props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    except Exception:  # pragma: no cover
        return "CUDA device"


def _minitl_step(model, x, y, device):
    """models.minitl_step with the batch moved to ``device`` once, outside the timing."""
    import minitl
    from minitl.nn import functional as F
    from minitl.optim import SGD

    opt = SGD(list(model.parameters()), lr=models.LR)
    x_t, y_t = minitl.tensor(x, device=device), minitl.tensor(y, device=device)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x_t), y_t)
        loss.backward()
        opt.step()
        return loss

    return step


def print_section(section):
    if section.get("skipped"):
        print(f"GPU: skipped: {section['skipped']}")
        return
    rows = [[r["model"], harness.fmt_ms(r["ms"]["minitl"]), harness.fmt_ms(r["ms"]["cupy"]),
             harness.fmt_ms(r["ms"].get("torch")), harness.fmt_ratio(r["minitl_vs_cupy"]),
             harness.fmt_ratio(r["minitl_vs_torch"])] for r in section["rows"]]
    harness.print_table([f"GPU step (ms), {section['device']}", "minitl", "cupy", "torch",
                         "minitl/cupy", "minitl/torch"], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run-cpu", action="store_true",
                        help="run the code path on NumPy (no goals, results not written)")
    args = parser.parse_args()
    section = run(dry_run=args.dry_run_cpu)
    earlier = harness.load_results().get("sections", {}).get("gpu", {})
    if section.get("skipped") and earlier.get("rows"):
        # No GPU here: keep the figures measured on a GPU machine rather than erase them.
        print(f"GPU: not available here ({section['skipped']}); keeping the figures "
              f"measured on {earlier.get('device')} at {earlier.get('measured_on', {}).get('at')}")
        section = earlier
    print_section(section)
    if section["goals"]:
        print()
        harness.print_goals(section["goals"])
    if not args.dry_run_cpu:
        harness.update_results("gpu", section)


if __name__ == "__main__":
    main()
