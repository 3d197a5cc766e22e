"""The ``chainrule`` command, run in-process through ``main(argv)`` (and once as a process)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import Value, numerical_grad
from tests.viz.helpers import fake_dot
from viz.cli import EXAMPLES, main, parse_assignments

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _hide_dot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


# --- graph -------------------------------------------------------------------------------


def test_graph_prints_gradients_and_writes_dot(tmp_path: Path, capsys) -> None:
    path = tmp_path / "g.dot"
    code, out, err = run(capsys, "graph", "tanh(x*w + b)", "x=2", "w=-3", "b=6.88", "-o", str(path))
    assert (code, err) == (0, "")
    x, w, b = Value(2.0, label="x"), Value(-3.0, label="w"), Value(6.88, label="b")
    y = (x * w + b).tanh()
    y.backward()
    lines = out.splitlines()
    assert lines[0] == f"tanh(x*w + b) = {y.data:.10g}   at x=2, w=-3, b=6.88"
    assert lines[1:4] == [f"  d/d{v.label} = {v.grad:.10g}" for v in (x, w, b)]
    assert lines[4] == f"wrote {path}"
    dot = path.read_text(encoding="utf-8")
    assert dot.startswith("digraph {") and "<B>x</B>" in dot and "<B>w</B>" in dot
    assert "tanh(x*w + b)" in dot  # the title


def test_graph_options(tmp_path: Path, capsys) -> None:
    path = tmp_path / "g.dot"
    code, _, _ = run(
        capsys,
        "graph",
        "x**2",
        "x=3",
        "-o",
        str(path),
        "--rankdir",
        "TB",
        "--edge-grads",
        "--digits",
        "2",
    )
    assert code == 0
    dot = path.read_text(encoding="utf-8")
    assert 'rankdir="TB"' in dot and "∂ 6" in dot and "**2" in dot


@pytest.mark.needs_dot
@pytest.mark.parametrize(
    ("fmt", "magic"), [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF")]
)
def test_graph_renders(tmp_path: Path, capsys, fmt: str, magic: bytes) -> None:
    path = tmp_path / f"graph.{fmt}"
    code, out, _ = run(capsys, "graph", "log(x) * y**2", "x=3", "y=0.5", "-o", str(path))
    assert code == 0 and out.endswith(f"wrote {path}\n")
    assert path.read_bytes().startswith(magic)
    other = tmp_path / "picture"
    assert run(capsys, "graph", "x*y", "x=1", "y=2", "-o", str(other), "--format", fmt)[0] == 0
    assert other.read_bytes().startswith(magic)


@pytest.mark.needs_dot
def test_graph_default_output_is_graph_svg(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "graph", "x + 1", "x=1")[0] == 0
    assert (tmp_path / "graph.svg").read_bytes().startswith(b"<?xml")
    assert run(capsys, "graph", "x + 1", "x=1", "--format", "dot")[0] == 0
    assert (tmp_path / "graph.dot").exists()


def test_graph_without_graphviz_writes_the_dot_text(tmp_path: Path, capsys, monkeypatch) -> None:
    _hide_dot(monkeypatch, tmp_path)
    path = tmp_path / "graph.svg"
    code, out, err = run(capsys, "graph", "x*y", "x=1", "y=2", "-o", str(path))
    assert code == 1
    assert not path.exists()
    assert (tmp_path / "graph.dot").read_text(encoding="utf-8").startswith("digraph {")
    assert "d/dx = 2" in out
    assert "apt-get install graphviz" in err and f"dot -Tsvg {tmp_path / 'graph.dot'}" in err
    assert len(err.strip().splitlines()) == 1


# --- check -------------------------------------------------------------------------------


def test_check_agrees(capsys) -> None:
    code, out, err = run(capsys, "check", "sin(x) * y", "x=1", "y=2")
    assert (code, err) == (0, "")
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("d/d")}
    assert float(rows["d/dx"][1]) == pytest.approx(2 * math.cos(1.0), rel=1e-9)
    assert float(rows["d/dy"][1]) == pytest.approx(math.sin(1.0), rel=1e-9)
    (numeric,) = numerical_grad(lambda v: v.sin() * 2.0, 1.0)
    assert float(rows["d/dx"][2]) == pytest.approx(numeric, rel=1e-9)
    assert rows["d/dx"][-1] == rows["d/dy"][-1] == "ok"
    assert "all 2 derivatives agree" in out


def test_check_disagrees_at_a_kink(capsys) -> None:
    code, out, _ = run(capsys, "check", "relu(x)", "x=0")
    assert code == 1
    row = next(line.split() for line in out.splitlines() if line.startswith("d/dx"))
    assert row[1:3] == ["0", "0.5"] and row[-1] == "MISMATCH"
    assert "1 of 1 derivatives disagree" in out


def test_check_tolerances_are_options(capsys) -> None:
    assert run(capsys, "check", "relu(x)", "x=0", "--atol", "0.6")[0] == 0
    assert run(capsys, "check", "x**3", "x=2", "--eps", "0.1", "--rtol", "0", "--atol", "0")[0] == 1


def test_check_cannot_step_outside_the_domain(capsys) -> None:
    code, out, err = run(capsys, "check", "log(x)", "x=1e-7")
    assert code == 2 and out == ""
    assert "central differences in x at x=1e-07" in err and "log(" in err


# --- explain -----------------------------------------------------------------------------


def test_explain_examples_are_the_worked_examples() -> None:
    from nn import WORKED_EXAMPLES

    assert tuple(WORKED_EXAMPLES) == EXAMPLES


@pytest.mark.parametrize(
    ("example", "figures"),
    [
        ("backprop-by-hand", ["0.491178", "0.710949", "0.501753", "0.689647", "-0.508822"]),
        ("two-two-two", ["0.59327", "0.751365", "0.298371", "0.358916"]),
    ],
)
def test_explain_text(capsys, example: str, figures: list[str]) -> None:
    code, out, err = run(capsys, "explain", "--example", example)
    assert (code, err) == (0, "")
    for figure in figures:
        assert figure in out
    assert "Forward pass" in out and "Backward pass" in out


def test_explain_defaults_to_backprop_by_hand_and_speaks_markdown(capsys) -> None:
    code, out, _ = run(capsys, "explain", "--format", "markdown")
    assert code == 0
    assert out.startswith("# Backprop by hand")
    assert "$$" in out and "|---:|" in out and "0.710949" in out


# --- check and explain on a network ------------------------------------------------------


@pytest.fixture
def saved_model(tmp_path: Path) -> tuple[Path, object]:
    from nn import MLP

    model = MLP(2, [3, 1], activation="tanh", output_activation="sigmoid", seed=3)
    path = tmp_path / "model.json"
    model.save(path)
    return path, model


def _rows(out: str) -> dict[str, list[str]]:
    return {
        line.split()[0]: line.split() for line in out.splitlines() if line.startswith("layers.")
    }


def test_check_every_parameter_of_a_worked_example(capsys) -> None:
    from nn import WORKED_EXAMPLES

    code, out, err = run(capsys, "check", "--example", "backprop-by-hand")
    assert (code, err) == (0, "")
    model = WORKED_EXAMPLES["backprop-by-hand"].model()
    rows = _rows(out)
    assert list(rows) == [name for name, _ in model.named_parameters()]
    assert all(r[-1] == "ok" for r in rows.values())
    assert "all 9 parameters agree" in out


def test_check_a_saved_model(capsys, saved_model) -> None:
    from nn import binary_cross_entropy

    path, model = saved_model
    options = "--input 0.5,-1 --target 1 --loss binary_cross_entropy --activation tanh"
    argv = ["check", "--model", str(path), *options.split(), "--output-activation", "sigmoid"]
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    J = binary_cross_entropy(model([0.5, -1.0]), 1)
    J.backward()
    rows = _rows(out)
    assert len(rows) == 13
    for name, p in model.named_parameters():
        assert float(rows[name][2]) == pytest.approx(p.grad, rel=1e-9, abs=1e-12)
    assert f"loss J = {J.data:.10g}" in out


def test_check_a_saved_model_at_a_relu_kink_disagrees(capsys, tmp_path: Path) -> None:
    from nn import MLP

    path = tmp_path / "kink.json"
    MLP.from_weights(
        [[[0.0, 0.0]], [[1.0]]], [[0.0], [0.0]], activation="relu", output_activation="linear"
    ).save(path)
    code, out, _ = run(capsys, "check", "--model", str(path), "--input", "1,1", "--target", "1")
    assert code == 1
    assert _rows(out)["layers.0.neurons.0.w.0"][-1] == "MISMATCH"
    assert "worst: layers.0.neurons.0." in out


def test_explain_digits_and_one_step(capsys) -> None:
    code, out, _ = run(capsys, "explain", "--step", "backward", "--digits", "3")
    assert code == 0
    assert "2. Backward pass" in out and "1. Forward pass" not in out and "3. Update" not in out
    assert "-2.04" in out and "-2.0359" not in out  # ∂J/∂a² to 3 digits
    assert out.startswith("Backprop by hand")
    code, md, _ = run(capsys, "explain", "--format", "markdown", "--step", "update")
    assert code == 0 and "### 3. Update" in md and "### 2." not in md


def test_explain_pauses_between_steps(capsys, monkeypatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("\n\n\n"))
    code, out, _ = run(capsys, "explain", "--pause")
    assert code == 0
    for i, part in enumerate(["backward", "update", "after"], start=2):
        assert f"[Enter: step {i} of 4, {part}]" in out
    positions = [out.index(h) for h in ("1. Forward", "2. Backward", "3. Update", "4. Forward")]
    assert positions == sorted(positions)
    assert out.count("One training step of an MLP") == 1  # the heading once
    assert sys.stdin.read() == ""  # one Enter per pause


def test_explain_a_saved_model_on_a_batch(capsys, saved_model, tmp_path: Path) -> None:
    from nn import MLP, walk_through_step

    path, _ = saved_model
    view = tmp_path / "layers.dot"
    options = (
        "--activation tanh --output-activation sigmoid --input 0,1 --target 1 --input 1,1 "
        "--target 0 --input 0.5,-1 --target 1 --input=-1,0 --target 0 "
        "--convention per-example --lr 0.5"
    )
    argv = ["explain", "--model", str(path), *options.split(), "--layer-view", str(view)]
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, f"wrote {view}\n")
    expected = walk_through_step(
        MLP(2, [3, 1], activation="tanh", output_activation="sigmoid", seed=3),
        [[0.0, 1.0], [1.0, 1.0], [0.5, -1.0], [-1.0, 0.0]],
        [1.0, 0.0, 1.0, 0.0],
        lr=0.5,
        convention="per-example",
    )
    assert out.endswith(expected.to_text())
    assert "Per-example convention" in out and "n = 4" in out
    assert view.read_text(encoding="utf-8").startswith("digraph layers {")


def test_explain_steps_are_the_walkthroughs_parts() -> None:
    from nn.walkthrough_format import PARTS
    from viz.cli import STEPS

    assert STEPS == PARTS


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ("check", "give an expression to check"),
        ("check x x=1 --example two-two-two", "not both"),
        ("check --model nope.json --input 1 --target 1", "no such file"),
        ("check --example two-two-two --input 1,2", "go with --model"),
        ("check --model m.json", "needs --input"),
        ("check --model m.json --input 1,2 --input 1,2 --target 1", "one --target per --input"),
        ("check --model m.json --input 1,x --target 1", "--input must be"),
        ("check --model m.json --input 1,2,3 --target 1", "takes 2 inputs"),
        ("check --model m.json --input 1,2 --target 1 --loss l1", "--loss must be one of"),
        ("check --model m.json --input 1,2 --target 1 --activation elu", "--activation must be"),
        ("check --model bad.json --input 1,2 --target 1", "not an MLP's"),
        ("explain --digits 0", "--digits must be between 1 and 17"),
        ("explain --step loss", "invalid choice"),
        ("explain --example two-two-two --model m.json --input 1,2 --target 1", "not both"),
        ("explain --model m.json --input 1,2 --target sum", "--target must be"),
        ("explain --lr -1", "--lr must be"),
    ],
)
def test_bad_network_usage(capsys, tmp_path: Path, monkeypatch, argv: str, message: str) -> None:
    from nn import MLP

    monkeypatch.chdir(tmp_path)
    MLP(2, [1], seed=0).save(tmp_path / "m.json")
    (tmp_path / "bad.json").write_text(
        '{"format": "chainrule.state_dict", "version": 1, "parameters": {"w": 1.0}}',
        encoding="utf-8",
    )
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run(capsys, *argv.split())
    assert code == 2, err
    assert message in err and "Traceback" not in err and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# --- demo --------------------------------------------------------------------------------


@pytest.fixture
def fast_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    import viz.demo

    monkeypatch.setattr(viz.demo, "RESOLUTION", 8)  # a coarse decision-boundary grid


def test_demo_writes_plots_and_the_neuron_graph(tmp_path: Path, capsys, fast_demo) -> None:
    pytest.importorskip("matplotlib")
    out_dir = tmp_path / "out"
    code, out, _err = run(capsys, "demo", "--steps", "3", "--seed", "1", "--out", str(out_dir))
    assert code == 0
    assert "Training MLP(2, [16, 16, 1])" in out and "accuracy" in out
    table = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in table] == ["1", "2", "3"]
    assert (out_dir / "decision_boundary.png").read_bytes().startswith(b"\x89PNG")
    assert (out_dir / "training_curves.png").read_bytes().startswith(b"\x89PNG")
    graph = out_dir / ("neuron.svg" if (out_dir / "neuron.svg").exists() else "neuron.dot")
    assert graph.exists()
    if graph.suffix == ".svg":
        svg = graph.read_text(encoding="utf-8")
        assert "layers.0.neurons.0" in svg and ">w.0<" in svg and ">x0<" in svg


def test_demo_is_reproducible(tmp_path: Path, capsys, fast_demo, monkeypatch) -> None:
    _hide_dot(monkeypatch, tmp_path)
    first = run(capsys, "demo", "--steps", "2", "--out", str(tmp_path / "a"))
    second = run(capsys, "demo", "--steps", "2", "--out", str(tmp_path / "b"))
    a, b = str(tmp_path / "a"), str(tmp_path / "b")

    def steady(text: str) -> list[str]:  # all but the wall-clock time
        return [line for line in text.splitlines() if not line.startswith("trained in")]

    assert steady(first[1].replace(a, "D")) == steady(second[1].replace(b, "D"))
    assert Path(a, "neuron.dot").read_text() == Path(b, "neuron.dot").read_text()


def test_demo_without_graphviz_writes_dot_and_says_how(
    tmp_path: Path, capsys, fast_demo, monkeypatch
) -> None:
    _hide_dot(monkeypatch, tmp_path)
    out_dir = tmp_path / "out"
    code, out, _ = run(capsys, "demo", "--steps", "1", "--out", str(out_dir))
    assert code == 0
    assert not (out_dir / "neuron.svg").exists()
    assert (out_dir / "neuron.dot").read_text(encoding="utf-8").startswith("digraph {")
    assert "apt-get install graphviz" in out and f"dot -Tsvg {out_dir / 'neuron.dot'}" in out


# --- bad usage: status 2, one line, never a traceback -------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "choose a command"),
        (["frobnicate"], "invalid choice"),
        (["graph"], "required: EXPR"),
        (["graph", "x*y", "x=1"], "unknown name 'y'"),
        (["graph", "x*y", "x=1", "y"], "expected NAME=VALUE, got 'y'"),
        (["graph", "x", "x=abc"], "must be a number, got 'abc'"),
        (["graph", "x", "x=nan"], "finite"),
        (["graph", "x", "x=inf"], "finite"),
        (["graph", "x", "x=1", "x=2"], "given twice"),
        (["graph", "x", "x=1", "y=2"], "'y' not used"),
        (["graph", "x", "1x=2"], "not a valid variable name"),
        (["graph", "exp(x)", "x=1", "exp=2"], "is a function name"),
        (["graph", "2 + 3"], "no variables"),
        (["graph", "log(x)", "x=0"], "log(0.0) is undefined"),
        (["graph", "1/x", "x=0"], "division by zero"),
        (["graph", "sqrt(x)", "x=0"], "derivative is infinite"),
        (["graph", "x", "x=1", "--format", "gif"], "invalid choice"),
        (["graph", "x", "x=1", "-o", "g.gif"], "cannot tell the format"),
        (["graph", "x", "x=1", "-o", "/no/such/dir/g.svg"], "does not exist"),
        (["graph", "x", "x=1", "--digits", "0"], "--digits"),
        (["graph", "x", "x=1", "--bogus"], "unrecognized arguments"),
        (["check", "x", "x=1", "--eps", "2"], "--eps"),
        (["check", "x", "x=1", "--atol", "-1"], "--atol"),
        (["check", "x", "x=1", "--rtol", "nan"], "--rtol"),
        (["check", "x", "x=1", "--eps", "tiny"], "invalid float value"),
        (["demo", "--steps", "0"], "--steps must be at least 1"),
        (["demo", "--steps", "many"], "invalid int value"),
        (["explain", "--example", "xor"], "invalid choice"),
        (["explain", "--format", "html"], "invalid choice"),
    ],
)
def test_bad_usage(capsys, tmp_path: Path, monkeypatch, argv: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and out == ""
    first = err.splitlines()[0]
    assert first.startswith("chainrule") and ": error: " in first and message in first
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_demo_out_must_be_a_directory(tmp_path: Path, capsys) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    code, _, err = run(capsys, "demo", "--out", str(f))
    assert code == 2 and "is a file" in err


@pytest.mark.parametrize(
    ("expr", "column"),
    [
        ("__import__('os').system('ls')", 17),
        ("x.__class__", 2),
        ("(lambda: x)()", 2),
        ("[x for x in 'ab']", 1),
        ("x[0]", 1),
        ("exp(x=1)", 5),
        ("open('x')", 1),
        ("x ** 99999", 6),
    ],
)
def test_injection_attempts_are_refused_with_a_caret(
    capsys, tmp_path, monkeypatch, expr: str, column: int
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "graph", expr, "x=1")
    assert code == 2 and out == ""
    first, shown, caret = err.splitlines()
    assert f"(column {column})" in first
    assert shown == "  " + expr
    assert caret.index("^") == 2 + column - 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["demo", "graph", "check", "explain"])
def test_every_subcommand_has_help_with_an_example(capsys, command: str) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert f"usage: chainrule {command}" in out
    assert "example:" in out and f"chainrule {command}" in out.split("example:")[1]


def test_top_level_help(capsys) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("demo", "graph", "check", "explain"):
        assert command in out


def test_parse_assignments() -> None:
    assert parse_assignments(["x=2", "w = -3", "b=6.88e0"]) == {"x": 2.0, "w": -3.0, "b": 6.88}
    assert parse_assignments([]) == {}


def test_runs_as_a_program() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "viz.cli", "check", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: chainrule check")
    bad = subprocess.run(
        [sys.executable, "-m", "viz.cli", "graph", "__import__('os')"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("chainrule graph: error: unknown function '__import__'")


def test_demo_compiles_when_it_pays_off_and_eager_opts_out(
    tmp_path: Path, capsys, fast_demo, monkeypatch
) -> None:
    _hide_dot(monkeypatch, tmp_path)
    _, compiled, _ = run(capsys, "demo", "--steps", "20", "--out", str(tmp_path / "c"))
    _, eager, _ = run(capsys, "demo", "--steps", "20", "--eager", "--out", str(tmp_path / "e"))
    assert "(compiled once, then replayed)" in compiled and "(eager)" in eager
    # the same training either way: identical loss/accuracy table
    table = [line for line in compiled.splitlines() if line.strip()[:1].isdigit()]
    assert table and table == [line for line in eager.splitlines() if line.strip()[:1].isdigit()]


# --- issue 13: one line, exit 2, never a traceback ------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "1e308/sin(x)", "x=0.65"],
        ["graph", "1e300*log(x)", "x=1e-10", "--format", "dot"],
    ],
)
def test_a_finite_value_whose_gradient_overflows_is_one_line(
    capsys, tmp_path: Path, monkeypatch, argv: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert "Traceback" not in err
    # one error line; an error the expression's evaluation raised (division's local
    # derivative -x/y² overflows as the op is recorded) points at the expression below it
    first, *rest = err.splitlines()
    assert first.startswith(f"chainrule {argv[0]}: error: ") and "overflows float64" in first
    assert rest in ([], [f"  {argv[1]}", "  " + "^" * len(argv[1])])
    assert list(tmp_path.iterdir()) == []


def test_any_overflow_in_a_command_is_one_line(capsys, monkeypatch) -> None:
    """The net under every command (those added later too): ArithmeticError → exit 2."""
    import viz.cli

    def boom(args) -> int:
        raise OverflowError("d(out)/d('x') comes out as inf:\n  scale the output down")

    monkeypatch.setattr(viz.cli, "cmd_explain", boom)
    code, out, err = run(capsys, "explain")
    assert code == 2 and out == ""
    message = "d(out)/d('x') comes out as inf: scale the output down"
    assert err == f"chainrule explain: error: {message}\n"


def test_check_refuses_an_infinite_central_difference(capsys) -> None:
    # f(x+eps) - f(x-eps) is finite, divided by 2*eps it is not: no "ok" row with inf in it
    code, out, err = run(capsys, "check", "1e308*tanh(x*1e7)", "x=1e-6")
    assert code == 2 and out == ""
    assert "central difference" in err and "overflows float64" in err
    assert "larger --eps" in err and "smaller --eps" not in err


def test_python_syntax_warnings_do_not_leak(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "default"}
    for expr, message in [("x*1and 2", "'and' / 'or'"), ("x is 1", "comparisons")]:
        done = subprocess.run(
            [sys.executable, "-m", "viz.cli", "graph", expr, "x=1"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2
        assert done.stderr.startswith(f"chainrule graph: error: {message}"), done.stderr
        assert "Warning" not in done.stderr


# --- issue 13: the node limit and a crashing dot ---------------------------------------------


def test_graph_has_the_librarys_node_limit(capsys, tmp_path: Path, monkeypatch) -> None:
    from viz.graph import DEFAULT_MAX_NODES

    monkeypatch.chdir(tmp_path)
    expr = "x" + "*2" * 300  # 601 values: x, 300 constants, 300 products
    code, out, err = run(capsys, "graph", expr, "x=1")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert f"more than --max-nodes={DEFAULT_MAX_NODES} values" in err
    assert "group_by='layer', collapse=True" in err  # the grouping hint
    assert list(tmp_path.iterdir()) == []
    # a larger limit draws it (as DOT text here: no Graphviz run)
    code, _, _ = run(capsys, "graph", expr, "x=1", "--max-nodes", "601", "--format", "dot")
    assert code == 0 and (tmp_path / "graph.dot").exists()
    assert run(capsys, "graph", "x", "x=1", "--max-nodes", "0")[0] == 2


def test_a_crashing_dot_is_one_line(capsys, tmp_path: Path, monkeypatch) -> None:
    fake_dot(monkeypatch, tmp_path, "cat >/dev/null; kill -SEGV $$")
    path = tmp_path / "g.png"
    code, out, err = run(capsys, "graph", "x*y", "x=1", "y=2", "-o", str(path))
    assert code == 1 and "d/dx = 2" in out
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "crashed (SIGSEGV, signal 11)" in err and "draw a smaller graph" in err
    assert not path.exists()


def test_a_chatty_failing_dot_is_kept_to_its_first_lines(capsys, tmp_path, monkeypatch) -> None:
    script = "cat >/dev/null; yes 'Error: bad' | head -n 100000 >&2; exit 1"
    fake_dot(monkeypatch, tmp_path, script)
    code, _, err = run(capsys, "graph", "x*y", "x=1", "y=2", "-o", str(tmp_path / "g.svg"))
    assert code == 1 and len(err.splitlines()) == 1 and len(err) < 800
    assert err.count("Error: bad") == 5 and "1,099,999 bytes of messages from dot" in err


# --- issue 12: --version, -o -, a leading minus ----------------------------------------------


def test_version(capsys) -> None:
    from importlib import metadata

    code, out, err = run(capsys, "--version")
    assert (code, err) == (0, "")
    assert out == f"chainrule {metadata.version('chainrule')}\n"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'\nversion = "{metadata.version("chainrule")}"\n' in pyproject


@pytest.mark.parametrize(("fmt", "magic"), [("dot", b"digraph {"), ("svg", b"<?xml")])
def test_output_dash_is_standard_output(
    capsysbinary, tmp_path: Path, monkeypatch, fmt: str, magic: bytes
) -> None:
    if fmt != "dot" and not _has_dot():
        pytest.skip("needs the Graphviz 'dot' program")
    monkeypatch.chdir(tmp_path)
    code = main(["graph", "x*y", "x=1", "y=2", "-o", "-", "--format", fmt])
    out, err = capsysbinary.readouterr()
    assert code == 0
    assert out.startswith(magic)  # the picture alone: the numbers went to stderr
    assert b"d/dx = 2" in err and b"wrote" not in out + err
    assert list(tmp_path.iterdir()) == []  # no file named '-'


def test_output_dash_defaults_to_svg_and_keeps_binary_off_a_terminal(
    capsys, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code, _, err = run(capsys, "graph", "x", "x=1", "-o", "-", "--format", "png")
    assert code == 2 and "not writing PNG bytes to a terminal" in err
    assert list(tmp_path.iterdir()) == []


def _has_dot() -> bool:
    import shutil

    return shutil.which("dot") is not None


@pytest.mark.parametrize(
    ("argv", "first_line"),
    [
        (["graph", "-x*y", "x=1", "y=2", "--format", "dot"], "-x*y = -2   at x=1, y=2"),
        (["graph", "--format", "dot", "-x", "x=3"], "-x = -3   at x=3"),
        (["graph", "-2*x", "x=3", "--format", "dot"], "-2*x = -6   at x=3"),
        (["check", "-sin(x)", "x=0"], "-sin(x) = -0   at x=0"),
        (["graph", "--format", "dot", "--", "-o*x", "o=1", "x=2"], "-o*x = -2   at o=1, x=2"),
    ],
)
def test_an_expression_may_start_with_a_minus(
    capsys, tmp_path: Path, monkeypatch, argv: list[str], first_line: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == first_line


def test_an_unknown_option_is_still_refused_where_no_expression_is_taken(capsys) -> None:
    code, _, err = run(capsys, "explain", "-q")
    assert code == 2 and "unrecognized arguments: -q" in err
    code, _, err = run(capsys, "graph", "x", "x=1", "--bogus")
    assert code == 2 and "unrecognized arguments: --bogus" in err


def test_layer_view_with_an_unknown_suffix_names_the_option_not_a_keyword(  # type: ignore[no-untyped-def]
    tmp_path: Path, capsys
) -> None:
    """The library's message ended 'or pass format=', a keyword the command line does not
    have; the command says which names it takes, and writes nothing."""
    code, out, err = run(capsys, "explain", "--layer-view", str(tmp_path / "view.txt"))
    assert code == 2 and out == ""
    assert "--layer-view" in err and ".svg, .png, .pdf or .dot" in err
    assert "format=" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("failure", ["missing", "crashed"])
def test_layer_view_not_drawn_is_exit_status_1(  # type: ignore[no-untyped-def]
    tmp_path: Path, capsys, monkeypatch, failure
) -> None:
    """A --layer-view that was asked for and not drawn (no dot: the DOT text instead; dot
    failed: nothing) is status 1, as chainrule graph's is; it was 0, so a script saw
    success. The walkthrough itself is still printed."""
    from viz.render import GraphvizError, GraphvizNotFoundError

    render_module = sys.modules["viz.render"]  # viz.render is also a function's name

    def no_dot(source: str, fmt: str) -> bytes:
        if failure == "missing":
            raise GraphvizNotFoundError()
        raise GraphvizError("dot crashed (signal 11)")

    monkeypatch.setattr(render_module, "render_dot", no_dot)
    view = tmp_path / "layers.svg"
    code, out, err = run(capsys, "explain", "--layer-view", str(view))
    assert code == 1 and "loss J = 0.710949" in out
    assert not view.exists()
    if failure == "missing":
        assert "'dot' program is missing" in err
        assert (tmp_path / "layers.dot").read_text(encoding="utf-8").startswith("digraph")
    else:
        assert "dot crashed" in err and list(tmp_path.iterdir()) == []
