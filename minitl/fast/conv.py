"""Fast twins of the convolution and max-pooling ops of ``minitl/ops/conv.py``.

Same maths, same results (``tests/test_fast_paths.py`` checks values and gradients
against the plain ops), arranged for speed; ``minitl.fast`` says how to switch them off.
What each gains is measured in ``docs/SCIENCE.md`` ("Speed").
"""

from __future__ import annotations

from .. import backend, guards
from ..autograd import Function
from ..ops import conv as plain
from ..ops.conv import _pad, _windows
from . import register


def _pad_channels_last(x, padding):
    """x (N, C, H, W) zero-padded, as an (N, C, H', W') view of channels-last memory.

    The values are those of ``_pad(x, padding)``; only the memory order differs:
    element [n, c, i, j] sits at ((n·H' + i)·W' + j)·C + c, so the C channels of a
    pixel, and the kw pixels of a patch row, are adjacent (what im2col reads)."""
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    ph, pw = padding
    buffer = xp.empty((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
    buffer[:, ph:ph + h, pw:pw + w, :] = x.transpose(0, 2, 3, 1)
    for border in (buffer[:, :ph], buffer[:, ph + h:], buffer[:, :, :pw], buffer[:, :, pw + w:]):
        border[...] = 0  # only the frame is zeroed: the inside was just written
    return buffer.transpose(0, 3, 1, 2)


def _memory_order(a):
    """The axes of ``a`` from the outermost in memory to the innermost."""
    strides = a.strides
    return sorted(range(a.ndim), key=lambda i: -abs(strides[i]))


def _like_memory_order(a, reference):
    """``a``, copied into the memory order of ``reference`` if its own differs.

    Elementwise work on operands stored in different orders (one NCHW, one
    channels-last) cannot run along contiguous rows and is 3× slower here; one copy
    first is cheaper than several mismatched passes."""
    if _memory_order(a) == _memory_order(reference):
        return a
    out = backend.get_array_module(a).empty_like(reference, dtype=a.dtype)
    out[...] = a
    return out


class Conv2d(Function):
    """:class:`minitl.ops.conv.Conv2d`, same maths, faster memory layout.

    The columns of ∂L/∂P that belong to kernel offset (p, q) are G · W[:, :, p, q]
    (N·OH·OW, C): backward adds each such block back at the pixels the patches read at
    that offset, kh·kw products and slice additions in all.

    Faster layout, same math: a patch row is ordered (p, q, c), channels last, and
    the filters likewise (W permuted to (O, kh, kw, C)). With the padded input stored
    channels-last, building P copies runs of kw·C adjacent numbers instead of
    gathering runs of kw (6× faster for the benchmark CNN's 8-channel layer), and
    Y = P Fᵀ comes out as (N, OH, OW, O): returned as an NCHW view, no copy. G is then
    usually channels-last too, so reshaping it to (N·OH·OW, O) is free as well.
    Computing ∂L/∂P block by block, rather than whole and then scattered, lets each
    slice addition read contiguous rows (C numbers per pixel, not C every kh·kw·C): 2× faster.
    """

    @staticmethod
    def forward(ctx, x, w, b=None, stride=1, padding=0):
        x, w, b, stride, padding, (oh, ow) = guards.conv2d(x, w, b, stride, padding)
        n = x.shape[0]
        out_ch, in_ch, kh, kw = w.shape
        xp_ = _pad_channels_last(x, padding)
        windows = _windows(xp_, (kh, kw), stride, (oh, ow))          # (N, C, OH, OW, kh, kw)
        patches = windows.transpose(0, 2, 3, 4, 5, 1).reshape(n * oh * ow, kh * kw * in_ch)
        filters = w.transpose(0, 2, 3, 1).reshape(out_ch, -1)          # (O, kh·kw·C)
        y = patches @ filters.T                                        # (N·OH·OW, O)
        if b is not None:
            y += b
        ctx.save_for_backward(patches, filters)
        ctx.geometry = (x.shape, xp_.shape, (kh, kw), stride, padding, (oh, ow))
        return y.reshape(n, oh, ow, out_ch).transpose(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad_out):
        patches, filters = ctx.saved
        x_shape, padded_shape, kernel, stride, padding, (oh, ow) = ctx.geometry
        n, in_ch = x_shape[:2]
        out_ch = filters.shape[0]
        g = grad_out.transpose(0, 2, 3, 1).reshape(-1, out_ch)         # (N·OH·OW, O)
        grad_x = grad_w = grad_b = None
        # weights and bias first, while G is still in cache from the op after this one
        if ctx.needs_input_grad[1]:
            grad_w = (g.T @ patches).reshape(out_ch, *kernel, in_ch).transpose(0, 3, 1, 2)
        if len(ctx.needs_input_grad) == 3 and ctx.needs_input_grad[2]:
            # Σ over the N·OH·OW rows, as a vector-matrix product: one BLAS call, where
            # g.sum(axis=0) on this tall, narrow array runs one short loop per row (20× slower).
            grad_b = backend.get_array_module(g).ones(g.shape[0], dtype=g.dtype) @ g
        if ctx.needs_input_grad[0]:
            xp = backend.get_array_module(g)
            (sh, sw), (ph, pw) = stride, padding
            h, w = x_shape[2:]
            filters_at = filters.reshape(out_ch, *kernel, in_ch)  # [:, p, q, :] = W[:, :, p, q]
            grad_padded = xp.zeros(padded_shape[:1] + padded_shape[2:] + (in_ch,), dtype=g.dtype)
            for p in range(kernel[0]):
                for q in range(kernel[1]):
                    block = (g @ filters_at[:, p, q, :]).reshape(n, oh, ow, in_ch)
                    grad_padded[:, p:p + sh * oh:sh, q:q + sw * ow:sw, :] += block
            grad_x = grad_padded[:, ph:ph + h, pw:pw + w, :].transpose(0, 3, 1, 2)
        return (grad_x, grad_w) if len(ctx.needs_input_grad) == 2 else (grad_x, grad_w, grad_b)


class MaxPool2d(Function):
    """:class:`minitl.ops.conv.MaxPool2d`, same result, no copy of the windows.

    y is the running ``maximum`` of the kh·kw strided views ``window[..., p, q]`` (one
    per kernel offset), and backward finds each window's winner by comparing those
    views with y, offset by offset, keeping only the first match. Every step is one
    pass over an output-sized array, where ``argmax`` over flattened windows copies
    them all and reduces along a short axis (the benchmark CNN's pooling ran 4–6×
    slower that way). A NaN in a window makes y NaN, and that window passes no gradient.
    """

    @staticmethod
    def forward(ctx, x, kernel_size=2, stride=None, padding=0):
        kernel, stride, padding, (oh, ow) = guards.pool2d("max_pool2d", x, kernel_size, stride,
                                                          padding)
        xp = backend.get_array_module(x)
        padded = _pad(x, padding, value=-xp.inf)
        (kh, kw), n, c = kernel, *x.shape[:2]
        tiled = stride == kernel and padded.shape[2:] == (oh * kh, ow * kw)
        if tiled:  # the windows tile the input: splitting H and W is a view, no as_strided
            blocks = padded.reshape(n, c, oh, kh, ow, kw)
            views = [blocks[:, :, :, p, :, q] for p in range(kh) for q in range(kw)]
        else:
            windows = _windows(padded, kernel, stride, (oh, ow))
            views = [windows[..., p, q] for p in range(kh) for q in range(kw)]
        # the first two views make a new array in the input's memory order ("K"), the
        # others are folded into it in place: one pass per kernel offset after the first
        y = xp.maximum(views[0], views[1]) if len(views) > 1 else views[0].copy("K")
        for view in views[2:]:
            xp.maximum(y, view, out=y)
        ctx.save_for_backward(padded, y)
        ctx.views, ctx.tiled = views, tiled  # views of ``padded``: backward reads them again
        ctx.geometry = (kernel, stride, padding, (oh, ow))
        return y

    @staticmethod
    def backward(ctx, grad_out):
        padded, y = ctx.saved
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = ctx.geometry
        xp = backend.get_array_module(grad_out)
        grad_out = _like_memory_order(grad_out, y)  # the passes below read both together
        overlapping = sh < kh or sw < kw
        # same memory order as the input; when the windows tile it, every element is written
        grad = xp.empty_like(padded) if ctx.tiled else xp.zeros_like(padded)
        free = None  # windows whose winner is not found yet
        for k, view in enumerate(ctx.views):
            wins = view == y
            if free is None:
                free = ~wins
            else:
                wins &= free
                free ^= wins
            p, q = divmod(k, kw)
            target = grad[:, :, p:p + sh * oh:sh, q:q + sw * ow:sw]
            if overlapping:  # an element may win several windows: add
                target += grad_out * wins
            else:            # each element is in at most one window: write
                xp.multiply(grad_out, wins, out=target)
        return grad[:, :, ph:grad.shape[2] - ph, pw:grad.shape[3] - pw]


register(plain.Conv2d, Conv2d)  # the same names as the plain ops: same op, other file
register(plain.MaxPool2d, MaxPool2d)
