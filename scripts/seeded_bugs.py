"""Plant one bug at a time in an op's backward and check that the test suite catches it.

Each mutation is a one-line text edit of a copy of the package (the working tree is
never touched). A mutation *survives* if the gradient tests still pass with it, which
would mean the tests are too weak. Run with ``make seeded-bugs``; exits non-zero if any
mutation survives.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (description, file, original text, mutated text)
MUTATIONS = [
    ("matmul: dropped transpose in ∂L/∂a", "minitl/ops/linalg.py",
     "grad_a = g @ b2.swapaxes(-1, -2)", "grad_a = g @ b2"),
    ("matmul: dropped transpose in ∂L/∂b", "minitl/ops/linalg.py",
     "grad_b = a2.swapaxes(-1, -2) @ g", "grad_b = a2 @ g"),
    ("sub: wrong sign for the second operand", "minitl/ops/elementwise.py",
     "return grad_out, -grad_out", "return grad_out, grad_out"),
    ("div: wrong sign in ∂/∂b", "minitl/ops/elementwise.py",
     "grad_b = -grad_out * a / (b * b)", "grad_b = grad_out * a / (b * b)"),
    ("sigmoid: y(1+y) instead of y(1-y)", "minitl/ops/elementwise.py",
     "return grad_out * y * (1 - y)", "return grad_out * y * (1 + y)"),
    ("engine: forgotten reduction over stretched size-1 axes", "minitl/autograd.py",
     "extra + i for i, s in enumerate(shape) if s == 1 and grad.shape[extra + i] != 1",
     "extra + i for i, s in enumerate(shape) if False"),
    ("engine: forgotten reduction over new leading axes", "minitl/autograd.py",
     "axes = tuple(range(extra)) + tuple(", "axes = tuple(range(0)) + tuple("),
    ("conv2d: weight gradient with the kernel flipped (convolution vs correlation)",
     "minitl/ops/conv.py",
     "grad_w = (g.T @ patches).reshape(w.shape)",
     "grad_w = (g.T @ patches).reshape(w.shape)[..., ::-1, ::-1]"),
    ("conv2d (fast path): weight gradient with the kernel flipped", "minitl/fast/conv.py",
     "grad_w = (g.T @ patches).reshape(out_ch, *kernel, in_ch).transpose(0, 3, 1, 2)",
     "grad_w = (g.T @ patches).reshape(out_ch, *kernel, in_ch).transpose(0, 3, 1, 2)"
     "[..., ::-1, ::-1]"),
    ("max_pool2d: gradient sent to every element of the window", "minitl/ops/conv.py",
     "won = xp.arange(kernel[0] * kernel[1]) == winner",
     "won = xp.arange(kernel[0] * kernel[1]) >= 0"),
    ("log_softmax: dropped the softmax term", "minitl/ops/nn.py",
     "return grad_out - xp.exp(y) * grad_out.sum(axis=ctx.axis, keepdims=True)",
     "return grad_out - xp.exp(y) * grad_out"),
    ("linear: weight gradient from the wrong operand order", "minitl/ops/nn.py",
     "grad_w = rows.T @ x.reshape(-1, weight.shape[1])",
     "grad_w = (x.reshape(-1, weight.shape[1]).T @ rows).reshape(weight.shape)"),
    ("cross_entropy: mean reduction not divided by the count", "minitl/ops/nn.py",
     "scale = grad_out / ctx.count if", "scale = grad_out if"),
    ("mean: gradient not divided by the group size", "minitl/ops/reduce.py",
     "grad = _expand(grad_out, ctx.axes, ctx.keepdims) / (ctx.count or 1)",
     "grad = _expand(grad_out, ctx.axes, ctx.keepdims)"),
]


def run_one(description, rel_path, original, mutated) -> bool:
    """True if the tests fail (the bug is caught)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(ROOT / "minitl", copy / "minitl")
        shutil.copytree(ROOT / "tests", copy / "tests",
                        ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
        target = copy / rel_path
        text = target.read_text()
        if text.count(original) != 1:
            raise SystemExit(f"mutation '{description}': original text not found exactly once")
        target.write_text(text.replace(original, mutated))
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
             "tests/test_ops_grad.py", "tests/test_autograd.py", "tests/test_fast_paths.py"],
            cwd=copy, capture_output=True, text=True,
            env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin", "MINITL_TEST_BACKEND": "numpy"},
        )
        return result.returncode != 0


def main() -> int:
    survived = 0
    for description, *edit in MUTATIONS:
        caught = run_one(description, *edit)
        survived += not caught
        print(f"{'caught  ' if caught else 'SURVIVED'}  {description}", flush=True)
    print(f"{len(MUTATIONS) - survived} of {len(MUTATIONS)} seeded bugs caught")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
