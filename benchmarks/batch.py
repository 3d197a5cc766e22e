"""``python -m benchmarks.batch``: batch replay (``engine.vmap``) against PyTorch, side by side.

The rows of issue 11 ("Numbers"), each printed with its target and whether it is met:

* moons ``MLP(2, [16, 16, 1])``, hinge loss + L2 (α = 1e-4), one full-batch step at
  N = 10⁴ and 10⁵: chainrule's time / PyTorch's (target ≤ 1.0×);
* digits ``MLP(64, [32, 10])``, softmax cross-entropy, one step on all 1,797 images
  (≤ 1.3×); 20 epochs of Adam in mini-batches of 32 (the same batches, in the same
  order, for both) reach ≥ 97 % test accuracy, and chainrule's loss at every step equals
  PyTorch's from the same initial weights to 1e-10 (the largest difference is printed);
* trace + code generation for the digits model (≤ 0.5 s);
* peak memory of one moons step at N = 10⁵, chainrule / PyTorch (≤ 1.5×).

How it is measured:

* PyTorch runs in float64 on batched tensors, ``torch.set_num_threads(1)``; numpy's BLAS is
  held to one thread as well (``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` /
  ``MKL_NUM_THREADS`` = 1 in every worker's environment), so each matrix product of
  either engine runs on one core. Both get the same data (float64 arrays; the tensors
  share the arrays' memory) and the same initial weights: the chainrule model's,
  copied into ``torch.nn.Linear`` layers.
* A step is what training repeats before the optimizer's update: zero the gradients
  (``model.zero_grad()`` / ``net.zero_grad()``), the forward pass and the backward pass.
  chainrule's is ``engine.vmap(f)`` with ``f`` written for one sample, called on the
  whole batch. Before timing, one step of each is compared: the losses and every
  gradient must agree to 1e-9 relative, or the run stops (the two would not be doing
  the same computation).
* Each workload runs in its own fresh process (``--worker``), so no engine sees another
  workload's heap. Within it the two engines alternate: each repetition times a number
  of steps of each (the order flips every repetition), and a ratio is the median of the
  per-repetition ratios, which cancels most of a shared machine's noise.
* Trace + code generation: a fresh model and ``vmap(f)``, whose first call (on 8
  samples) traces ``f`` and writes and compiles the numpy code; its time minus the median
  of later calls on the same 8 samples. The median over the repetitions is reported.
* Peak memory: each engine in a process of its own. After the imports, the data (the
  same arrays for both), the model and one step on 8 samples (which pays each library's
  one-time costs: chainrule's trace and code generation, PyTorch's autograd set-up) the
  resident set size (``VmRSS``) is read and the kernel's peak (``VmHWM``) reset through
  ``/proc/self/clear_refs``; then two full steps run (chainrule's first one at this N
  allocates the buffers it keeps), and the peak is ``VmHWM`` − baseline. Resident memory
  counts numpy's, PyTorch's and Python's allocations alike (tracemalloc would miss
  PyTorch's C++ allocator), and the imports are excluded. Both processes run with
  ``MALLOC_MMAP_THRESHOLD_=65536``: glibc then maps every array of 64 KiB or more on its
  own and unmaps it when freed, so the resident size follows the live arrays of either
    library instead of free lists left over from setting up (which would hide part of a
  step's allocations). Linux only.

Without PyTorch installed (it is the optional comparison column, ``pip install -e
'.[bench]'``), chainrule's own numbers are printed and the comparisons are skipped,
saying so. ``run(quick=True)`` is a small, fast version of the same harness (the test
runs it so it cannot rot; its numbers mean nothing).

From Python: ``rows, raw = run()`` measures (``rows``: :class:`Row` tuples, laid out as
``python -m benchmarks``'s rows; ``raw``: every number the workers returned) and
``print_table(rows, raw)`` prints them with the versions.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, NamedTuple, TextIO

ALPHA = 1e-4  # the L2 penalty of micrograd's moons demo
MOONS_SIZES = (10_000, 100_000)
MOONS_SEED = 1  # data
MODEL_SEED = 1337  # initial weights
DIGITS_EPOCHS = 20
DIGITS_BATCH = 32
DIGITS_LR = 1e-2
DIGITS_SPLIT_SEED = 0  # train/test split
DIGITS_ORDER_SEED = 0  # mini-batch order
TRACE_BATCH = 8

#: Targets of issue 11 ("Numbers").
TARGET_MOONS = 1.0
TARGET_DIGITS = 1.3
TARGET_ACCURACY = 0.97
TARGET_LOSS_DIFF = 1e-10
TARGET_TRACE_S = 0.5
TARGET_MEMORY = 1.5

#: Steps of the two engines must agree this closely before their times are compared.
AGREEMENT = 1e-9

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
MMAP_EVERY_ARRAY = {"MALLOC_MMAP_THRESHOLD_": "65536"}

NO_TORCH = "torch not installed: comparison column skipped"
TORCH_OFF = "--no-torch: comparison column skipped"


@dataclass(frozen=True)
class Plan:
    """The sizes of one run: the full benchmark, or the test's quick one."""

    reps: int
    moons_sizes: tuple[int, ...]
    digits_limit: int | None  # None: all 1,797 images
    epochs: int
    memory_n: int
    seconds_per_rep: float  # steps per repetition are chosen to fill about this long


