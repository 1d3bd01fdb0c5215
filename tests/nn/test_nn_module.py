"""Module: registration order, dotted names, traversal, modes, freezing, to(), hooks."""

import copy
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import minitl
from minitl import nn
from minitl.errors import DTypeError


class Block(nn.Module):
    """A custom module: a parameter of its own, a buffer and two children."""

    def __init__(self, rng):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.conv = nn.Linear(3, 3, rng=rng)
        self.register_buffer("counter", np.zeros(1))
        self.norm = nn.LayerNorm(3)

    def forward(self, x):
        return self.norm(self.conv(x) * self.scale)


class Net(nn.Module):
    def __init__(self, rng=0):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.body = nn.Sequential(nn.Linear(4, 3, rng=rng), nn.ReLU(), Block(rng),
                                  nn.Sequential(nn.Linear(3, 3, rng=rng), nn.Tanh()))
        self.head = nn.Linear(3, 2, rng=rng)

    def forward(self, x):
        return self.head(self.body(x))


EXPECTED_NAMES = [
    "body.0.weight", "body.0.bias", "body.2.scale", "body.2.conv.weight", "body.2.conv.bias",
    "body.2.norm.weight", "body.2.norm.bias", "body.3.0.weight", "body.3.0.bias",
    "head.weight", "head.bias",
]


def test_dotted_names_follow_registration_order():
    model = Net()
    assert [name for name, _ in model.named_parameters()] == EXPECTED_NAMES
    pairs = list(zip(model.parameters(), (p for _, p in model.named_parameters())))
    assert len(pairs) == len(EXPECTED_NAMES) and all(a is b for a, b in pairs)
    assert [n for n, _ in model.body[2].named_parameters(prefix="x")] == [
        "x.scale", "x.conv.weight", "x.conv.bias", "x.norm.weight", "x.norm.bias"]
    assert [n for n, _ in model.body[2].named_parameters(recurse=False)] == ["scale"]


def test_named_parameters_order_is_the_same_under_any_hash_seed():
    script = textwrap.dedent("""
        from minitl import nn
        import numpy as np
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.zeta = nn.Linear(2, 2, rng=0)
                self.alpha = nn.Sequential(nn.Linear(2, 2, rng=1), nn.BatchNorm1d(2))
                self.mid = nn.Parameter(np.zeros(2))
                self.register_buffer("buf_b", np.zeros(1))
                self.register_buffer("buf_a", np.zeros(1))
        m = M()
        print(",".join(n for n, _ in m.named_parameters()))
        print(",".join(m.state_dict()))
    """)
    root = Path(__file__).resolve().parents[2]
    outputs = []
    for seed in ("0", "1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(root))
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, cwd=root, timeout=60)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    names, keys = outputs[0].split()
    assert names.split(",") == ["mid", "zeta.weight", "zeta.bias", "alpha.0.weight",
                                "alpha.0.bias", "alpha.1.weight", "alpha.1.bias"]
    assert keys.split(",")[:3] == ["mid", "buf_b", "buf_a"]


def test_children_modules_and_named_modules():
    model = Net()
    assert [n for n, _ in model.named_children()] == ["body", "head"]
    assert list(model.children()) == [model.body, model.head]
    names = [n for n, _ in model.named_modules()]
    assert names == ["", "body", "body.0", "body.1", "body.2", "body.2.conv", "body.2.norm",
                     "body.3", "body.3.0", "body.3.1", "head"]
    assert list(model.modules())[0] is model
    assert model.get_submodule("body.2.conv") is model.body[2].conv
    with pytest.raises(AttributeError, match="nope"):
        model.get_submodule("body.nope")


def test_shared_parameters_are_listed_once():
    shared = nn.Linear(2, 2, rng=0)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in model.named_modules()] == ["", "0", "1"]
    # the state dict lists every name the model answers to, as PyTorch's does
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_buffers_are_not_parameters():
    model = Net()
    assert [n for n, _ in model.named_buffers()] == ["body.2.counter"]
    buf = model.body[2].counter
    assert isinstance(buf, minitl.Tensor) and not isinstance(buf, nn.Parameter)
    assert not buf.requires_grad
    assert all(p is not buf for p in model.parameters())
    assert "body.2.counter" in model.state_dict()
    # assigning to a registered buffer name keeps it a buffer
    model.body[2].counter = np.array([5.0])
    assert [n for n, _ in model.named_buffers()] == ["body.2.counter"]
    assert model.body[2].counter.tolist() == [5.0]


def test_unknown_attribute_raises_naming_class_and_attribute():
    model = Net()
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'haed'") as info:
        model.haed  # noqa: B018 - the typo is the point
    assert "head" in str(info.value)  # suggests the close match
    assert getattr(model, "missing", None) is None  # getattr with a default still works


