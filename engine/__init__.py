"""chainrule's engine: a scalar reverse-mode automatic-differentiation engine.

>>> from engine import Value
>>> x, w, b = Value(2.0, label="x"), Value(-3.0, label="w"), Value(6.88, label="b")
>>> y = (x * w + b).tanh()
>>> y.backward()
>>> round(w.grad, 4)  # (1 - tanh(0.88)**2) * x
1.0019

The engine knows nothing of ``nn`` or ``viz``; they build on it.

``engine.COMPILED`` is True when ``engine.value`` and ``engine.backward`` run
compiled (the build compiles them with Cython where a C compiler is there; README,
"Speed"); ``CHAINRULE_PURE=1`` in the environment runs their Python source instead.
"""

from typing import TYPE_CHECKING, Any

from engine._build import COMPILED  # first: which build of engine.value runs

# isort: split
from engine import functional
from engine.autograd import gradients
from engine.backward import toposort
from engine.compiler import CompiledFunction, TraceError, TraceWarning, compile
from engine.define import CustomOp, define_op
from engine.gradcheck import GradcheckError, gradcheck, gradgradcheck, numerical_grad
from engine.mode import enable_grad, is_grad_enabled, no_grad
from engine.transforms import grad, hessian, value_and_grad
from engine.value import Value, as_value, dot

if TYPE_CHECKING:
    from engine.batch import BatchedFunction, BatchResult, vmap

__all__ = [
    "COMPILED",
    "Value",
    "as_value",
    "dot",
    "functional",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "toposort",
    "gradients",
    "grad",
    "value_and_grad",
    "hessian",
    "numerical_grad",
    "gradcheck",
    "gradgradcheck",
    "GradcheckError",
    "define_op",
    "CustomOp",
    "compile",
    "CompiledFunction",
    "TraceWarning",
    "TraceError",
    "vmap",
    "BatchedFunction",
    "BatchResult",
]

#: Names served by engine.batch, which imports numpy: loaded on first use, so that
#: ``import engine`` neither needs nor imports numpy.
_BATCH = ("vmap", "BatchedFunction", "BatchResult")


def __getattr__(name: str) -> Any:
    if name in _BATCH:
        from engine import batch

        return getattr(batch, name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
