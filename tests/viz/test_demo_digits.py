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
    assert viz.demo.pick_shown(true, predicted, count=6) == [1, 3, 5, 0, 2, 4]
    assert viz.demo.pick_shown(true, predicted, count=4) == [1, 3, 0, 2]  # at most half wrong
    assert viz.demo.pick_shown(true, true, count=3) == [0, 1, 2]
    assert viz.demo.pick_shown(true, predicted, count=50) == [1, 3, 5, 7, 0, 2, 4, 6]


def test_epoch_rows_weigh_the_ragged_last_batch() -> None:
    from nn import History

    # 5 samples in batches of 2, 2, 1: the last step's figure counts for one sample only
    history = History(loss=[1.0, 2.0, 4.0, 0.5, 0.5, 0.5], accuracy=[0.5, 1.0, 0.0] + [1.0] * 3)
    rows = viz.demo._epoch_rows(history, n=5, batch_size=2, epochs=2)
    assert rows == [((2 * 1.0 + 2 * 2.0 + 4.0) / 5, (2 * 0.5 + 2 * 1.0 + 0.0) / 5), (0.5, 1.0)]


# --- a short real run ------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n"
PICTURES = ["digits_confusion.png", "digits_predictions.png", "digits_training.png"]


def _steady(text: str, out_dir: Path) -> list[str]:
    """The printed lines but the wall-clock time, with the output directory as D."""
    return [
        line
        for line in text.replace(str(out_dir), "D").splitlines()
        if not line.startswith("trained in")
    ]


def test_digits_demo_trains_and_writes_the_pictures(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    import re

    import viz.plots

    figures: dict[str, Any] = {}

    def keep(name: str) -> Any:
        original = getattr(viz.plots, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            figures[name] = fig = original(*args, **kwargs)
            return fig

        return wrapper

    for name in ("plot_confusion_matrix", "plot_digits"):
        monkeypatch.setattr(viz.plots, name, keep(name))
    out_dir = tmp_path / "out"
    argv = ["demo", "--data", "digits", "--epochs", "2", "--batch-size", "128", "--seed", "3"]
    code, out, err = run(capsys, *argv, "--out", str(out_dir))
    assert (code, err) == (0, "")
    assert out.startswith("Training MLP(64, [32, 10]) (2410 parameters) on 1437 8x8 digits (360")
    epochs = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in epochs] == ["1", "2"]
    assert float(epochs[1][1]) < float(epochs[0][1])  # the training loss went down
    found = re.search(r"test set: loss [\d.]+, accuracy [\d.]+% \((\d+) of 360 right\)", out)
    assert found, out
    right = int(found.group(1))
    assert right > 0.6 * 360  # 24 Adam steps: far above chance (10%)
    assert sorted(p.name for p in out_dir.iterdir()) == PICTURES  # no temporary files left
    for name in PICTURES:
        assert (out_dir / name).read_bytes().startswith(PNG)
    assert f"wrote D/{PICTURES[1]}, D/{PICTURES[0]}, D/{PICTURES[2]}" in "\n".join(
        _steady(out, out_dir)
    )

    # the confusion matrix counts the 360 test digits, its diagonal the printed right ones
    ax = figures["plot_confusion_matrix"].axes[0]
    counts = ax.images[0].get_array().tolist()
    assert len(counts) == 10 and sum(map(sum, counts)) == 360
    assert sum(counts[k][k] for k in range(10)) == right
    # the digit picture: every panel titled, the wrong ones with their true label
    titles = [t.get_text() for t in figures["plot_digits"].axes[0].texts]
    assert len(titles) == 50
    n_wrong = min(25, 360 - right)
    assert all(re.fullmatch(r"\d \(true \d\)", t) for t in titles[:n_wrong])  # wrong ones first
    assert all(re.fullmatch(r"\d", t) for t in titles[n_wrong:])


def test_digits_demo_is_reproducible_and_runs_without_matplotlib(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import viz.plots

    def missing() -> None:
        raise ImportError("no matplotlib here")

    monkeypatch.setattr(viz.plots, "require_matplotlib", missing)  # no pictures: a faster test
    a, b = tmp_path / "a", tmp_path / "b"
    argv = ["demo", "--data", "digits", "--epochs", "1", "--batch-size", "256"]
    first = run(capsys, *argv, "--out", str(a))
    second = run(capsys, *argv, "--out", str(b))
    assert first[0] == second[0] == 0
    assert _steady(first[1], a) == _steady(second[1], b)
    assert first[1].rstrip().endswith("note: no plots: no matplotlib here")
    assert list(a.iterdir()) == []
    other = run(capsys, *argv, "--seed", "1", "--out", str(tmp_path / "c"))
    assert _steady(other[1], tmp_path / "c") != _steady(first[1], a)  # the seed matters
