"""``engine.vmap``: a one-sample function replayed over a batch of N samples with numpy.

>>> import numpy as np
>>> from engine import Value, vmap
>>> w = Value(0.5, label="w")
>>> step = vmap(lambda x, y: (w * x - y) ** 2)
>>> step(np.array([3.0, 1.0]), np.array([1.0, 0.0]))   # mean of 0.25 and 0.25
0.25
>>> w.grad                                           # mean of 3.0 and 1.0
2.0

How it works. The first call with a given shape of sample traces ``f`` once on the
first sample, exactly as ``engine.compile`` does (:mod:`engine.trace`), then writes
the graph out as numpy (:mod:`engine.batch_codegen`): what does not depend on the
inputs (parameters, an L2 term) is computed once as floats, every other node is one
vectorised line over the N samples, a layer of ``engine.dot`` sums is one matrix
product (its activation one op on the matrix), and the backward pass sums each
parameter's gradient over the batch where a batched value meets it. Later calls with
the same sample shape run that code; its arrays are kept per batch size and reused.
Numbers agree with eager evaluation summed sample by sample to rounding (numpy's exp
or a matrix product may round differently from math.exp or eager's loop), not to the
last bit as ``engine.compile``'s do.

* Arguments: array-likes with a leading batch axis of the same length N; the rest of
  an argument's shape is one sample's (``(N,)``: ``f`` gets a number, ``(N, n)``: a
  list of n numbers, ``(N, n, m)``: nested lists). Every number must be finite. A
  float64 C-contiguous array is read where it lies (no copy), through a read-only
  view: the replay cannot write into it. Anything else is converted or copied first.
* The result: the loss reduced over the batch (``reduce="mean"`` or ``"sum"``), and
  with ``has_aux=True`` also ``aux`` with a leading N axis (a Value -> an array (N,),
  a list of k Values -> (N, k)). The reduced gradients are added to the captured
  leaves' ``.grad``, as ``backward()`` adds them. ``per_sample(...)`` also returns
  every sample's own gradients. ``backward=False``: ``f``'s whole output, batched.
* Piecewise ops are ``np.where``/``np.maximum``: each sample takes its own branch.
* Errors are eager's. The replay runs under ``np.errstate(over, invalid, divide =
  "raise")`` and checks the loss and gradients are finite; when something is not, it
  finds the first sample with a non-finite number and runs ``f`` eagerly on it, so the
  error is the engine's own, with the sample's index: ``sample 17: log(-0.05) is
  undefined ...``. Nothing is added to any ``.grad`` then.
* Python control flow on a Value (``if x > 0:``) is guarded: every comparison made
  while tracing is checked for every sample. A batch whose samples all take another
  branch than the trace is traced again (up to :data:`MAX_TRACES` per sample shape);
  a batch whose samples branch *differently from each other* is refused with a
  :class:`TraceError` naming the first sample that differs and the comparison: vmap
  runs one branch for the whole batch and never silently gives a sample the traced
  branch. Write such a branch with relu/max/abs, or split the batch yourself.
  The guards due at one point of the replay are checked with one quick test (against
  a number, one min or max over the rows they read: nn's one-hot range checks of ten
  classes are two reductions); only when it fails is each checked in turn, so the
  error names the same guard and sample as checking them one by one would.
  ``strict=True`` refuses any comparison that changes.
* Frozen numbers: ``round(v)``, ``f"{v:.3f}"``, ``detach()``, a ``no_grad()`` block
  seen while tracing keep the traced sample's number for every sample: reported as a
  :class:`TraceWarning` (an error with ``strict=True``). **A bare ``v.data`` read cannot
  be caught**: it silently bakes the first sample's number into every sample (write
  ``v`` itself, or use ``engine.functional``).
* ``define_op`` ops have no batch templates: vmap calls their forward and rule once per
  sample from Python (:func:`each`, :func:`each_rule`): correct, but as slow as eager
  for that op; an error there names the sample.
* Speed: the replay runs numpy's BLAS (OpenBLAS, MKL, ...) on one thread
  (``blas_threads=1``, through threadpoolctl, only for the duration of the call; the
  rest of the process keeps its setting). A scalar-written model's matrices are small,
  so BLAS threads give little and cost much when the cores are busy: the digits step
  took 184 ms with OpenBLAS's two threads on this loaded 2-core machine, 2.9 ms on one.
  ``blas_threads=None`` leaves BLAS as it is; another number sets that many threads.
* Captured leaves (parameters) are read by reference on every call, so an optimizer
  that changes ``p.data`` between calls is seen.
* The arrays the generated code writes into are kept per batch size and reused, so a
  vmapped function is not for two threads at once; what it returns is always a copy.

numpy is imported by ``engine/batch*.py`` only: ``import engine`` does not import it.
"""

