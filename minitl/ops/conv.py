"""2-D convolution and pooling on NCHW batches, without Python loops over pixels.

The trick is the *window view*: for an input (N, C, H, W) and a kh×kw window
moved with stride s, ``_windows`` returns an array of shape
(N, C, OH, OW, kh, kw) whose [n, c, i, j] entry is the patch under output
pixel (i, j). It is a strided view, so building it copies nothing. A
convolution is then a single matrix product between the flattened patches
("im2col") and the flattened filters.

Backward passes scatter gradients back into the input. Patches overlap when
stride < kernel, so that scatter is an *addition*, done with one vectorised
slice per kernel offset (kh·kw slices in all, never one per pixel).

Faster formulations of the same maths (a channels-last im2col, max-pooling by
strided views) live in ``minitl/fast/conv.py``; the public functions below pick
them in one line when fast paths are on (``minitl.fast``).
"""

from __future__ import annotations

from .. import fast, guards
from ..autograd import Function
from ..backend import get_array_module


def _pad(x, padding, value=0.0):
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return get_array_module(x).pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)),
                                   constant_values=value)


def _windows(x, kernel, stride, out_hw):
    """A (N, C, OH, OW, kh, kw) strided view of the kh×kw patches of x (N, C, H, W)."""
    sn, sc, sh, sw = x.strides
    shape = x.shape[:2] + tuple(out_hw) + tuple(kernel)
    strides = (sn, sc, sh * stride[0], sw * stride[1], sh, sw)
    return get_array_module(x).lib.stride_tricks.as_strided(x, shape=shape, strides=strides)


def _scatter_windows(grad_windows, padded_shape, kernel, stride, padding):
    """Adjoint of ``_windows``: add each patch gradient back where the patch was read.

    ``grad_windows`` is (N, C, OH, OW, kh, kw); the result is the unpadded (N, C, H, W)."""
    grad = get_array_module(grad_windows).zeros(padded_shape, dtype=grad_windows.dtype)
    oh, ow = grad_windows.shape[2:4]
    for p in range(kernel[0]):
        for q in range(kernel[1]):
            grad[:, :, p:p + stride[0] * oh:stride[0], q:q + stride[1] * ow:stride[1]] += (
                grad_windows[:, :, :, :, p, q])
    ph, pw = padding
    return grad[:, :, ph:padded_shape[2] - ph, pw:padded_shape[3] - pw]


class Conv2d(Function):
    """y[n, o, i, j] = b[o] + Σ_{c,p,q} w[o, c, p, q] · x̃[n, c, i·s + p, j·s + q]  (x̃ = padded x).

    With patches flattened into rows P (N·OH·OW, C·kh·kw) and filters into
    rows F (O, C·kh·kw), this is Y = P Fᵀ, so
        ∂L/∂F = Gᵀ P,    ∂L/∂P = G F,    ∂L/∂b = Σ over n, i, j of G,
    and ∂L/∂x scatters ∂L/∂P back through the patches (G: ∂L/∂y as (N·OH·OW, O)).
    """

    @staticmethod
    def forward(ctx, x, w, b=None, stride=1, padding=0):
        x, w, b, stride, padding, (oh, ow) = guards.conv2d(x, w, b, stride, padding)
        n, (out_ch, in_ch, kh, kw) = x.shape[0], w.shape
        padded = _pad(x, padding)
        windows = _windows(padded, (kh, kw), stride, (oh, ow))        # (N, C, OH, OW, kh, kw)
        patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, in_ch * kh * kw)
        y = patches @ w.reshape(out_ch, -1).T                          # (N·OH·OW, O)
        if b is not None:
            y += b
        ctx.save_for_backward(patches, w)
        ctx.geometry = (padded.shape, (kh, kw), stride, padding, (oh, ow))
        return y.reshape(n, oh, ow, out_ch).transpose(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad_out):
        patches, w = ctx.saved
        padded_shape, kernel, stride, padding, (oh, ow) = ctx.geometry
        (n, in_ch), out_ch = padded_shape[:2], w.shape[0]
        g = grad_out.transpose(0, 2, 3, 1).reshape(-1, out_ch)         # (N·OH·OW, O)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_patches = (g @ w.reshape(out_ch, -1)).reshape(n, oh, ow, in_ch, *kernel)
            grad_x = _scatter_windows(grad_patches.transpose(0, 3, 1, 2, 4, 5), padded_shape,
                                      kernel, stride, padding)
        if ctx.needs_input_grad[1]:
            grad_w = (g.T @ patches).reshape(w.shape)
        if len(ctx.needs_input_grad) == 3 and ctx.needs_input_grad[2]:
            grad_b = g.sum(axis=0)
        return (grad_x, grad_w) if len(ctx.needs_input_grad) == 2 else (grad_x, grad_w, grad_b)


