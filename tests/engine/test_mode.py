"""engine.mode: no_grad, enable_grad, is_grad_enabled (a switch per thread)."""

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


def test_grad_mode_is_per_thread() -> None:
    # As in PyTorch: no_grad() in one thread leaves the others recording.
    seen = []

    def worker() -> None:
        seen.append((is_grad_enabled(), (Value(1.0) * 2).is_leaf))

    with no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert not is_grad_enabled()
        assert (Value(1.0) * 2).is_leaf
    assert seen == [(True, False)]


def test_overlapping_no_grad_blocks_in_two_threads_restore_everything() -> None:
    # Thread A enters no_grad, then B enters, then A leaves, then B leaves: with one
    # process-wide switch B recorded nothing and the process was left with grad off.
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def a() -> None:
        with no_grad():
            a_in.set()
            b_in.wait(5)
            seen["a inside"] = (is_grad_enabled(), (Value(1.0) * 2).is_leaf)
        a_out.set()
        seen["a after"] = is_grad_enabled()

    def b() -> None:
        a_in.wait(5)
        seen["b before"] = (is_grad_enabled(), (Value(1.0) * 2).is_leaf)
        with no_grad():
            b_in.set()
            a_out.wait(5)
            seen["b inside"] = (is_grad_enabled(), (Value(1.0) + 2).is_leaf, (-Value(1.0)).is_leaf)
        seen["b after"] = (is_grad_enabled(), (Value(1.0) * 2).is_leaf)

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {
        "a inside": (False, True),
        "b before": (True, False),
        "b inside": (False, True, True),
        "a after": True,
        "b after": (True, False),
    }
    assert is_grad_enabled()
    x = Value(3.0)
    y = x * x
    y.backward()
    assert x.grad == 6.0


def test_many_threads_toggling_leave_grad_mode_on() -> None:
    errors = []

    def worker(k: int) -> None:
        for i in range(300):
            with no_grad():
                if (Value(1.0) * 2).is_leaf is not True or is_grad_enabled():
                    errors.append(("no_grad", k, i))
                if i % 3 == 0:
                    with enable_grad():
                        if not is_grad_enabled() or (Value(1.0) * 2).is_leaf:
                            errors.append(("enable_grad", k, i))
            if not is_grad_enabled() or (Value(1.0) * 2).is_leaf:
                errors.append(("after", k, i))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert is_grad_enabled()
    assert not (Value(1.0) * 2).is_leaf


def test_enable_grad_in_another_thread_does_not_turn_this_one_on() -> None:
    done = threading.Event()

    def worker() -> None:
        with enable_grad():
            done.set()

    with no_grad():
        t = threading.Thread(target=worker)
        t.start()
        done.wait(5)
        t.join()
        assert not is_grad_enabled()
        assert (Value(2.0) * 3).is_leaf
    assert is_grad_enabled()


def test_grad_mode_is_switched_through_functions() -> None:
    # engine.mode never writes engine.value's globals: it calls set_grad_enabled()
    import inspect

    from engine import mode, value

    source = inspect.getsource(mode)
    assert "_value._recording" not in source and "_value._trace_hook" not in source
    assert value.set_grad_enabled(False) is True
    try:
        assert not is_grad_enabled() and (Value(1.0) * 2).is_leaf
    finally:
        assert value.set_grad_enabled(True) is False
    with pytest.raises(TypeError, match="True or False"):
        value.set_grad_enabled(1)  # type: ignore[arg-type]


def test_detach_under_either_mode() -> None:
    x = Value(2.0, label="x")
    d = (x * 3).detach()
    assert d.is_leaf and d.data == 6.0
    with no_grad():
        assert x.detach().is_leaf
