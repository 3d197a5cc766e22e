"""benchmarks.batch: the harness runs end to end in its quick mode (small sizes, one
repetition), so it cannot rot. Its numbers are not judged here (speed targets are the
benchmark's job), except the ones that are about correctness: chainrule and PyTorch must
compute the same losses and gradients from the same weights."""

from __future__ import annotations

import io
import math
from typing import Any

import pytest

from benchmarks import batch

needs_torch = pytest.mark.skipif(
    not batch.torch_installed(),
    reason="torch not installed (pip install -e '.[bench]'): the comparison column is not run",
)

NAMES = ("moons", "digits MLP", "Adam", "per-step losses", "trace", "peak memory")


def table(rows: list[batch.Row], raw: dict[str, Any]) -> str:
    out = io.StringIO()
    batch.print_table(rows, raw, file=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def quick_with_torch() -> tuple[list[batch.Row], dict[str, Any]]:
    return batch.run(quick=True)


@needs_torch
def test_quick_run_compares_with_torch(
    quick_with_torch: tuple[list[batch.Row], dict[str, Any]],
) -> None:
    rows, raw = quick_with_torch
    for name in NAMES:
        assert any(name in r.name for r in rows), name
    assert all(isinstance(r.ok, bool) for r in rows)  # every target judged
    # one step of each engine, compared before timing: same loss, same gradients
    for key in [k for k in raw if k.startswith("moons_")] + ["digits_step"]:
        assert raw[key]["loss_rel_diff"] <= batch.AGREEMENT
        assert raw[key]["grad_rel_diff"] <= batch.AGREEMENT
        assert len(raw[key]["times"]["torch"]) == len(raw[key]["times"]["chainrule"]) == 1
    # the same mini-batches from the same weights: the same loss at every step
    train = raw["digits_train"]
    assert train["steps"] == math.ceil(train["n_train"] / batch.DIGITS_BATCH) >= 2
    assert train["max_loss_diff"] <= batch.TARGET_LOSS_DIFF
    losses = next(r for r in rows if "per-step losses" in r.name)
    assert losses.ok is True
    assert raw["memory_chainrule"]["peak_mb"] >= 0 and raw["memory_torch"]["peak_mb"] >= 0
    text = table(rows, raw)
    assert f"torch {raw['versions']['torch']}" in text
    assert f"numpy {raw['versions']['numpy']}" in text
    assert batch.NO_TORCH not in text


def test_quick_run_without_torch_says_the_comparison_is_skipped() -> None:
    rows, raw = batch.run(quick=True, use_torch=False)
    for name in NAMES:
        assert any(name in r.name for r in rows), name
    compared = [r for r in rows if "step" in r.name or "per-step" in r.name]
    assert compared and all(r.ok is None for r in compared)
    assert all("torch" not in k for k in raw["digits_train"])
    # chainrule's own targets are still judged
    trace = next(r for r in rows if "trace" in r.name)
    assert isinstance(trace.ok, bool)
    text = table(rows, raw)
    assert (batch.TORCH_OFF if batch.torch_installed() else batch.NO_TORCH) in text
    assert f"Python {raw['versions']['python']}" in text