def test_assignment_rules():
    layer = nn.Linear(2, 3, rng=0)
    with pytest.raises(TypeError, match="Parameter"):
        layer.weight = minitl.zeros(3, 2)
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    layer.bias = nn.Parameter(np.zeros(3, dtype=np.float32))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    layer.note = "plain attribute"
    assert layer.note == "plain attribute"
    with pytest.raises(KeyError):
        layer.register_buffer("a.b", np.zeros(1))
    with pytest.raises(KeyError):
        layer.register_parameter("forward", nn.Parameter(np.zeros(1)))
    with pytest.raises(KeyError, match="already has an attribute"):
        layer.register_buffer("note", np.zeros(1))
    layer.note = nn.Parameter(np.zeros(1))  # assignment replaces the plain attribute
    assert [n for n, _ in layer.named_parameters()][-1] == "note"

    class Forgot(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Forgot()


def test_train_eval_recursive():
    model = Net()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.body.eval()
    assert model.training and not model.body[3][1].training


def test_freeze_unfreeze_requires_grad():
    model = Net()
    assert model.body.freeze() is model.body
    assert all(not p.requires_grad for p in model.body.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    model.body.unfreeze()
    assert all(p.requires_grad for p in model.parameters())
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())


def test_frozen_parameters_get_no_grad_and_no_graph():
    model = Net()
    model.body.freeze()
    x = minitl.randn(5, 4, rng=1)
    features = model.body(x)
    assert not features.requires_grad and features.grad_fn is None  # nothing recorded
    loss = model(x).sum()
    loss.backward()
    assert all(p.grad is None for p in model.body.parameters())
    assert all(p.grad is not None for p in model.head.parameters())


def test_frozen_middle_layer_passes_gradient_through():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Tanh(), nn.Linear(4, 4, rng=1),
                          nn.Linear(4, 1, rng=2))
    model[2].freeze()
    model(minitl.randn(6, 3, rng=3)).sum().backward()
    assert model[0].weight.grad is not None and model[3].weight.grad is not None
    assert model[2].weight.grad is None and model[2].bias.grad is None


def test_zero_grad_sets_none():
    model = Net()
    model(minitl.randn(2, 4, rng=0)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(float(np.abs(p.grad.numpy()).sum()) == 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_to_dtype_keeps_parameter_identity():
    model = nn.Sequential(nn.Linear(3, 2, rng=0), nn.BatchNorm1d(2))
    params_before = list(model.parameters())
    model(minitl.randn(4, 3, rng=1)).sum().backward()
    assert model.to(dtype=np.float64) is model
    after = list(model.parameters())
    assert all(a is b for a, b in zip(params_before, after))
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in after)
    assert model[1].running_mean.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())
    model.to("float64")
    assert model[0].weight.dtype == np.float64
    model.to(np.float32)
    assert model[0].weight.dtype == np.float32
    with pytest.raises(DTypeError):
        model.to(dtype=np.int32)


def test_to_device_keeps_identity_and_moves_everything(device):
    model = nn.Sequential(nn.Linear(3, 2, rng=0), nn.BatchNorm1d(2))
    params = list(model.parameters())
    model.to(device)
    assert all(a is b for a, b in zip(params, model.parameters()))
    assert all(t.device == device for t in [*model.parameters(), *model.buffers()])
    out = model(minitl.randn(4, 3, rng=1, device=device))
    assert out.device == device
    model.cpu()
    assert all(t.device == "cpu" for t in [*model.parameters(), *model.buffers()])


def test_repr_is_nested_like_pytorch():
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.ReLU(),
                          nn.Sequential(nn.Dropout(0.1), nn.Linear(3, 1, bias=False, rng=0)))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Dropout(p=0.1)\n"
        "    (1): Linear(in_features=3, out_features=1, bias=False)\n"
        "  )\n"
        ")"
    )


def test_forward_hook_reads_features_and_is_removable():
    model = Net()
    seen = []
    handle = model.body.register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
    model(minitl.randn(2, 4, rng=0))
    handle.remove()
    model(minitl.randn(2, 4, rng=0))
    assert seen == [(2, 3)]


def test_call_without_forward_and_apply():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)
    visited = []
    Net().apply(lambda m: visited.append(type(m).__name__))
    assert visited[-1] == "Net" and visited.count("Linear") == 4


def test_deepcopy_makes_an_independent_model():
    model = Net()
    clone = copy.deepcopy(model)
    x = minitl.randn(3, 4, rng=5)
    np.testing.assert_array_equal(model(x).numpy(), clone(x).numpy())
    assert [n for n, _ in clone.named_parameters()] == EXPECTED_NAMES
    clone.head.weight.data[...] = 0
    assert np.abs(model.head.weight.numpy()).sum() > 0
