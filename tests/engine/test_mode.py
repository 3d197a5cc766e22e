"""engine.mode: no_grad, enable_grad, is_grad_enabled (a process-wide switch)."""

from __future__ import annotations

import threading

import pytest

from engine import Value, enable_grad, is_grad_enabled, no_grad


def test_recording_is_on_by_default() -> None:
    assert is_grad_enabled()
    y = Value(2.0) * 3
    assert not y.is_leaf


def test_results_under_no_grad_are_leaves_with_the_right_data() -> None:
    x = Value(2.0)
    with no_grad():
        assert not is_grad_enabled()
        results = [
            x + 1,
            x * 3,
            -x,
            x - 1,
            x / 4,
            x**2,
            x ** Value(2.0),
            abs(x),
            x.exp(),
            x.log(),
            x.sqrt(),
            x.tanh(),
            x.sigmoid(),
            x.relu(),
            x.leaky_relu(0.1),
            x.softplus(),
            x.sin(),
            x.cos(),
            x.identity(),
        ]
    for y in results:
        assert y.is_leaf
        assert y.op == ""
        assert y.parents == ()
        assert y.local_grads == ()
        assert y.param is None
    assert [y.data for y in results[:6]] == [3.0, 6.0, -2.0, 1.0, 0.5, 4.0]
    # Backward from such a result stops there: nothing reaches x.
    results[1].backward()
    assert x.grad == 0.0 and results[1].grad == 1.0


def test_values_made_under_no_grad_are_constants_later() -> None:
    x = Value(3.0)
    with no_grad():
        c = x * x
    y = c * x
    y.backward()
    assert x.grad == 9.0  # c is a constant 9: dy/dx = c


def test_nested_and_restored() -> None:
    with no_grad():
        with no_grad():
            assert not is_grad_enabled()
        assert not is_grad_enabled()
        with enable_grad():
            assert is_grad_enabled()
            y = Value(1.0) * 2
            assert not y.is_leaf
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_restored_after_an_exception() -> None:
    with pytest.raises(ValueError), no_grad():
        Value(-1.0).log()
    assert is_grad_enabled()
    with no_grad():
        with pytest.raises(ZeroDivisionError), enable_grad():
            Value(1.0) / 0
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_decorator_use() -> None:
    @no_grad()
    def evaluate(x: Value) -> Value:
        assert not is_grad_enabled()
        return x * x

    @enable_grad()
    def train(x: Value) -> Value:
        assert is_grad_enabled()
        return x * x

    assert evaluate(Value(2.0)).is_leaf
    assert is_grad_enabled()
    with no_grad():
        assert not train(Value(2.0)).is_leaf
        assert not is_grad_enabled()


def test_grad_mode_is_process_wide() -> None:
    # Decided: one switch for the whole process (not per thread), as documented.
    seen = []

    def worker() -> None:
        seen.append((is_grad_enabled(), (Value(1.0) * 2).is_leaf))

    with no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert seen == [(False, True)]


def test_detach_under_either_mode() -> None:
    x = Value(2.0, label="x")
    d = (x * 3).detach()
    assert d.is_leaf and d.data == 6.0
    with no_grad():
        assert x.detach().is_leaf
