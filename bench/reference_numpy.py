"""Hand-written references: the benchmark models as plain array code, no autograd.

Written for speed the way a competent person would write them by hand: weights kept
in the layout the matrix products want, activations kept channels-last (NHWC) so that
im2col is a strided view plus one copy, ReLU in place, 2×2 max-pooling as the maximum
of four strided views, gradients only where they are needed (never for the data).

They compute *the same math* as the minitl models in ``bench/models.py`` (same layer
sizes, same loss, same plain SGD and learning rate, float32), starting from the same
weights: ``check_same_math`` in the benchmarks runs one step of both and compares.

Every function takes its array module from its inputs, so the same code is the
hand-written CuPy reference on a GPU (``xp = cupy``).
"""

from __future__ import annotations

import numpy as np


def _xp(array):
    """NumPy or CuPy, whichever holds ``array`` (without importing CuPy on the CPU)."""
    return np if isinstance(array, np.ndarray) else __import__("cupy")


def _as_strided(xp, array, shape, strides):
    return xp.lib.stride_tricks.as_strided(array, shape=shape, strides=strides)


def _host(array):
    return array.get() if hasattr(array, "get") else np.asarray(array)


# ----------------------------------------------------------------------------- losses


def cross_entropy_grad(logits, targets):
    """Mean softmax cross-entropy and its gradient with respect to the logits."""
    xp = _xp(logits)
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = xp.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    rows = xp.arange(n)
    loss = (xp.log(total[:, 0]) - shifted[rows, targets]).mean()
    grad = exp
    grad /= total
    grad[rows, targets] -= 1
    grad *= np.float32(1.0 / n)
    return loss, grad


def mse_grad(pred, target):
    """Mean squared error and its gradient with respect to the prediction."""
    diff = pred - target
    loss = (diff * diff).mean()
    diff *= np.float32(2.0 / diff.size)
    return loss, diff


# ----------------------------------------------------------------------------- MLP


class MLPRef:
    """Linear → ReLU → … → Linear with cross-entropy (or MSE) and plain SGD.

    ``weights`` and ``biases`` are (out, in) and (out,) arrays, as in ``nn.Linear``.
    """

    def __init__(self, weights, biases, lr, loss="cross_entropy"):
        self.weights = [w.copy() for w in weights]
        self.biases = [b.copy() for b in biases]
        self.lr = np.float32(lr)
        self.loss_grad = cross_entropy_grad if loss == "cross_entropy" else mse_grad

    def step(self, x, targets):
        acts = [x]
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w.T
            h += b
            if i < last:
                _xp(h).maximum(h, 0, out=h)
            acts.append(h)
        loss, g = self.loss_grad(h, targets)
        for i in range(last, -1, -1):
            a_in = acts[i]
            grad_w = g.T @ a_in
            grad_b = g.sum(axis=0)
            if i > 0:  # the data needs no gradient
                g = g @ self.weights[i]
                g *= a_in > 0  # ReLU's gradient, from its output
            self.weights[i] -= self.lr * grad_w
            self.biases[i] -= self.lr * grad_b
        return loss

    def forward(self, x):
        h = x
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w.T + b
            if i < len(self.weights) - 1:
                h = _xp(h).maximum(h, 0)
        return h

    def params(self):
        """Host copies, in minitl's order: w0, b0, w1, b1, …"""
        out = []
        for w, b in zip(self.weights, self.biases):
            out += [_host(w), _host(b)]
        return out


# ----------------------------------------------------------------------------- CNN


