"""The models of the two experiments: small MLP bodies and linear heads, built from minitl.nn.

Every model is a :class:`minitl.transfer.BodyHead`: ``body`` (the representation g) and a
linear ``head`` (the decision h). The toolkit's recipes copy the body and attach a fresh
head for the target task, so a source model and a target model differ only in the head.

Why MLPs and not CNNs: on this machine class a minitl MLP step over a batch of 32
glyph pairs costs about 1 ms, a small CNN 15-40 ms (measured while designing the
experiments); ``make demo`` runs several hundred trainings in a few minutes on two
cores, which only the MLPs allow.

Parity experiment (``demos/parity.py``)
    * :class:`SharedSlots` + :func:`glyph_encoder`: ONE encoder applied to the tens glyph
      and to the units glyph (weights shared), the two feature vectors concatenated.
      Whatever the encoder learns about reading a digit in one slot it knows in the
      other slot too: that is what lets a magnitude source (which only needs the tens
      glyph) help with parity (which only needs the units glyph).

Animals → digits (``demos/animals_digits.py``)
    * :func:`image_body`: a two-layer MLP on one 28 × 28 image.
"""

from __future__ import annotations

import numpy as np

from minitl import nn
from minitl.transfer import BodyHead

__all__ = [
    "SharedSlots", "fold_whitening_into_head", "glyph_encoder", "image_body", "make_model",
    "shared_body", "whiten_",
]

# Width of the glyph features (per slot) and of the hidden layer (chosen on tuning seeds,
# see the notes at the top of demos/parity.py).
GLYPH_HIDDEN = 128
GLYPH_FEATURES = 32
#: Width of the whitened code per glyph: ten digits span at most nine directions.
GLYPH_CODE = 9
#: The layers of an encoder that the source task trains; the rest is the whitening layer.
TRAINED_PART = 5


def glyph_encoder(rng, pixels: int = 28 * 28, hidden: int = GLYPH_HIDDEN,
                  features: int = GLYPH_FEATURES, code: int = GLYPH_CODE, *,
                  tanh: bool = True, whiten: bool = True) -> nn.Sequential:
    """One glyph (1, H, W) → ``code`` numbers (``features`` without ``whiten``).

    Flatten → Linear → ReLU → Linear → Tanh (ReLU with ``tanh=False``) → Linear(features,
    code). The first five layers are what the source task trains (:data:`TRAINED_PART`);
    the last Linear (only with ``whiten``) is a change of coordinates set after
    pretraining by :func:`whiten_` (PCA whitening), and is an ordinary trainable layer
    from then on. A model trained from scratch with the same options has the same
    layers, the whitening fitted to its random features.

    ``hidden``, ``tanh`` and ``whiten`` are the architecture options the hyperparameter
    search (``make tune``) explores for every arm, scratch included. The bounded (tanh)
    output matters for transfer: trained on a graded magnitude task its units saturate
    into nearly binary codes of the digit, so every example of a digit lands close to the
    same point.
    """
    layers = [nn.Flatten(), nn.Linear(pixels, hidden, rng=rng), nn.ReLU(),
              nn.Linear(hidden, features, rng=rng), nn.Tanh() if tanh else nn.ReLU()]
    if whiten:
        layers.append(nn.Linear(features, code, rng=rng))
    return nn.Sequential(*layers)


class SharedSlots(nn.Module):
    """Apply one ``encoder`` to every slot of (B, S, C, H, W) inputs; concatenate.

    The slot axis is folded into the batch axis, so the encoder sees B·S glyphs, and the
    (B·S, F) features are unfolded to (B, S·F): slot 0's features first.
    """

    def __init__(self, encoder: nn.Module, slots: int = 2, features: int = GLYPH_CODE):
        super().__init__()
        self.encoder = encoder
        self.slots, self.features = int(slots), int(features)

    def forward(self, x):
        b, s = x.shape[0], x.shape[1]
        z = self.encoder(x.reshape(b * s, *x.shape[2:]))
        return z.reshape(b, s * z.shape[-1])

    def extra_repr(self):
        return f"slots={self.slots}, weight-shared"