from __future__ import annotations

import builtins
import contextlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
import threadpoolctl

from engine import batch_codegen, trace
from engine.backward import toposort
from engine.codegen import escape
from engine.trace import TraceError, TraceWarning
from engine.value import Value, add_to_grads, read_data

__all__ = ["vmap", "BatchedFunction", "BatchResult", "MAX_TRACES", "each", "each_rule"]

#: Traces kept per sample shape (one per branch combination seen).
MAX_TRACES = 8

_FILENAME = "<chainrule vmap>"

#: What the generated code reads: one (size, N) array per argument (see ``_arrays``).
Inputs = tuple[np.ndarray, ...]

#: Batch sizes whose buffers are kept (mini-batches and a ragged last one, evaluation).
MAX_BUFFER_SETS = 4


@dataclass
class BatchResult:
    """What :meth:`BatchedFunction.per_sample` returns."""

    #: the loss reduced over the batch (mean, or sum with ``reduce="sum"``)
    loss: float
    #: each sample's loss, shape (N,)
    losses: np.ndarray
    #: the aux output batched (None without ``has_aux``)
    aux: Any
    #: each captured leaf's per-sample gradients, shape (N,): unreduced
    grads: dict[Value, np.ndarray]


class _GuardMiss(Exception):
    """A traced comparison came out differently for some samples."""

    def __init__(self, k: int, sample: int, uniform: bool) -> None:
        super().__init__(k, sample, uniform)
        self.k = k
        self.sample = sample
        self.uniform = uniform


class _SampleError(Exception):
    """An op called per sample (:func:`each`) raised for one sample."""

    def __init__(self, sample: int, error: BaseException) -> None:
        super().__init__(sample, error)
        self.sample = sample
        self.error = error


_blas: list[Any] | None = None  # threadpoolctl's controllers of the BLAS libraries loaded


class _BlasThreads:
    """BLAS on ``threads`` threads for the duration of a ``with`` block, then put back,
    through threadpoolctl's controller of each BLAS library numpy loaded (OpenBLAS,
    MKL, BLIS), found once. A library already on that many threads is left alone: the
    usual case costs one query per library (about 1 µs; a threadpoolctl limit, which
    reads every library's full description each time, took about 20 µs)."""

    def __init__(self, threads: int) -> None:
        global _blas
        if _blas is None:
            controller = threadpoolctl.ThreadpoolController()
            _blas = [c for c in controller.lib_controllers if c.user_api == "blas"]
        self.threads = threads
        self.changed: list[tuple[Any, int]] = []

    def __enter__(self) -> None:
        assert _blas is not None
        for lib in _blas:
            before = lib.num_threads
            if before != self.threads:
                lib.set_num_threads(self.threads)
                self.changed.append((lib, before))

    def __exit__(self, *exc: object) -> None:
        for lib, before in self.changed:
            lib.set_num_threads(before)
        self.changed.clear()


def _blas_limit(threads: int | None) -> contextlib.AbstractContextManager[Any]:
    """A context that runs BLAS on ``threads`` threads (and puts the setting back), or
    does nothing for None."""
    if threads is None:
        return contextlib.nullcontext()
    return _BlasThreads(threads)


