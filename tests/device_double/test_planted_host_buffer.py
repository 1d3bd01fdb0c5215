"""The device leg catches what the CPU legs cannot: a host buffer planted inside one op.

The plant is the textbook GPU bug: ``GetItem.backward`` builds its zero gradient with
``np.zeros`` (on the host) instead of in the module of ``grad_out``. On the CPU every
array is a NumPy array, so the planted op still computes the right gradient and the CPU
leg passes; on the device double the host buffer meets a device gradient and the run
fails, as it would on a GPU. (``np.zeros_like(grad_out)`` would be no bug: on a device
array NumPy hands the call to CuPy, which allocates on the device.)
"""

from __future__ import annotations

import numpy as np
import pytest

import minitl as mt
from minitl import backend
from minitl.ops import shape
from minitl.testing import gradcheck


def _planted_backward(ctx, grad_out):
    grad = np.zeros(ctx.in_shape, dtype=grad_out.dtype)  # the bug: a host buffer
    backend.add_at(grad, ctx.index, grad_out)
    return grad


def _check_getitem(device):
    x = mt.tensor(np.random.default_rng(0).standard_normal((4, 3)), device=device)
    return gradcheck(lambda t: t[np.array([0, 2, 2])].sum(axis=0), x, rng=1)


def test_the_unplanted_op_passes_on_every_device(device):
    assert _check_getitem(device)


def test_a_planted_host_buffer_passes_on_the_cpu_and_fails_on_the_device(device,
                                                                          monkeypatch):
    monkeypatch.setattr(shape.GetItem, "backward", staticmethod(_planted_backward))
    if device == "cpu":
        assert _check_getitem(device)  # invisible on the CPU
    else:
        with pytest.raises(TypeError):
            _check_getitem(device)
