"""nn.Module: parameter names, state dicts (validated, all or nothing), atomic JSON files."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal

import pytest

from engine import Value
from nn import MLP, Layer, Module, Neuron


def small_mlp() -> MLP:
    return MLP(2, [3, 2], seed=0)


def snapshot(model: Module) -> list[float]:
    return [p.data for p in model.parameters()]


# --- names -------------------------------------------------------------------------------


def test_named_parameters_use_dotted_paths_in_attribute_order() -> None:
    names = [n for n, _ in MLP(2, [2, 1], seed=0).named_parameters()]
    assert names == [
        "layers.0.neurons.0.w.0",
        "layers.0.neurons.0.w.1",
        "layers.0.neurons.0.b",
        "layers.0.neurons.1.w.0",
        "layers.0.neurons.1.w.1",
        "layers.0.neurons.1.b",
        "layers.1.neurons.0.w.0",
        "layers.1.neurons.0.w.1",
        "layers.1.neurons.0.b",
    ]


def test_names_point_at_the_parameters_they_name() -> None:
    model = MLP(3, [4, 2], seed=1)
    named = dict(model.named_parameters())
    assert named["layers.1.neurons.0.w.3"] is model.layers[1].neurons[0].w[3]
    assert named["layers.0.neurons.2.b"] is model.layers[0].neurons[2].b
    assert model.parameters() == list(named.values())
    assert len(named) == 3 * 4 + 4 + 4 * 2 + 2


def test_no_bias_means_no_b_names() -> None:
    names = [n for n, _ in Layer(2, 2, bias=False, seed=0).named_parameters()]
    assert names == ["neurons.0.w.0", "neurons.0.w.1", "neurons.1.w.0", "neurons.1.w.1"]


def test_prefix_is_prepended() -> None:
    names = [n for n, _ in Neuron(2, seed=0).named_parameters(prefix="head")]
    assert names == ["head.w.0", "head.w.1", "head.b"]


class Custom(Module):
    """A hand-written module: a shared Value, private attributes, dicts, non-parameters."""

    def __init__(self) -> None:
        self.scale = Value(2.0)
        self.blocks = {"first": Neuron(1, seed=0), "second": Neuron(1, seed=1)}
        self.alias = self.scale  # the same Value again: reported once, under 'scale'
        self.name = "custom"  # not a parameter
        self._cache = Value(9.0)  # private: never walked
        self._me = self  # a back-reference kept private: not walked, so no cycle
        self.again = self.blocks["second"]  # a shared module: walked once, first name kept

    def forward(self, x: Value) -> Value:
        return self.blocks["first"]([x]) * self.scale


def test_walk_handles_dicts_shared_values_and_modules_and_private_attributes() -> None:
    m = Custom()
    names = [n for n, _ in m.named_parameters()]
    assert names == [
        "scale",
        "blocks.first.w.0",
        "blocks.first.b",
        "blocks.second.w.0",
        "blocks.second.b",
    ]
    assert m._cache not in m.parameters()
    assert m.parameters() == [p for _, p in m.named_parameters()]


def test_call_runs_forward_and_base_forward_is_abstract() -> None:
    m = Custom()
    out = m(Value(1.0))
    assert out.data == m.blocks["first"]([1.0]).data * 2.0
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        Module()(1.0)


def test_zero_grad_clears_every_parameter() -> None:
    model = small_mlp()
    out = model([Value(1.0), Value(-2.0)])
    (out[0] * out[1] + out[0]).backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


# --- state dicts -------------------------------------------------------------------------


def test_state_dict_round_trip_into_another_model() -> None:
    a, b = MLP(2, [3, 2], seed=0), MLP(2, [3, 2], seed=1)
    assert a.state_dict() != b.state_dict()
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict()
    x = [0.3, -0.7]
    assert [v.data for v in a(x)] == [v.data for v in b(x)]


def test_state_dict_holds_plain_floats() -> None:
    state = small_mlp().state_dict()
    assert all(type(v) is float for v in state.values())


def test_load_state_dict_accepts_ints() -> None:
    model = Neuron(2, seed=0)
    model.load_state_dict({"w.0": 1, "w.1": -2, "b": 3})
    assert snapshot(model) == [1.0, -2.0, 3.0]


BAD_STATES = {
    "missing key": (lambda s: s.pop("layers.1.neurons.0.b"), ValueError, "missing keys"),
    "unexpected key": (lambda s: s.update({"layers.9.w": 1.0}), ValueError, "unexpected keys"),
    "bool value": (lambda s: s.update({"layers.0.neurons.0.w.0": True}), TypeError, "bool"),
    "string value": (lambda s: s.update({"layers.0.neurons.1.b": "0.5"}), TypeError, "str"),
    "None value": (lambda s: s.update({"layers.0.neurons.1.b": None}), TypeError, "NoneType"),
    "list value": (lambda s: s.update({"layers.0.neurons.1.b": [0.5]}), TypeError, "list"),
    "nan": (lambda s: s.update({"layers.1.neurons.1.w.2": math.nan}), ValueError, "finite"),
    "inf": (lambda s: s.update({"layers.0.neurons.2.w.0": -math.inf}), ValueError, "finite"),
    "huge int": (lambda s: s.update({"layers.0.neurons.2.w.0": 10**400}), ValueError, "too large"),
}


@pytest.mark.parametrize("case", sorted(BAD_STATES))
def test_bad_state_raises_and_changes_nothing(case: str) -> None:
    corrupt, error, message = BAD_STATES[case]
    model = small_mlp()
    before = snapshot(model)
    state = MLP(2, [3, 2], seed=5).state_dict()  # valid new values everywhere ...
    corrupt(state)  # ... but one thing wrong, placed after some valid entries
    with pytest.raises(error, match=message):
        model.load_state_dict(state)
    assert snapshot(model) == before


def test_bad_state_error_names_the_parameter() -> None:
    state = small_mlp().state_dict()
    state["layers.1.neurons.1.w.2"] = math.nan
    with pytest.raises(ValueError, match=r"layers\.1\.neurons\.1\.w\.2"):
        small_mlp().load_state_dict(state)


def test_load_state_dict_rejects_non_mappings() -> None:
    with pytest.raises(TypeError, match="mapping"):
        small_mlp().load_state_dict([("layers.0.neurons.0.w.0", 1.0)])  # type: ignore[arg-type]


def test_non_strict_loading_ignores_missing_and_unexpected_keys() -> None:
    model = Neuron(2, seed=0)
    before = snapshot(model)
    model.load_state_dict({"w.1": 5.0, "other": 1.0}, strict=False)
    assert snapshot(model) == [before[0], 5.0, before[2]]


# --- files -------------------------------------------------------------------------------


def test_save_load_round_trip_is_exact(tmp_path) -> None:
    a, b = MLP(2, [4, 3, 1], seed=2), MLP(2, [4, 3, 1], seed=3)
    path = tmp_path / "model.json"
    a.save(path)
    assert b.load(path) is b
    assert b.state_dict() == a.state_dict()  # repr of floats round-trips exactly


def test_saved_file_is_plain_json(tmp_path) -> None:
    path = tmp_path / "model.json"
    Neuron(2, seed=0).save(str(path))
    doc = json.loads(path.read_text())
    assert doc["format"] == "chainrule.state_dict"
    assert doc["version"] == 1
    assert sorted(doc["parameters"]) == ["b", "w.0", "w.1"]


def test_save_replaces_an_existing_file(tmp_path) -> None:
    path = tmp_path / "m.json"
    Neuron(2, seed=0).save(path)
    second = Neuron(2, seed=1)
    second.save(path)
    assert Neuron(2, seed=7).load(path).state_dict() == second.state_dict()
    assert os.listdir(tmp_path) == ["m.json"]


@pytest.mark.parametrize("fail_in", ["os.fsync", "os.replace"])
def test_failed_save_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch, fail_in):
    path = tmp_path / "model.json"
    old = Neuron(2, seed=0)
    old.save(path)
    old_text = path.read_text()

    def boom(*args, **kwargs):
        raise OSError("disk full (simulated)")

    # the whole document is in the temporary file when either fails: it must not appear
    monkeypatch.setattr(os, fail_in.removeprefix("os."), boom)
    with pytest.raises(OSError, match="simulated"):
        Neuron(2, seed=1).save(path)
    assert path.read_text() == old_text
    assert os.listdir(tmp_path) == ["model.json"]


def test_save_refuses_non_finite_parameters_and_writes_nothing(tmp_path) -> None:
    model = Neuron(2, seed=0)
    model.w[1].data = math.nan  # assigned by hand, bypassing Value's checks
    with pytest.raises(ValueError, match=r"'w\.1' must be finite"):
        model.save(tmp_path / "m.json")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "text, message",
    [
        ("not json", "not a JSON file"),
        ("[1, 2]", "not a parameter file"),
        ('{"format": "other", "version": 1, "parameters": {}}', "not a parameter file"),
        ('{"format": "chainrule.state_dict", "version": 99, "parameters": {}}', "version 99"),
        (
            '{"format": "chainrule.state_dict", "version": 1, '
            '"parameters": {"w.0": NaN, "w.1": 1, "b": 0}}',
            "NaN is not a valid parameter value",
        ),
        (
            '{"format": "chainrule.state_dict", "version": 1, '
            '"parameters": {"w.0": 1, "w.1": true, "b": 0}}',
            "bool",
        ),
        ('{"format": "chainrule.state_dict", "version": 1, "parameters": {"w.0": 1}}', "missing"),
    ],
)
def test_load_rejects_bad_files_and_changes_nothing(tmp_path, text, message) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    model = Neuron(2, seed=0)
    before = snapshot(model)
    with pytest.raises((ValueError, TypeError), match=message):
        model.load(path)
    assert snapshot(model) == before


def test_load_of_a_missing_file_raises_file_not_found(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        Neuron(2, seed=0).load(tmp_path / "nope.json")


def test_saved_file_gets_the_usual_permissions(tmp_path) -> None:
    """The temporary file is opened normally (not with mkstemp's 0600), so the umask
    decides the mode, as for any file the user writes."""
    mask = os.umask(0o022)
    os.umask(mask)
    path = tmp_path / "m.json"
    Neuron(2, seed=0).save(path)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


# --- names are unique; cycles are refused (issue 13, items 2 and 11) -------------------


class Holder(Module):
    """A module whose attributes are set from keyword arguments (any structure)."""

    def __init__(self, **attributes: object) -> None:
        for k, v in attributes.items():
            setattr(self, k, v)


@contextlib.contextmanager
def hang_guard(seconds: int = 10):
    """Turn a walk that never ends into a failure instead of a hung test run."""

    def timeout(signum, frame):
        raise TimeoutError(f"still walking after {seconds} s: the walk does not end")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_two_parameters_with_one_name_are_refused_naming_both_routes(tmp_path) -> None:
    """The issue's case: two parameters but one state_dict() entry, silently."""
    v1, v2 = Value(1.0), Value(2.0)
    m = Holder(d={"a.b": v1, "a": {"b": v2}})
    message = r"both named 'd\.a\.b': self\.d\['a\.b'\] and self\.d\['a'\]\['b'\]"
    for call in (lambda: list(m.named_parameters()), m.state_dict):
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(ValueError, match=message):
        m.save(tmp_path / "m.json")
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match=message):
        m.load_state_dict({"d.a.b": 5.0})
    assert (v1.data, v2.data) == (1.0, 2.0)
    assert m.parameters() == [v1, v2]  # parameters() needs no names: both are trained


