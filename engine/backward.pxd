# Types for the compiled build of engine/backward.py (Cython reads this file beside
# backward.py; Python never does): the walks' node variables are Values, so their
# fields are read from the C struct (engine/value.pxd), not looked up by name.
# (Compiled, this module needs Value's C type when it is imported: engine/__init__.py
# imports engine.value first, which imports this module.)

cimport cython
from engine.value cimport Value


@cython.locals(node=Value, p=Value, cur=Value, nxt=Value)
cpdef list toposort(root)


@cython.locals(node=Value, a=Value, b=Value, nxt=Value, walked=cython.bint,
                g=cython.double, pg=cython.double)
cpdef backward(Value root, gradient=*)
