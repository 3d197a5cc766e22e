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
# ``grad`` stays an object (it may hold None, and backward()'s marks). ``_a`` and
# ``_b`` are Values or None, so the walks read a parent's fields without a type
# check. No cdef methods: those would add a pointer to every node (memory <= 120
# bytes per node).

cdef class Value:
    cdef public double data
    cdef public object grad
    cdef public object _label
    cdef public object op
    cdef public Value _a
    cdef public Value _b
    cdef public double _da
    cdef public double _db


# A bare node (all fields None), for value.py's ``_new(Value)``: compiled, a direct
# call of the type's allocator (value.py binds ``_new`` to object.__new__ only when it
# runs as Python).
cdef inline Value _new(type cls):
    return Value.__new__(Value)


# Replays' loops over many nodes (value.py: read_data, add_to_grads): typed, so each
# node's field is read from the C struct.
@cython.locals(v=Value)
cpdef list read_data(list nodes)


@cython.locals(v=Value, i=Py_ssize_t)
cpdef add_to_grads(list nodes, list amounts)
