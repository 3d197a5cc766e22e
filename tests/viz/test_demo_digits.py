"""``chainrule demo --data digits``: the options, their errors, and a short real run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import viz.demo
from viz.cli import build_parser, main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[dict[str, Any]]]:
    """Replace both demos by recorders: which one ran, with which arguments."""
    seen: dict[str, list[dict[str, Any]]] = {"moons": [], "digits": []}

    def moons(**kwargs: Any) -> int:
        seen["moons"].append(kwargs)
        return 0

    def digits(**kwargs: Any) -> int:
        seen["digits"].append(kwargs)
        return 0

    monkeypatch.setattr(viz.demo, "run_demo", moons)
    monkeypatch.setattr(viz.demo, "run_digits_demo", digits)
    return seen


def test_data_option_parses() -> None:
    parser = build_parser()
    assert parser.parse_args(["demo"]).data == "moons"
    args = parser.parse_args(["demo", "--data", "digits", "--epochs", "3", "--batch-size", "7"])
    assert (args.data, args.epochs, args.batch_size) == ("digits", 3, 7)


def test_digits_runs_the_digits_demo_with_its_defaults(capsys, calls, tmp_path: Path) -> None:
    out = str(tmp_path / "o")
    assert run(capsys, "demo", "--data", "digits", "--out", out)[0] == 0
    assert calls["moons"] == []
    assert calls["digits"] == [
        {
            "epochs": viz.demo.DIGITS_EPOCHS,
            "batch_size": viz.demo.DIGITS_BATCH_SIZE,
            "seed": 0,
            "out": Path(out),
        }
    ]
    assert run(capsys, "demo", "--data", "digits", "--epochs", "2", "--batch-size", "9")[0] == 0
    assert (calls["digits"][1]["epochs"], calls["digits"][1]["batch_size"]) == (2, 9)


def test_moons_stays_the_default(capsys, calls) -> None:
    assert run(capsys, "demo")[0] == 0
    assert run(capsys, "demo", "--data", "moons", "--steps", "5", "--eager")[0] == 0
    assert calls["digits"] == []
    assert [c["steps"] for c in calls["moons"]] == [viz.demo.MOONS_STEPS, 5]
    assert [c["compile"] for c in calls["moons"]] == [True, False]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "mnist"], "argument --data: invalid choice: 'mnist' (choose from"),
        (["--data", "Digits"], "invalid choice: 'Digits'"),
        (["--data"], "expected one argument"),
        (["--data", "digits", "--epochs", "0"], "--epochs must be at least 1, got 0"),
        (["--data", "digits", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (["--data", "digits", "--batch-size", "x"], "invalid int value: 'x'"),
        (["--data", "digits", "--steps", "10"], "--steps is for --data moons"),
        (["--data", "digits", "--eager"], "--eager is for --data moons"),
        (["--epochs", "3"], "--epochs is for --data digits"),
        (["--data", "moons", "--batch-size", "3"], "--batch-size is for --data digits"),
    ],
)
def test_bad_digits_usage(capsys, calls, tmp_path, monkeypatch, argv, message) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "demo", *argv)
    assert code == 2 and out == "" and "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith("chainrule demo: error: ") and message in first
    assert calls == {"moons": [], "digits": []}  # nothing ran
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_help_names_the_data_sets(capsys) -> None:
    code, out, _ = run(capsys, "demo", "--help")
    assert code == 0
    assert "{moons,digits}" in out and "chainrule demo --data digits" in out


def test_pick_shown_puts_the_wrong_ones_first() -> None:
    true = [0, 1, 2, 3, 4, 5, 6, 7]
    predicted = [0, 9, 2, 9, 4, 9, 6, 9]  # 1, 3, 5, 7 wrong
    assert viz.demo.pick_shown(true, predicted, count=6) == [0, 1, 2, 3, 4, 5]
    assert viz.demo.pick_shown(true, predicted, count=4) == [0, 1, 2, 3]  # at most half wrong
    assert viz.demo.pick_shown(true, true, count=3) == [0, 1, 2]
    assert viz.demo.pick_shown(true, predicted, count=50) == list(range(8))


def test_epoch_rows_weigh_the_ragged_last_batch() -> None:
    from nn import History

    # 5 samples in batches of 2, 2, 1: the last step's figure counts for one sample only
    history = History(loss=[1.0, 2.0, 4.0, 0.5, 0.5, 0.5], accuracy=[0.5, 1.0, 0.0] + [1.0] * 3)
    rows = viz.demo._epoch_rows(history, n=5, batch_size=2, epochs=2)
    assert rows == [((2 * 1.0 + 2 * 2.0 + 4.0) / 5, (2 * 0.5 + 2 * 1.0 + 0.0) / 5), (0.5, 1.0)]
