"""Bad input gets an error that names the op and the shapes or values at fault."""

import numpy as np
import pytest

import minitl as mt
import minitl.nn.functional as F
from minitl.errors import DTypeError, GraphError, ShapeError


def test_matmul_shape_mismatch_names_op_and_shapes():
    a, b = mt.tensor(np.ones((2, 3))), mt.tensor(np.ones((4, 5)))
    with pytest.raises(ShapeError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        a @ b


def test_matmul_batch_mismatch():
    with pytest.raises(ShapeError, match=r"matmul"):
        mt.tensor(np.ones((2, 3, 4))) @ mt.tensor(np.ones((5, 4, 2)))


def test_matmul_rejects_scalars():
    with pytest.raises(ShapeError, match=r"matmul.*at least 1 dimension"):
        mt.tensor(2.0) @ mt.tensor(np.ones(3))


def test_add_shape_mismatch_names_op_and_shapes():
    with pytest.raises(ShapeError, match=r"add.*\(2, 3\).*\(4,\)"):
        mt.tensor(np.ones((2, 3))) + mt.tensor(np.ones(4))


def test_shape_errors_are_value_errors():
    with pytest.raises(ValueError):
        mt.tensor(np.ones(2)) * mt.tensor(np.ones(3))


def test_conv2d_channel_mismatch():
    x, w = mt.tensor(np.ones((1, 3, 8, 8))), mt.tensor(np.ones((4, 2, 3, 3)))
    with pytest.raises(ShapeError, match=r"conv2d.*\(1, 3, 8, 8\).*\(4, 2, 3, 3\)"):
        F.conv2d(x, w)


def test_conv2d_kernel_larger_than_input():
    with pytest.raises(ShapeError, match="conv2d.*does not fit"):
        F.conv2d(mt.tensor(np.ones((1, 1, 2, 2))), mt.tensor(np.ones((1, 1, 3, 3))))


def test_conv2d_wrong_rank():
    with pytest.raises(ShapeError, match=r"conv2d.*\(3, 8, 8\)"):
        F.conv2d(mt.tensor(np.ones((3, 8, 8))), mt.tensor(np.ones((4, 3, 3, 3))))


def test_cross_entropy_target_out_of_range_names_values():
    logits = mt.tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"cross_entropy.*\[4, -1\].*\[0, 3\]"):
        F.cross_entropy(logits, mt.tensor([0, 4, -1]))


def test_cross_entropy_float_targets_rejected():
    with pytest.raises(DTypeError, match=r"cross_entropy.*integer.*float"):
        F.cross_entropy(mt.tensor(np.zeros((2, 3))), mt.tensor([0.0, 1.0]))


def test_cross_entropy_target_shape():
    with pytest.raises(ShapeError, match=r"cross_entropy.*\(2, 3\).*\(2,\).*\(3,\)"):
        F.cross_entropy(mt.tensor(np.zeros((2, 3))), mt.tensor([0, 1, 2]))


def test_backward_on_non_scalar_names_the_shape():
    x = mt.tensor(np.ones((2, 2)), requires_grad=True)
    with pytest.raises(GraphError, match=r"backward.*\(2, 2\)"):
        (x @ x).backward()


def test_mse_loss_refuses_silent_broadcasting():
    with pytest.raises(ShapeError, match=r"mse_loss.*\(4, 1\).*\(4,\)"):
        F.mse_loss(mt.tensor(np.ones((4, 1))), mt.tensor(np.ones(4)))


def test_reshape_and_reduction_errors():
    with pytest.raises(ShapeError, match=r"reshape.*\(2, 3\).*\(4,\)"):
        mt.tensor(np.ones((2, 3))).reshape(4)
    with pytest.raises(ShapeError, match=r"sum: axis 2"):
        mt.tensor(np.ones((2, 3))).sum(axis=2)
    with pytest.raises(ShapeError, match="max: cannot reduce an empty axis"):
        mt.tensor(np.ones((0, 3))).max(axis=0)


def test_where_needs_a_boolean_condition():
    with pytest.raises(DTypeError, match="where"):
        mt.where(mt.tensor([1.0, 0.0]), mt.tensor([1.0, 2.0]), mt.tensor([3.0, 4.0]))


def test_pooling_and_dropout_arguments():
    with pytest.raises(ShapeError, match="max_pool2d"):
        F.max_pool2d(mt.tensor(np.ones((4, 4))), 2)
    with pytest.raises(ValueError, match="dropout: p"):
        F.dropout(mt.tensor(np.ones(3)), p=1.5)
