"""Prints, after a run that included the reliability tests, how many generated cases
each class of bad input got and how they ended (matched the NumPy reference, or raised
the error the policy names). Counts include hypothesis's shrinking and replay runs.

Set ``MINITL_RELIABILITY_SUMMARY=0`` to silence it.
"""

import os

from rel_support import OUTCOMES, TALLY


def pytest_terminal_summary(terminalreporter):
    if not TALLY or os.environ.get("MINITL_RELIABILITY_SUMMARY", "1") == "0":
        return
    write = terminalreporter.write_line
    terminalreporter.section("minitl reliability: cases per class of bad input")
    width = max(len(name) for name in TALLY)
    for name in sorted(TALLY):
        outcomes = ", ".join(f"{what} {n}" for what, n in OUTCOMES[name].most_common())
        write(f"{name:<{width}}  {TALLY[name]:>6}  {outcomes}")