def test_a_dotted_attribute_name_colliding_with_a_submodule_is_refused() -> None:
    m = Holder(head=Neuron(1, seed=0))
    setattr(m, "head.b", Value(3.0))
    with pytest.raises(ValueError, match=r"both named 'head\.b': self\.head\.b and self\.head\.b"):
        m.state_dict()


def test_the_same_value_under_two_names_is_no_collision() -> None:
    v = Value(1.0)
    m = Holder(a=v, b=[v])
    assert m.state_dict() == {"a": 1.0}


def _list_in_itself() -> Module:
    xs: list[object] = [Value(1.0)]
    xs.append(xs)
    return Holder(items=xs)


def _dict_in_itself() -> Module:
    d: dict[str, object] = {"w": Value(1.0)}
    d["me"] = d
    return Holder(d=d)


def _module_in_itself() -> Module:
    m = Holder(w=Value(1.0))
    m.me = m
    return m


def _two_list_loop() -> Module:
    inner: list[object] = [Value(1.0)]
    inner.append([inner])
    return Holder(outer=[inner])


@pytest.mark.parametrize(
    "make, route",
    [
        (_list_in_itself, r"self\.items\[1\] is self\.items again \(a list"),
        (_dict_in_itself, r"self\.d\['me'\] is self\.d again \(a dict"),
        (_module_in_itself, r"self\.me is self again \(a Holder"),
        (_two_list_loop, r"self\.outer\[0\]\[1\]\[0\] is self\.outer\[0\] again"),
    ],
    ids=["list-in-itself", "dict-in-itself", "module-in-itself", "two-list-loop"],
)
def test_a_cycle_raises_instead_of_hanging(make, route) -> None:
    m = make()
    calls = {
        "named_parameters": lambda: list(m.named_parameters()),
        "parameters": m.parameters,
        "state_dict": m.state_dict,
        "zero_grad": m.zero_grad,
    }
    for name, call in calls.items():
        with hang_guard(), pytest.raises(ValueError, match=f"contains a cycle: {route}") as e:
            call()
        assert "'_'" in str(e.value), name  # says how to keep a back-reference


