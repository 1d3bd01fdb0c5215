"""The freeze contract: a step changes a parameter only if it is trainable at that moment.

"Trainable" means ``p.requires_grad`` and its group not flagged ``"frozen"``. Three ways
to freeze (the parameter's flag, ``Module.freeze``, the group's flag), every optimizer
minitl exports (plus L2-SP, clipping and a scheduler), and every order of backward /
freeze / step / unfreeze / step. After each step a frozen parameter is bit-identical to
what it was before it; a trainable one matches an update computed here, in NumPy, from
the published formulas and the contract's own words (a frozen parameter's optimizer
state is dropped, so unfreezing starts afresh).
"""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitl as mt
from minitl import backend, nn
from minitl.optim import L2SP, SGD, Adam, AdamW, clip_grad_norm_
from minitl.optim.lr_scheduler import StepLR

# name -> (optimizer factory on groups, reference hyperparameters)
OPTIMIZERS = {
    "sgd": (lambda g: SGD(g, lr=0.1), dict(kind="sgd", lr=0.1)),
    "sgd-momentum": (lambda g: SGD(g, lr=0.1, momentum=0.9),
                     dict(kind="sgd", lr=0.1, momentum=0.9)),
    "sgd-momentum-dampening-wd": (
        lambda g: SGD(g, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.2),
        dict(kind="sgd", lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.2)),
    "sgd-nesterov-wd": (lambda g: SGD(g, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
                        dict(kind="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    "adam": (lambda g: Adam(g, lr=0.01), dict(kind="adam", lr=0.01)),
    "adam-l2": (lambda g: Adam(g, lr=0.01, weight_decay=0.3),
                dict(kind="adam", lr=0.01, weight_decay=0.3)),
    "adamw": (lambda g: AdamW(g, lr=0.01, weight_decay=0.5),
              dict(kind="adam", lr=0.01, weight_decay=0.5, decoupled=True)),
}
# extras on top of an optimizer: L2-SP in the loss, clipping before the step, a scheduler
EXTRAS = {
    "plain": {},
    "l2sp": {"l2sp": (0.5, 0.1)},
    "clip": {"clip": 0.05},
    "scheduler": {"gamma": 0.5},
}
METHODS = ["flag", "module", "group"]
EVENTS = ["backward", "freeze", "step", "unfreeze", "step"]
ORDERS = sorted(set(itertools.permutations(EVENTS)))  # 60 distinct orders


# -- the reference: the contract and the update rules, written from their statements ------


class Reference:
    """Host float64 copies of every parameter, updated by the formulas below."""

    def __init__(self, params, hyper):
        self.w = [backend.to_numpy(p.data).astype(np.float64) for p in params]
        self.grad = [None] * len(params)
        self.state = [None] * len(params)
        self.hyper = hyper

    def update(self, i, lr):
        h, w, g = self.hyper, self.w[i], self.grad[i]
        wd = h.get("weight_decay", 0.0)
        if h["kind"] == "sgd":
            d = g + wd * w
            mom = h.get("momentum", 0.0)
            if mom:
                buf = self.state[i]
                buf = d.copy() if buf is None else mom * buf + (1 - h.get("dampening", 0.0)) * d
                self.state[i] = buf
                d = d + mom * buf if h.get("nesterov") else buf
            self.w[i] = w - lr * d
            return
        b1, b2, eps = 0.9, 0.999, 1e-8
        t, m, v = self.state[i] or (0, np.zeros_like(w), np.zeros_like(w))
        t += 1
        if h.get("decoupled"):
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        self.state[i] = (t, m, v)
        self.w[i] = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)


class Harness:
    """A two-layer model, its optimizer (body and head as two named groups) and the reference."""

    def __init__(self, device, opt_name, extras, method, seed=0):
        rng = np.random.default_rng(seed)
        self.model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.Tanh(),
                                   nn.Linear(4, 2, rng=rng)).double().to(device)
        self.body, self.head = self.model[0], self.model[2]
        self.x = mt.tensor(rng.standard_normal((5, 3))).to(device)
        self.y = mt.tensor(rng.standard_normal((5, 2))).to(device)
        factory, hyper = OPTIMIZERS[opt_name]
        self.opt = factory([{"name": "body", "params": self.body.parameters()},
                            {"name": "head", "params": self.head.parameters()}])
        self.params = list(self.model.parameters())
        self.group_of = [0, 0, 1, 1]
        self.ref = Reference(self.params, hyper)
        self.base_lr = hyper["lr"]
        self.extras, self.method = extras, method
        self.l2sp = None
        if "l2sp" in extras:
            alpha, beta = extras["l2sp"]
            self.l2sp = L2SP(self.body, self.head, alpha=alpha, beta=beta)
        self.scheduler = StepLR(self.opt, 1, gamma=extras["gamma"]) if "gamma" in extras else None
        self.steps = 0

    # what the contract reads
    def trainable(self, i):
        p = self.params[i]
        return p.requires_grad and not self.opt.param_groups[self.group_of[i]]["frozen"]

    def body_is_frozen(self):
        return not self.trainable(0)

    # events
    def backward(self):
        self.opt.zero_grad()
        self.model.zero_grad()
        loss = ((self.model(self.x) - self.y) ** 2).sum()
        if self.l2sp is not None:
            loss = loss + self.l2sp()
        loss.backward()
        for i, p in enumerate(self.params):
            self.ref.grad[i] = None if p.grad is None else backend.to_numpy(p.grad.data).copy()

    def _set_body_frozen(self, frozen: bool):
        if self.method == "flag":
            for p in self.body.parameters():
                p.requires_grad = not frozen
        elif self.method == "module":
            (self.body.freeze if frozen else self.body.unfreeze)()
        else:
            self.opt.param_group("body")["frozen"] = frozen

    def freeze(self):
        self._set_body_frozen(True)
        for i in (0, 1):  # freezing clears the gradient, whichever way it is done
            assert self.params[i].grad is None
            self.ref.grad[i] = None

    def unfreeze(self):
        self._set_body_frozen(False)

    def step(self):
        lr = self.base_lr * self.extras.get("gamma", 1.0) ** self.steps
        trainable = [self.trainable(i) for i in range(len(self.params))]
        before = [backend.to_numpy(p.data).copy() for p in self.params]
        if "clip" in self.extras:
            clip_grad_norm_(self.opt.trainable_params(), self.extras["clip"])
            live = [i for i in range(len(self.params))
                    if trainable[i] and self.ref.grad[i] is not None]
            norm = np.sqrt(sum(float((self.ref.grad[i] ** 2).sum()) for i in live))
            if norm > self.extras["clip"]:
                for i in live:
                    self.ref.grad[i] = self.ref.grad[i] * (self.extras["clip"] / (norm + 1e-6))
        self.opt.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.steps += 1
        for i, p in enumerate(self.params):
            now = backend.to_numpy(p.data)
            if not trainable[i]:  # frozen: not a bit changed, its state is gone
                assert np.array_equal(now, before[i]), f"frozen parameter {i} moved"
                assert p not in self.opt.state and p.grad is None
                self.ref.state[i] = None
                self.ref.grad[i] = None
                self.ref.w[i] = now.astype(np.float64)
            elif self.ref.grad[i] is not None:
                self.ref.update(i, lr)
            np.testing.assert_allclose(now, self.ref.w[i], rtol=1e-9, atol=1e-12)

    def run(self, events):
        for event in events:
            getattr(self, event)()


@pytest.mark.parametrize("extra", list(EXTRAS))
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("method", METHODS)
def test_every_order_of_backward_freeze_step_unfreeze_step(device, method, opt_name, extra):
    for order in ORDERS:
        h = Harness(device, opt_name, EXTRAS[extra], method)
        h.run(["backward", "step"])  # some optimizer state first, so there is something to keep
        h.run(order)
        h.run(["backward", "step"])  # and training goes on normally afterwards


@given(events=st.lists(st.sampled_from(["backward", "freeze", "unfreeze", "step"]),
                       min_size=1, max_size=12),
       opt_name=st.sampled_from(list(OPTIMIZERS)), extra=st.sampled_from(list(EXTRAS)),
       method=st.sampled_from(METHODS), seed=st.integers(0, 2**16))
def test_random_training_schedules_keep_the_contract(device, events, opt_name, extra, method,
                                                     seed):
    Harness(device, opt_name, EXTRAS[extra], method, seed).run(events)


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("method", METHODS)
def test_unfreezing_starts_afresh_without_a_jump(device, method, opt_name):
    """After a freeze the first update is exactly a newly built optimizer's first update."""
    h = Harness(device, opt_name, {}, method)
    for _ in range(3):
        h.run(["backward", "step"])
    h.run(["freeze", "backward", "step", "backward", "step", "unfreeze", "backward"])
    body = list(h.body.parameters())
    start = [p.data.copy() for p in body]
    grads = [p.grad.data.copy() for p in body]
    h.opt.step()
    moved = [p.data - s for p, s in zip(body, start, strict=True)]

    fresh = [nn.Parameter(s.copy()) for s in start]
    for p, g in zip(fresh, grads, strict=True):
        p.grad = mt.Tensor(g)
    OPTIMIZERS[opt_name][0]([{"params": fresh}]).step()
    for m, p, s in zip(moved, fresh, start, strict=True):
        assert np.array_equal(backend.to_numpy(m), backend.to_numpy(p.data - s))
    hyper = OPTIMIZERS[opt_name][1]
    if hyper["kind"] == "adam":  # Adam's first step: at most lr per weight (+ AdamW's decay)
        decay = hyper.get("weight_decay", 0.0) if hyper.get("decoupled") else 0.0
        for m, s in zip(moved, start, strict=True):
            bound = hyper["lr"] * (1.0 + 1e-6 + decay * abs(backend.to_numpy(s)))
            assert np.all(abs(backend.to_numpy(m)) <= bound)


def test_the_issue_snippet_leaves_the_weight_bit_identical(device):
    m = nn.Linear(3, 2).to(device)
    x = mt.tensor(np.ones((4, 3), dtype=np.float32)).to(device)
    (m(x) ** 2).sum().backward()
    before = m.weight.data.copy()
    m.freeze()
    assert m.weight.grad is None and m.bias.grad is None
    mt.optim.SGD(m.parameters(), lr=0.1).step()
    assert np.array_equal(backend.to_numpy(m.weight.data), backend.to_numpy(before))


@pytest.mark.parametrize("how", ["attribute", "requires_grad_", "module"])
def test_every_way_of_freezing_clears_the_gradient(how):
    m = nn.Linear(2, 2)
    m(mt.tensor(np.ones((1, 2), dtype=np.float32))).sum().backward()
    assert m.weight.grad is not None
    if how == "attribute":
        m.weight.requires_grad = False
    elif how == "requires_grad_":
        m.weight.requires_grad_(False)
    else:
        m.freeze()
    assert m.weight.grad is None


def test_group_frozen_flag_from_the_start_and_state_dict_round_trip():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    opt = Adam([{"name": "body", "params": [a], "frozen": True, "lr": 1e-4},
                {"name": "head", "params": [b]}], lr=0.1)
    assert [(g["name"], g["frozen"]) for g in opt.param_groups] == [("body", True),
                                                                    ("head", False)]
    assert opt.trainable_params() == [b]
    a.grad, b.grad = mt.Tensor(np.ones(2)), mt.Tensor(np.ones(3))
    opt.step()
    assert np.array_equal(a.data, np.ones(2)) and not np.array_equal(b.data, np.ones(3))
    saved = opt.state_dict()
    assert [(g["name"], g["frozen"]) for g in saved["param_groups"]] == [("body", True),
                                                                         ("head", False)]
    a2, b2 = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    fresh = Adam([{"name": "x", "params": [a2]}, {"name": "y", "params": [b2]}], lr=0.1)
    a2.grad = mt.Tensor(np.ones(2))
    fresh.load_state_dict(saved)
    assert [(g["name"], g["frozen"]) for g in fresh.param_groups] == [("body", True),
                                                                      ("head", False)]
    assert a2.grad is None  # loading a frozen flag freezes: the gradient is cleared
    assert fresh.param_group("body")["params"] == [a2]


def test_group_names_are_checked():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="already a group named 'body'"):
        SGD([{"name": "body", "params": [a]}, {"name": "body", "params": [b]}], lr=0.1)
    with pytest.raises(TypeError, match="name must be a string"):
        SGD([{"name": 3, "params": [a]}], lr=0.1)
    opt = SGD([{"name": "body", "params": [a]}], lr=0.1)
    with pytest.raises(KeyError, match="no parameter group named 'head'.*'body'"):
        opt.param_group("head")


def test_clipping_ignores_frozen_parameters_and_a_frozen_group_through_trainable_params():
    a, b = nn.Parameter(np.array([3.0])), nn.Parameter(np.array([4.0]))
    opt = SGD([{"params": [a]}, {"params": [b]}], lr=1.0)
    a.grad, b.grad = mt.Tensor(np.array([3.0])), mt.Tensor(np.array([4.0]))
    opt.param_groups[1]["frozen"] = True  # clears b's gradient at once
    assert b.grad is None and opt.trainable_params() == [a]
    b.grad = mt.Tensor(np.array([4.0]))  # a backward pass would put it back
    assert clip_grad_norm_([a, b], 100.0) == pytest.approx(5.0)  # b counts when passed
    assert clip_grad_norm_(opt.trainable_params(), 1.0) == pytest.approx(3.0)
    b.requires_grad = False  # frozen by its flag: no longer counted even when passed
    assert clip_grad_norm_([a, b], 100.0) == pytest.approx(1.0, rel=1e-5)  # a was clipped