FULL = Plan(
    reps=7,
    moons_sizes=MOONS_SIZES,
    digits_limit=None,
    epochs=DIGITS_EPOCHS,
    memory_n=100_000,
    seconds_per_rep=0.3,
)
QUICK = Plan(
    reps=1,
    moons_sizes=(300,),
    digits_limit=240,
    epochs=1,
    memory_n=2_000,
    seconds_per_rep=0.01,
)


class Row(NamedTuple):
    """One printed row, laid out as ``python -m benchmarks``'s rows: ``ok`` is None when
    the target cannot be judged (no torch)."""

    name: str
    value: str
    detail: str
    target: str
    ok: bool | None


# ---------------------------------------------------------------------------------------
# the models and data, for both engines (run inside a worker)


def moons_arrays(n: int) -> tuple[Any, Any]:
    """nn's moons (noise 0.1): inputs (n, 2) and labels −1/+1 (n,), float64 arrays."""
    import numpy as np

    import nn

    X, y = nn.make_moons(n, noise=0.1, seed=MOONS_SEED)
    return np.array(X, dtype=np.float64), 2.0 * np.array(y, dtype=np.float64) - 1.0


def digits_arrays(limit: int | None = None) -> tuple[Any, Any, Any, Any]:
    """nn's 8×8 digits (``nn.load_digits``) split 75/25 by ``nn.train_test_split`` and
    standardized with the training part's mean and standard deviation (a pixel that is
    constant there, such as a corner, is only centred, as scikit-learn's StandardScaler
    does; ``nn.Standardizer`` refuses such columns): X_train, y_train, X_test, y_test.

    ``limit`` keeps only the first images (quick mode).
    """
    import numpy as np

    import nn

    X, y = nn.load_digits()
    if limit is not None:
        X, y = X[:limit], y[:limit]
    X_tr, X_te, y_tr, y_te = (
        np.asarray(part)
        for part in nn.train_test_split(X, y, test_size=0.25, seed=DIGITS_SPLIT_SEED)
    )
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0)
    std[std == 0.0] = 1.0
    return (
        (X_tr.astype(np.float64) - mean) / std,
        y_tr.astype(np.int64),
        (X_te.astype(np.float64) - mean) / std,
        y_te.astype(np.int64),
    )


def one_hot(labels: Any, k: int = 10) -> Any:
    """Class indices (n,) as one-hot rows (n, k), float64."""
    import numpy as np

    out = np.zeros((len(labels), k), dtype=np.float64)
    out[np.arange(len(labels)), labels] = 1.0
    return out


def moons_model() -> Any:
    import nn

    return nn.MLP(2, [16, 16, 1], seed=MODEL_SEED)


def digits_model() -> Any:
    import nn

    # PyTorch's nn.Linear initialisation: wide inputs keep z of order 1
    return nn.MLP(64, [32, 10], init="fan_in", seed=MODEL_SEED)


def moons_loss(model: Any) -> Callable[..., Any]:
    """One sample's loss: hinge on the score (label t = ±1) + α Σ p² (micrograd's demo)."""
    import nn

    params = model.parameters()

    def f(x: Any, t: Any) -> Any:
        return nn.hinge_loss(model(x), t) + nn.l2_penalty(params, ALPHA)

    return f


def digits_loss(model: Any) -> Callable[..., Any]:
    """One sample's loss: ``nn.cross_entropy`` of the 10 scores against a one-hot row.

    −Σₖ tₖ log softmax(z)ₖ; a class index cannot be a traced input (it picks a term).
    """
    import nn

    def f(x: Any, t: Any) -> Any:
        return nn.cross_entropy(model(x), t)

    return f


