"""Toy data sets, train/test split and Standardizer: deterministic, well shaped, checked."""

from __future__ import annotations

import math
import random

import pytest

from nn import (
    Standardizer,
    make_circles,
    make_moons,
    make_spiral,
    make_xor,
    train_test_split,
)

GENERATORS = {
    "moons": lambda **kw: make_moons(**kw),
    "circles": lambda **kw: make_circles(**kw),
    "xor": lambda **kw: make_xor(**kw),
    "spiral": lambda **kw: make_spiral(**kw),
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize("n", [2, 7, 100])
def test_shapes_and_label_types(name: str, n: int) -> None:
    X, y = GENERATORS[name](n_samples=n, noise=0.1, seed=0)
    assert len(X) == len(y) == n
    assert all(len(row) == 2 and all(type(v) is float for v in row) for row in X)
    assert all(type(t) is int and t in (0, 1) for t in y)


@pytest.mark.parametrize("name", ["moons", "circles", "xor"])
def test_a_single_point(name: str) -> None:
    X, y = GENERATORS[name](n_samples=1, seed=0)
    assert len(X) == len(y) == 1 and len(X[0]) == 2


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_same_seed_same_data_other_seed_other_data(name: str) -> None:
    make = GENERATORS[name]
    a = make(n_samples=50, noise=0.1, seed=3)
    assert make(n_samples=50, noise=0.1, seed=3) == a
    assert make(n_samples=50, noise=0.1, seed=4) != a
    r1, r2 = random.Random(9), random.Random(9)
    assert make(n_samples=50, noise=0.1, rng=r1) == make(n_samples=50, noise=0.1, rng=r2)


def test_moons_without_noise_lie_on_the_two_half_circles() -> None:
    X, y = make_moons(40, seed=0)
    assert y.count(0) == y.count(1) == 20
    for (a, b), t in zip(X, y, strict=True):
        if t == 0:  # upper moon: unit circle around (0, 0), b >= 0
            assert math.hypot(a, b) == pytest.approx(1.0, abs=1e-12) and b >= -1e-12
        else:  # lower moon: unit circle around (1, 0.5), b <= 0.5
            assert math.hypot(a - 1.0, b - 0.5) == pytest.approx(1.0, abs=1e-12)
            assert b <= 0.5 + 1e-12


def test_moons_shuffle_false_keeps_class_order() -> None:
    _, y = make_moons(5, seed=0, shuffle=False)
    assert y == [0, 0, 1, 1, 1]


def test_noise_moves_points_by_about_the_noise_level() -> None:
    clean, _ = make_moons(400, seed=1, shuffle=False)
    noisy, _ = make_moons(400, noise=0.1, seed=1, shuffle=False)
    d = [a - b for p, q in zip(noisy, clean, strict=True) for a, b in zip(p, q, strict=True)]
    sd = math.sqrt(sum(v * v for v in d) / len(d))
    assert 0.09 < sd < 0.11  # 800 draws of N(0, 0.1²): the sample sd is within ±10% w.p. ~1-1e-5


def test_circles_radii() -> None:
    X, y = make_circles(30, factor=0.5, seed=0)
    for (a, b), t in zip(X, y, strict=True):
        assert math.hypot(a, b) == pytest.approx(1.0 if t == 0 else 0.5, abs=1e-12)
    with pytest.raises(ValueError, match=r"factor must be a number in \(0, 1\)"):
        make_circles(10, factor=1.0)


def test_xor_labels_are_the_xor_of_the_signs() -> None:
    X, y = make_xor(200, seed=0)
    assert all(-1 <= v <= 1 for row in X for v in row)
    assert y == [int((a > 0) != (b > 0)) for a, b in X]
    assert 60 < sum(y) < 140


def test_spiral_classes_and_radii() -> None:
    X, y = make_spiral(30, n_classes=3, noise=0.0, seed=0, shuffle=False)
    assert [y.count(k) for k in range(3)] == [10, 10, 10]
    radii = [math.hypot(a, b) for a, b in X[:10]]
    assert radii == pytest.approx([i / 9 for i in range(10)], abs=1e-12)
    X, y = make_spiral(10, n_classes=3, seed=0)
    assert sorted(y) == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: make_moons(0), ValueError, "at least 1"),
        (lambda: make_moons(10.0), TypeError, "n_samples must be an int"),
        (lambda: make_moons(10, noise=-0.1), ValueError, "noise must be a finite number >= 0"),
        (lambda: make_xor(10, noise="a"), TypeError, "noise must be a real number"),
        (lambda: make_spiral(2, n_classes=3), ValueError, "at least n_classes"),
        (lambda: make_spiral(10, n_classes=0), ValueError, "n_classes"),
        (lambda: make_moons(10, seed=1, rng=random.Random(1)), ValueError, "not both"),
    ],
)
def test_generator_errors(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()


# --- split ---------------------------------------------------------------------------------


def test_train_test_split_partitions_the_data() -> None:
    X = [[float(i), float(-i)] for i in range(10)]
    y = list(range(10))
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, seed=0)
    assert len(X_te) == 3 and len(X_tr) == 7  # ceil(0.25 * 10)
    assert sorted(y_tr + y_te) == y
    assert all(row[0] == t for row, t in zip(X_tr + X_te, y_tr + y_te, strict=True))
    assert train_test_split(X, y, test_size=0.25, seed=0) == (X_tr, X_te, y_tr, y_te)
    assert train_test_split(X, y, test_size=4, shuffle=False) == (X[4:], X[:4], y[4:], y[:4])


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"test_size": 0.0}, ValueError, r"in \(0, 1\)"),
        ({"test_size": 1.5}, ValueError, r"in \(0, 1\)"),
        ({"test_size": 10}, ValueError, "empty train or test set"),
        ({"test_size": 0}, ValueError, "empty train or test set"),
        ({"test_size": "half"}, TypeError, "fraction or a count"),
    ],
)
def test_split_errors(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        train_test_split([[0.0]] * 10, [0] * 10, **kwargs)
    with pytest.raises(ValueError, match="X has 2 examples but y has 1"):
        train_test_split([[0.0], [1.0]], [0])


# --- standardizer -------------------------------------------------------------------------


def test_standardizer_with_given_statistics_reproduces_the_worked_example() -> None:
    s = Standardizer(mean=[8, 4], std=[2, 1])
    assert s.transform([6, 5]) == [-1.0, 1.0]
    assert s.transform([[6, 5], [10, 4]]) == [[-1.0, 1.0], [1.0, 0.0]]
    assert s.inverse_transform([-1.0, 1.0]) == [6.0, 5.0]


def test_standardizer_fit_gives_zero_mean_unit_population_sd() -> None:
    X, _ = make_moons(50, noise=0.2, seed=0)
    Z = Standardizer().fit_transform(X)
    for j in range(2):
        col = [row[j] for row in Z]
        assert math.fsum(col) / 50 == pytest.approx(0.0, abs=1e-15)
        assert math.fsum(v * v for v in col) / 50 == pytest.approx(1.0, rel=1e-14)
    s = Standardizer().fit([[1.0, 2.0], [3.0, 6.0]])
    assert (s.mean, s.std) == ([2.0, 4.0], [1.0, 2.0])


def test_standardizer_refuses_a_zero_deviation() -> None:
    with pytest.raises(ValueError, match="feature 1 has standard deviation 0"):
        Standardizer(mean=[0, 0], std=[1, 0])
    with pytest.raises(ValueError, match="feature 0 has standard deviation 0"):
        Standardizer().fit([[0.1, 1.0], [0.1, 2.0], [0.1, 3.0]])  # 0.1 is not exact in binary


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: Standardizer(mean=[1.0]), ValueError, "both mean and std"),
        (lambda: Standardizer(mean=[1.0], std=[1.0, 2.0]), ValueError, "1 features but std has 2"),
        (
            lambda: Standardizer(mean=["a"], std=[1.0]),
            TypeError,
            r"mean\[0\] must be a real number",
        ),
        (lambda: Standardizer(mean=[1.0], std=[-1.0]), ValueError, "standard deviation -1.0"),
        (lambda: Standardizer(mean=[math.nan], std=[1.0]), ValueError, "finite"),
        (lambda: Standardizer().transform([1.0]), ValueError, "not fitted"),
        (lambda: Standardizer([0], [1]).transform([1.0, 2.0]), ValueError, "expected 1 features"),
        (lambda: Standardizer().fit([]), ValueError, "non-empty"),
        (lambda: Standardizer().fit([[1.0], [1.0, 2.0]]), ValueError, "same length"),
    ],
)
def test_standardizer_errors(build, error, message) -> None:
    with pytest.raises(error, match=message):
        build()