def test_a_shared_list_is_no_cycle() -> None:
    shared = [Value(1.0), Value(2.0)]
    m = Holder(a=shared, b=[shared, shared], c=Neuron(1, seed=0))
    m.d = m.c  # the same module under a second name
    assert [n for n, _ in m.named_parameters()] == ["a.0", "a.1", "c.w.0", "c.b"]
    assert m.parameters() == [p for _, p in m.named_parameters()]


def test_int_dict_keys_name_parameters_other_keys_and_sets_are_refused() -> None:
    v, w = Value(1.0), Value(2.0)
    assert Holder(d={0: v, "x": w}).state_dict() == {"d.0": 1.0, "d.x": 2.0}
    assert Holder(d={(1, 2): "a label"}).state_dict() == {}  # no parameter there: fine
    with pytest.raises(TypeError, match=r"self\.d\[\(1, 2\)\] holds parameters under a tuple"):
        Holder(d={(1, 2): v}).parameters()
    with pytest.raises(TypeError, match=r"self\.s is a set holding parameters"):
        Holder(s={v}).state_dict()
    with pytest.raises(ValueError, match=r"both named 'd\.0'"):
        Holder(d={0: v, "0": w}).state_dict()


def test_parameters_and_named_parameters_agree_in_order() -> None:
    a, b, c = Value(1.0), Value(2.0), Value(3.0)
    m = Holder(first=[a, (b, {"k": Neuron(2, seed=0)})], second={"z": c, "y": a}, n=7, s="x")
    named = list(m.named_parameters())
    assert m.parameters() == [p for _, p in named]
    assert [n for n, _ in named][:3] == ["first.0", "first.1.0", "first.1.1.k.w.0"]