# --- helpers the generated code calls -------------------------------------------------


def each(n: float, fn: Callable[..., float], *args: Any) -> np.ndarray:
    """``fn`` (an op's float forward) called once per sample: the slow, correct path of an
    op without batch templates. Floats among ``args`` are the same for every sample."""
    count = int(n)
    cols = [np.broadcast_to(a, (count,)).tolist() for a in args]
    out = np.empty(count)
    for i in range(count):
        try:
            out[i] = fn(*(c[i] for c in cols))
        except Exception as e:
            raise _SampleError(i, e) from e
    return out


def each_rule(n: float, rule: Callable[..., Any], arity: int, *args: Any) -> Any:
    """An op's derivative rule called once per sample: one array (N,) per parent."""
    count = int(n)
    cols = [np.broadcast_to(a, (count,)).tolist() for a in args]
    outs = [np.empty(count) for _ in range(arity)]
    for i in range(count):
        try:
            d = rule(*(c[i] for c in cols))
        except Exception as e:
            raise _SampleError(i, e) from e
        if arity == 1:
            outs[0][i] = d
        else:
            outs[0][i], outs[1][i] = d
    return outs[0] if arity == 1 else tuple(outs)


def _stack(out: np.ndarray, rows: tuple[Any, ...]) -> np.ndarray:
    """``rows`` (arrays (N,) or floats) written into the rows of ``out``."""
    for i, r in enumerate(rows):
        out[i] = r
    return out


def _float_array(numbers: list[float]) -> np.ndarray:
    """The leaves' numbers as an array (fromiter: faster than np.array for floats)."""
    return np.fromiter(numbers, np.float64, len(numbers))


def _repeat(g: Any, k: int, n: float) -> np.ndarray:
    """``g`` (a number, or an array (N,)) as ``k`` equal rows, (k, N): a read-only view,
    what ``np.broadcast_to`` gives, made directly for these two cases (about 1.5 µs
    instead of 4 to 20: broadcast_to's general case builds an iterator)."""
    count = int(n)
    a = np.asarray(g, dtype=np.float64)
    if a.ndim == 0:
        a = a.reshape(1)
        strides: tuple[int, int] = (0, 0)
    elif a.shape == (count,) and a.flags.c_contiguous:
        strides = (0, a.itemsize)
    else:
        return np.broadcast_to(a, (k, count))
    view = np.ndarray((k, count), np.float64, a, 0, strides)
    view.flags.writeable = False
    return view


def _max_rows(g: Any, m: np.ndarray, top: np.ndarray, rev: bool, out: np.ndarray) -> np.ndarray:
    """The gradient of max over the rows of ``m`` (a chain of ``max`` nodes, in the rows'
    order or, ``rev``, the reverse; ``top``: its result, ``m.max(axis=0)``), written into
    ``out``: each sample's ``g`` to the row that won, the first in the chain's order on a
    tie (``max(x, y)`` passes it to x when x >= y).

    ``out`` first holds 1.0 where ``m`` equals its column's maximum. When that adds up
    to one per column (and ``top`` has no NaN, whose column would have none), no sample
    ties and the order of the chain does not matter: ``out * g``. Else each column's
    first in the chain's order (argmax) gets ``g``."""
    n = m.shape[1]
    np.equal(m, top, out=out)
    if out.sum() == n and not np.isnan(top).any():
        return np.multiply(out, g, out=out)
    chain = m[::-1] if rev else m
    idx = np.argmax(chain, axis=0)
    into = out[::-1] if rev else out
    into.fill(0.0)
    into[idx, np.arange(n)] = g
    return out


