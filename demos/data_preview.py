"""Look at the procedural datasets: one PNG grid per dataset, one row per class.

Usage: ``python demos/data_preview.py [--out out] [--seed 0] [--cols 10]``. Writes
``preview_digits.png``, ``preview_numbers.png`` and ``preview_animals.png``, and (with the
``real`` extra installed) ``preview_real_digits.png`` and ``preview_real_numbers.png``: the
real handwritten digits in the same layout, for comparison.

Looking is part of the test: a person should tell the classes apart at a glance, the
digits should look handwritten and the animals should show their parts and textures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

try:
    from demos.cli import output_folder
except ImportError:  # run as a script (python demos/data_preview.py): demos/ is on the path
    from cli import output_folder
from minitl.data import (  # noqa: E402
    ANIMAL_CLASSES,
    DIGIT_CLASSES,
    NumberImages,
    animals,
    glyph_digits,
    number_labels,
    real_digits,
    real_two_digit_numbers,
    two_digit_numbers,
)
from minitl.errors import MissingDependencyError  # noqa: E402


def grid(rows: list[np.ndarray], row_names: list[str], title: str, path: Path,
         tile_titles: list[list[str]] | None = None) -> None:
    """Save a grid: ``rows[r]`` is (cols, H, W) images for the row named ``row_names[r]``."""
    nrows, ncols = len(rows), max(len(r) for r in rows)
    aspect = rows[0].shape[2] / rows[0].shape[1]
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.1 * ncols * aspect + 1.0, 1.2 * nrows),
                             squeeze=False)
    for r, (images, name) in enumerate(zip(rows, row_names, strict=True)):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(images):
                ax.imshow(images[c], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
                if tile_titles is not None:
                    ax.set_title(tile_titles[r][c], fontsize=7, pad=2)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def per_class(images: np.ndarray, labels: np.ndarray, num_classes: int, cols: int):
    return [images[labels == c][:cols, 0] for c in range(num_classes)]


def numbers_grid(nums: NumberImages, cols: int, title: str, path: Path) -> None:
    """One row per tens digit, the two slots side by side, each tile titled with its parity."""
    tiles = np.concatenate([nums.images[:, 0, 0], nums.images[:, 1, 0]], axis=2)
    parity = number_labels(nums.values, "parity")
    rows, names, titles = [], [], []
    for tens in range(10):
        sel = np.flatnonzero(nums.tens == tens)[:cols]
        sel = sel[np.argsort(nums.values[sel], kind="stable")]
        rows.append(tiles[sel])
        names.append(f"{tens}x")
        titles.append([f"{v} {'odd' if p else 'even'}" for v, p in
                       zip(nums.values[sel], parity[sel], strict=True)])
    grid(rows, names, title, path, titles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cols", type=int, default=10)
    args = parser.parse_args()
    out = output_folder(args.out)
    n = 40 * args.cols

    x, y = glyph_digits(n, seed=args.seed)
    grid(per_class(x, y, 10, args.cols), list(DIGIT_CLASSES),
         "glyph_digits: one row per class", out / "preview_digits.png")

    x, y = animals(n, seed=args.seed)
    grid(per_class(x, y, len(ANIMAL_CLASSES), args.cols), list(ANIMAL_CLASSES),
         "animals: fur + 4 legs | feathers + wing | scales + tail fin | smooth + 6 legs",
         out / "preview_animals.png")

    numbers_grid(two_digit_numbers(20 * args.cols, seed=args.seed), args.cols,
                 "two_digit_numbers: row = tens digit (magnitude = tens >= 5)",
                 out / "preview_numbers.png")

    try:
        x, y = real_digits(40 * args.cols, seed=args.seed)
    except MissingDependencyError as exc:
        print(f"skipped the real digits: {exc}")
        return
    grid(per_class(x, y, 10, args.cols), list(DIGIT_CLASSES),
         "real_digits (scikit-learn's handwriting): one row per class",
         out / "preview_real_digits.png")
    numbers_grid(real_two_digit_numbers(20 * args.cols, seed=args.seed), args.cols,
                 "real_two_digit_numbers: row = tens digit (magnitude = tens >= 5)",
                 out / "preview_real_numbers.png")

if __name__ == "__main__":
    main()
