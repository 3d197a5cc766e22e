"""``Module``: the base class of every network part, with named parameters and saving.

A module's parameters are found by walking its attributes (in the order they were
set): a :class:`~engine.Value` is a parameter, a ``Module`` is walked into, and
lists, tuples and dicts are walked through. The dotted path is the parameter's name,
as in PyTorch: ``layers.0.neurons.1.w.0``. Attributes whose names start with ``_``
are private and never walked. Names are unique: two parameters that would get the same
name (``{"a.b": v1, "a": {"b": v2}}``) are refused, and so is a cycle (a list or a
module inside itself), each with an error naming both routes; a module or list reached
twice without a cycle (shared) is walked once.

State is plain floats keyed by name (``state_dict()``); ``save``/``load`` write and
read it as JSON (never pickle). Loading validates everything first and changes
nothing when anything is wrong; saving goes through :func:`nn.atomic.write_atomic`
(a temporary file renamed over the target), so a crash never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain
from operator import is_
from typing import Any

from engine import Value
from engine.checks import to_float
from engine.value import zero_grads
from nn.atomic import write_atomic

__all__ = ["Module"]

#: The ``format`` field of a saved file; ``version`` is bumped on incompatible changes.
FILE_FORMAT = "chainrule.state_dict"
FILE_VERSION = 1

#: Sequences walked for parameters (besides modules and dicts; sets are refused).
_SEQUENCES = (list, tuple)
#: The most digits an integer in a saved file may have: the largest float, 1.8e308,
#: written out in full has 309, and Python refuses to convert over 4,300.
_MAX_NUMBER_DIGITS = 400


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _shorten(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _check_number(name: str, value: Any) -> float:
    """``value`` as a finite float, or a TypeError/ValueError naming parameter ``name``."""
    return to_float(value, f"parameter {name!r}")


def _walkable(obj: Any) -> bool:
    """Whether the parameter walk looks at ``obj`` (holds or is a parameter)."""
    return isinstance(obj, (Value, Module, list, tuple, dict, set, frozenset))


def _route_text(route: tuple[Any, ...] | None) -> str:
    """``self.blocks['a'][0]`` for a route of linked (parent, step) pairs."""
    steps = []
    while route is not None:
        route, step = route
        steps.append(step)
    return "self" + "".join(reversed(steps))


def _named_children(obj: Any, route: Any) -> list[tuple[str, str, Any]]:
    """``(name, route step, child)`` for the children of a module or container.

    Raises TypeError for parameters that cannot be named: in a set (no order), or
    under a dict key that is neither a str nor an int.
    """
    if isinstance(obj, Module):
        return [(k, f".{k}", v) for k, v in vars(obj).items() if not k.startswith("_")]
    if isinstance(obj, _SEQUENCES):
        return [(str(i), f"[{i}]", v) for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        out = []
        for k, v in obj.items():
            if isinstance(k, str) or (isinstance(k, int) and not isinstance(k, bool)):
                out.append((str(k), f"[{k!r}]", v))
            elif _walkable(v):
                raise TypeError(
                    f"{_route_text(route)}[{k!r}] holds parameters under a "
                    f"{type(k).__name__} key; parameter names need str (or int) dict keys"
                )
        return out
    if any(_walkable(v) for v in obj):  # a set
        raise TypeError(
            f"{_route_text(route)} is a {type(obj).__name__} holding parameters or modules; "
            "a set has no order, so they cannot be named: use a list"
        )
    return []


def _children(obj: Any) -> Iterable[Any]:
    """The children of a module or container (:func:`_named_children` without names)."""
    if isinstance(obj, Module):
        return [v for k, v in vars(obj).items() if not k.startswith("_")]
    if isinstance(obj, _SEQUENCES):
        return obj  # type: ignore[no-any-return]
    if isinstance(obj, dict) and all(type(k) is str for k in obj):
        return obj.values()
    return [child for _, _, child in _named_children(obj, None)]


def _cycle_error(root: Module, route: Any, again: Any, obj: Any) -> ValueError:
    return ValueError(
        f"{type(root).__name__} contains a cycle: {_route_text(route)} is "
        f"{_route_text(again)} again (a {type(obj).__name__} inside itself), so its "
        "parameters would never end. Break the cycle, or keep the back-reference in an "
        "attribute whose name starts with '_' (never walked)"
    )


def _walk_named(root: Module, prefix: str) -> Iterator[tuple[str, Value]]:
    """``(name, Value)`` for every parameter under ``root``, each Value once, in order.

    Depth first in attribute order, iterative (a stack of iterators). A module or
    container reached again (shared) is not walked twice; one reached again inside
    itself (a cycle) raises ``ValueError`` naming both routes, and so do two different
    parameters with the same dotted name.
    """
    seen: set[Value] = set()  # Values hash by identity
    names: dict[str, Any] = {}  # name -> route, to refuse two parameters of one name
    done: set[int] = {id(root)}  # modules and containers walked or being walked
    inside: dict[int, Any] = {id(root): None}  # id -> route, for those being walked
    levels: list[tuple[int, str, Any, Iterator[tuple[str, str, Any]]]] = [
        (id(root), prefix, None, iter(_named_children(root, None)))
    ]
    while levels:
        key, base, route, items = levels[-1]
        for k, step, child in items:
            if not _walkable(child):
                continue
            name = _join(base, k)
            where = (route, step)
            if isinstance(child, Value):
                if child in seen:
                    continue
                seen.add(child)
                other = names.get(name)
                if other is not None:
                    raise ValueError(
                        f"two parameters are both named {name!r}: {_route_text(other)} and "
                        f"{_route_text(where)}; a state dict could keep only one. Rename one "
                        "(a '.' in an attribute name or dict key makes such names)"
                    )
                names[name] = where
                yield name, child
                continue
            child_key = id(child)
            if child_key in done:
                if child_key in inside:
                    raise _cycle_error(root, where, inside[child_key], child)
                continue
            done.add(child_key)
            inside[child_key] = where
            levels.append((child_key, name, where, iter(_named_children(child, where))))
            break
        else:
            levels.pop()
            del inside[key]


def _views(obj: Any) -> tuple[Any, ...]:
    """Live views of everything that decides what the walk finds in ``obj``."""
    if isinstance(obj, Module):
        d = vars(obj)
        return (d.keys(), d.values())
    if isinstance(obj, dict):
        return (obj.keys(), obj.values())
    return (obj,)  # a list, a tuple or a set


def _parameter_list(root: Module, views: list[Any] | None = None) -> list[Value]:
    """The Values of :func:`_walk_named`, in its order, without building any name.

    With ``views``, a live view of every module and container walked is added to it
    (see :class:`_ParameterCache`). On anything :func:`_walk_named` would refuse, it
    is run for its error message.
    """
    found: list[Value] = []
    add = found.append
    done: set[int] = {id(root)}
    inside: set[int] = {id(root)}
    keys: list[int] = [id(root)]
    if views is not None:
        views.extend(_views(root))
    levels: list[Iterator[Any]] = [iter(_children(root))]
    try:
        while levels:
            for child in levels[-1]:
                kind = type(child)
                if kind is Value:
                    add(child)
                    continue
                if kind is float or kind is int or kind is str or child is None:
                    continue
                if isinstance(child, Value):
                    add(child)
                    continue
                if not _walkable(child):
                    continue
                key = id(child)
                if key in done:
                    if key in inside:
                        raise ValueError("cycle")
                    continue
                done.add(key)
                inside.add(key)
                keys.append(key)
                if views is not None:
                    views.extend(_views(child))
                levels.append(iter(_children(child)))
                break
            else:
                levels.pop()
                inside.discard(keys.pop())
    except (TypeError, ValueError):
        for _ in _walk_named(root, ""):  # raises the same error, naming the routes
            pass
        raise
    return list(dict.fromkeys(found))  # each Value once, at its first place


class _ParameterCache:
    """A module's parameter list, reused while nothing the walk looked at has changed.

    Walking the attributes costs far more than zeroing the grads (``zero_grad`` runs
    every training step), so the list is kept with a live view of every module
    ``__dict__``, list, tuple, dict and set the walk went through, and the objects
    they held, in order. It is valid while every view holds the very same objects
    (compared by identity, ``is``, never ``==``; the snapshot keeps them alive so no
    id is reused): any assignment, append, deletion or replacement anywhere in the
    structure, public or private, makes the next call walk again. Copies and pickles
    of a module start with an empty cache, and a cache is used only by the module
    that made it (``copy.copy`` shares the ``__dict__`` entry).
    """

    __slots__ = ("state",)

    def __init__(self) -> None:
        #: (owner weakref, views, their lengths, the objects they held, the parameters),
        #: replaced as a whole, so a thread never reads half of an update
        self.state: tuple[Any, list[Any], list[int], tuple[Any, ...], list[Value]] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_ParameterCache, ())  # copied or pickled: empty (views cannot be)

    def __repr__(self) -> str:
        count = 0 if self.state is None else len(self.state[4])
        return f"<parameter cache of {count} parameters>"

    def lookup(self, module: Module) -> list[Value] | None:
        """The cached list if it is still the walk's result for ``module``, else None."""
        state = self.state
        if state is None:
            return None
        owner, views, lengths, objects, params = state
        if owner() is not module:
            return None
        try:
            if list(map(len, views)) == lengths and all(
                map(is_, chain.from_iterable(views), objects)
            ):
                return params
        except Exception:  # a view changed while read (another thread): walk again
            pass
        return None

    def refill(self, module: Module) -> list[Value]:
        """Walk ``module`` and remember the result with the views it went through."""
        views: list[Any] = []
        params = _parameter_list(module, views)
        lengths = list(map(len, views))
        objects = tuple(chain.from_iterable(views))
        self.state = (weakref.ref(module), views, lengths, objects, params)
        return params


