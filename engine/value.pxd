# The C layout of engine/value.py's Value, for the compiled build (Cython reads this
# file beside value.py; Python never does). value.py stays the one source of the
# code: this file only says what each field holds.
#
# Every field is a Python object, as in the pure build, so that both builds behave
# alike to the bit: ``data`` and the local derivatives stay the very float objects an
# op made (shared, not copied), ``grad`` may hold None or backward()'s marks, and
# ``_b`` is a parent or a constant. Only ``_a`` is typed: it is a Value or None, so
# the walks read a parent's fields without a type check. No cdef methods: those
# would add a pointer to every node (memory <= 120 bytes per node).

cdef class Value:
    cdef public object data
    cdef public object grad
    cdef public object _label
    cdef public object op
    cdef public Value _a
    cdef public object _b
    cdef public object _da
    cdef public object _db


# A bare node (all fields None), for value.py's ``_new(Value)``: compiled, a direct
# call of the type's allocator (value.py binds ``_new`` to object.__new__ only when it
# runs as Python).
cdef inline Value _new(type cls):
    return Value.__new__(Value)