def _namespace(guards: list[trace.Guard], debug: list[Any] | None) -> dict[str, Any]:
    def guard(k: int, result: Any) -> None:
        expected = guards[k].result
        if type(result) is bool or isinstance(result, np.bool_):
            if bool(result) != expected:
                raise _GuardMiss(k, 0, True)
            return
        bad = result != expected
        if bad.any():
            raise _GuardMiss(k, int(np.argmax(bad)), bool(bad.all()))

    def note(v: Any) -> None:
        assert debug is not None
        if isinstance(v, np.ndarray) and v.ndim >= 1:
            bad: Any = ~np.isfinite(v)
            while bad.ndim > 1:
                bad = bad.any(axis=0)
            debug[0] |= bad

    def each_tolerant(n: float, fn: Callable[..., float], *args: Any) -> np.ndarray:
        try:
            return each(n, fn, *args)
        except _SampleError as e:
            assert debug is not None
            debug[0][e.sample] = True
            raise

    return {
        "np": np,
        "_dot": np.dot,
        "_array": _float_array,
        "_zeros": np.zeros,
        "_matmul": np.matmul,
        "_add_at": np.add.at,
        "_stack": _stack,
        "_repeat": _repeat,
        "_max_rows": _max_rows,
        "_each": each if debug is None else each_tolerant,
        "_each_rule": each_rule,
        "_guard": guard,
        "_note": note,
    }


class Program:
    """One trace written out: the reduced program, and the per-sample one when asked."""

    def __init__(self, t: trace.Trace, backward: bool, group: bool, arg_sizes: list[int]) -> None:
        self.trace = t
        self.backward = backward
        self.group = group
        self.arg_sizes = arg_sizes
        self.reduced = self._generate(per_sample=False)
        self.fn = self._compile(self.reduced, debug=None)
        self._per_sample: tuple[batch_codegen.BatchGenerated, Any] | None = None
        self.live = self.reduced.live
        self.grad_leaves = self.reduced.grad_leaves
        # per (variant, N): the arrays the generated code writes into, reused call after
        # call (fresh temporaries of this size cost page faults every call)
        self._buffers: dict[tuple[bool, int], list[np.ndarray]] = {}

    def buffers(self, gen: batch_codegen.BatchGenerated, per_sample: bool, n: int) -> Any:
        key = (per_sample, n)
        found = self._buffers.get(key)
        if found is None:
            if len(self._buffers) >= MAX_BUFFER_SETS:
                self._buffers.pop(next(iter(self._buffers)))
            found = [np.empty((r, n) if r else n) for r in gen.buffers]
            self._buffers[key] = found
        return found

    def _generate(self, per_sample: bool) -> batch_codegen.BatchGenerated:
        t = self.trace
        return batch_codegen.generate(
            t.root,
            t.aux_items,
            t.guards,
            t.inputs,
            backward=self.backward,
            per_sample=per_sample,
            group=self.group,
            arg_sizes=self.arg_sizes,
        )

    def _compile(self, gen: batch_codegen.BatchGenerated, debug: list[Any] | None) -> Any:
        namespace = dict(gen.namespace)
        namespace.update(_namespace(self.trace.guards, debug))
        source = gen.source if debug is None else gen.debug_source()
        # our own generated source (batch_codegen writes every character), never user text
        exec(builtins.compile(source, _FILENAME, "exec"), namespace)
        return namespace["batch_step"]

    def per_sample(self) -> tuple[batch_codegen.BatchGenerated, Any]:
        if self._per_sample is None:
            gen = self._generate(per_sample=True)
            self._per_sample = (gen, self._compile(gen, debug=None))
        return self._per_sample

    @property
    def source(self) -> str:
        return self.reduced.view()


