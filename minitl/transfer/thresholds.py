"""The numbers that turn measurements into words, each with where it comes from.

The stability monitor describes a run as

* ``"stable"``: the representation moves slowly; what the source taught is kept;
* ``"shifting"``: it moves noticeably, more than the safe recipes moved in the
  measurements below, but has not collapsed;
* ``"abrupt"``: it moves as much as the runs that destroyed their pretrained features.

Most thresholds come from the measurements of a pure-NumPy prototype recorded in
``docs/SCIENCE.md`` ("What the prototypes measured"): MLPs on procedural animals and digits,
safe recipes (LP-FT) against naive fine-tuning at 10x the learning rate. They are
evidence from small models, not published constants; a few are conventions of this
project, and say so. Change them here, and every verdict changes with them.
"""

from __future__ import annotations

STABLE = "stable"
SHIFTING = "shifting"
ABRUPT = "abrupt"
DIVERGED = "diverged"  # NaN/Inf: training was stopped

#: Order of severity, mildest first (the verdict of several signals is the worst one).
SEVERITY = (STABLE, SHIFTING, ABRUPT, DIVERGED)

# -- relative update per step, ‖Δθ‖/‖θ‖ of the body (median over recent steps) -----------
# The prototype saw 2-6e-3 per step at lr 1e-3 (runs that kept the source) and 1.5-3e-2
# at lr 1e-2 (runs that forgot it); about 1e-3 is the usual "healthy" figure.
UPDATE_SHIFTING = 7e-3   # just above everything seen at lr 1e-3
UPDATE_ABRUPT = 1.5e-2   # the lowest value seen in the runs that forgot the source
UPDATE_WINDOW = 20       # steps in the median (one noisy step is not a trend)

# -- cumulative drift ‖θ − θ₀‖/‖θ₀‖ of the body ------------------------------------------
# Safe recipes ended near 0.08; naive fine-tuning moved first-layer weights by more than
# their own norm (> 1).
DRIFT_SHIFTING = 0.25    # about 3x the safe runs' drift
DRIFT_ABRUPT = 1.0       # the weights moved by more than their own size

# -- linear CKA between the pretrained body's features and the current ones --------------
# LP-FT kept CKA >= 0.97; naive fine-tuning that collapsed the source fell to 0.3-0.5.
CKA_SHIFTING = 0.9       # clearly below what the safe runs kept
CKA_ABRUPT = 0.6         # above the collapsed runs' 0.3-0.5, with a margin

# -- forgetting: drop of source-task accuracy through the original source head ------------
# LP-FT kept source accuracy >= 0.95 (from 1.0); naive fine-tuning fell to chance.
FORGET_SHIFTING = 0.05   # more than the safe runs lost
FORGET_ABRUPT = 0.25     # a quarter of the accuracy gone: well on the way to chance

# -- loss explosion ------------------------------------------------------------------------
# Convention of this project (the toolkit's specification): a smoothed training loss above
# twice its starting value means the optimiser is climbing, not descending.
LOSS_EXPLOSION_FACTOR = 2.0
LOSS_START_STEPS = 5     # the starting loss is the mean of this many first steps
LOSS_EMA = 0.1           # weight of the newest step in the smoothed loss

# -- dead ReLU units (zero on every probe example) ----------------------------------------
# Convention of this project, not a measurement: a rise of a tenth of the units is worth a
# look, a third means the layer is losing capacity.
DEAD_RISE_SHIFTING = 0.10
DEAD_RISE_ABRUPT = 0.33


def worst(words) -> str:
    """The most severe of several verdicts (``"stable"`` if there are none)."""
    words = [w for w in words if w in SEVERITY]
    return max(words, key=SEVERITY.index) if words else STABLE


def grade(value, shifting, abrupt, higher_is_worse: bool = True) -> str:
    """One signal as a word: beyond ``abrupt`` → abrupt, beyond ``shifting`` → shifting."""
    if value is None or value != value:  # missing or NaN
        return STABLE
    if not higher_is_worse:
        value, shifting, abrupt = -value, -shifting, -abrupt
    if value >= abrupt:
        return ABRUPT
    if value >= shifting:
        return SHIFTING
    return STABLE