def test_the_walk_is_iterative() -> None:
    nested: list[object] = [Value(1.0)]
    for _ in range(20_000):  # far beyond the recursion limit
        nested = [nested]
    m = Holder(deep=nested)
    assert len(m.parameters()) == 1
    (name,) = m.state_dict()
    assert name == "deep" + ".0" * 20_001


# --- loading hostile files (issue 13, items 10 and 13) ----------------------------------


def _state_file(parameters: str, version: str = "1") -> str:
    return f'{{"format": "chainrule.state_dict", "version": {version}, "parameters": {parameters}}}'


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"parameters": ' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
        ("\N{GREEK SMALL LETTER ALPHA}".encode("utf-16"), "not UTF-8 text"),
        (_state_file('{"w.0": 1, "w.1": 2, "b": 0}').encode("latin-1") + b"\xff", "not UTF-8"),
        (_state_file('{"w.0": ' + "9" * 5000 + ', "w.1": 2, "b": 0}').encode(), "5000 digits"),
        (_state_file('{"w.0": 1, "w.1": 2, "b": 0}', version="true").encode(), "version True"),
        (_state_file('{"w.0": 1, "w.1": 2, "b": 0}', version="1.0").encode(), "version 1.0"),
        (_state_file('{"w.0": 1, "w.0": 5, "w.1": 2, "b": 0}').encode(), "'w.0' appears more"),
        (_state_file('{"w.0": 1e999, "w.1": 2, "b": 0}').encode(), "must be finite"),
        (_state_file('{"w.0": true, "w.1": 2, "b": 0}').encode(), "not bool"),
    ],
    ids=[
        "deep-list",
        "deep-object",
        "utf-16",
        "latin-1-byte",
        "5000-digit-number",
        "version-true",
        "version-float",
        "duplicate-key",
        "overflowing-float",
        "bool-value",
    ],
)
def test_a_hostile_file_gives_an_error_naming_it_and_changes_nothing(tmp_path, raw, message):
    path = tmp_path / "hostile.json"
    path.write_bytes(raw)
    model = Neuron(2, seed=0)
    before = snapshot(model)
    with pytest.raises((ValueError, TypeError)) as info:
        model.load(path)
    assert str(info.value).startswith(str(path)), info.value
    assert message in str(info.value)
    assert snapshot(model) == before


# --- the cached parameter list (zero_grad runs every step) ------------------------------


def _fresh(model: Module) -> list[Value]:
    """The walk's answer now, without the cache."""
    return [p for _, p in model.named_parameters()]


def _dirty(model: Module) -> None:
    for p in _fresh(model):
        p.grad = 1.0


