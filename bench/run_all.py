"""Run every benchmark (what ``make bench`` does) and print one report.

Each benchmark is its own script and runs in its own process (a crash or a memory
high-water mark in one cannot touch the others); each writes its section of
bench/results.json, which starts afresh here (GPU figures measured on a GPU machine are
kept). Then the tables and the goals are printed from that file.
``python bench/readme_section.py`` puts them in the README.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time

import harness

SCRIPTS = ["bench_models.py", "bench_transfer.py", "bench_memory.py", "bench_gpu.py",
           "bench_seed.py"]
DATA_SAMPLES, DATA_REPEATS = 10_000, 2


def run_script(name: str) -> float:
    # BLAS pools may grow to 2 threads; every measurement pins its own count (pin_blas).
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(harness.HERE / name)], env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    status = "ok" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
    print(f"  {name:<22} {elapsed:6.1f} s  {status}", flush=True)
    if done.returncode != 0:
        print(done.stdout[-2000:] + done.stderr[-4000:], file=sys.stderr)
        harness.update_results(name.removesuffix(".py").removeprefix("bench_"),
                               {"skipped": f"{name} failed (exit {done.returncode})",
                                "goals": []})
    return elapsed


def run_data() -> float:
    """Dataset generation throughput, from bench/bench_data.py (owned by the data module).

    Hook: if bench_data.py offers ``run(n=..., repeats=...)`` returning
    ``{dataset: {"n", "seconds", "samples_per_s", ...}}``, it is called in a worker process
    of its own; until then its command line is run with ``--json`` into a temporary file.
    """
    start = time.perf_counter()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "bench_data.json")
            code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import bench_data; "
                    "f = getattr(bench_data, 'run', None); "
                    "print(json.dumps(f(n=int(sys.argv[2]), repeats=int(sys.argv[3]))) "
                    "if callable(f) else 'NO_RUN')")
            probe = subprocess.run([sys.executable, "-c", code, str(harness.HERE),
                                    str(DATA_SAMPLES), str(DATA_REPEATS)], env=env,
                                   capture_output=True, text=True, check=True)
            last = probe.stdout.strip().splitlines()[-1] if probe.stdout.strip() else ""
            if last and last != "NO_RUN":
                results, via = json.loads(last), "bench_data.run()"
            else:
                subprocess.run([sys.executable, str(harness.HERE / "bench_data.py"), "--n",
                                str(DATA_SAMPLES), "--repeats", str(DATA_REPEATS), "--json",
                                out], env=env, capture_output=True, text=True, check=True)
                with open(out) as f:
                    results, via = json.load(f)["bench_data"], "bench_data.py --json"
        section = {"datasets": results, "via": via, "goals": [],
                   "notes": f"{DATA_SAMPLES} samples per data set, best of {DATA_REPEATS}, "
                            "1 BLAS thread"}
        status = "ok"
    except Exception as exc:  # the generators are still being written: report, go on
        detail = getattr(exc, "stderr", "") or str(exc)
        section = {"skipped": f"bench_data.py failed: {detail.strip().splitlines()[-1:]}",
                   "goals": []}
        status = "FAILED (see results.json)"
    harness.update_results("data", section)
    elapsed = time.perf_counter() - start
    print(f"  {'bench_data.py':<22} {elapsed:6.1f} s  {status}", flush=True)
    return elapsed


def print_report(results: dict) -> None:
    m = results["machine"]
    print(f"\nmachine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, NumPy {m['numpy']} "
          f"({m['blas']}), PyTorch {m['torch'] or 'not installed'}, "
          f"CuPy {m['cupy'] or 'not available'}\n")
    sections = results["sections"]
    for key in ("models", "transfer", "memory", "data", "gpu", "seed"):
        section = sections.get(key)
        if section is None:
            continue
        if section.get("skipped"):
            print(f"{key}: skipped: {section['skipped']}\n")
            continue
        if key == "data":
            rows = [[name, r["n"], f"{r['seconds']:.2f}", f"{r['samples_per_s']:,.0f}"]
                    for name, r in section["datasets"].items()]
            harness.print_table(["data set (generation)", "samples", "seconds", "samples/s"],
                                rows)
        else:
            importlib.import_module(f"bench_{key}").print_section(section)
        print()
    print("Goals (ratios at 1 BLAS thread)")
    harness.print_goals(results["goals"])


def main() -> int:
    if harness.RESULTS.exists():
        # No stale sections from an earlier run, except GPU figures measured on a GPU
        # machine, which bench_gpu.py keeps (with where and when) on a machine without one.
        gpu = harness.load_results().get("sections", {}).get("gpu", {})
        harness.RESULTS.unlink()
        if gpu.get("rows"):
            harness.update_results("gpu", gpu)
    start = time.perf_counter()
    print("running the benchmarks (each in its own process):", flush=True)
    for name in SCRIPTS[:3]:
        run_script(name)
    run_data()
    for name in SCRIPTS[3:]:
        run_script(name)
    results = harness.load_results()
    order = ["models", "transfer", "memory", "data", "gpu", "seed"]
    results["sections"] = {k: results["sections"][k] for k in order
                           if k in results["sections"]}
    results["goals"] = [g for k in order for g in results["sections"].get(k, {}).get("goals", [])]
    results["total_seconds"] = round(time.perf_counter() - start, 1)
    harness.RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_report(results)
    print(f"\nwrote {harness.RESULTS.relative_to(harness.ROOT)} "
          f"({results['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
