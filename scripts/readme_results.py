"""Write the README's results section from the experiments' results.json files.

    python scripts/readme_results.py [--parity out/parity] [--animals out/animals_digits]
                                     [--real out/real] [--replication out/offset3000]

Replaces the text between ``<!-- results:start -->`` and ``<!-- results:end -->`` in
README.md with one claims table per experiment (every number read from its
results.json) and the experiment's figures, copied into ``docs/figures/``. With
``--replication DIR`` (a second ``make demo`` on another seed block, ``DIR/parity`` and
``DIR/animals_digits``) each table gets that block's verdict beside the first.

Real digits: ``--real DIR`` (default: ``real/`` beside the ``--parity`` folder, where
``make demo-real`` writes) holds the same experiments on real handwriting, and
``REPLICATION/real`` their second block. Each experiment then gets a table of every
claim's verdict on glyph and on real digits side by side, and the real runs' own claims
table and figures. Run by ``make results`` after ``make demo`` (and ``make demo-real``);
never edit the section by hand.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FIGURES = ROOT / "docs" / "figures"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _number(value, digits=3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-2 and value else f"{value:.{digits}f}"
    return str(value)


def _interval(ci) -> str:
    if not ci:
        return "—"
    return f"[{_number(ci[0])}, {_number(ci[1])}]"


def _verdict(passed) -> str:
    return "not decided (quick)" if passed is None else ("**pass**" if passed else "**FAIL**")


def _block(results: dict) -> str:
    seeds = results.get("seeds") or []
    return f"seeds {seeds[0]}–{seeds[-1]}" if seeds else "seeds ?"


def claims_table(claims: list[dict], replication: dict | None = None,
                 block: str = "", other_block: str = "", statements: bool = True) -> list[str]:
    other = {c["id"]: c for c in (replication or {}).get("claims", [])}
    head = f"| id | claim | {block or 'result'} | estimate | 95% CI | seeds |"
    rule = "|---|---|---|---:|---|---:|"
    if not statements:  # the sentences stand in the table above
        head, rule = head.replace("| claim ", "", 1), rule.replace("---|", "", 1)
    if replication:
        head += f" {other_block} | estimate | 95% CI |"
        rule += "---|---:|---|"
    lines = [head, rule]
    for claim in claims:
        statement = str(claim.get("statement", "")).replace("|", "\\|")
        row = (f"| {claim.get('id')} | {statement + ' | ' if statements else ''}"
               f"{_verdict(claim.get('passed'))} | "
               f"{_number(claim.get('estimate'))} | {_interval(claim.get('ci95'))} | "
               f"{_number(claim.get('n_seeds'))} |")
        if replication:
            r = other.get(claim.get("id"), {})
            row += (f" {_verdict(r.get('passed')) if r else '—'} | "
                    f"{_number(r.get('estimate'))} | {_interval(r.get('ci95'))} |")
        lines.append(row)
    return lines


def _load(folder: Path | None) -> dict | None:
    if folder is None or not (folder / "results.json").exists():
        return None
    return json.loads((folder / "results.json").read_text())


def _cell(claim: dict | None) -> str:
    if not claim:
        return "—"
    return f"{_verdict(claim.get('passed'))} ({_number(claim.get('estimate'))})"


def side_by_side(blocks: list[tuple[str, dict | None]]) -> list[str]:
    """One row per claim id, one column per run (verdict and estimate)."""
    present = [(name, res) for name, res in blocks if res is not None]
    by_run = [{c["id"]: c for c in res.get("claims", [])} for _, res in present]
    ids = list(dict.fromkeys(c for run in by_run for c in run))
    lines = ["| id | " + " | ".join(name for name, _ in present) + " |",
             "|---|" + "---|" * len(present)]
    for claim_id in ids:
        lines.append(f"| {claim_id} | " + " | ".join(_cell(run.get(claim_id))
                                                   for run in by_run) + " |")
    return lines


def accuracy_table(results: dict) -> list[str]:
    """Mean test accuracy (%) of every arm at every N, from the results' summary."""
    summary = results.get("summary", {})
    ns = sorted({int(n) for by_n in summary.values() for n in by_n})
    lines = ["| arm | " + " | ".join(f"N = {n}" for n in ns) + " |",
             "|---|" + "---:|" * len(ns)]
    for arm, by_n in summary.items():
        cells = [f"{100 * by_n[str(n)]['mean']:.1f}" if str(n) in by_n else "" for n in ns]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return lines


