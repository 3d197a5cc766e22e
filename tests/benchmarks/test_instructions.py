"""benchmarks.instructions: the workload bodies it counts, and its command line."""

from __future__ import annotations

import pytest

from benchmarks import instructions


@pytest.mark.parametrize("workload", list(instructions.SIZES))
def test_each_workload_runs_on_chainrule_at_its_small_size(workload: str) -> None:
    small, large, _, _ = instructions.SIZES[workload]
    assert 0 < small < large
    instructions.run("chainrule", workload, small)


def test_unknown_workloads_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        instructions.main(["--workloads", "chain,bogus"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "bogus" in err or "valgrind" in err  # valgrind is checked first when missing
