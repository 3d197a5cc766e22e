"""nn.Module: parameter names, state dicts (validated, all or nothing), atomic JSON files."""

from __future__ import annotations

import json
import math
import os

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
        self.me = self  # a cycle must not loop forever

    def forward(self, x: Value) -> Value:
        return self.blocks["first"]([x]) * self.scale


def test_walk_handles_dicts_shared_values_private_attributes_and_cycles() -> None:
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


@pytest.mark.parametrize("fail_in", ["json.dump", "os.replace"])
def test_failed_save_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch, fail_in):
    path = tmp_path / "model.json"
    old = Neuron(2, seed=0)
    old.save(path)
    old_text = path.read_text()

    def boom(*args, **kwargs):
        raise OSError("disk full (simulated)")

    if fail_in == "json.dump":
        # Write part of the document first, then fail: a half file must never appear.
        def partial_dump(obj, f, **kwargs):
            f.write('{"format": "chainrule.state_dict", "parame')
            boom()

        monkeypatch.setattr(json, "dump", partial_dump)
    else:
        monkeypatch.setattr(os, "replace", boom)
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