def torch_net(model: Any) -> Any:
    """The chainrule MLP as ``torch.nn.Sequential`` (float64), with the same weights."""
    import torch

    layers: list[Any] = []
    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers):
        linear = torch.nn.Linear(layer.nin, layer.nout, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(layer.weight_matrix(), dtype=torch.float64))
            linear.bias.copy_(torch.tensor(layer.bias_vector(), dtype=torch.float64))
        layers.append(linear)
        expected = "linear" if i == last else "relu"
        if layer.activation != expected:
            raise ValueError(f"torch_net copies relu MLPs with a linear output, not {model!r}")
        if i < last:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def chainrule_grads(model: Any) -> list[Any]:
    """The model's gradients laid out as torch_net's parameters (W, b per layer)."""
    import numpy as np

    out = []
    for layer in model.layers:
        out.append(np.array([[w.grad for w in n.w] for n in layer.neurons]))
        out.append(np.array([n.b.grad for n in layer.neurons]))
    return out


ALL = slice(None)


class Task:
    """One step of one workload, for chainrule and (when installed) for torch."""

    def __init__(self, name: str, n: int | None, with_torch: bool) -> None:
        import numpy as np

        from engine import vmap

        if name == "moons":
            assert n is not None
            self.X, self.T = moons_arrays(n)
            self.model = moons_model()
            f = moons_loss(self.model)
        elif name == "digits":
            X_tr, y_tr, X_te, y_te = digits_arrays(n)
            self.X, self.labels = np.concatenate([X_tr, X_te]), np.concatenate([y_tr, y_te])
            self.T = one_hot(self.labels)
            self.model = digits_model()
            f = digits_loss(self.model)
        else:
            raise ValueError(f"unknown task {name!r}")
        self.name = name
        self.n = len(self.X)
        self.g = vmap(f)
        self.net: Any = None
        if with_torch:
            import torch

            self.net = torch_net(self.model)
            self.tX = torch.from_numpy(self.X)
            self.tT = torch.from_numpy(self.T)
            if name == "digits":
                self.tlabels = torch.from_numpy(self.labels)

    def chainrule_step(self, rows: slice = ALL) -> float:
        """Zero the grads, then forward and backward on the batch (or ``rows`` of it)."""
        self.model.zero_grad()
        return float(self.g(self.X[rows], self.T[rows]))

    def torch_loss(self, rows: slice = ALL) -> Any:
        import torch

        net = self.net
        if self.name == "moons":
            scores = net(self.tX[rows]).squeeze(1)
            data = torch.relu(1.0 - scores * self.tT[rows]).mean()
            return data + ALPHA * sum((p * p).sum() for p in net.parameters())
        return torch.nn.functional.cross_entropy(net(self.tX[rows]), self.tlabels[rows])

    def torch_step(self, rows: slice = ALL) -> float:
        """Zero the grads, then forward and backward on the batch (or ``rows`` of it)."""
        self.net.zero_grad()
        loss = self.torch_loss(rows)
        loss.backward()
        return float(loss.item())

    def agreement(self) -> dict[str, float]:
        """One step of each: the relative difference of the losses and of the gradients."""
        import numpy as np

        a = self.chainrule_step()
        b = self.torch_step()
        loss_diff = abs(a - b) / max(abs(b), 1e-300)
        grad_diff = 0.0
        for mine, p in zip(chainrule_grads(self.model), self.net.parameters()):
            theirs = p.grad.numpy()
            scale = max(float(np.max(np.abs(theirs))), 1e-300)
            grad_diff = max(grad_diff, float(np.max(np.abs(mine - theirs))) / scale)
        if not (loss_diff <= AGREEMENT and grad_diff <= AGREEMENT):
            raise SystemExit(
                f"{self.name} (N={self.n}): chainrule and torch disagree (loss {a!r} vs {b!r}, "
                f"relative gradient difference {grad_diff:.3g}); the benchmark would compare "
                "different computations"
            )
        return {"loss_rel_diff": loss_diff, "grad_rel_diff": grad_diff}


# ---------------------------------------------------------------------------------------
# workers: each runs in a fresh process and returns one JSON-able dict


def _one_thread(torch: bool) -> None:
    """PyTorch on one thread (numpy's BLAS is held to one by the environment)."""
    if torch:
        import torch as th

        th.set_num_threads(1)