def real_section(glyph: Path, real: Path, prefix: str,
                 glyph_rep: Path | None, real_rep: Path | None) -> list[str]:
    """The verdicts on glyph and real digits side by side, then the real runs' details."""
    runs = [("glyph", glyph), ("glyph", glyph_rep), ("real", real), ("real", real_rep)]
    blocks = [(f"{kind}, {_block(res)}" if res else kind, res)
              for kind, res in ((k, _load(f)) for k, f in runs)]
    if blocks[2][1] is None:
        return ["#### On real handwritten digits", "", f"*No results yet: `{real}/results.json` "
                "is missing; run `make demo-real`, then `make results`.*", ""]
    lines = ["#### On real handwritten digits (`make demo-real`)", "",
             "Verdict (estimate) of every claim on glyph digits and on scikit-learn's real "
             "digits, same claims, thresholds and tuned hyperparameters:", ""]
    lines += side_by_side(blocks)
    lines += ["", f"Mean test accuracy (%) per arm on real digits, {_block(blocks[2][1])} "
              "(`lpft_glyphsource`: the thermometer source pretrained on glyph numbers; no "
              "claim reads it):" if prefix == "parity" else
              f"Mean test accuracy (%) per arm on real digits, {_block(blocks[2][1])}:", ""]
    lines += accuracy_table(blocks[2][1])
    lines.append("")
    return lines + experiment_section("Real digits: estimates and intervals", real,
                                      f"real_{prefix}", real_rep, level="####",
                                      statements=False)


def experiment_section(title: str, folder: Path, prefix: str,
                       replication: Path | None = None, level: str = "###",
                       statements: bool = True) -> list[str]:
    results_file = folder / "results.json"
    if not results_file.exists():
        return [f"{level} {title}", "", f"*No results yet: `{results_file}` is missing; run "
                "`make demos`, then `make results`.*", ""]
    results = json.loads(results_file.read_text())
    config = results.get("config", {})
    lines = [f"{level} {title}", ""]
    seeds = config.get("seeds") or results.get("seeds")
    source = results_file.relative_to(ROOT) if results_file.is_relative_to(ROOT) else results_file
    if seeds is not None:
        count = seeds if isinstance(seeds, (str, int)) else len(seeds)
        wall = results.get("timings", {}).get("wall_seconds_with_report")
        lines += [f"Seeds: {count} ({_block(results)}); quick run: "
                  f"{bool(config.get('quick', False))}; wall time "
                  f"{_number(wall, 0) if wall else '—'} s with {results.get('jobs')} processes. "
                  f"Source: `{source}`.", ""]
    other = None
    if replication is not None and (replication / "results.json").exists():
        other = json.loads((replication / "results.json").read_text())
    lines += claims_table(results.get("claims", []), other, _block(results),
                          _block(other) if other else "", statements)
    lines.append("")
    for png in sorted(folder.glob("*.png")):
        target = FIGURES / f"{prefix}_{png.name}"
        FIGURES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, target)
        lines += [f"![{prefix} {png.stem.replace('_', ' ')}]"
                  f"(docs/figures/{target.name})", ""]
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parity", default="out/parity")
    parser.add_argument("--animals", default="out/animals_digits")
    parser.add_argument("--real", default=None,
                        help="folder of `make demo-real` (default: real/ beside --parity)")
    parser.add_argument("--replication", default=None,
                        help="folder of a second `make demo` run on another seed block")
    args = parser.parse_args(argv)
    rep = Path(args.replication) if args.replication else None
    real = ROOT / (args.real or Path(args.parity).parent / "real")
    real_rep = rep / "real" if rep else None
    body = [START, "*Generated by `make results` from the experiments' results.json; do not "
            "edit by hand. Which figures vary with the machine's BLAS: every figure below "
            "comes from training runs whose matrix products sum in the BLAS's order, so "
            "its curves and the estimates shift slightly on another BLAS or CPU (exact "
            "bits on the same machine, same seeds); the dataset previews above do not. "
            "The verdicts and conclusions must not change.*", ""]
    for title, folder, name, prefix in (
            ("Magnitude → parity (transfer that works)", args.parity, "parity", "parity"),
            ("Animals → digits (transfer that fails)", args.animals, "animals_digits",
             "animals")):
        glyph_rep = rep / name if rep else None
        body += experiment_section(title, ROOT / folder, prefix, glyph_rep)
        body += real_section(ROOT / folder, real / name, prefix, glyph_rep,
                             real_rep / name if real_rep else None)
    body.append(END)
    text = README.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"README.md lacks the {START} / {END} markers")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(head + "\n".join(body) + tail)
    print(f"README results section rewritten from {args.parity} and {args.animals}")


if __name__ == "__main__":
    main()
