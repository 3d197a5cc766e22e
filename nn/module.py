"""``Module``: the base class of every network part, with named parameters and saving.

A module's parameters are found by walking its attributes (in the order they were
set): a :class:`~engine.Value` is a parameter, a ``Module`` is walked into, and
lists, tuples and dicts are walked through. The dotted path is the parameter's name,
as in PyTorch: ``layers.0.neurons.1.w.0``. Attributes whose names start with ``_``
are private and never walked.

State is plain floats keyed by name (``state_dict()``); ``save``/``load`` write and
read it as JSON (never pickle). Loading validates everything first and changes
nothing when anything is wrong; saving writes a temporary file next to the target
and renames it over the target, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from collections.abc import Iterator, Mapping
from typing import Any

from engine import Value

__all__ = ["Module"]

#: The ``format`` field of a saved file; ``version`` is bumped on incompatible changes.
FILE_FORMAT = "chainrule.state_dict"
FILE_VERSION = 1


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _shorten(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _check_number(name: str, value: Any) -> float:
    """``value`` as a finite float, or a TypeError/ValueError naming parameter ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"parameter {name!r} must be an int or a float, not {type(value).__name__} ({value!r})"
        )
    try:
        f = float(value)
    except OverflowError:
        raise ValueError(f"parameter {name!r}: {value!r} is too large for a float") from None
    if not math.isfinite(f):
        raise ValueError(f"parameter {name!r} must be finite, got {value!r}")
    return f


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

        A Value reachable under two names is reported under the first (as in PyTorch).
        The walk is iterative, depth first, in attribute order.
        """
        seen: set[int] = set()
        stack: list[tuple[str, Any]] = [(prefix, self)]
        while stack:
            name, obj = stack.pop()
            if isinstance(obj, Value):
                if id(obj) not in seen:
                    seen.add(id(obj))
                    yield name, obj
                continue
            if isinstance(obj, Module):
                if id(obj) in seen:
                    continue
                seen.add(id(obj))
                items = [(k, v) for k, v in vars(obj).items() if not k.startswith("_")]
            elif isinstance(obj, (list, tuple)):
                items = [(str(i), v) for i, v in enumerate(obj)]
            elif isinstance(obj, dict):
                items = [(k, v) for k, v in obj.items() if isinstance(k, str)]
            else:
                continue
            stack.extend((_join(name, k), v) for k, v in reversed(items))

    def parameters(self) -> list[Value]:
        """Every parameter, in the order of :meth:`named_parameters`."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to 0 (gradients accumulate otherwise)."""
        for p in self.parameters():
            p.grad = 0.0

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
        """Write the parameters to ``path`` as JSON, atomically.

        The file is first written next to ``path`` under a temporary name, flushed to
        disk, then renamed over ``path`` (``os.replace``): readers see the old file or
        the new one, never half of one, and a failure leaves no temporary file behind.
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
        target = os.fspath(path)
        directory, base = os.path.split(os.path.abspath(target))
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            with open(tmp, "x", encoding="utf-8") as f:
                json.dump(document, f, indent=1, allow_nan=False)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def load(self, path: str | os.PathLike[str], strict: bool = True) -> Module:
        """Read parameters saved by :meth:`save` into this module; returns ``self``.

        Validated like :meth:`load_state_dict`: a wrong file changes nothing.
        """
        target = os.fspath(path)
        with open(target, encoding="utf-8") as f:
            text = f.read()

        def refuse_constant(name: str) -> Any:
            raise ValueError(f"{target}: {name} is not a valid parameter value")

        try:
            document = json.loads(text, parse_constant=refuse_constant)
        except json.JSONDecodeError as e:
            raise ValueError(f"{target} is not a JSON file saved by Module.save: {e}") from None
        if (
            not isinstance(document, dict)
            or document.get("format") != FILE_FORMAT
            or not isinstance(document.get("parameters"), dict)
        ):
            raise ValueError(
                f"{target} is not a parameter file saved by Module.save "
                f"(expected a JSON object with format {FILE_FORMAT!r} and 'parameters')"
            )
        if document.get("version") != FILE_VERSION:
            raise ValueError(
                f"{target}: unsupported file version {document.get('version')!r} "
                f"(this chainrule reads version {FILE_VERSION})"
            )
        self.load_state_dict(document["parameters"], strict=strict)
        return self
