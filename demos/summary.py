"""Print the claims of both experiments as one table: ``python -m demos.summary DIR...``.

Reads each ``DIR/results.json`` and prints one line per claim: id, verdict (PASS, FAIL,
or "not decided (quick)"), estimate and 95% CI, seeds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .experiment_common import print_claims


def main(argv=None) -> None:
    folders = (argv if argv is not None else sys.argv[1:]) or ["out/parity",
                                                               "out/animals_digits"]
    print("\nclaims (demos/claims.toml), decided on the seeds each run used:")
    for folder in folders:
        path = Path(folder) / "results.json"
        if not path.exists():
            print(f"  {path}: missing")
            continue
        results = json.loads(path.read_text(encoding="utf-8"))
        seeds = results["seeds"]
        print(f"[{results['experiment']}] seeds {seeds[0]}..{seeds[-1]} ({len(seeds)})")
        print_claims(results["claims"])


if __name__ == "__main__":
    main()
