cimport cython

# The C layout of engine/value.py's Value, for the compiled build (Cython reads this
# file beside value.py; Python never does). value.py stays the one source of the
# code: this file only says what each field holds.
#
# ``data`` and the local derivatives ``_da``/``_db`` are C doubles: a node owns no
# float objects (one allocation per op instead of two, fewer bytes per node). The
# pure build keeps the same values as floats (a unary op's ``_b`` is None and its
# ``_db`` holds its constant parameter, or NaN, in both), so both builds compute the
# same numbers to the bit. Assigning a non-number to ``data`` is refused at the
# assignment here (TypeError), where the pure build names it at the next op.
# ``_grad`` (behind value.py's ``grad`` property) stays an object: it holds a float,
# None, or backward()'s marks. ``_a`` and ``_b`` are Values or None, so the walks
# read a parent's fields without a type check. No cdef methods: those would add a
# pointer to every node (memory <= 120 bytes per node).
#
# **The garbage collector.** A node holds no object that could lead back to it: its
# grad is a float or None (the ``grad`` setter converts or refuses anything else),
# its label and op are exact ``str`` (a str subclass is refused: it could carry a
# ``__dict__``), and its parents were made before it; ``_grad``, ``_label``, ``_a``
# and ``_b`` are readonly from Python, so only value.py and backward.py write them.
# So a node that only points at nodes of that kind cannot be part of a reference
# cycle, and the collector need not watch it: ``_new`` and a leaf's ``__init__``
# untrack the node (CPython does the same for tuples of atomic objects), and
# ``_adopt`` tracks it again when a parent is tracked (an instance of a Python
# subclass of Value, which has a ``__dict__``, is), so every node that can reach a
# tracked object is tracked too. This takes the collector's passes over large
# graphs (40% of the eager engine's time in the wide benchmark) off the hot path.
# Reference counting frees the nodes as before; CPython's trashcan (value.py)
# frees a long chain with a loop.

cdef class Value:
    cdef public double data
    cdef readonly object _grad
    cdef readonly str _label
    cdef public str op
    cdef readonly Value _a
    cdef readonly Value _b
    cdef public double _da
    cdef public double _db


# value.py's ``_COMPILED``: True here, a C variable, so its tests cost nothing.
cdef bint _COMPILED


cdef extern from "Python.h":
    int PyObject_GC_IsTracked(object)
    void PyObject_GC_Track(void *)
    void PyObject_GC_UnTrack(void *)


# A bare node (all fields None), for value.py's ``_new(Value)``: compiled, a direct
# call of the type's allocator (value.py binds ``_new`` to object.__new__ only when it
# runs as Python), untracked by the collector (above: it holds nothing yet).
cdef inline Value _new(type cls):
    cdef Value v = Value.__new__(Value)
    PyObject_GC_UnTrack(<void *>v)
    return v


# Called once a node's parents are set: track it if one of them is tracked (above).
cdef inline void _adopt(Value v):
    if ((v._a is not None and PyObject_GC_IsTracked(v._a))
            or (v._b is not None and PyObject_GC_IsTracked(v._b))):
        if not PyObject_GC_IsTracked(v):
            PyObject_GC_Track(<void *>v)


# A leaf's ``__init__``: untracked, unless it is an instance of a Python subclass.
cdef inline void _untrack_leaf(Value v):
    if type(v) is Value:
        PyObject_GC_UnTrack(<void *>v)


# Replays' loops over many nodes (value.py: read_data, add_to_grads): typed, so each
# node's field is read from the C struct.
@cython.locals(v=Value)
cpdef list read_data(list nodes)


@cython.locals(v=Value, i=Py_ssize_t)
cpdef add_to_grads(list nodes, list amounts)


@cython.locals(v=Value)
cpdef zero_grads(list nodes)