def test_numbers_may_be_numpy_scalars_and_fractions() -> None:
    """Every number check goes through engine.checks: numpy ints/floats and Fractions work,
    bools do not."""
    np = pytest.importorskip("numpy")
    from fractions import Fraction

    assert make_moons(np.int64(10), noise=np.float32(0.1), seed=1) == make_moons(
        10, noise=float(np.float32(0.1)), seed=1
    )
    assert make_circles(10, factor=Fraction(1, 2), seed=0) == make_circles(10, factor=0.5, seed=0)
    assert make_spiral(9, n_classes=np.int64(3), seed=0) == make_spiral(9, n_classes=3, seed=0)
    X, y = make_xor(20, seed=0)
    assert train_test_split(X, y, np.int64(5), seed=0) == train_test_split(X, y, 5, seed=0)
    assert train_test_split(X, y, Fraction(1, 4), seed=0) == train_test_split(X, y, 0.25, seed=0)
    s = Standardizer(mean=[np.float64(1.0)], std=[Fraction(2)])
    assert s.transform([[3.0]]) == [[1.0]]
    assert s.transform(np.array([[3.0], [5.0]])) == [[1.0], [2.0]]
    assert s.transform(np.array([3.0])) == [1.0]
    fitted = Standardizer().fit(np.array(X))
    assert (fitted.mean, fitted.std) == (Standardizer().fit(X).mean, Standardizer().fit(X).std)
    with pytest.raises(TypeError, match="n_samples must be an int, not bool"):
        make_moons(True)
    with pytest.raises(TypeError, match="a fraction or a count, not True"):
        train_test_split(X, y, True)