def shared_body(rng, pixels: int = 28 * 28, *, hidden: int = GLYPH_HIDDEN,
                tanh: bool = True, whiten: bool = True) -> SharedSlots:
    """The parity experiment's body: a weight-shared glyph encoder over two slots."""
    width = GLYPH_CODE if whiten else GLYPH_FEATURES
    return SharedSlots(glyph_encoder(rng, pixels, hidden, tanh=tanh, whiten=whiten),
                       features=width)


def whiten_(layer: nn.Linear, features: np.ndarray, eps: float = 1e-6) -> dict:
    """Set ``layer`` (Linear(F, k)) to PCA whitening of ``features`` (n, F), in place.

    y = Λ^{-1/2} Uᵀ (z − μ) with U, Λ the top-k eigenvectors and eigenvalues of the
    features' covariance: the k directions of largest variance, each scaled to unit
    variance. Returns ``{"mean", "components", "scales", "explained"}``, what
    :func:`fold_whitening_into_head` needs to keep the source model's function.

    Why: a linear head fitted on a few examples prefers small weights in the coordinates
    it is given. In the raw coordinates of a thermometer code, neighbouring digits are
    close and one direction (the digit's size) dominates, so a few-shot head interpolates
    between seen digits and leans on the dominant direction of the irrelevant slot. In
    whitened coordinates every direction the code uses counts the same (whether it helps
    is left to the search: ``make tune`` tries every arm with and without it).
    """
    z = np.asarray(features, dtype=np.float64)
    mu = z.mean(axis=0)
    cov = np.cov(z - mu, rowvar=False)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1][: layer.out_features]
    vals, vecs = np.maximum(vals[order], eps), vecs[:, order]
    weight = (vecs / np.sqrt(vals)).T                       # (k, F)
    layer.weight.data[...] = weight.astype(layer.weight.dtype)
    layer.bias.data[...] = (-weight @ mu).astype(layer.bias.dtype)
    return {"mean": mu, "components": vecs, "scales": np.sqrt(vals),
            "explained": float(vals.sum() / max(np.trace(cov), eps))}


def fold_whitening_into_head(head: nn.Linear, white: dict, slots: int) -> nn.Linear:
    """A head on the whitened code that computes what ``head`` computed on the raw
    features: z ≈ μ + U Λ^{1/2} y per slot, so W' = W U Λ^{1/2} and b' = b + W μ (exact up
    to the variance outside the kept directions). Returns a new Linear."""
    u_scaled = white["components"] * white["scales"]          # (F, k)
    f, k = u_scaled.shape
    w = head.weight.data.astype(np.float64)                     # (out, slots·F)
    blocks = [w[:, s * f:(s + 1) * f] for s in range(slots)]
    new_w = np.concatenate([b @ u_scaled for b in blocks], axis=1)
    new_b = head.bias.data.astype(np.float64) + sum(b @ white["mean"] for b in blocks)
    out = nn.Linear(slots * k, head.out_features)
    out.weight.data[...] = new_w.astype(out.weight.dtype)
    out.bias.data[...] = new_b.astype(out.bias.dtype)
    return out


IMAGE_HIDDEN = 64
IMAGE_FEATURES = 64


def image_body(rng, pixels: int = 28 * 28, hidden: int = IMAGE_HIDDEN,
               features: int = IMAGE_FEATURES) -> nn.Sequential:
    """The animal/digit body: Flatten → Linear → ReLU → Linear → ReLU."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(pixels, hidden, rng=rng),
        nn.ReLU(),
        nn.Linear(hidden, features, rng=rng),
        nn.ReLU(),
    )


def make_model(body: nn.Module, feature_dim: int, num_outputs: int, rng) -> BodyHead:
    """``BodyHead(body, Linear(feature_dim, num_outputs))``."""
    return BodyHead(body, nn.Linear(feature_dim, num_outputs, rng=rng))
