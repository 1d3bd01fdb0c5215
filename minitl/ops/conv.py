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

Speed (see bench/): the convolution keeps its padded input *channels-last* in
memory, so each patch row is copied from runs of kw·C adjacent numbers rather
than runs of kw; max-pooling takes the maximum of kh·kw strided views instead of
an argmax over a copy of every window.
"""

from __future__ import annotations

from .. import backend
from ..autograd import Function
from ..errors import ShapeError
from ._dtypes import common, floating


def _pair(value, name, op_name):
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ValueError(f"{op_name}: {name} must be an int or a pair of ints, got {value!r}")
    return pair


def _output_size(op_name, size, kernel, stride, padding):
    out = (size + 2 * padding - kernel) // stride + 1
    if out <= 0:
        raise ShapeError(f"{op_name}: kernel {kernel} with padding {padding} does not fit an input "
                         f"side of {size}")
    return out


def _pad(x, padding, value=0.0):
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    xp = backend.get_array_module(x)
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _windows(x, kernel, stride, out_hw):
    """A (N, C, OH, OW, kh, kw) strided view of the kh×kw patches of x (N, C, H, W)."""
    xp = backend.get_array_module(x)
    sn, sc, sh, sw = x.strides
    shape = x.shape[:2] + tuple(out_hw) + tuple(kernel)
    strides = (sn, sc, sh * stride[0], sw * stride[1], sh, sw)
    return xp.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)


def _pad_channels_last(x, padding):
    """x (N, C, H, W) zero-padded, as an (N, C, H', W') view of channels-last memory.

    The values are those of ``_pad(x, padding)``; only the memory order differs:
    element [n, c, i, j] sits at ((n·H' + i)·W' + j)·C + c, so the C channels of a
    pixel, and the kw pixels of a patch row, are adjacent (what im2col reads)."""
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    ph, pw = padding
    buffer = xp.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
    buffer[:, ph:ph + h, pw:pw + w, :] = x.transpose(0, 2, 3, 1)
    return buffer.transpose(0, 3, 1, 2)


def _memory_order(a):
    """The axes of ``a`` from the outermost in memory to the innermost."""
    return sorted(range(a.ndim), key=lambda i: -abs(a.strides[i]))


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


def _scatter_windows(grad_windows, padded_shape, kernel, stride, padding):
    """Adjoint of ``_windows``: add each patch gradient back where the patch was read.

    ``grad_windows`` is (N, C, OH, OW, kh, kw); the result is the unpadded (N, C, H, W)."""
    xp = backend.get_array_module(grad_windows)
    grad = xp.zeros(padded_shape, dtype=grad_windows.dtype)
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
        for role, array in (("the input", x), ("the weight", w), ("the bias", b)):
            if array is not None:
                floating("conv2d", role, array)
        if b is not None:  # mixed float widths: compute in the widest (NumPy's promotion)
            x, w, b = common("conv2d", x, w, b)
        else:
            x, w = common("conv2d", x, w)
        stride, padding = _pair(stride, "stride", "conv2d"), _pair(padding, "padding", "conv2d")
        if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
            raise ShapeError(
                f"conv2d: input {x.shape} and weight {w.shape} do not fit: expected input "
                "(N, C, H, W) and weight (out_channels, C, kh, kw) with the same C"
            )
        if b is not None and b.shape != (w.shape[0],):
            raise ShapeError(f"conv2d: bias of shape {b.shape} should be ({w.shape[0]},)")
        if min(stride) < 1 or min(padding) < 0:
            raise ValueError(f"conv2d: stride must be ≥ 1 and padding ≥ 0, got {stride}, {padding}")
        n, _, h, wd = x.shape
        out_ch, in_ch, kh, kw = w.shape
        oh = _output_size("conv2d", h, kh, stride[0], padding[0])
        ow = _output_size("conv2d", wd, kw, stride[1], padding[1])
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
        if ctx.needs_input_grad[1]:
            grad_w = (g.T @ patches).reshape(out_ch, *kernel, in_ch).transpose(0, 3, 1, 2)
        if len(ctx.needs_input_grad) == 3 and ctx.needs_input_grad[2]:
            # Σ over the N·OH·OW rows, as a vector-matrix product: one BLAS call, where
            # g.sum(axis=0) on this tall, narrow array runs one short loop per row (20× slower).
            grad_b = backend.get_array_module(g).ones(g.shape[0], dtype=g.dtype) @ g
        return (grad_x, grad_w) if len(ctx.needs_input_grad) == 2 else (grad_x, grad_w, grad_b)


def _pool_geometry(op_name, x, kernel_size, stride, padding):
    kernel = _pair(kernel_size, "kernel_size", op_name)
    stride = kernel if stride is None else _pair(stride, "stride", op_name)
    padding = _pair(padding, "padding", op_name)
    if x.ndim != 4:
        raise ShapeError(f"{op_name}: expected an (N, C, H, W) input, got shape {x.shape}")
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"{op_name}: kernel and stride must be ≥ 1, padding ≥ 0")
    if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
        raise ValueError(f"{op_name}: padding {padding} must be at most half the kernel {kernel}")
    out_hw = tuple(_output_size(op_name, x.shape[2 + i], kernel[i], stride[i], padding[i])
                   for i in range(2))
    return kernel, stride, padding, out_hw


class MaxPool2d(Function):
    """y[n, c, i, j] = max of the window under (i, j);  the gradient goes to the window's
    first largest element (row-major order), as in PyTorch: exactly one element per
    window even when several tie; windows that share an element add up.

    Faster formulation, same result: y is the running ``maximum`` of the kh·kw strided
    views ``window[..., p, q]`` (one per kernel offset), and backward finds each
    window's winner by comparing those views with y, offset by offset, keeping only
    the first match. Every step is one pass over an output-sized array with no copy
    of the windows, where ``argmax`` over flattened windows copies them all and
    reduces along a short axis (the benchmark CNN's pooling ran 4–6× slower that way).
    A NaN in a window makes y NaN, and that window passes no gradient.
    """

    @staticmethod
    def forward(ctx, x, kernel_size=2, stride=None, padding=0):
        floating("max_pool2d", "the input", x)
        kernel, stride, padding, out_hw = _pool_geometry("max_pool2d", x, kernel_size, stride,
                                                         padding)
        xp = backend.get_array_module(x)
        padded = _pad(x, padding, value=-xp.inf)
        windows = _windows(padded, kernel, stride, out_hw)
        y = xp.copy(windows[..., 0, 0], order="K")  # keep the input's memory order
        for p in range(kernel[0]):
            for q in range(kernel[1]):
                if p or q:
                    xp.maximum(y, windows[..., p, q], out=y)
        ctx.save_for_backward(padded, y)
        ctx.geometry = (kernel, stride, padding, out_hw)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        padded, y = ctx.saved
        kernel, stride, padding, (oh, ow) = ctx.geometry
        xp = backend.get_array_module(grad_out)
        grad_out = _like_memory_order(grad_out, y)  # 4 passes below read both together
        windows = _windows(padded, kernel, stride, (oh, ow))
        overlapping = stride[0] < kernel[0] or stride[1] < kernel[1]
        tiled = stride == kernel and all(o * k == size for o, k, size in
                                         zip((oh, ow), kernel, padded.shape[2:]))
        # same memory order as the input; when the windows tile it, every element is written
        grad = xp.empty_like(padded) if tiled else xp.zeros_like(padded)
        free = None  # windows whose winner is not found yet
        for p in range(kernel[0]):
            for q in range(kernel[1]):
                wins = windows[..., p, q] == y
                if free is None:
                    free = ~wins
                else:
                    wins &= free
                    free ^= wins
                target = grad[:, :, p:p + stride[0] * oh:stride[0], q:q + stride[1] * ow:stride[1]]
                if overlapping:  # an element may win several windows: add
                    target += grad_out * wins
                else:            # each element is in at most one window: write
                    xp.multiply(grad_out, wins, out=target)
        ph, pw = padding
        return grad[:, :, ph:grad.shape[2] - ph, pw:grad.shape[3] - pw]


class AvgPool2d(Function):
    """y[n, c, i, j] = mean of the window (zero padding counted, PyTorch's default);
    ∂y/∂x = 1/(kh·kw) for every element of the window."""

    @staticmethod
    def forward(ctx, x, kernel_size=2, stride=None, padding=0):
        floating("avg_pool2d", "the input", x)
        kernel, stride, padding, out_hw = _pool_geometry("avg_pool2d", x, kernel_size, stride,
                                                         padding)
        padded = _pad(x, padding)
        ctx.geometry = (padded.shape, kernel, stride, padding)
        return _windows(padded, kernel, stride, out_hw).mean(axis=(4, 5))

    @staticmethod
    def backward(ctx, grad_out):
        padded_shape, kernel, stride, padding = ctx.geometry
        xp = backend.get_array_module(grad_out)
        share = grad_out[..., None, None] / (kernel[0] * kernel[1])
        grad_windows = xp.broadcast_to(share, grad_out.shape + kernel)
        return _scatter_windows(grad_windows, padded_shape, kernel, stride, padding)


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D convolution (cross-correlation, as in every framework) of NCHW ``x`` with
    ``weight`` (out_channels, in_channels, kh, kw)."""
    if bias is None:
        return Conv2d.apply(x, weight, stride=stride, padding=padding)
    return Conv2d.apply(x, weight, bias, stride=stride, padding=padding)


def max_pool2d(x, kernel_size=2, stride=None, padding=0):
    return MaxPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding)


def avg_pool2d(x, kernel_size=2, stride=None, padding=0):
    return AvgPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding)