def _interleaved(
    steps: dict[str, Callable[[], Any]], reps: int, seconds: float
) -> dict[str, list[float]]:
    """Seconds per step of each engine, per repetition, the order flipping each time."""
    for step in steps.values():  # warm up (chainrule: the trace)
        step()
    slowest = 0.0
    for step in steps.values():
        t0 = time.perf_counter()
        step()
        slowest = max(slowest, time.perf_counter() - t0)
    inner = max(1, min(1000, round(seconds / max(slowest, 1e-9))))
    names = list(steps)
    out: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            step = steps[name]
            t0 = time.perf_counter()
            for _ in range(inner):
                step()
            out[name].append((time.perf_counter() - t0) / inner)
    return out


def work_step(task: str, n: int | None, reps: int, seconds: float, torch: bool) -> dict[str, Any]:
    """Seconds per step of chainrule (and torch), and how closely their numbers agree."""
    _one_thread(torch)
    t = Task(task, n, torch)
    result: dict[str, Any] = {"n": t.n}
    steps: dict[str, Callable[[], Any]] = {"chainrule": t.chainrule_step}
    if torch:
        result.update(t.agreement())
        steps["torch"] = t.torch_step
    result["times"] = _interleaved(steps, reps, seconds)
    return result


def work_trace(reps: int) -> dict[str, Any]:
    """Trace + code generation of the digits model: first call minus a later one."""
    from engine import vmap

    X_tr, y_tr, _, _ = digits_arrays()
    X, T = X_tr[:TRACE_BATCH], one_hot(y_tr[:TRACE_BATCH])
    times = []
    for _ in range(reps):
        model = digits_model()
        t0 = time.perf_counter()
        g = vmap(digits_loss(model))
        g(X, T)
        first = time.perf_counter() - t0
        later = []
        for _ in range(5):
            t0 = time.perf_counter()
            g(X, T)
            later.append(time.perf_counter() - t0)
        times.append(first - statistics.median(later))
    return {"trace_s": times}


def _batches(n: int, epochs: int) -> list[Any]:
    """Mini-batch indices for every step: each epoch a new shuffle of range(n) from a
    fixed seed, cut into batches of DIGITS_BATCH (the last one ragged)."""
    import numpy as np

    r = random.Random(DIGITS_ORDER_SEED)
    order = list(range(n))
    out = []
    for _ in range(epochs):
        r.shuffle(order)
        out += [np.array(order[i : i + DIGITS_BATCH]) for i in range(0, n, DIGITS_BATCH)]
    return out


