"""Print the size of the teaching path (the engine and the ops) and fail if it has grown.

The teaching path is ``minitl/autograd.py`` (Tensor, Function, the graph walk, grad
mode) and ``minitl/ops/`` (each op's forward and backward as plain math). Guards
(``minitl/guards.py``) and fast paths (``minitl/fast/``) sit beside it and are listed
for information only. A *code line* is a line that is not blank, not a comment and not
part of a docstring. Limits (exit status 1 when exceeded):

- ``autograd.py``: at most 300 lines in all, docstrings included;
- ``autograd.py`` + ``ops/``: at most 1,000 code lines.

Run by ``make lint`` and ``make test``; ``python scripts/line_counts.py``.
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AUTOGRAD_MAX_LINES = 300
TEACHING_MAX_CODE_LINES = 1000


def code_lines(path: Path) -> int:
    """Lines holding code: not blank, not only a comment, not inside a docstring."""
    source = path.read_text()
    docstring_lines = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                docstring_lines.update(range(body[0].lineno, body[0].end_lineno + 1))
        # attribute docstrings: a bare string right after an assignment
        if hasattr(node, "body") and isinstance(node.body, list):
            for stmt in node.body[1:]:
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                        and isinstance(stmt.value.value, str):
                    docstring_lines.update(range(stmt.lineno, stmt.end_lineno + 1))
    code = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                        tokenize.DEDENT, tokenize.ENDMARKER):
            continue
        for line in range(tok.start[0], tok.end[0] + 1):
            if line not in docstring_lines:
                code.add(line)
    return len(code)


def report(paths):
    rows = []
    for path in paths:
        rows.append((str(path.relative_to(ROOT)), len(path.read_text().splitlines()),
                     code_lines(path)))
    return rows


def main() -> int:
    teaching = [ROOT / "minitl/autograd.py"] + sorted((ROOT / "minitl/ops").glob("*.py"))
    beside = [p for p in [ROOT / "minitl/guards.py"] if p.exists()]
    beside += sorted((ROOT / "minitl/fast").glob("*.py")) if (ROOT / "minitl/fast").exists() else []
    print(f"{'file':<34} {'lines':>6} {'code':>6}")
    teaching_rows = report(teaching)
    for name, lines, code in teaching_rows:
        print(f"{name:<34} {lines:>6} {code:>6}")
    total_lines = sum(r[1] for r in teaching_rows)
    total_code = sum(r[2] for r in teaching_rows)
    print(f"{'teaching path (autograd + ops)':<34} {total_lines:>6} {total_code:>6}")
    for name, lines, code in report(beside):
        print(f"{name + ' (beside)':<34} {lines:>6} {code:>6}")
    failures = []
    autograd_lines = teaching_rows[0][1]
    if autograd_lines > AUTOGRAD_MAX_LINES:
        failures.append(f"minitl/autograd.py has {autograd_lines} lines (limit "
                        f"{AUTOGRAD_MAX_LINES}, docstrings included)")
    if total_code > TEACHING_MAX_CODE_LINES:
        failures.append(f"autograd.py + ops/ have {total_code} code lines (limit "
                        f"{TEACHING_MAX_CODE_LINES})")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
