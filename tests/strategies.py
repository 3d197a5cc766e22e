"""Shared hypothesis strategies for the test suite (built on the public engine.testing)."""

from hypothesis import strategies as st

from engine.testing import DOMAINS, domain, expressions, floats

__all__ = ["DOMAINS", "domain", "expressions", "floats", "small_floats", "positive_floats"]

#: Inputs for random expression DAGs: bounded so that products of a few steps stay
#: well inside float64 and central differences stay accurate.
small_floats = floats(-2.0, 2.0)

#: Strictly positive inputs (log, sqrt, division) with a margin from 0.
positive_floats = floats(1e-2, 100.0)

#: Exponents for x ** p: integers and halves, both signs.
exponents = st.sampled_from([-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