class MaxPool2d(Function):
    """y[n, c, i, j] = max of the window under (i, j);  the gradient goes to the window's
    first largest element (row-major order), as in PyTorch: exactly one element per
    window even when several tie; windows that share an element add up. A NaN in a
    window makes y NaN, and that window passes no gradient."""

    @staticmethod
    def forward(ctx, x, kernel_size=2, stride=None, padding=0):
        kernel, stride, padding, out_hw = guards.pool2d("max_pool2d", x, kernel_size, stride,
                                                        padding)
        xp = get_array_module(x)
        padded = _pad(x, padding, value=-xp.inf)
        windows = _windows(padded, kernel, stride, out_hw).reshape(
            x.shape[:2] + out_hw + (kernel[0] * kernel[1],))
        winner = windows.argmax(axis=-1)[..., None]  # the first largest, row-major
        y = xp.take_along_axis(windows, winner, axis=-1)[..., 0]
        ctx.save_for_backward(winner, y)
        ctx.geometry = (padded.shape, kernel, stride, padding)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        winner, y = ctx.saved
        padded_shape, kernel, stride, padding = ctx.geometry
        xp = get_array_module(grad_out)
        won = xp.arange(kernel[0] * kernel[1]) == winner      # (N, C, OH, OW, kh·kw) one-hot
        passed = xp.where(y == y, grad_out, 0)[..., None]     # y ≠ y: a NaN window passes none
        return _scatter_windows((won * passed).reshape(grad_out.shape + kernel), padded_shape,
                                kernel, stride, padding)


class AvgPool2d(Function):
    """y[n, c, i, j] = mean of the window (zero padding counted, PyTorch's default);
    ∂y/∂x = 1/(kh·kw) for every element of the window."""

    @staticmethod
    def forward(ctx, x, kernel_size=2, stride=None, padding=0):
        kernel, stride, padding, out_hw = guards.pool2d("avg_pool2d", x, kernel_size, stride,
                                                        padding)
        padded = _pad(x, padding)
        ctx.geometry = (padded.shape, kernel, stride, padding)
        return _windows(padded, kernel, stride, out_hw).mean(axis=(4, 5))

    @staticmethod
    def backward(ctx, grad_out):
        padded_shape, kernel, stride, padding = ctx.geometry
        share = grad_out[..., None, None] / (kernel[0] * kernel[1])
        grad_windows = get_array_module(grad_out).broadcast_to(share, grad_out.shape + kernel)
        return _scatter_windows(grad_windows, padded_shape, kernel, stride, padding)


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D convolution (cross-correlation, as in every framework) of NCHW ``x`` with
    ``weight`` (out_channels, in_channels, kh, kw)."""
    op = fast.select(Conv2d)  # Conv2d, or its channels-last twin in minitl/fast/conv.py
    if bias is None:
        return op.apply(x, weight, stride=stride, padding=padding)
    return op.apply(x, weight, bias, stride=stride, padding=padding)


def max_pool2d(x, kernel_size=2, stride=None, padding=0):
    op = fast.select(MaxPool2d)  # MaxPool2d, or its strided-view twin in minitl/fast/conv.py
    return op.apply(x, kernel_size=kernel_size, stride=stride, padding=padding)


def avg_pool2d(x, kernel_size=2, stride=None, padding=0):
    return AvgPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding)