class _Conv3x3:
    """A 3×3, stride-1, padding-1 convolution on NHWC activations, by im2col.

    The weight is kept as (out, kh·kw·in), the row order of the patches, so the
    forward pass is one copy (the patches) and one GEMM.
    """

    def __init__(self, weight_oihw, bias):
        xp = _xp(weight_oihw)
        out_ch, in_ch, kh, kw = weight_oihw.shape
        self.shape = (out_ch, in_ch, kh, kw)
        self.w = xp.ascontiguousarray(weight_oihw.transpose(0, 2, 3, 1).reshape(out_ch, -1))
        self.b = bias.copy()
        self.padded = None

    def _patches(self, x):
        """(N·H·W, 9·C) rows of 3×3×C patches of the zero-padded NHWC ``x``."""
        xp = _xp(x)
        n, h, w, c = x.shape
        if self.padded is None or self.padded.shape != (n, h + 2, w + 2, c):
            self.padded = xp.zeros((n, h + 2, w + 2, c), dtype=x.dtype)  # border stays 0
        self.padded[:, 1:-1, 1:-1, :] = x
        sn, sh, sw, sc = self.padded.strides
        windows = _as_strided(xp, self.padded, (n, h, w, 3, 3, c), (sn, sh, sw, sh, sw, sc))
        return windows.reshape(n * h * w, 9 * c)

    def forward(self, x):
        n, h, w, _ = x.shape
        cols = self._patches(x)
        y = cols @ self.w.T
        y += self.b
        return y.reshape(n, h, w, -1), cols

    def backward(self, grad_y, cols, x_shape, need_input_grad):
        """Weight and bias gradients, and (if asked) the input gradient by col2im."""
        xp = _xp(grad_y)
        out_ch = self.w.shape[0]
        g = grad_y.reshape(-1, out_ch)
        grad_w = g.T @ cols
        grad_b = xp.ones(g.shape[0], dtype=g.dtype) @ g  # much faster than g.sum(axis=0) here
        grad_x = None
        if need_input_grad:  # col2im, one kernel offset at a time: contiguous slice additions
            n, h, w, c = x_shape
            w_at = self.w.reshape(out_ch, 3, 3, c)
            grad_pad = xp.zeros((n, h + 2, w + 2, c), dtype=grad_y.dtype)
            for p in range(3):
                for q in range(3):
                    grad_pad[:, p:p + h, q:q + w, :] += (g @ w_at[:, p, q, :]).reshape(n, h, w, c)
            grad_x = grad_pad[:, 1:-1, 1:-1, :]
        return grad_w, grad_b, grad_x

    def sgd(self, grad_w, grad_b, lr):
        self.w -= lr * grad_w
        self.b -= lr * grad_b

    def weight_oihw(self):
        out_ch, in_ch, kh, kw = self.shape
        return _host(self.w).reshape(out_ch, kh, kw, in_ch).transpose(0, 3, 1, 2)