_CACHE_ATTRIBUTE = "_Module__parameter_cache"  # private: never walked, never a name


def _cached_parameters(module: Module) -> list[Value]:
    """``module``'s parameter list from its cache (do not modify it), refilled if stale."""
    d = vars(module)
    cache = d.get(_CACHE_ATTRIBUTE)
    if type(cache) is _ParameterCache:
        params = cache.lookup(module)
        if params is not None:
            return params
    else:
        try:
            weakref.ref(module)
        except TypeError:  # a subclass without weak references: no cache
            return _parameter_list(module)
        cache = _ParameterCache()
        d[_CACHE_ATTRIBUTE] = cache  # before the walk, which then sees it in place
    return cache.refill(module)


class Module:
    """Base class: ``model(x)`` calls ``model.forward(x)``; parameters are found by name."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # --- parameters -----------------------------------------------------------------

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Value]]:
        """Yield ``(dotted name, Value)`` for every parameter, each Value once.

        A Value reachable under two names is reported under the first (as in PyTorch),
        and a module or container reachable twice is walked once. The walk is
        iterative, depth first, in attribute order. ``ValueError`` (naming both
        routes, as ``self.a['b']``) for a cycle (a list or module inside itself) and
        for two parameters with the same name (``{"a.b": v1, "a": {"b": v2}}``);
        ``TypeError`` for parameters in a set or under a dict key that is not a str
        or an int.
        """
        return _walk_named(self, prefix)

    def parameters(self) -> list[Value]:
        """Every parameter, in the order of :meth:`named_parameters` (a new list).

        The list is cached and reused while the module's structure is unchanged
        (checked on every call, by identity; see :class:`_ParameterCache`).
        """
        return list(_cached_parameters(self))

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to 0 (gradients accumulate otherwise)."""
        if type(self).parameters is Module.parameters:
            params = _cached_parameters(self)
        else:  # a subclass chose its own parameters (any iterable)
            params = list(self.parameters())
        zero_grads(params)

    # --- state ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, float]:
        """``{name: value}`` for every parameter, as plain floats."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Set the parameters from ``state`` (as made by :meth:`state_dict`).

        Everything is validated before anything is changed: with ``strict`` (the
        default) every parameter must be present and no other key may be; every value
        must be a finite int or float (not a bool or a string). On any problem a
        ``ValueError`` or ``TypeError`` names it and no parameter changes. With
        ``strict=False``, missing and unexpected keys are ignored.
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"load_state_dict expects a mapping of parameter names to numbers, "
                f"not {type(state).__name__}"
            )
        own = dict(self.named_parameters())
        if strict:
            missing = [k for k in own if k not in state]
            unexpected = [str(k) for k in state if k not in own]
            if missing or unexpected:
                parts = []
                if missing:
                    parts.append(f"missing keys: {_shorten(missing)}")
                if unexpected:
                    parts.append(f"unexpected keys: {_shorten(unexpected)}")
                raise ValueError(
                    f"load_state_dict: the state does not match this {type(self).__name__} ("
                    + "; ".join(parts)
                    + "); nothing was loaded"
                )
        new = {name: _check_number(name, state[name]) for name in own if name in state}
        for name, f in new.items():
            own[name].data = f

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the parameters to ``path`` as JSON, atomically (:func:`nn.atomic.write_atomic`).

        The file is first written next to ``path`` under a temporary name, flushed to
        disk, then renamed over ``path``: readers see the old file or the new one, never
        half of one, and a failure leaves no temporary file behind (one left by a killed
        process is removed by the next save). A symlink is followed (the link stays); a
        device or a FIFO is written in place, never replaced.
        """
        state = self.state_dict()
        for name, value in state.items():
            _check_number(name, value)  # a NaN assigned to .data by hand is refused here
        document = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "module": type(self).__name__,
            "parameters": state,
        }
        write_atomic(path, json.dumps(document, indent=1, allow_nan=False) + "\n")

    def load(self, path: str | os.PathLike[str], strict: bool = True) -> Module:
        """Read parameters saved by :meth:`save` into this module; returns ``self``.

        Validated like :meth:`load_state_dict`: a wrong file changes nothing, and every
        problem with its content is a ``ValueError`` (``TypeError`` for a value of the
        wrong type) whose message starts with the file's path.
        """
        target = os.fspath(path)
        with open(target, "rb") as f:
            raw = f.read()
        document = _parse_state_file(raw, str(target))
        try:
            self.load_state_dict(document["parameters"], strict=strict)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{target}: {e}") from None
        return self


