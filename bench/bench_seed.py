"""What one experiment seed costs, this tree against an earlier commit, and the same bits.

Usage: ``python bench/bench_seed.py [--base REV] [--blocks 3]`` (``make bench`` runs it
with ``SEED_BASE``, default ``HEAD~``: the commit before this one, and ``SEED_BLOCKS``).

The base commit is checked out beside this tree (``git worktree add --detach`` into a
temporary folder, removed afterwards). Then, in ``--blocks`` blocks, each block running
every case once on each tree (the order of the trees alternating from block to block, so
that neither always runs first):

* **one seed of each experiment** (parity, animals → digits, layers), each
  ``bench/seed_unit.py``: the experiment's own ``run([seed])`` in a fresh process with an
  empty model zoo, so the sources are trained as for any new seed;
* **the training workload** ``bench/workload.py``: a demo-sized run on the public API
  (a shared glyph encoder 784-128-32-9, a linear probe, then two-group fine-tuning with
  validation every 10 steps).

Each time is the work alone (no interpreter start, imports or data for the workload).
The ratio this/base is taken per block; the median block is reported, every block's
ratio is kept. Same bits: each case's results (``scripts/compare_results.py``, timings
ignored) and the workload's final weights must be identical on both trees. Writes the
"seed" section of bench/results.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import harness

sys.path.insert(0, str(harness.ROOT / "scripts"))
import compare_results  # noqa: E402  (scripts/ is not a package)

EXPERIMENTS = ("parity", "animals_digits", "layers")
SEED = 20_000
CASES = (*EXPERIMENTS, "workload")
GOAL, MOONSHOT = 0.6, 0.4


def _run(case: str, tree: Path, dump: Path) -> float:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONPATH=str(tree))
    if case == "workload":
        cmd = [sys.executable, str(harness.HERE / "workload.py"), "--tree", str(tree),
               "--dump", str(dump)]
    else:
        cmd = [sys.executable, str(harness.HERE / "seed_unit.py"), case, "--seed", str(SEED),
               "--tree", str(tree), "--dump", str(dump)]
    done = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{case} on {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def _same_bits(case: str, old: Path, new: Path) -> tuple[bool, str]:
    if case == "workload":
        import numpy as np

        a, b = np.load(old), np.load(new)
        differ = [k for k in sorted(set(a.files) | set(b.files))
                  if k not in a.files or k not in b.files or not np.array_equal(a[k], b[k])]
        return not differ, f"differ: {differ}" if differ else "final weights identical"
    found = compare_results.compare(old, new)
    if found:
        where, x, y = found[0]
        return False, f"{len(found)} differences, first {where}: {x} != {y}"
    return True, "results identical (timings ignored)"


def base_checkout(rev: str, folder: Path) -> str:
    """Check out ``rev`` into ``folder``; returns its commit hash."""
    subprocess.run(["git", "-C", str(harness.ROOT), "worktree", "add", "--detach", "--force",
                    str(folder), rev], check=True, capture_output=True, text=True)
    return subprocess.run(["git", "-C", str(folder), "rev-parse", "--short", "HEAD"],
                          check=True, capture_output=True, text=True).stdout.strip()


def run(base: str, blocks: int) -> dict:
    head = subprocess.run(["git", "-C", str(harness.ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(harness.ROOT), "status", "--porcelain",
                            "--untracked-files=no", "--", "minitl", "demos", "scripts",
                            "bench/*.py"], capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory(prefix="minitl-bench-seed-") as tmp:
        tmp = Path(tmp)
        base_tree = tmp / "base"
        try:
            base_hash = base_checkout(base, base_tree)
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            return {"skipped": f"no checkout of {base!r}: {detail.strip()[-300:]}",
                    "goals": []}
        try:
            trees = {"base": base_tree, "this": harness.ROOT}
            for tree in trees.values():  # bytecode compiled before timing, on both trees
                subprocess.run([sys.executable, "-m", "compileall", "-q", "minitl", "demos"],
                               cwd=tree, capture_output=True)
            seconds = {case: {"base": [], "this": []} for case in CASES}
            for block in range(blocks):
                order = ("base", "this") if block % 2 == 0 else ("this", "base")
                for case in CASES:
                    for name in order:
                        dump = tmp / f"{name}-{case}-{block}" / (
                            "weights.npz" if case == "workload" else "results.json")
                        seconds[case][name].append(_run(case, trees[name], dump))
                    print(f"  block {block + 1}/{blocks} {case:<15} "
                          f"base {seconds[case]['base'][-1]:6.2f} s  "
                          f"this {seconds[case]['this'][-1]:6.2f} s", flush=True)
            rows = {}
            for case in CASES:
                ratios = [t / b for t, b in zip(seconds[case]["this"], seconds[case]["base"])]
                name = "weights.npz" if case == "workload" else "results.json"
                same = [_same_bits(case, tmp / f"base-{case}-{k}" / name,
                                   tmp / f"this-{case}-{k}" / name) for k in range(blocks)]
                rows[case] = {"base_s": [round(s, 3) for s in seconds[case]["base"]],
                              "this_s": [round(s, 3) for s in seconds[case]["this"]],
                              "block_ratios": [round(r, 3) for r in ratios],
                              "ratio": round(statistics.median(ratios), 3),
                              "same_bits": all(ok for ok, _ in same),
                              "bits": same[0][1] if all(ok for ok, _ in same) else
                              next(why for ok, why in same if not ok)}
        finally:
            subprocess.run(["git", "-C", str(harness.ROOT), "worktree", "remove", "--force",
                            str(base_tree)], capture_output=True)
    goals = [harness.goal(f"one {case} seed, this / {base} ({base_hash})", rows[case]["ratio"],
                          GOAL) for case in EXPERIMENTS]
    goals += [harness.goal(f"experiments' seeds give the same results as {base}",
                           float(all(rows[c]["same_bits"] for c in EXPERIMENTS)), 1, ">=", "",
                           "1 = every field of every results file identical, timings aside"),
              harness.goal(f"workload's final weights identical to {base}'s",
                           float(rows["workload"]["same_bits"]), 1, ">=", "")]
    return {"base": base, "base_commit": base_hash,
            "this_commit": head + ("+uncommitted" if dirty.strip() else ""),
            "seed": SEED, "blocks": blocks, "cases": rows, "moonshot": MOONSHOT,
            "goals": goals}


def print_section(section):
    if section.get("skipped"):
        print(f"seed: skipped: {section['skipped']}")
        return
    rows = [[case, " ".join(f"{s:.2f}" for s in r["base_s"]),
             " ".join(f"{s:.2f}" for s in r["this_s"]), harness.fmt_ratio(r["ratio"]),
             " ".join(f"{x:.2f}" for x in r["block_ratios"]),
             "yes" if r["same_bits"] else "NO"] for case, r in section["cases"].items()]
    harness.print_table([f"one seed ({section['this_commit']} vs {section['base']} "
                         f"{section['base_commit']}), s", "base", "this", "ratio (median)",
                         "blocks", "same bits"], rows)


def main(argv=None):
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", default=os.environ.get("SEED_BASE") or "HEAD~",
                   help="the commit to compare with (default HEAD~, or $SEED_BASE)")
    p.add_argument("--blocks", type=int, default=int(os.environ.get("SEED_BLOCKS") or 3),
                   help="interleaved blocks (default 3, or $SEED_BLOCKS)")
    args = p.parse_args(argv)
    section = run(args.base, args.blocks)
    if section.get("skipped"):
        print_section(section)
        harness.update_results("seed", section)
        return
    harness.publish("seed", section, print_section)


if __name__ == "__main__":
    main()
