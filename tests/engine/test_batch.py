"""engine.vmap: batch replay against eager chainrule, sample by sample.

Tolerance. vmap's numbers come from numpy (its exp/log/... may differ from libm's in
the last ulp, a layer's sum is a matrix product, and a sum over the batch is added in
another order than eager's loop), so they are compared to eager's within 1e-12
*relative to the magnitude of what was added up*, not to the result, which may be a
small difference of large terms:

* a gradient: the same backward pass with every local derivative replaced by its
  absolute value (:func:`magnitudes`): Σ over paths of Π |local|, the scale of the
  rounding error of backpropagation (each product and sum rounds by at most 2⁻⁵³ of
  the magnitudes it adds);
* a value: Σ over the nodes of |value| · |d loss / d node| (same absolute pass), the
  scale of an error of one ulp at any node carried to the output;
* over the batch: the sum of the samples' scales.

The graphs are small (a few dozen ops on inputs in [-2, 2], every op kept 0.25 from
its singular points), so the error stays near 1e-15 of that scale; a wrong
derivative, a lost or doubled term is off by O(1) of it.
"""

from __future__ import annotations

import itertools
import math
import re
import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import engine
from engine import TraceError, TraceWarning, Value, define_op, dot, vmap
from engine import functional as F
from engine.backward import toposort
from engine.codegen import read_template
from engine.ops import builtins

RTOL = 1e-12


