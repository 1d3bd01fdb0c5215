"""Small, dependency-free learners shared by the data tests."""

from __future__ import annotations

import numpy as np


def histogram_classifier_accuracy(
    f_train: np.ndarray, y_train: np.ndarray, f_test: np.ndarray, y_test: np.ndarray,
    num_classes: int, bins: int = 16,
) -> float:
    """Best 1-D rule on a scalar feature: cut it into quantile bins, predict each bin's
    majority class (fit on train), score on test. Finds any class-dependent shift of the
    feature, so if even this is near chance, the scalar carries no usable label signal."""
    edges = np.quantile(f_train, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    table = np.zeros((bins, num_classes))
    np.add.at(table, (np.searchsorted(edges, f_train), y_train), 1)
    pred = table.argmax(axis=1)[np.searchsorted(edges, f_test)]
    return float((pred == y_test).mean())


def nearest_mean_accuracy(f_train, y_train, f_test, y_test, num_classes: int) -> float:
    """Predict the class whose training mean of the scalar feature is nearest."""
    means = np.array([f_train[y_train == c].mean() for c in range(num_classes)])
    pred = np.abs(f_test[:, None] - means[None, :]).argmin(axis=1)
    return float((pred == y_test).mean())


def mean_intensity(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).mean(axis=1)


def bright_pixel_count(images: np.ndarray) -> np.ndarray:
    return (images.reshape(len(images), -1) > 0.5).sum(axis=1).astype(np.float64)
