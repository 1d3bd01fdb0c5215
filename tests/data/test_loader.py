"""DataLoader: batch shapes, drop_last, seeded shuffling, every sample once per epoch.

Most tests use ``numpy_batches`` (the batching logic, no engine needed); the Tensor tests
import minitl lazily, inside the test, so this file is collected even while the engine is
being written.
"""

from __future__ import annotations

import numpy as np
import pytest

from minitl.data import DataLoader


def arrays(n=10):
    x = np.arange(n * 6, dtype=np.float64).reshape(n, 2, 3)
    y = np.arange(n, dtype=np.int32)
    return x, y


@pytest.mark.parametrize("n, bs, drop_last, expected", [
    (10, 3, False, [3, 3, 3, 1]),
    (10, 3, True, [3, 3, 3]),
    (9, 3, False, [3, 3, 3]),
    (9, 3, True, [3, 3, 3]),
    (2, 5, False, [2]),
    (2, 5, True, []),
    (0, 4, False, []),
])
def test_batch_sizes_and_len(n, bs, drop_last, expected):
    x, y = arrays(n)
    loader = DataLoader(x, y, batch_size=bs, drop_last=drop_last)
    sizes = [len(b[0]) for b in loader.numpy_batches()]
    assert sizes == expected
    assert len(loader) == len(expected)


def test_batch_shapes_dtypes_and_alignment():
    x, y = arrays(10)
    batches = list(DataLoader(x, y, batch_size=4, shuffle=True, seed=0).numpy_batches())
    for bx, by in batches:
        assert bx.shape[1:] == (2, 3)
        assert bx.dtype == np.float32 and by.dtype == np.int64  # float32 / int64 batches
        np.testing.assert_array_equal(bx[:, 0, 0], by * 6)  # rows stay paired with labels


def test_no_shuffle_keeps_order():
    x, y = arrays(7)
    got = np.concatenate([b[1] for b in DataLoader(x, y, batch_size=3).numpy_batches()])
    np.testing.assert_array_equal(got, y)


def test_each_sample_once_per_epoch_and_reshuffled():
    x, y = arrays(50)
    loader = DataLoader(x, y, batch_size=8, shuffle=True, seed=3)
    epochs = [np.concatenate([b[1] for b in loader.numpy_batches()]) for _ in range(3)]
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), y)
        assert not np.array_equal(order, y)
    assert not np.array_equal(epochs[0], epochs[1])  # a new order each epoch


def test_drop_last_with_shuffle_drops_a_different_remainder():
    x, y = arrays(10)
    loader = DataLoader(x, y, batch_size=4, shuffle=True, seed=1, drop_last=True)
    seen = [np.concatenate([b[1] for b in loader.numpy_batches()]) for _ in range(5)]
    assert all(len(s) == 8 and len(set(s)) == 8 for s in seen)
    assert len({tuple(sorted(s)) for s in seen}) > 1


def test_seeded_shuffle_is_deterministic():
    x, y = arrays(30)

    def run(seed):
        loader = DataLoader(x, y, batch_size=7, shuffle=True, seed=seed)
        return [np.concatenate([b[1] for b in loader.numpy_batches()]) for _ in range(2)]

    a, b, c = run(42), run(42), run(43)
    for ea, eb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(a[0], c[0])


def test_no_global_random_state_used():
    x, y = arrays(20)
    state = np.random.get_state()[1].copy()
    list(DataLoader(x, y, batch_size=3, shuffle=True, seed=0).numpy_batches())
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_batches_are_copies():
    x, y = arrays(6)
    bx, _ = next(DataLoader(x, y, batch_size=6).numpy_batches())
    bx[...] = -1
    assert x.min() >= 0


def test_argument_checks():
    x, y = arrays(5)
    with pytest.raises(ValueError, match="first dimension"):
        DataLoader(x, y[:4], batch_size=2)
    with pytest.raises(ValueError):
        DataLoader(x, batch_size=0)
    with pytest.raises(TypeError):
        DataLoader(x, batch_size=2.0)
    with pytest.raises(ValueError):
        DataLoader(batch_size=2)
    with pytest.raises(TypeError):
        DataLoader(x, 2)  # batch_size is keyword-only


def _engine():
    import minitl

    return minitl.tensor


def test_yields_tuples_of_tensors():
    tensor = _engine()
    x, y = arrays(10)
    batches = list(DataLoader(x, y, batch_size=4, shuffle=True, seed=0))
    assert len(batches) == 3
    kind = type(tensor(np.zeros(1, np.float32)))
    for bx, by in batches:
        assert isinstance(bx, kind) and isinstance(by, kind)
        assert bx.numpy().dtype == np.float32 and by.numpy().dtype == np.int64
        np.testing.assert_array_equal(bx.numpy()[:, 0, 0], by.numpy() * 6)
    (single,) = next(iter(DataLoader(y, batch_size=10)))  # one array -> 1-tuples
    np.testing.assert_array_equal(single.numpy(), y)


def test_batches_move_to_the_requested_device(device):
    _engine()
    x, y = arrays(6)
    for bx, by in DataLoader(x, y, batch_size=4, device=device):
        assert bx.device == device and by.device == device