# --- the shipped digits ------------------------------------------------------------------

DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
#: images per digit 0..9 in UCI's optdigits.tes (scikit-learn's load_digits)
DIGITS_PER_LABEL = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_the_digits_file_is_the_one_whose_source_and_licence_are_written_beside_it() -> None:
    import hashlib
    from importlib import resources

    from nn.data import DIGITS_FILE

    data = resources.files("nn").joinpath(DIGITS_FILE).read_bytes()
    assert hashlib.sha256(data).hexdigest() == DIGITS_SHA256
    readme = resources.files("nn").joinpath("datasets/README.md").read_text(encoding="utf-8")
    assert DIGITS_SHA256 in readme
    assert "CC BY 4.0" in readme and "https://doi.org/10.24432/C50P49" in readme


def test_the_package_data_ships_the_digits_file() -> None:
    """pyproject's package-data must list the file, or an installed (not editable)
    chainrule would have no digits."""
    import fnmatch

    from nn.data import DIGITS_FILE

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    with open("pyproject.toml", "rb") as f:
        setuptools = tomllib.load(f)["tool"]["setuptools"]
    assert "nn.datasets" in setuptools["packages"]  # a folder of data, named as a package
    patterns = setuptools["package-data"]["nn.datasets"]
    folder, name = DIGITS_FILE.split("/")
    assert folder == "datasets"
    assert any(fnmatch.fnmatch(name, p) for p in patterns)
    assert "README.md" in patterns


def test_load_digits_shape_labels_and_pixels() -> None:
    from nn import load_digits

    X, y = load_digits()
    assert len(X) == len(y) == 1797
    assert all(len(row) == 64 and all(type(v) is float for v in row) for row in X)
    assert all(type(t) is int for t in y)
    assert [y.count(k) for k in range(10)] == DIGITS_PER_LABEL
    pixels = {v for row in X for v in row}
    assert pixels == {float(v) for v in range(17)}
    assert y[:10] == list(range(10))  # the file's order, as scikit-learn's
    assert X[0][:8] == [0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0]  # the top row of a 0
    X2, _ = load_digits()
    X2[0][0] = 99.0
    assert load_digits()[0][0][0] == 0.0  # every call gives fresh lists


def test_digits_split_is_deterministic_with_a_seed() -> None:
    from nn import load_digits

    X, y = load_digits()
    a = train_test_split(X, y, test_size=0.2, seed=0)
    b = train_test_split(X, y, test_size=0.2, seed=0)
    c = train_test_split(X, y, test_size=0.2, seed=1)
    assert a == b and a[3] != c[3]
    X_train, X_test, y_train, y_test = a
    assert (len(X_train), len(X_test)) == (1437, 360)
    assert sorted(map(tuple, X_train + X_test)) == sorted(map(tuple, X))
    assert sorted(y_train + y_test) == sorted(y)


def test_a_damaged_digits_file_is_named(monkeypatch, tmp_path) -> None:
    import gzip

    import nn.data
    from nn import load_digits

    bad = tmp_path / "nn" / "datasets"
    bad.mkdir(parents=True)
    (bad / "uci_optdigits_8x8.csv.gz").write_bytes(gzip.compress(b"1,2,3\n" * 1797))

    class FakeFiles:
        @staticmethod
        def files(package: str):
            return tmp_path / "nn"

    monkeypatch.setattr(nn.data, "resources", FakeFiles)
    with pytest.raises(ValueError, match="line 1: expected 64 pixels"):
        load_digits()
    (bad / "uci_optdigits_8x8.csv.gz").write_bytes(gzip.compress(b"1,2,3\n"))
    with pytest.raises(ValueError, match="has 1 rows, expected 1797"):
        load_digits()
    (bad / "uci_optdigits_8x8.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(OSError, match="cannot read the digits file"):
        load_digits()