def work_train(limit: int | None, epochs: int, torch: bool) -> dict[str, Any]:
    """Adam on the digits, the same mini-batches for both engines from the same weights:
    the loss at every step, the time and the test accuracy."""
    import numpy as np

    import nn
    from engine import vmap

    _one_thread(torch)
    X_tr, y_tr, X_te, y_te = digits_arrays(limit)
    T_tr = one_hot(y_tr)
    batches = _batches(len(X_tr), epochs)

    model = digits_model()
    g = vmap(digits_loss(model))
    opt = nn.Adam(model.parameters(), lr=DIGITS_LR)
    losses = []
    t0 = time.perf_counter()
    for idx in batches:
        opt.zero_grad()
        losses.append(float(g(X_tr[idx], T_tr[idx])))
        opt.step()
    seconds = time.perf_counter() - t0
    scores = vmap(lambda x: model(x), backward=False)(X_te)
    result: dict[str, Any] = {
        "steps": len(losses),
        "n_train": len(X_tr),
        "n_test": len(X_te),
        "chainrule_s": seconds,
        "chainrule_accuracy": float(np.mean(np.argmax(scores, axis=1) == y_te)),
        "chainrule_final_loss": losses[-1],
    }
    if not torch:
        return result
    import torch as th

    net = torch_net(digits_model())
    topt = th.optim.Adam(net.parameters(), lr=DIGITS_LR)
    tX, ty = th.from_numpy(X_tr), th.from_numpy(y_tr)
    tbatches = [th.from_numpy(b) for b in batches]
    theirs = []
    t0 = time.perf_counter()
    for idx in tbatches:
        topt.zero_grad()
        loss = th.nn.functional.cross_entropy(net(tX[idx]), ty[idx])
        loss.backward()
        topt.step()
        theirs.append(loss.item())
    result["torch_s"] = time.perf_counter() - t0
    with th.no_grad():
        predicted = net(th.from_numpy(X_te)).argmax(dim=1).numpy()
    result["torch_accuracy"] = float(np.mean(predicted == y_te))
    diffs = [abs(a - b) for a, b in zip(losses, theirs, strict=True)]
    worst = max(range(len(diffs)), key=diffs.__getitem__)
    result.update(max_loss_diff=diffs[worst], worst_step=worst)
    return result


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        match = re.search(rf"^{field}:\s+(\d+) kB", fh.read(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"/proc/self/status has no {field}")
    return int(match.group(1))


def work_memory(engine: str, n: int) -> dict[str, Any]:
    """Peak resident memory of two moons steps over the baseline after setting up (and
    a step on a few samples, which pays either library's one-time costs)."""
    _one_thread(engine == "torch")
    t = Task("moons", n, with_torch=engine == "torch")
    step = t.chainrule_step if engine == "chainrule" else t.torch_step
    step(slice(0, TRACE_BATCH))  # one-time costs of either library (the trace, autograd)
    baseline = _rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM, the peak, to the current resident size
    step()
    step()
    peak = _rss_kib("VmHWM")
    return {"baseline_mb": baseline / 1024, "peak_mb": (peak - baseline) / 1024}


def versions() -> dict[str, str]:
    """Python's, numpy's and (when installed) torch's versions, as the workers run them
    (the same interpreter), read without importing the libraries."""
    out = {"python": platform.python_version(), "numpy": metadata.version("numpy")}
    if torch_installed():
        out["torch"] = metadata.version("torch")
    return out


WORKERS: dict[str, Callable[..., dict[str, Any]]] = {
    "step": work_step,
    "trace": work_trace,
    "train": work_train,
    "memory": work_memory,
}


def measure(worker: str, memory: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Run one worker in a fresh process (one thread for every library) and read its JSON."""
    env = dict(os.environ, **ONE_THREAD)
    if memory:
        env.update(MMAP_EVERY_ARRAY)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.batch", "--worker", worker, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker {worker} {kwargs} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------
# the table


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def _ms(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s < 0.1 else f"{s:.2f} s"


def _ratio_row(name: str, result: dict[str, Any], target: float) -> Row:
    times = result["times"]
    mine = statistics.median(times["chainrule"])
    if "torch" not in times:
        return Row(name, _ms(mine), "chainrule alone (no torch)", f"<= {target}x", None)
    ratios = [a / b for a, b in zip(times["chainrule"], times["torch"])]
    ratio = statistics.median(ratios)
    spread = f"; {min(ratios):.2f}-{max(ratios):.2f}x over reps" if len(ratios) > 1 else ""
    return Row(
        name,
        f"{ratio:.2f}x",
        f"chainrule {_ms(mine)}, torch {_ms(statistics.median(times['torch']))}{spread}",
        f"<= {target}x",
        ratio <= target,
    )


def run(
    quick: bool = False, *, use_torch: bool | None = None, reps: int | None = None
) -> tuple[list[Row], dict[str, Any]]:
    """Measure every row; ``(rows, raw)`` with ``raw`` every number the workers returned.

    ``use_torch``: None compares with PyTorch when it is installed; False never does.
    """
    plan = QUICK if quick else FULL
    n_reps = plan.reps if reps is None else reps
    with_torch = torch_installed() if use_torch is None else use_torch and torch_installed()
    raw: dict[str, Any] = {"versions": versions(), "torch": with_torch, "reps": n_reps}
    skipped = NO_TORCH if not torch_installed() else TORCH_OFF
    rows: list[Row] = []
    for n in plan.moons_sizes:
        res = measure(
            "step", task="moons", n=n, reps=n_reps, seconds=plan.seconds_per_rep, torch=with_torch
        )
        raw[f"moons_{n}"] = res
        rows.append(_ratio_row(f"moons MLP(2,[16,16,1]) hinge+L2 step, N={n:,}", res, TARGET_MOONS))

    res = measure(
        "step",
        task="digits",
        n=plan.digits_limit,
        reps=n_reps,
        seconds=plan.seconds_per_rep,
        torch=with_torch,
    )
    raw["digits_step"] = res
    rows.append(
        _ratio_row(f"digits MLP(64,[32,10]) cross-entropy step, N={res['n']:,}", res, TARGET_DIGITS)
    )

    res = measure("train", limit=plan.digits_limit, epochs=plan.epochs, torch=with_torch)
    raw["digits_train"] = res
    acc = res["chainrule_accuracy"]
    detail = f"{res['steps']} steps, {res['n_train']} train / {res['n_test']} test"
    if with_torch:
        detail += (
            f"; torch {res['torch_accuracy']:.1%}; "
            f"time chainrule {_ms(res['chainrule_s'])}, torch {_ms(res['torch_s'])}"
        )
    else:
        detail += f"; time {_ms(res['chainrule_s'])}"
    rows.append(
        Row(
            f"digits: {plan.epochs} epochs of Adam (batch {DIGITS_BATCH}), test accuracy",
            f"{acc:.1%}",
            detail,
            f">= {TARGET_ACCURACY:.0%}",
            acc >= TARGET_ACCURACY,
        )
    )
    if with_torch:
        worst = res["max_loss_diff"]
        rows.append(
            Row(
                "digits: per-step losses, chainrule vs torch (same initial weights)",
                f"max |diff| {worst:.1e}",
                f"over {res['steps']} steps (worst at step {res['worst_step']})",
                f"<= {TARGET_LOSS_DIFF:.0e}",
                worst <= TARGET_LOSS_DIFF,
            )
        )
    else:
        rows.append(
            Row(
                "digits: per-step losses, chainrule vs torch",
                "skipped",
                skipped,
                f"<= {TARGET_LOSS_DIFF:.0e}",
                None,
            )
        )

    res = measure("trace", reps=n_reps)
    raw["trace"] = res
    trace_s = statistics.median(res["trace_s"])
    rows.append(
        Row(
            "digits model: trace + code generation",
            f"{trace_s:.3f} s",
            f"first call on {TRACE_BATCH} samples minus a later one",
            f"<= {TARGET_TRACE_S} s",
            trace_s <= TARGET_TRACE_S,
        )
    )

    if sys.platform.startswith("linux"):
        mine = measure("memory", memory=True, engine="chainrule", n=plan.memory_n)
        raw["memory_chainrule"] = mine
        name = f"moons step peak memory, N={plan.memory_n:,} (import excluded)"
        if with_torch:
            theirs = measure("memory", memory=True, engine="torch", n=plan.memory_n)
            raw["memory_torch"] = theirs
            ratio = mine["peak_mb"] / max(theirs["peak_mb"], 1e-9)
            rows.append(
                Row(
                    name,
                    f"{ratio:.2f}x",
                    f"chainrule {mine['peak_mb']:.1f} MB, torch {theirs['peak_mb']:.1f} MB",
                    f"<= {TARGET_MEMORY}x",
                    ratio <= TARGET_MEMORY,
                )
            )
        else:
            rows.append(
                Row(
                    name,
                    f"{mine['peak_mb']:.1f} MB",
                    "chainrule alone (no torch)",
                    f"<= {TARGET_MEMORY}x",
                    None,
                )
            )
    else:
        rows.append(Row("moons step peak memory", "skipped", "needs Linux's /proc", "", None))
    return rows, raw


def print_table(rows: Sequence[Row], raw: dict[str, Any], file: TextIO | None = None) -> None:
    """The versions, then one line per row: measure, result, detail, target, met."""
    out = sys.stdout if file is None else file
    v = raw["versions"]
    torch_text = f"torch {v['torch']}" if "torch" in v else "no torch"
    print(
        f"\nbatch replay (engine.vmap) vs PyTorch - Python {v['python']}, numpy {v['numpy']}, "
        f"{torch_text}; {platform.machine()}, float64, one thread; "
        f"{raw['reps']} repetition(s), medians of per-repetition ratios\n",
        file=out,
    )
    if not raw["torch"]:
        print((NO_TORCH if "torch" not in v else TORCH_OFF) + "\n", file=out)
    header = ("measure", "result", "detail", "target")
    widths = [
        max([len(h)] + [len(getattr(r, f)) for r in rows])
        for h, f in zip(header, ("name", "value", "detail", "target"))
    ]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  met", file=out)
    print("  ".join("-" * w for w in widths) + "  ---", file=out)
    for r in rows:
        cells = (r.name, r.value, r.detail, r.target)
        met = "-" if r.ok is None else "yes" if r.ok else "NO"
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + met, file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.batch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    parser.add_argument("--reps", type=int, help=f"repetitions (default {FULL.reps})")
    parser.add_argument("--no-torch", action="store_true", help="chainrule's numbers only")
    parser.add_argument("--json", metavar="PATH", help="also write all raw numbers here")
    parser.add_argument("--worker", nargs=2, metavar=("NAME", "ARGS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        name, kwargs = args.worker
        print(json.dumps(WORKERS[name](**json.loads(kwargs))))
        return 0
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    rows, raw = run(args.quick, use_torch=False if args.no_torch else None, reps=args.reps)
    print_table(rows, raw)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(raw, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