def _aux_batched(obj: Any) -> Any:
    """Lists of arrays of one shape stacked along a new axis 1 (the batch axis first)."""
    if isinstance(obj, np.ndarray):
        return obj
    if isinstance(obj, dict):
        return {k: _aux_batched(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [_aux_batched(v) for v in obj]
        if items and all(isinstance(v, np.ndarray) and v.shape == items[0].shape for v in items):
            return np.stack(items, axis=1)
        return items if isinstance(obj, list) else tuple(items)
    return obj


class _Output:
    """``f``'s whole output as the aux of a constant loss (``backward=False``)."""

    def __init__(self, f: Callable[..., Any]) -> None:
        self.f = f

    def __call__(self, *args: Any) -> Any:
        return Value(0.0), self.f(*args)


class BatchedFunction:
    """A one-sample function replayed over a batch axis (see :func:`vmap`)."""

    def __init__(
        self,
        f: Callable[..., Any],
        has_aux: bool,
        reduce: str,
        backward: bool,
        strict: bool,
        group: bool,
        blas_threads: int | None = 1,
    ) -> None:
        if not callable(f):
            raise TypeError(f"vmap() needs a callable, not {type(f).__name__}")
        if reduce not in ("mean", "sum"):
            raise ValueError(f"reduce must be 'mean' or 'sum', not {reduce!r}")
        for name, flag in (
            ("has_aux", has_aux),
            ("backward", backward),
            ("strict", strict),
            ("group", group),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"vmap(): {name} must be True or False, not {flag!r}")
        if blas_threads is not None and (
            type(blas_threads) is not int or blas_threads < 1  # (bool is not int here)
        ):
            raise ValueError(
                f"vmap(): blas_threads must be a positive int or None, not {blas_threads!r}"
            )
        self.blas_threads = blas_threads
        self.f = f
        self.has_aux = has_aux
        self.reduce = reduce
        self.backward = backward
        self.strict = strict
        self.group = group
        self._programs: dict[tuple[Any, ...], list[Program]] = {}
        # per (sample shapes, N): for each argument that is not float64 and C-contiguous,
        # an array its numbers are copied into (one row per sample), kept for the next call
        self._copies: dict[tuple[Any, int], list[np.ndarray | None]] = {}
        self._last: Program | None = None
        self.__name__ = getattr(f, "__name__", "vmapped")
        self.__doc__ = getattr(f, "__doc__", None)

    def __repr__(self) -> str:
        n = sum(len(p) for p in self._programs.values())
        return f"<vmap {escape(str(self.__name__))}: {n} trace(s)>"

    # --- arguments ----------------------------------------------------------------

    def _arrays(self, args: tuple[Any, ...]) -> tuple[Inputs, tuple[Any, ...], int]:
        """The inputs as one read-only (size, N) float64 view per argument (one row per
        number of a sample: the argument's own memory, transposed, when it is float64
        and C-contiguous, else a copy into an array kept for this shape and N), the
        sample shapes, and N."""
        if not args:
            raise TypeError("a vmapped function takes at least one array (the batch)")
        arrays = []
        for k, a in enumerate(args):
            if isinstance(a, (str, bytes, Value)):
                raise TypeError(
                    f"argument {k} must be an array of numbers with a leading batch axis, "
                    f"not {type(a).__name__}"
                )
            try:
                raw = np.asarray(a)
                if raw.dtype == np.bool_:
                    raise TypeError(f"argument {k} is an array of bools, not of numbers")
                arr = raw.astype(np.float64, copy=False)
            except (TypeError, ValueError) as e:
                if str(e).startswith(f"argument {k} "):
                    raise
                raise TypeError(
                    f"argument {k} must be an array of real numbers with a leading batch axis ({e})"
                ) from None
            if arr.ndim == 0:
                raise ValueError(
                    f"argument {k} is a single number; vmap takes arrays with a leading "
                    "batch axis (shape (N,) for one number per sample)"
                )
            arrays.append(arr)
        n = arrays[0].shape[0]
        for k, arr in enumerate(arrays):
            if arr.shape[0] != n:
                raise ValueError(
                    f"argument {k} has {arr.shape[0]} samples, argument 0 has {n}: the "
                    "leading (batch) axis must be the same for every argument"
                )
        if n == 0:
            raise ValueError("the batch is empty (N = 0)")
        shapes = tuple(arr.shape[1:] for arr in arrays)
        cols = [arr.reshape(n, -1) for arr in arrays]
        key = (shapes, n)
        copies = self._copies.get(key)
        mats = []
        total = 0.0
        for k, c in enumerate(cols):
            if not c.flags.c_contiguous:  # (a float64 array's own memory only if contiguous)
                if copies is None:
                    if len(self._copies) >= MAX_BUFFER_SETS:
                        self._copies.pop(next(iter(self._copies)))
                    copies = self._copies[key] = [None] * len(cols)
                kept = copies[k]
                if kept is None:
                    kept = copies[k] = np.empty(c.shape)
                np.copyto(kept, c)
                c = kept
            # one row per number of a sample (a view); read-only: the replay cannot write
            # into the caller's array (numpy refuses any write through this view)
            mat = c.T
            mat.flags.writeable = False
            mats.append(mat)
            flat = c.reshape(-1)  # (c is C-contiguous: a view)
            with np.errstate(over="ignore", invalid="ignore"):  # (squares may overflow)
                total += float(np.dot(flat, flat))  # BLAS: faster than a sum
        # Σ x² is finite unless some x is a NaN or an infinity, or squares overflow
        # (|x| > 1e154: then the exact check below finds nothing and the call goes on)
        if total - total != 0.0:
            for k, c in enumerate(cols):
                good = np.isfinite(c)
                if not good.all():
                    i, j = (int(v) for v in np.argwhere(~good)[0])
                    where = f"[{i}]" if arrays[k].ndim == 1 else f"[{i}, ...] (number {j} of it)"
                    bad = float(c[i, j])
                    raise ValueError(
                        f"sample {i}: argument {k}{where} is {bad!r}; every number must be finite"
                    )
        return tuple(mats), shapes, n

    def _sample(self, inputs: Inputs, shapes: tuple[Any, ...], i: int) -> tuple[Any, ...]:
        """Sample ``i`` as ``f``'s arguments: numbers and nested lists."""
        out = []
        for mat, shape in zip(inputs, shapes):
            part = mat[:, i]
            out.append(float(part[0]) if not shape else part.reshape(shape).tolist())
        return tuple(out)

    # --- tracing --------------------------------------------------------------------

    def _traced(self) -> Callable[..., Any]:
        return self.f if self.backward else _Output(self.f)

    def _new_program(self, inputs: Inputs, shapes: tuple[Any, ...], i: int) -> Program:
        flat, sig = trace.flatten_args(self._sample(inputs, shapes, i))
        t = trace.run(self._traced(), flat, sig, self.has_aux or not self.backward)
        if t.events:
            message = (
                "Python code read a Value's number while tracing; the batched code keeps "
                "the traced sample's number for every sample:\n  " + "\n  ".join(t.events)
            )
            if self.strict:
                raise TraceError(message)
            warnings.warn(message, TraceWarning, stacklevel=4)
        sizes = [int(np.prod(shape)) if shape else 1 for shape in shapes]
        return Program(t, self.backward, self.group, sizes)

    def trace(self, *arrays: Any) -> Program:
        """Trace and generate the code for these arrays' sample shape (done on first call)."""
        inputs, shapes, _ = self._arrays(arrays)
        programs = self._programs.setdefault(shapes, [])
        if not programs:
            programs.append(self._new_program(inputs, shapes, 0))
        self._last = programs[0]
        return programs[0]

    # --- running --------------------------------------------------------------------

    def _run(self, arrays: tuple[Any, ...], per_sample: bool) -> tuple[Program, Any, int]:
        inputs, shapes, n = self._arrays(arrays)
        programs = self._programs.setdefault(shapes, [])
        miss: tuple[Program, _GuardMiss] | None = None
        for k, program in enumerate(programs):
            try:
                result = self._call(program, inputs, n, shapes, per_sample)
            except _GuardMiss as e:
                if self.strict or not e.uniform:
                    self._refuse(program, e)
                miss = (program, e)
                continue
            if k:
                programs.insert(0, programs.pop(k))
            self._last = program
            return program, result, n
        if miss is not None and len(programs) >= MAX_TRACES:
            raise TraceError(
                f"{self.__name__}: more than {MAX_TRACES} branch combinations for one sample "
                f"shape; {miss[0].trace.guards[miss[1].k].describe()} differs again"
            )
        program = self._new_program(inputs, shapes, 0)
        try:
            result = self._call(program, inputs, n, shapes, per_sample)
        except _GuardMiss as e:
            self._refuse(program, e)
        programs.insert(0, program)
        self._last = program
        return program, result, n

    def _refuse(self, program: Program, e: _GuardMiss) -> NoReturn:
        g = program.trace.guards[e.k]
        raise TraceError(
            f"sample {e.sample}: the comparison {g.describe()} (on the traced sample) comes "
            f"out {not g.result} for this sample; vmap runs one branch for the whole batch, "
            "so it refuses a batch whose samples branch differently"
            + (" (strict=True)" if self.strict and e.uniform else "")
            + ": write the branch with relu/max/abs, or split the batch by branch"
        )

    def _call(
        self,
        program: Program,
        inputs: Inputs,
        n: int,
        shapes: tuple[Any, ...],
        per_sample: bool,
    ) -> Any:
        leaves = read_data(program.live)
        gen, fn = program.per_sample() if per_sample else (program.reduced, program.fn)
        buffers = program.buffers(gen, per_sample, n)
        try:
            with (
                _blas_limit(self.blas_threads),
                np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"),
            ):
                out, aux, grads = fn(inputs, leaves, float(n), buffers)
        except (ArithmeticError, ValueError, _SampleError) as e:
            self._explain(program, inputs, n, shapes, e)
        losses = np.broadcast_to(np.asarray(out, dtype=np.float64), (n,))
        total = float(np.sum(losses))
        if per_sample:
            grad_list: list[Any] = [np.broadcast_to(g, (n,)) for g in grads]
            check = total + sum(float(np.sum(g)) for g in grad_list)
        else:
            grad_list = grads  # one array over the leaves, or () without backward
            check = total + float(np.sum(grads))
        if check - check != 0.0:
            self._explain(program, inputs, n, shapes, None)
        return losses, total, aux, grad_list

    def _explain(
        self,
        program: Program,
        inputs: Inputs,
        n: int,
        shapes: tuple[Any, ...],
        error: BaseException | None,
    ) -> NoReturn:
        """Find the first sample with a non-finite number and raise eager's error for it."""
        if isinstance(error, _SampleError):
            bad = error.sample
        else:
            mask = [np.zeros(n, dtype=bool)]
            fn = program._compile(program.reduced, debug=mask)
            buffers = program.buffers(program.reduced, False, n)
            try:
                with np.errstate(all="ignore"):
                    fn(inputs, read_data(program.live), float(n), buffers)
            except (ArithmeticError, ValueError, _SampleError, _GuardMiss):
                pass
            bad = int(np.argmax(mask[0])) if mask[0].any() else 0
        self._eager(inputs, shapes, bad, error)

    def _eager(
        self, inputs: Inputs, shapes: tuple[Any, ...], i: int, error: BaseException | None
    ) -> NoReturn:
        """Run ``f`` eagerly on sample ``i`` (backward included, every grad put back) and
        raise its error with the sample's index."""
        flat, sig = trace.flatten_args(self._sample(inputs, shapes, i))
        try:
            t = trace.run(self._traced(), flat, sig, self.has_aux or not self.backward)
            if self.backward:
                leaves = [v for v in toposort(t.root) if v.is_leaf]
                saved = [v.grad for v in leaves]
                try:
                    t.root.backward()
                finally:
                    for v, g in zip(leaves, saved):
                        v.grad = g
        except Exception as e:
            message = f"sample {i}: {e}"
            try:
                new = type(e)(message)
            except Exception:
                raise FloatingPointError(message) from e
            raise new from e
        detail = f" ({error})" if error is not None else ""
        raise FloatingPointError(
            f"sample {i}: the batched replay met a non-finite number{detail} where eager "
            "evaluation of that sample did not"
        )

    def _finish(self, program: Program, result: Any, n: int, per_sample: bool) -> Any:
        losses, total, aux, grads = result
        scale = 1.0 / n if self.reduce == "mean" else 1.0
        loss = total * scale
        if per_sample:
            reduced = [float(np.sum(g)) * scale for g in grads]
        else:
            reduced = (np.asarray(grads, dtype=np.float64) * scale).tolist()
        gen = program.per_sample()[0] if per_sample else program.reduced
        add_to_grads(gen.grad_leaves, reduced)
        aux_value = None
        t = program.trace
        if t.aux_shape is not None:
            values: list[Any] = [
                np.full(n, a) if not isinstance(a, Value) else None for a in t.aux_items
            ]
            for i, x in zip(gen.aux_returned, aux):
                values[i] = np.array(np.broadcast_to(x, (n,)))
            aux_value = _aux_batched(trace.rebuild_aux(t.aux_shape, values))
        per_leaf = dict(zip(gen.grad_leaves, grads)) if per_sample else {}
        return loss, np.array(losses), aux_value, per_leaf

    def __call__(self, *arrays: Any) -> Any:
        program, result, n = self._run(arrays, per_sample=False)
        loss, _, aux, _ = self._finish(program, result, n, per_sample=False)
        if not self.backward:
            return aux
        return (loss, aux) if self.has_aux else loss

    def per_sample(self, *arrays: Any) -> BatchResult:
        """The reduced loss, each sample's loss, the aux and each sample's gradients
        (``.grad`` accumulates the reduced gradients exactly as a call does)."""
        if not self.backward:
            raise ValueError("per_sample needs backward=True (gradients come from backward)")
        program, result, n = self._run(arrays, per_sample=True)
        loss, losses, aux, grads = self._finish(program, result, n, per_sample=True)
        full = {v: np.array(np.broadcast_to(g, (n,))) for v, g in grads.items()}
        return BatchResult(loss, losses, aux, full)

    @property
    def source(self) -> str:
        """The generated numpy source of the latest trace, labels shown as comments."""
        if self._last is None:
            raise RuntimeError("nothing traced yet: call the function once, or .trace(*arrays)")
        return self._last.source

    @property
    def guards(self) -> list[str]:
        """The comparisons on Values the latest trace is guarded by, described."""
        return [] if self._last is None else [g.describe() for g in self._last.trace.guards]


def vmap(
    f: Callable[..., Any],
    *,
    has_aux: bool = False,
    reduce: str = "mean",
    backward: bool = True,
    strict: bool = False,
    group: bool = True,
    blas_threads: int | None = 1,
) -> BatchedFunction:
    """Map a one-sample function over a batch axis, replayed as generated numpy code.

    ``f`` takes one sample (numbers, nested lists of numbers) and returns its loss, a
    scalar Value (or ``(loss, aux)`` with ``has_aux=True``). The result takes arrays
    with a leading batch axis N, returns the loss reduced over the batch
    (``reduce="mean"`` or ``"sum"``) and adds the reduced gradients to the captured
    leaves' ``.grad``. ``backward=False``: returns ``f``'s output batched, no gradients.
    ``strict=True``: frozen reads and a changed comparison are errors. ``group=False``
    writes every neuron's sum node by node (no matrix products; same numbers, slower).
    ``blas_threads``: the BLAS threads the replay's matrix products use (1 by default;
    None leaves the process's setting alone).
    See the module docstring for what is guarded and what cannot be caught.
    """
    return BatchedFunction(f, has_aux, reduce, backward, strict, group, blas_threads)
