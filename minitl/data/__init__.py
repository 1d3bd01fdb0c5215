"""Datasets and batching.

Procedural datasets (pure NumPy, no downloads), each a pure function of
``(seed, split, index)`` so that every sample is reproducible and the ``"train"``,
``"val"`` and ``"test"`` splits never share a sample:

* :func:`glyph_digits` -- handwriting-like digits 0-9 drawn from pen-stroke skeletons;
* :func:`two_digit_numbers` -- pairs of glyphs showing 0-99, with task labels from
  :func:`number_labels` (magnitude, thermometer, parity, random control);
* :func:`animals` -- line drawings of a mammal, bird, fish and insect, told apart by their
  parts (legs, wings, fins) and textures (fur, feathers, scales, smooth).

In every dataset the amount of ink is drawn from the same distribution for every class, so
neither the mean intensity nor the number of bright pixels gives the label away: a model
has to look at shape.

Real data: :func:`real_digits` gives scikit-learn's 1,797 real handwritten digits in the
glyph digits' layout (the ``real`` extra), :func:`real_two_digit_numbers` composes numbers
from them, with disjoint splits and disjoint source/target pools fixed by the seed
(:func:`real_digit_ids`); :func:`read_idx` and :func:`load_mnist_like` read MNIST-style IDX
files from disk. Batching: :class:`DataLoader`.
"""

from .animals import ANIMAL_CLASSES, animals, render_animals
from .glyphs import DIGIT_CLASSES, LabelledImages, glyph_digits, render_glyphs
from .idx import IDXFormatError, load_mnist_like, read_idx
from .loader import DataLoader
from .numbers import (
    NUMBER_TASKS,
    NumberImages,
    number_labels,
    number_slot_keys,
    two_digit_numbers,
)
from .real_digits import (
    REAL_DIGIT_POOLS,
    REAL_DIGITS_COUNT,
    RealDigitImages,
    RealNumberImages,
    real_digit_ids,
    real_digits,
    real_two_digit_numbers,
)

__all__ = [
    "ANIMAL_CLASSES",
    "DIGIT_CLASSES",
    "NUMBER_TASKS",
    "DataLoader",
    "IDXFormatError",
    "LabelledImages",
    "NumberImages",
    "REAL_DIGITS_COUNT",
    "REAL_DIGIT_POOLS",
    "RealDigitImages",
    "RealNumberImages",
    "animals",
    "glyph_digits",
    "load_mnist_like",
    "number_labels",
    "number_slot_keys",
    "read_idx",
    "real_digit_ids",
    "real_digits",
    "real_two_digit_numbers",
    "render_animals",
    "render_glyphs",
    "two_digit_numbers",
]