STRUCTURE_CHANGES = {
    "append a layer": lambda m: m.layers.append(Layer(2, 2, seed=3)),
    "replace a weight": lambda m: m.layers[0].neurons[0].w.__setitem__(0, Value(5.0)),
    "delete a neuron": lambda m: m.layers[0].neurons.pop(),
    "new attribute": lambda m: setattr(m, "extra", Value(1.0)),
    "delete a bias": lambda m: setattr(m.layers[1].neurons[0], "b", None),
    "attribute via __dict__": lambda m: vars(m).__setitem__("extra", [Value(1.0)]),
    "private made public": lambda m: (
        setattr(m, "_hidden", Value(4.0)),
        m.parameters(),
        vars(m).__setitem__("shown", vars(m).pop("_hidden")),
    ),
}


@pytest.mark.parametrize("change", sorted(STRUCTURE_CHANGES))
def test_a_structure_change_is_seen_by_parameters_and_zero_grad(change: str) -> None:
    model = MLP(2, [2, 2], seed=0)
    model.zero_grad()  # the cache is filled
    STRUCTURE_CHANGES[change](model)
    _dirty(model)
    model.zero_grad()
    assert model.parameters() == _fresh(model)
    assert all(p.grad == 0.0 for p in _fresh(model))


def test_a_list_replaced_by_an_equal_copy_is_watched_afresh() -> None:
    """Compared by identity: the copy equals the old list, but later appends to it count."""
    model = MLP(2, [2, 1], seed=0)
    model.parameters()
    neuron = model.layers[0].neurons[0]
    neuron.w = list(neuron.w)
    assert model.parameters() == _fresh(model)
    neuron.w.append(Value(7.0))
    assert model.parameters() == _fresh(model) and neuron.w[-1] in model.parameters()


def test_the_walk_runs_once_while_nothing_changes(monkeypatch) -> None:
    import nn.module

    model = MLP(2, [4, 1], seed=0)
    walks = []
    real = nn.module._parameter_list
    monkeypatch.setattr(nn.module, "_parameter_list", lambda *a: walks.append(1) or real(*a))
    for _ in range(5):
        model.zero_grad()
        model.parameters()
    assert len(walks) == 1
    model.layers[0].neurons[0].w[0] = Value(1.0)
    model.zero_grad()
    assert len(walks) == 2


def test_copies_and_pickles_have_their_own_parameters() -> None:
    import copy
    import pickle

    model = MLP(2, [2, 1], seed=0)
    model.zero_grad()
    shallow = copy.copy(model)  # shares the layers list and the cache object
    shallow.layers = [Layer(2, 1, seed=9)]
    assert shallow.parameters() == _fresh(shallow) and model.parameters() == _fresh(model)
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        params = twin.parameters()
        assert params == _fresh(twin)
        assert not set(map(id, params)) & set(map(id, model.parameters()))
        assert [p.data for p in params] == [p.data for p in model.parameters()]


def test_zero_grad_follows_a_subclass_that_chooses_its_parameters() -> None:
    class Frozen(MLP):
        def parameters(self) -> list[Value]:
            return super().parameters()[:2]

    model = Frozen(2, [2, 1], seed=0)
    _dirty(model)
    model.zero_grad()
    grads = [p.grad for p in _fresh(model)]
    assert grads[:2] == [0.0, 0.0] and all(g == 1.0 for g in grads[2:])


def test_zero_grad_takes_any_iterable_a_subclass_returns_as_parameters() -> None:
    class Lazy(MLP):
        def parameters(self):  # type: ignore[no-untyped-def, override]
            return (p for p in super().parameters()[:2])  # a generator

    model = Lazy(2, [2, 1], seed=0)
    _dirty(model)
    model.zero_grad()
    grads = [p.grad for p in _fresh(model)]
    assert grads[:2] == [0.0, 0.0] and all(g == 1.0 for g in grads[2:])


def test_a_module_equal_to_the_one_it_replaces_still_counts_as_new() -> None:
    """The cache compares with ``is``: a class whose ``==`` says True is not trusted."""

    class Block(Module):
        def __init__(self, v: Value) -> None:
            self.v = v

        def __eq__(self, other: object) -> bool:  # e.g. a dataclass comparing fields
            return isinstance(other, Block)

        __hash__ = None  # type: ignore[assignment]

    old, new = Value(1.0), Value(2.0)
    model = Holder(block=Block(old))
    assert model.parameters() == [old]
    model.block = Block(new)
    assert model.parameters() == [new]


def test_a_value_moved_across_a_list_boundary_changes_the_order() -> None:
    """The same objects in the same flat order, in lists of other lengths: walk again."""
    a, b, c = Value(1.0), Value(2.0), Value(3.0)
    inner = [c]
    outer = [a, inner, b]
    model = Holder(outer=outer)
    assert model.parameters() == [a, c, b]
    outer.pop()
    inner.insert(0, b)
    assert model.parameters() == [a, b, c] == _fresh(model)
