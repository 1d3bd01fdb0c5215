"""Before training: are the tasks related? Score a pretrained body on target data.

Fine-tuning runs are expensive and noisy; these scores need one forward pass. Run the
body (frozen, eval mode, no gradients) over labelled target examples and ask, of the
features it produces, how well they already explain the target labels:

* ``probe_accuracy``: a converged ridge linear probe on standardised features, trained on
  70% of the examples and tested on the rest (closed form, no SGD, so it measures the
  features and not an optimiser's budget);
* ``label_cka``: how much the features' dominant directions line up with the classes;
* ``logme``: Bayesian evidence that a linear model on the features explains the labels;
* ``h_score``: the share of feature variance that lies between classes;
* ``leep`` (when a source head is available): how well the source model's own
  predictions, relabelled, predict the target.

The formulas and their caveats are in :mod:`minitl.transfer.metrics`. Compare LogME and
H-score only between bodies with the same feature width, on the same examples.
"""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..creation import tensor
from ..nn import Module
from ..nn.functional import softmax
from .loop import as_xy, extract_features
from .metrics import transferability_scores
from .model import BodyHead, evaluating, model_device

__all__ = ["transferability"]


def transferability(body: Module, x, y=None, *, source_head: Module | None = None,
                    batch_size: int = 256, seed: int = 0, val_fraction: float = 0.3,
                    l2: float = 1e-3) -> dict:
    """Transferability scores of ``body``'s frozen features for labels ``y``.

    ``body`` is the pretrained body (or a BodyHead: its body is scored and its head used
    for LEEP unless ``source_head`` is given). ``x``, ``y`` are target inputs and class
    labels (or pass ``(x, y)`` as ``x``). Returns a dict with ``probe_accuracy``,
    ``label_cka``, ``logme``, ``h_score`` (and ``leep``), plus ``chance`` (the accuracy of
    always guessing the commonest class, for reading the probe), ``n``,
    ``feature_dim`` and ``num_classes``.
    """
    if isinstance(body, BodyHead):
        source_head = source_head if source_head is not None else body.head
        body = body.body
    x, y = as_xy((x, y) if y is not None else x)
    raw = extract_features(body, x, batch_size)  # (N, *feature shape), on the host
    feats = raw.reshape(x.shape[0], -1)
    probs = None
    if source_head is not None:
        device = model_device(source_head)
        chunks = []
        with no_grad(), evaluating(source_head):
            for i in range(0, raw.shape[0], batch_size):
                logits = source_head(tensor(raw[i:i + batch_size]).to(device))
                chunks.append(softmax(logits.astype(np.float64), axis=-1).numpy())
        probs = np.concatenate(chunks)
    scores = transferability_scores(feats, y, probs, val_fraction=val_fraction, seed=seed, l2=l2)
    _, counts = np.unique(y, return_counts=True)
    scores.update(chance=float(counts.max() / counts.sum()), n=int(x.shape[0]),
                  feature_dim=int(feats.shape[1]), num_classes=int(counts.size))
    return scores