def _parse_state_file(raw: bytes, target: str) -> dict[str, Any]:
    """The JSON document of a saved file, checked for its format and version."""
    not_ours = f"{target} is not a parameter file saved by Module.save"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{not_ours}: it is not UTF-8 text (byte {e.start})") from None

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{target}: {name} is not a valid parameter value")

    def parse_int(digits: str) -> int:
        if len(digits) > _MAX_NUMBER_DIGITS:
            raise ValueError(
                f"{target}: a number with {len(digits)} digits is too large for a parameter"
            )
        return int(digits)

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            twice = next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
            raise ValueError(f"{target}: the key {twice!r} appears more than once")
        return out

    try:
        document = json.loads(
            text,
            parse_constant=refuse_constant,
            parse_int=parse_int,
            object_pairs_hook=unique_keys,
        )
    except json.JSONDecodeError as e:
        raise ValueError(f"{target} is not a JSON file saved by Module.save: {e}") from None
    except RecursionError:
        raise ValueError(f"{not_ours}: its JSON is nested too deeply") from None
    except ValueError as e:
        if str(e).startswith(target):
            raise
        raise ValueError(f"{not_ours}: {e}") from None
    if (
        not isinstance(document, dict)
        or document.get("format") != FILE_FORMAT
        or not isinstance(document.get("parameters"), dict)
    ):
        raise ValueError(
            f"{not_ours} (expected a JSON object with format {FILE_FORMAT!r} and 'parameters')"
        )
    version = document.get("version")
    if type(version) is not int or version != FILE_VERSION:
        raise ValueError(
            f"{target}: unsupported file version {version!r} "
            f"(this chainrule reads version {FILE_VERSION})"
        )
    return document
