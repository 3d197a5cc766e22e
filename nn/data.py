"""Toy data sets, one real one, a train/test split and a standardizer, in pure Python.

Every generator returns ``(X, y)``: ``X`` a list of ``[x0, x1]`` points (floats) and
``y`` a list of int class labels (0, 1, ... as in scikit-learn; the hinge loss wants
2y − 1). :func:`load_digits` reads the 8×8 handwritten digits shipped in
``nn/datasets/`` (1,797 images, CC BY 4.0), in the same ``(X, y)`` form.

Randomness follows :func:`nn.seeding.make_rng`: the same ``seed`` gives the same data
on every machine (Python's Mersenne Twister is platform independent, and
only ``random``'s long-stable ``uniform``, ``gauss`` and ``shuffle`` are used).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import numbers
import random
from collections.abc import Sequence
from importlib import resources
from typing import Any

from engine.checks import is_finite, is_real, to_float
from nn.seeding import make_rng

__all__ = [
    "DIGITS_FILE",
    "Standardizer",
    "load_digits",
    "make_circles",
    "make_moons",
    "make_spiral",
    "make_xor",
    "to_lists",
    "train_test_split",
]

Dataset = tuple[list[list[float]], list[int]]


def _is_int(n: Any) -> bool:
    """An int or a numpy integer (a real number that is integral), never a bool."""
    return is_real(n) and isinstance(n, numbers.Integral)


def to_lists(x: Any) -> Any:
    """A numpy array (of one or more dimensions) as nested lists of Python numbers;
    anything else as it is. The nn functions that take lists of numbers (losses'
    targets, ``MLP.from_weights``, ``Standardizer``) take arrays through it."""
    if getattr(x, "ndim", 0) and callable(getattr(x, "tolist", None)):
        return x.tolist()
    return x


#: The digits file, relative to the ``nn`` package (its README beside it says where it
#: comes from, its licence and its checksum).
DIGITS_FILE = "datasets/uci_optdigits_8x8.csv.gz"
_DIGITS_ROWS = 1797
_DIGITS_PIXELS = 64


def load_digits() -> Dataset:
    """The 8×8 handwritten digits: ``X`` (1,797 rows of 64 floats, pixels 0..16) and
    ``y`` (labels 0..9, as ints), in the file's order (scikit-learn's ``load_digits``).

    Each row is one image read row by row, top left first (``row[8 * i + j]`` is pixel
    (i, j)); divide by 16 for pixels in [0, 1]. Split it with :func:`train_test_split`
    (``seed=`` makes the split the same on every machine).

    The data: the test set of *Optical Recognition of Handwritten Digits* by
    E. Alpaydin and C. Kaynak (1998), UCI Machine Learning Repository,
    https://doi.org/10.24432/C50P49, licensed CC BY 4.0
    (https://creativecommons.org/licenses/by/4.0/). The copy shipped in
    ``nn/datasets/uci_optdigits_8x8.csv.gz`` is scikit-learn's file, unchanged (57 KB);
    ``nn/datasets/README.md`` has the details. It is shipped, not loaded through
    scikit-learn, so the digits demo works without scikit-learn (and SciPy).

    >>> X, y = load_digits()
    >>> len(X), len(X[0]), sorted(set(y)) == list(range(10))
    (1797, 64, True)
    """
    source = resources.files("nn").joinpath(DIGITS_FILE)
    try:
        with source.open("rb") as raw, gzip.open(raw, "rt", encoding="ascii") as text:
            rows = list(csv.reader(io.StringIO(text.read())))
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise OSError(f"cannot read the digits file nn/{DIGITS_FILE}: {e}") from e
    if len(rows) != _DIGITS_ROWS:
        raise ValueError(
            f"nn/{DIGITS_FILE} has {len(rows)} rows, expected {_DIGITS_ROWS}: the file is "
            "damaged (reinstall chainrule)"
        )
    X: list[list[float]] = []
    y: list[int] = []
    for i, row in enumerate(rows):
        try:
            numbers_ = [int(v) for v in row]
        except ValueError:
            numbers_ = []
        if (
            len(numbers_) != _DIGITS_PIXELS + 1
            or not all(0 <= v <= 16 for v in numbers_[:-1])
            or not 0 <= numbers_[-1] <= 9
        ):
            raise ValueError(
                f"nn/{DIGITS_FILE}, line {i + 1}: expected 64 pixels 0..16 and a label "
                "0..9: the file is damaged (reinstall chainrule)"
            )
        X.append([float(v) for v in numbers_[:-1]])
        y.append(numbers_[-1])
    return X, y


def _n_samples(n: Any, minimum: int = 1) -> int:
    if not _is_int(n):
        raise TypeError(f"n_samples must be an int, not {type(n).__name__} ({n!r})")
    if n < minimum:
        raise ValueError(f"n_samples must be at least {minimum}, got {n}")
    return int(n)


def _noise(noise: Any) -> float:
    sd = to_float(noise, "noise", finite=False)
    if not (is_finite(sd) and sd >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    return sd


def _linspace(start: float, stop: float, n: int, endpoint: bool = True) -> list[float]:
    if n <= 1:
        return [start] * n
    step = (stop - start) / ((n - 1) if endpoint else n)
    return [start + i * step for i in range(n)]


def _finish(
    points: list[list[float]], labels: list[int], noise: float, r: random.Random, shuffle: bool
) -> Dataset:
    """Shuffle (points and labels together), then add N(0, noise²) to every coordinate."""
    if shuffle:
        order = list(range(len(points)))
        r.shuffle(order)
        points = [points[i] for i in order]
        labels = [labels[i] for i in order]
    if noise:
        points = [[x + r.gauss(0.0, noise), y + r.gauss(0.0, noise)] for x, y in points]
    return points, labels


def make_moons(
    n_samples: int = 100,
    noise: float = 0.0,
    *,
    shuffle: bool = True,
    seed: int | None = None,
    rng: random.Random | None = None,
) -> Dataset:
    """Two interleaving half circles (scikit-learn's recipe): class 0 is the upper moon
    (cos t, sin t), class 1 the lower one (1 − cos t, 0.5 − sin t), t ∈ [0, π].

    >>> X, y = make_moons(4, seed=0, shuffle=False)
    >>> y
    [0, 0, 1, 1]
    """
    n = _n_samples(n_samples)
    sd = _noise(noise)
    r = make_rng(seed, rng)
    n_out = n // 2
    n_in = n - n_out
    points = [[math.cos(t), math.sin(t)] for t in _linspace(0.0, math.pi, n_out)]
    points += [[1.0 - math.cos(t), 0.5 - math.sin(t)] for t in _linspace(0.0, math.pi, n_in)]
    labels = [0] * n_out + [1] * n_in
    return _finish(points, labels, sd, r, shuffle)


def make_circles(
    n_samples: int = 100,
    noise: float = 0.0,
    factor: float = 0.8,
    *,
    shuffle: bool = True,
    seed: int | None = None,
    rng: random.Random | None = None,
) -> Dataset:
    """Two concentric circles: class 0 of radius 1, class 1 of radius ``factor`` (< 1)."""
    n = _n_samples(n_samples)
    sd = _noise(noise)
    if not is_real(factor) or not 0 < factor < 1:
        raise ValueError(f"factor must be a number in (0, 1), got {factor!r}")
    factor = float(factor)
    r = make_rng(seed, rng)
    n_out = n // 2
    n_in = n - n_out
    outer = _linspace(0.0, 2 * math.pi, n_out, endpoint=False)
    inner = _linspace(0.0, 2 * math.pi, n_in, endpoint=False)
    points = [[math.cos(t), math.sin(t)] for t in outer]
    points += [[factor * math.cos(t), factor * math.sin(t)] for t in inner]
    labels = [0] * n_out + [1] * n_in
    return _finish(points, labels, sd, r, shuffle)


def make_xor(
    n_samples: int = 100,
    noise: float = 0.0,
    *,
    seed: int | None = None,
    rng: random.Random | None = None,
) -> Dataset:
    """Points uniform in [−1, 1]², labelled 1 when exactly one coordinate is positive
    (the XOR of the signs), then moved by N(0, noise²) noise."""
    n = _n_samples(n_samples)
    sd = _noise(noise)
    r = make_rng(seed, rng)
    points = [[r.uniform(-1.0, 1.0), r.uniform(-1.0, 1.0)] for _ in range(n)]
    labels = [int((x > 0) != (y > 0)) for x, y in points]
    return _finish(points, labels, sd, r, shuffle=False)


def make_spiral(
    n_samples: int = 100,
    n_classes: int = 2,
    noise: float = 0.2,
    *,
    shuffle: bool = True,
    seed: int | None = None,
    rng: random.Random | None = None,
) -> Dataset:
    """Interleaved spiral arms, one per class (the CS231n data set): along arm k the
    radius grows from 0 to 1 while the angle runs over [4k, 4(k + 1)] plus N(0, noise²).

    The ``n_samples`` points are shared out as evenly as possible between the classes.
    """
    n = _n_samples(n_samples)
    if not _is_int(n_classes) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
    n_classes = int(n_classes)
    if n < n_classes:
        raise ValueError(f"n_samples ({n}) must be at least n_classes ({n_classes})")
    sd = _noise(noise)
    r = make_rng(seed, rng)
    points: list[list[float]] = []
    labels: list[int] = []
    for k in range(n_classes):
        m = n // n_classes + (1 if k < n % n_classes else 0)
        radii = _linspace(0.0, 1.0, m)
        angles = _linspace(4.0 * k, 4.0 * (k + 1), m)
        for radius, angle in zip(radii, angles, strict=True):
            t = angle + (r.gauss(0.0, sd) if sd else 0.0)
            points.append([radius * math.sin(t), radius * math.cos(t)])
            labels.append(k)
    return _finish(points, labels, 0.0, r, shuffle)


def train_test_split(
    X: Sequence[Any],
    y: Sequence[Any],
    test_size: float | int = 0.25,
    *,
    shuffle: bool = True,
    seed: int | None = None,
    rng: random.Random | None = None,
) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """``X_train, X_test, y_train, y_test`` (scikit-learn's order).

    ``test_size`` is a fraction in (0, 1) (the test set gets ceil(fraction · n)
    examples) or a count; both parts must end up non-empty.
    """
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} examples but y has {len(y)} labels")
    n = len(X)
    if not is_real(test_size):
        raise TypeError(f"test_size must be a fraction or a count, not {test_size!r}")
    if not _is_int(test_size):  # a float, a Fraction, a numpy float: a fraction
        fraction = to_float(test_size, "test_size", finite=False)
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"a fractional test_size must be in (0, 1), got {test_size!r}")
        n_test = math.ceil(fraction * n)
    else:
        n_test = int(test_size)
    if not 0 < n_test < n:
        raise ValueError(
            f"test_size={test_size!r} of {n} examples leaves an empty train or test set"
        )
    order = list(range(n))
    if shuffle:
        make_rng(seed, rng).shuffle(order)
    test, train = order[:n_test], order[n_test:]
    return [X[i] for i in train], [X[i] for i in test], [y[i] for i in train], [y[i] for i in test]


class Standardizer:
    """x ↦ (x − mean) / std, feature by feature.

    Give ``mean`` and ``std`` (e.g. published statistics) or call :meth:`fit` to take
    them from data (population standard deviation, as scikit-learn's StandardScaler).
    A zero standard deviation is refused.

    >>> Standardizer(mean=[8, 4], std=[2, 1]).transform([6, 5])
    [-1.0, 1.0]
    """

    def __init__(
        self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
    ) -> None:
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither (then call fit)")
        self.mean: list[float] | None = None
        self.std: list[float] | None = None
        if mean is not None and std is not None:
            self._set(self._row(mean, "mean"), self._row(std, "std"))

    @staticmethod
    def _row(values: Any, name: str) -> list[float]:
        values = to_lists(values)
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise TypeError(f"{name} must be a non-empty list of numbers, not {values!r}")
        out = []
        for i, v in enumerate(values):
            out.append(to_float(v, f"{name}[{i}]"))
        return out

    def _set(self, mean: list[float], std: list[float]) -> None:
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} features but std has {len(std)}")
        for i, s in enumerate(std):
            if s <= 0.0:
                raise ValueError(
                    f"feature {i} has standard deviation {s!r}; it must be > 0 "
                    "(a constant feature cannot be standardized: drop it)"
                )
        self.mean, self.std = mean, std

    def fit(self, X: Sequence[Sequence[float]]) -> Standardizer:
        """Take mean and (population) standard deviation of each column of ``X``."""
        X = to_lists(X)
        if isinstance(X, (str, bytes)) or not isinstance(X, Sequence) or not X:
            raise ValueError("fit needs a non-empty list of rows")
        rows = [self._row(row, f"X[{i}]") for i, row in enumerate(X)]
        width = len(rows[0])
        if any(len(row) != width for row in rows):
            raise ValueError("all rows of X must have the same length")
        n = len(rows)
        mean = [math.fsum(row[j] for row in rows) / n for j in range(width)]
        std = [
            math.sqrt(math.fsum((row[j] - mean[j]) ** 2 for row in rows) / n) for j in range(width)
        ]
        for j in range(width):  # a constant column: exactly 0, not a rounding residue
            if all(row[j] == rows[0][j] for row in rows):
                std[j] = 0.0
        self._set(mean, std)
        return self

    def _check_fitted(self) -> tuple[list[float], list[float]]:
        if self.mean is None or self.std is None:
            raise ValueError("this Standardizer is not fitted: call fit(X) or give mean and std")
        return self.mean, self.std

    def _apply(self, X: Any, forward: bool) -> Any:
        mean, std = self._check_fitted()
        X = to_lists(X)
        single = isinstance(X, Sequence) and bool(X) and not isinstance(X[0], Sequence)
        rows = [X] if single else X
        out = []
        for i, row in enumerate(rows):
            r = self._row(row, "x" if single else f"X[{i}]")
            if len(r) != len(mean):
                raise ValueError(f"expected {len(mean)} features, got {len(r)}")
            if forward:
                out.append([(v - m) / s for v, m, s in zip(r, mean, std, strict=True)])
            else:
                out.append([v * s + m for v, m, s in zip(r, mean, std, strict=True)])
        return out[0] if single else out

    def transform(self, X: Any) -> Any:
        """(x − mean) / std for one row (a list of numbers) or a list of rows."""
        return self._apply(X, forward=True)

    def inverse_transform(self, X: Any) -> Any:
        """x · std + mean: undo :meth:`transform`."""
        return self._apply(X, forward=False)

    def fit_transform(self, X: Sequence[Sequence[float]]) -> list[list[float]]:
        """``fit(X)``, then ``transform(X)``."""
        return self.fit(X).transform(X)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Standardizer(mean={self.mean}, std={self.std})"