def close(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= RTOL * (abs(scale) + 1e-300)


# --- the op table ---------------------------------------------------------------------


def test_every_op_has_batch_templates() -> None:
    for op in builtins():
        assert op.batch_forward is not None, op.name
        assert op.batch_derivatives is not None, op.name
        assert len(op.batch_derivatives) == op.arity, op.name
        for text in (op.batch_forward, *op.batch_derivatives):
            t = read_template(text)
            assert set(t.uses) <= {"x", "y", "p", "out"}, (op.name, text)
            if not op.has_param:
                assert "p" not in t.uses, (op.name, text)


# --- random graphs --------------------------------------------------------------------

OPS = [op.name for op in builtins()]


def _bounded(a: Any) -> Any:
    """``a`` squashed into (-3, 3) (by ops whose rules do not cancel)."""
    return a * 3.0 / (abs(a) + 1.0)


def _apply(name: str, a: Any, b: Any, c: float) -> Any:
    """Op ``name`` on operands ``a``, ``b`` (Values or numbers), kept in its domain and,
    for the ops whose rule subtracts nearly equal numbers far out (tanh' = 1 - out²,
    sigmoid' = out (1 - out)), within |x| < 3: there one ulp of difference between
    numpy's and libm's tanh or exp would become 1e-10 of the derivative."""
    if name == "+":
        return a + b
    if name == "*":
        return a * b
    if name == "/":
        return a / (b * b + 0.5)
    if name == "neg":
        return -a
    if name == "identity":
        return F.identity(a) if isinstance(a, Value) else a
    if name == "**":
        return (a * a + 0.5) ** c
    if name == "pow":
        return (a * a + 0.5) ** (_bounded(b) / 3.0)
    if name in ("exp", "tanh", "sigmoid", "softplus", "sin", "cos"):
        return getattr(F, name)(_bounded(a))
    if name == "log":
        return F.log(a * a + 0.25)
    if name == "sqrt":
        return F.sqrt(a * a + 0.25)
    if name == "leaky_relu":
        return F.leaky_relu(a, abs(c) / 4.0)
    if name == "max":
        return F.maximum(a, b)
    if name == "abs":
        return abs(a)
    return getattr(F, {"relu": "relu"}.get(name, name) if name != "abs" else "absolute")(a)


@st.composite
def programs(draw: Any) -> dict[str, Any]:
    n_inputs = draw(st.integers(1, 3))
    n_params = draw(st.integers(1, 4))
    extra = draw(st.lists(st.sampled_from(OPS), max_size=6))
    names = draw(st.permutations(OPS)) + extra
    steps = []
    for i, name in enumerate(names):
        pool = n_inputs + n_params + i
        steps.append(
            (
                name,
                draw(st.integers(0, pool - 1)),
                draw(st.integers(0, pool - 1)),
                draw(st.sampled_from([-2.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0])),
            )
        )
    dots = draw(st.integers(0, 3))
    return {
        "n_inputs": n_inputs,
        "params": draw(st.lists(st.floats(-1.0, 1.0), min_size=n_params, max_size=n_params)),
        "steps": steps,
        "dots": dots,
        "n": draw(st.integers(1, 64)),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def build(spec: dict[str, Any]) -> tuple[list[Value], Callable[..., Value]]:
    """The program's parameters and its one-sample loss ``f(x)``."""
    params = [Value(p, label=f"p{i}") for i, p in enumerate(spec["params"])]

    def f(x: list[float]) -> Value:
        pool: list[Any] = [*x, *params]
        outs = []
        for name, i, j, c in spec["steps"]:
            v = _apply(name, pool[i], pool[j], c)
            pool.append(v)
            outs.append(v)
        # layers of engine.dot over the inputs and the first outputs: what grouping finds
        xs = pool[: spec["n_inputs"]] + outs[:3]
        m = len(params)
        for k in range(spec["dots"]):
            for j in range(1 + k % 3):
                ws = [params[(k + j + i) % m] for i in range(len(xs))]
                outs.append(F.atan(dot(ws, xs, params[j % m] if k % 2 else None)))
        total = Value(0.0)
        for v in outs:
            total = total + v
        return total

    return params, f


def magnitudes(root: Value) -> tuple[float, dict[Value, float]]:
    """The error scales of ``root``'s value and of every node's gradient (see the module
    docstring): backward with |local derivatives|, and Σ |value| · that."""
    order = toposort(root)
    mag: dict[Value, float] = {root: 1.0}
    for node in reversed(order):
        g = mag.get(node, 0.0)
        for parent, local in zip(node.parents, node.local_grads):
            mag[parent] = mag.get(parent, 0.0) + g * abs(local)
    return sum(abs(v.data) * mag.get(v, 0.0) for v in order), mag


def eager(f: Callable[..., Value], params: list[Value], x: np.ndarray, scales: bool = False) -> Any:
    """Each sample's loss and each sample's parameter gradients, eagerly (and with
    ``scales=True`` their error scales, same shapes)."""
    losses = []
    grads = []
    loss_scales = []
    grad_scales = []
    saved = [p.grad for p in params]
    for row in x:
        for p in params:
            p.grad = 0.0
        # the sample as Values, as vmap (and compile) trace it: max(number, Value) gives a
        # tie to the Value, max(Value, Value) to its first operand
        out = f([Value(float(v)) for v in row])
        out.backward()
        losses.append(out.data)
        grads.append([p.grad for p in params])
        if scales:
            s, mag = magnitudes(out)
            loss_scales.append(s)
            grad_scales.append([mag.get(p, 0.0) for p in params])
    for p, g in zip(params, saved):
        p.grad = g
    shape = (len(x), len(params))
    result = (np.array(losses), np.array(grads).reshape(shape))
    if scales:
        return (*result, np.array(loss_scales), np.array(grad_scales).reshape(shape))
    return result


@given(programs(), st.booleans(), st.sampled_from(["mean", "sum"]))
def test_random_graphs_match_eager(spec: dict[str, Any], group: bool, reduce: str) -> None:
    params, f = build(spec)
    rng = np.random.default_rng(spec["seed"])
    x = rng.uniform(-2.0, 2.0, size=(spec["n"], spec["n_inputs"]))
    losses, grads, loss_mag, grad_mag = eager(f, params, x, scales=True)
    g = vmap(f, reduce=reduce, group=group)
    loss = g(x)
    n = spec["n"]
    scale = 1.0 / n if reduce == "mean" else 1.0
    assert close(loss, losses.sum() * scale, loss_mag.sum() * scale)
    for k, p in enumerate(params):
        want = grads[:, k].sum() * scale
        assert close(p.grad, want, grad_mag[:, k].sum() * scale), (k, p.grad, want)
    # per sample: every sample's own loss and gradients; .grad accumulates again
    before = [p.grad for p in params]
    r = g.per_sample(x)
    assert r.losses.shape == (n,)
    for i in range(n):
        assert close(r.losses[i], losses[i], loss_mag[i])
        for k, p in enumerate(params):
            got = r.grads.get(p, np.zeros(n))[i]
            assert close(got, grads[i, k], grad_mag[i, k]), (i, k)
    for k, p in enumerate(params):
        assert close(p.grad - before[k], before[k], grad_mag[:, k].sum() * scale)


@given(programs())
def test_grouping_gives_the_numbers_of_ungrouped(spec: dict[str, Any]) -> None:
    spec = {**spec, "dots": max(spec["dots"], 2)}
    params, f = build(spec)
    x = np.random.default_rng(spec["seed"]).uniform(-2.0, 2.0, (spec["n"], spec["n_inputs"]))
    results = []
    for group in (True, False):
        for p in params:
            p.grad = 0.0
        g = vmap(f, group=group)
        r = g.per_sample(x)
        results.append((r.loss, [p.grad for p in params], r.grads))
    (l1, g1, ps1), (l2, g2, ps2) = results
    assert close(l1, l2, l2)
    for a, b in zip(g1, g2):
        assert close(a, b, b)
    for p in params:  # (constants made inside f are new leaves in every trace)
        assert (p in ps1) == (p in ps2)
        if p in ps1:
            np.testing.assert_allclose(ps1[p], ps2[p], rtol=RTOL, atol=1e-300)


# --- layers ---------------------------------------------------------------------------


def mlp(sizes: list[int], seed: int) -> list[list[tuple[list[Value], Value]]]:
    rng = np.random.default_rng(seed)
    layers = []
    for nin, nout in itertools.pairwise(sizes):
        layers.append(
            [
                ([Value(float(w)) for w in rng.uniform(-1, 1, nin)], Value(float(rng.uniform())))
                for _ in range(nout)
            ]
        )
    return layers


def mlp_loss(layers: Any) -> Callable[..., Any]:
    def f(x: list[float], y: float) -> Any:
        a: list[Any] = list(x)
        for li, layer in enumerate(layers):
            zs = [dot(w, a, b) for w, b in layer]
            a = zs if li == len(layers) - 1 else [z.relu() for z in zs]
        return (1.0 - y * a[0]).relu(), a[0]

    return f


def test_mlp_layers_become_matrix_products() -> None:
    layers = mlp([2, 16, 16, 1], 0)
    params = [v for layer in layers for w, b in layer for v in (*w, b)]
    f = mlp_loss(layers)
    x = np.random.default_rng(1).normal(size=(50, 2))
    y = np.sign(np.random.default_rng(2).normal(size=50))
    g = vmap(f, has_aux=True)
    loss, score = g(x, y)
    src = g.source
    # three layers forward; backward the two inner layers' dA = Wᵀ dZ (the inputs' is not
    # wanted) and every layer's dW = Σᵢ δᵢ aᵢᵀ
    assert src.count("_matmul(") == 5
    assert src.count(" @ ") == 3
    assert not re.search(r"A\d+ = _stack", src)  # each layer's activations: the next's inputs
    losses, grads = eager(lambda xx: f(xx[:2], xx[2])[0], params, np.column_stack([x, y]))
    assert close(loss, losses.mean(), np.abs(losses).mean())
    for k, p in enumerate(params):
        assert close(p.grad, grads[:, k].mean(), np.abs(grads[:, k]).mean()), k
    want = [f(list(map(float, xi)), float(yi))[1].data for xi, yi in zip(x, y)]
    np.testing.assert_allclose(score, want, rtol=1e-12)


# --- results ----------------------------------------------------------------------------


def test_aux_mirrors_the_output_with_a_batch_axis() -> None:
    w = Value(2.0)

    def f(x: list[float]) -> Any:
        a, b = x
        return w * a, {"pair": [w * a, w * b], "c": 3.0, "single": (a * b,)}

    g = vmap(f, has_aux=True)
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    loss, aux = g(x)
    assert loss == pytest.approx((2 + 6 + 10) / 3, rel=1e-15)
    assert aux["pair"].shape == (3, 2)
    np.testing.assert_array_equal(aux["pair"], 2.0 * x)
    np.testing.assert_array_equal(aux["c"], [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(aux["single"], (x[:, 0] * x[:, 1])[:, None])
    assert w.grad == pytest.approx(3.0, rel=1e-15)


def test_backward_false_returns_the_output_batched_without_gradients() -> None:
    w = Value(0.5)
    predict = vmap(lambda x: [w * x[0], (w * x[1]).tanh(), w], backward=False)
    x = np.array([[1.0, 2.0], [3.0, -4.0]])
    out = predict(x)
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[:, 1], np.tanh(0.5 * x[:, 1]), rtol=1e-15)
    np.testing.assert_array_equal(out[:, 2], [0.5, 0.5])
    assert w.grad == 0.0
    one = vmap(lambda x: w * x, backward=False)(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(one, [0.5, 1.0])


def test_sample_shapes_and_parameters_read_each_call() -> None:
    w = Value(1.0)
    g = vmap(lambda m, s: (w * m[0][1] + s).exp(), reduce="sum")
    m = np.zeros((4, 2, 3))
    m[:, 0, 1] = [0.0, 1.0, 2.0, 3.0]
    s = np.zeros(4)
    assert g(m, s) == pytest.approx(sum(math.exp(k) for k in range(4)), rel=1e-14)
    w.data = 2.0  # an optimizer step: the replay reads the new number
    w.grad = 0.0
    assert g(m, s) == pytest.approx(sum(math.exp(2 * k) for k in range(4)), rel=1e-14)
    assert w.grad == pytest.approx(sum(k * math.exp(2 * k) for k in range(4)), rel=1e-14)


def test_loss_without_inputs_is_reduced_as_the_samples_are() -> None:
    w = Value(3.0)
    g = vmap(lambda x: w * w, reduce="sum")
    assert g(np.ones(5)) == 45.0
    assert w.grad == 30.0
    r = vmap(lambda x: w * w).per_sample(np.ones(5))
    np.testing.assert_array_equal(r.grads[w], [6.0] * 5)
    assert w.grad == 36.0


# --- errors -----------------------------------------------------------------------------


def test_a_domain_error_names_the_sample_and_changes_no_grad() -> None:
    w = Value(1.0)
    g = vmap(lambda x: (w * x).log())
    x = np.array([1.0, 2.0, 3.0, -0.05, -1.0])
    with pytest.raises(ValueError, match=r"sample 3: log\(-0\.05\)"):
        g(x)
    assert w.grad == 0.0
    assert g(np.array([1.0, 2.0])) == pytest.approx(math.log(2) / 2, rel=1e-15)


def test_an_overflow_and_a_gradient_error_name_the_sample() -> None:
    g = vmap(lambda x: (x * 1.0).exp())
    with pytest.raises(OverflowError, match=r"sample 2: exp\(800\.0\)"):
        g(np.array([1.0, 2.0, 800.0, 900.0]))
    w = Value(1.0)
    h = vmap(lambda x: (w * x).sqrt())  # sqrt'(0) = 0.5 / 0: eager refuses it
    with pytest.raises(ValueError, match=r"^sample 1: sqrt\(0\.0\): the derivative"):
        h(np.array([4.0, 0.0]))
    assert w.grad == 0.0


def test_a_non_finite_hidden_by_a_later_op_is_still_caught() -> None:
    # x * 1e300 * 1e10 overflows to inf in numpy, and tanh(inf) = 1 with a derivative of
    # 0: only the error state sees it; eager raises at the product
    g = vmap(lambda x: (x * 1e300 * 1e10).tanh())
    with pytest.raises(OverflowError, match=r"^sample 1: "):
        g(np.array([1e-20, 1.0]))
    h = vmap(lambda x: (x * 1.0).log().relu())
    with pytest.raises(ValueError, match=r"sample 1: log\(-2\.0\)"):
        h(np.array([3.0, -2.0]))


def test_bad_arguments_are_named() -> None:
    g = vmap(lambda x, y: x * y)
    with pytest.raises(ValueError, match="argument 1 has 2 samples"):
        g(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match=r"sample 1: argument 0\[1\] is nan"):
        g(np.array([1.0, np.nan]), np.ones(2))
    with pytest.raises(ValueError, match="single number"):
        g(1.0, 2.0)
    with pytest.raises(ValueError, match="empty"):
        g(np.ones(0), np.ones(0))
    with pytest.raises(ValueError, match="reduce"):
        vmap(lambda x: x, reduce="max")
    with pytest.raises(TypeError, match="argument 0 is an array of bools"):
        g(np.array([True, False]), np.ones(2))
    with pytest.raises(TypeError, match="argument 1 must be an array of real numbers"):
        g(np.ones(2), [Value(1.0), Value(2.0)])


# --- guards and frozen reads ------------------------------------------------------------


def branchy(w: Value) -> Callable[[float], Value]:
    def f(x: Any) -> Value:
        if x > 0:
            return w * x
        return -(w * x) * 2.0

    return f


def test_a_batch_that_branches_differently_is_refused_naming_the_sample() -> None:
    w = Value(1.0)
    g = vmap(branchy(w))
    assert g(np.array([1.0, 2.0])) == 1.5
    with pytest.raises(TraceError, match=r"sample 2: the comparison a Value > 0"):
        g(np.array([1.0, 2.0, -3.0]))
    assert w.grad == 1.5  # the refused call added nothing


def test_a_batch_all_on_another_branch_is_traced_again() -> None:
    w = Value(1.0)
    g = vmap(branchy(w))
    assert g(np.array([1.0, 2.0])) == 1.5
    assert g(np.array([-1.0, -2.0])) == 3.0
    assert g(np.array([3.0])) == 3.0
    s = vmap(branchy(w), strict=True)
    s(np.array([1.0]))
    with pytest.raises(TraceError, match=r"sample 0: .*strict=True"):
        s(np.array([-1.0]))


def test_frozen_reads_warn_and_strict_refuses_them() -> None:
    w = Value(1.0)

    def f(x: Any) -> Value:
        return w * round(x, 1)

    with pytest.warns(TraceWarning, match="round"):
        vmap(f)(np.array([1.0, 2.0]))
    with pytest.raises(TraceError, match="round"):
        vmap(f, strict=True)(np.array([1.0, 2.0]))


# --- define_op --------------------------------------------------------------------------


def test_define_op_runs_per_sample_and_matches_eager() -> None:
    softsign = define_op(
        "batch_softsign",
        forward=lambda x: x / (1 + abs(x)),
        derivative=lambda x, out: 1 / (1 + abs(x)) ** 2,
    )
    hyp = define_op(
        "batch_hyp",
        forward=lambda x, y: math.sqrt(x * x + y * y) if x * x + y * y > 0 else 1 / 0,
        derivative=lambda x, y, out: (x / out, y / out),
    )
    w = Value(0.7)

    def f(x: list[float]) -> Value:
        return softsign(w * x[0]) + hyp(w * x[1], w) * 2.0

    x = np.random.default_rng(3).normal(size=(9, 2))
    params = [w]
    losses, grads = eager(f, params, x)
    g = vmap(f)
    assert "_each(" in g.trace(x).source
    assert close(g(x), losses.mean(), np.abs(losses).mean())
    assert close(w.grad, grads[:, 0].mean(), np.abs(grads[:, 0]).mean())
    r = g.per_sample(x)
    np.testing.assert_allclose(r.grads[w], grads[:, 0], rtol=1e-14)
    # an error of the user's op names the sample
    z = vmap(lambda x: hyp(x * 1.0, x * 0.0))
    with pytest.raises(ZeroDivisionError, match=r"^sample 1: "):
        z(np.array([1.0, 0.0, 2.0]))


# --- the source -------------------------------------------------------------------------


def test_source_is_readable_and_labels_stay_comments() -> None:
    w = Value(0.5, label="weight\nimport os; os.system('x')")
    g = vmap(lambda x: (w * x).tanh())
    g(np.array([1.0, 2.0]))
    src = g.source
    assert src.startswith("def batch_step(inputs, leaves, n, B):")
    assert "np.tanh(" in src and "_dot(" in src
    program = g._last
    assert program is not None
    assert "weight" not in program.reduced.source  # labels never reach executed code
    with pytest.raises(RuntimeError, match="nothing traced"):
        _ = vmap(lambda x: x).source


# --- numpy stays out of `import engine` -----------------------------------------------


def test_import_engine_does_not_need_numpy() -> None:
    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "import engine\n"
        "from engine import Value\n"
        "y = (Value(2.0) * 3.0).tanh(); y.backward()\n"
        "assert 'numpy' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "try:\n"
        "    engine.vmap\n"
        "except ImportError:\n"
        "    print('vmap needs numpy')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="."
    )
    assert out.stdout.strip() == "vmap needs numpy"
    code = "import sys, engine; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert engine.vmap is vmap


def test_no_warning_leaks_from_numpy() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = vmap(lambda x: (x * 1.0).exp())
        g(np.array([-800.0, 0.0]))  # exp underflows to 0 in numpy and in math


# --- matrices: softmax cross-entropy, buffers ---------------------------------------------


def softmax_ce(layers: Any, log_softmax: bool) -> Callable[..., Any]:
    """Cross-entropy of a softmax over the last layer, with a one-hot target, written on
    Values: log Σ exp(z - max z) + max z - Σ yₖ zₖ."""

    def f(x: list[float], y: list[float]) -> Any:
        a: list[Any] = list(x)
        for li, layer in enumerate(layers):
            zs = [dot(w, a, b) for w, b in layer]
            a = zs if li == len(layers) - 1 else [z.tanh() for z in zs]
        m = a[0]
        for z in a[1:]:
            m = m.max(z)
        if log_softmax:  # -Σ yₖ log softmax(z)ₖ, with log softmax(z) = z - m - log Σ exp
            shifted = [z - m for z in a]
            log_s = sum((d.exp() for d in shifted), Value(0.0)).log()
            return -dot(y, [d - log_s for d in shifted]), a
        s = sum(((z - m).exp() for z in a), Value(0.0))
        return s.log() + m - dot(y, a), a

    return f


@pytest.mark.parametrize("group", [True, False])
@pytest.mark.parametrize("log_softmax", [True, False])
def test_softmax_cross_entropy_matches_eager(group: bool, log_softmax: bool) -> None:
    layers = mlp([5, 6, 4], 3)
    params = [v for layer in layers for w, b in layer for v in (*w, b)]
    f = softmax_ce(layers, log_softmax)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(33, 5))
    y = np.eye(4)[rng.integers(0, 4, 33)]
    g = vmap(f, has_aux=True, group=group)
    r = g.per_sample(x, y)
    if group:  # the rows of the logits matrix are handled as one matrix
        src = g.source
        assert "[None, :]" in src  # z - max z, one max for every row
        assert ".sum(axis=0)" in src  # Σ exp and Σ yₖ zₖ
        assert "np.exp(M" in src
        if log_softmax:  # z - m gets two gradients, each a matrix's rows: added as matrices
            assert re.search(r"dS\d+ = np.add\(dM\d+, dM\d+", src)
    losses, grads, loss_mag, grad_mag = eager(
        lambda xy: f(xy[:5], xy[5:])[0], params, np.column_stack([x, y]), scales=True
    )
    assert close(r.loss, losses.mean(), loss_mag.mean())
    for k, p in enumerate(params):
        assert close(p.grad, grads[:, k].mean(), grad_mag[:, k].mean()), k
        for i in range(len(x)):
            assert close(r.grads[p][i], grads[i, k], grad_mag[i, k]), (i, k)
    for i, (xi, yi) in enumerate(zip(x, y)):
        for k, z in enumerate(f(list(xi), list(yi))[1]):
            assert close(r.aux[i, k], z.data, magnitudes(z)[0]), (i, k)


def test_buffers_are_reused_and_results_are_not_them() -> None:
    layers = mlp([3, 8, 8, 1], 5)
    f = mlp_loss(layers)
    x = np.random.default_rng(6).normal(size=(40, 3))
    y = np.ones(40)
    g = vmap(f, has_aux=True)
    loss1, score1 = g(x, y)
    program = g._last
    assert program is not None
    before = [id(b) for bufs in program._buffers.values() for b in bufs]
    kept = score1.copy()
    _, score2 = g(x * 2.0, y)
    after = [id(b) for bufs in program._buffers.values() for b in bufs]
    assert before == after and before  # the same arrays, written again
    np.testing.assert_array_equal(score1, kept)  # what was returned is not a buffer
    assert not np.array_equal(score1, score2)
    loss3, score3 = g(x, y)
    assert loss3 == loss1
    np.testing.assert_array_equal(score3, score1)


@pytest.mark.parametrize("reverse", [False, True])
def test_max_over_a_layer_gives_ties_to_the_first_of_the_chain(reverse: bool) -> None:
    # neurons 0 and 1 are the same: every sample ties, and eager's chain of max nodes
    # passes the gradient to the one that comes first in the chain
    layers = mlp([3, 4], 8)
    w0, b0 = layers[0][0]
    layers[0][1] = ([Value(w.data) for w in w0], Value(b0.data))
    params = [v for w, b in layers[0] for v in (*w, b)]

    def f(x: list[float]) -> Value:
        zs = [dot(w, x, b) for w, b in layers[0]]
        if reverse:
            zs.reverse()
        m = zs[0]
        for z in zs[1:]:
            m = m.max(z)
        return m * 2.0

    x = np.random.default_rng(9).normal(size=(12, 3))
    g = vmap(f)
    r = g.per_sample(x)
    assert "_max_rows(" in g.source
    losses, grads = eager(f, params, x)
    np.testing.assert_allclose(r.losses, losses, rtol=1e-13)
    for k, p in enumerate(params):
        np.testing.assert_allclose(r.grads.get(p, np.zeros(12)), grads[:, k], rtol=1e-13, atol=0)


def test_backward_false_through_layers_returns_copies_of_the_right_rows() -> None:
    layers = mlp([3, 5, 4], 10)

    def forward(x: list[float]) -> list[Value]:
        a = [dot(w, x, b).relu() for w, b in layers[0]]  # an activation written in place
        return [dot(w, a, b) for w, b in layers[1]]

    x = np.random.default_rng(11).normal(size=(7, 3))
    predict = vmap(forward, backward=False)
    out = predict(x)
    assert "_matmul(" in predict.source
    want = np.array([[v.data for v in forward(list(row))] for row in x])
    np.testing.assert_allclose(out, want, rtol=1e-13, atol=1e-15)
    again = predict(x * 3.0)
    np.testing.assert_allclose(out, want, rtol=1e-13, atol=1e-15)  # not overwritten
    assert not np.allclose(again, out)


# --- BLAS threads ---------------------------------------------------------------------


def test_the_replay_runs_blas_on_the_threads_asked_and_puts_the_setting_back() -> None:
    """The matrix products run on one BLAS thread by default (on a busy machine BLAS's
    threads made the digits step 60x slower), ``blas_threads=None`` leaves the setting
    alone, and the process's setting is back after the call."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not threadpoolctl.threadpool_info():
        pytest.skip("numpy loaded no BLAS threadpoolctl knows")
    seen: list[int] = []

    def blas_threads_now(x: float) -> float:
        seen.append(min(i["num_threads"] for i in threadpoolctl.threadpool_info()))
        return x

    probe = define_op("batch_blas_probe", forward=blas_threads_now, derivative=lambda x, out: 1.0)
    w = Value(0.5)
    x = np.ones((3, 1))
    with threadpoolctl.threadpool_limits(limits=3, user_api="blas"):
        for threads, expected in ((1, 1), (2, 2), (None, 3)):
            g = vmap(lambda s: probe(w * s[0]), blas_threads=threads)
            g(x)  # traces (one eager run, as the caller runs it), then replays
            seen.clear()
            g(x)
            assert seen and set(seen) == {expected}, (threads, seen)
            after = [i["num_threads"] for i in threadpoolctl.threadpool_info()]
            assert set(after) == {3}
    for bad in (0, -1, 1.0, True, "1"):
        with pytest.raises(ValueError, match="blas_threads"):
            vmap(lambda s: w * s[0], blas_threads=bad)  # type: ignore[arg-type]