def maxpool2x2(x):
    """2×2, stride-2 max-pooling of NHWC ``x`` (even H and W): the maximum of four strided
    views. Returns the output and the four views (for the backward pass)."""
    xp = _xp(x)
    n, h, w, c = x.shape
    v = x.reshape(n, h // 2, 2, w // 2, 2, c)
    corners = (v[:, :, 0, :, 0], v[:, :, 0, :, 1], v[:, :, 1, :, 0], v[:, :, 1, :, 1])
    out = xp.maximum(corners[0], corners[1])
    xp.maximum(out, corners[2], out=out)
    xp.maximum(out, corners[3], out=out)
    return out, corners


def maxpool2x2_backward(grad_out, out, corners, x_shape):
    """The gradient goes to the first largest element of each window (row-major), as in
    PyTorch: one element per window even when several tie."""
    xp = _xp(grad_out)
    n, h, w, c = x_shape
    grad_x = xp.empty(x_shape, dtype=grad_out.dtype)
    gv = grad_x.reshape(n, h // 2, 2, w // 2, 2, c)
    targets = (gv[:, :, 0, :, 0], gv[:, :, 0, :, 1], gv[:, :, 1, :, 0], gv[:, :, 1, :, 1])
    taken = None
    for corner, target in zip(corners, targets):
        wins = corner == out
        if taken is None:
            taken = wins
        else:
            wins &= ~taken
            taken |= wins
        xp.multiply(grad_out, wins, out=target)
    return grad_x


class CNNRef:
    """conv3×3(1→8, pad 1) → ReLU → maxpool 2 → conv3×3(8→16, pad 1) → ReLU → maxpool 2 →
    flatten → linear(16·7·7 → 10), cross-entropy, plain SGD; channels-last inside.

    Built from the minitl model's arrays: conv weights (O, C, 3, 3), the linear weight
    (10, C·H·W) in minitl's NCHW flatten order, which is permuted once to NHWC order.
    """

    def __init__(self, conv1_w, conv1_b, conv2_w, conv2_b, fc_w, fc_b, lr):
        xp = _xp(fc_w)
        self.conv1 = _Conv3x3(conv1_w, conv1_b)
        self.conv2 = _Conv3x3(conv2_w, conv2_b)
        out_f, _ = fc_w.shape
        c = conv2_w.shape[0]
        side = int(round((fc_w.shape[1] // c) ** 0.5))
        self.fc_hwc = (side, side, c)
        self.fc_w = xp.ascontiguousarray(
            fc_w.reshape(out_f, c, side, side).transpose(0, 2, 3, 1).reshape(out_f, -1))
        self.fc_b = fc_b.copy()
        self.lr = np.float32(lr)

    def body(self, x_nchw):
        """The frozen-able body: image batch (N, 1, H, W) → NHWC-flattened features."""
        return self._body(x_nchw)[0]

    def _body(self, x_nchw):
        xp = _xp(x_nchw)
        n = x_nchw.shape[0]
        x = x_nchw.transpose(0, 2, 3, 1)  # NHWC (a free view when C = 1)
        y1, cols1 = self.conv1.forward(x)
        xp.maximum(y1, 0, out=y1)
        p1, corners1 = maxpool2x2(y1)
        y2, cols2 = self.conv2.forward(p1)
        xp.maximum(y2, 0, out=y2)
        p2, corners2 = maxpool2x2(y2)
        saved = (cols1, y1, p1, corners1, cols2, y2, p2, corners2)
        return p2.reshape(n, -1), saved

    def step(self, x_nchw, targets, train_body=True):
        """One forward + backward + SGD step; with ``train_body=False`` the convolutions
        are frozen: forward only, and the backward pass stops at the features."""
        feats, saved = self._body(x_nchw)
        logits = feats @ self.fc_w.T
        logits += self.fc_b
        loss, g = cross_entropy_grad(logits, targets)
        grad_fc_w = g.T @ feats
        grad_fc_b = g.sum(axis=0)
        if train_body:
            cols1, y1, p1, corners1, cols2, y2, p2, corners2 = saved
            g_p2 = (g @ self.fc_w).reshape(p2.shape)
            g_y2 = maxpool2x2_backward(g_p2, p2, corners2, y2.shape)
            g_y2 *= y2 > 0
            gw2, gb2, g_p1 = self.conv2.backward(g_y2, cols2, p1.shape, need_input_grad=True)
            g_y1 = maxpool2x2_backward(g_p1, p1, corners1, y1.shape)
            g_y1 *= y1 > 0
            gw1, gb1, _ = self.conv1.backward(g_y1, cols1, None, need_input_grad=False)
            self.conv1.sgd(gw1, gb1, self.lr)
            self.conv2.sgd(gw2, gb2, self.lr)
        self.fc_w -= self.lr * grad_fc_w
        self.fc_b -= self.lr * grad_fc_b
        return loss

    def params(self):
        """Host copies in minitl's order and layouts: conv1 w, b, conv2 w, b, fc w, b."""
        side, _, c = self.fc_hwc
        out_f = self.fc_w.shape[0]
        fc_w = _host(self.fc_w).reshape(out_f, side, side, c).transpose(0, 3, 1, 2)
        return [self.conv1.weight_oihw(), _host(self.conv1.b),
                self.conv2.weight_oihw(), _host(self.conv2.b),
                fc_w.reshape(out_f, -1), _host(self.fc_b)]

