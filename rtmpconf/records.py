"""Record classes for the modules ``rtmpconf analyze`` loads: the part of ``dataclasses`` they use,
at a fraction of its start-up cost.

Why not ``dataclasses``: importing it loads ``inspect`` (and ``ast``, ``dis``, ``tokenize``), about
12 ms, and each decorated class compiles six or seven generated methods, about 0.5 ms a class. The
analyzer's import path holds some fifty such classes, so a short ``rtmpconf analyze`` spent a third
of its wall time (35 of 110 ms) building classes. Here one small ``__init__`` is compiled per class;
``__repr__``, ``__eq__``, ``__hash__`` and the frozen guards are shared functions reading the
class's field names. Runtime behaviour matches ``@dataclass`` for what the project uses:

* ``@record`` / ``@record(frozen=True, slots=True)``: fields are the class's annotations (``ClassVar``
  ones excepted) in order, base-class record fields first; a class attribute is the default, or
  ``field(default=...)`` / ``field(default_factory=...)``;
* ``__init__`` with the fields as positional-or-keyword parameters; ``__repr__``
  ``Name(a=1, b=b'')``; ``__eq__`` between instances of the same class; ``__hash__`` of the field
  values when frozen, none when mutable (as ``dataclass(eq=True)``); ``__match_args__``;
* frozen: assigning or deleting an attribute raises :class:`FrozenInstanceError`, a subclass of
  ``AttributeError`` as in ``dataclasses``; copy and pickle work (``__reduce__``);
* slots: the class is rebuilt with ``__slots__`` (as ``dataclass(slots=True)``: no zero-argument
  ``super()`` in its methods);
* a method the class body defines itself (``__repr__``, ``__eq__``, ...) is kept; ``__post_init__``,
  if defined, is called at the end of ``__init__``.

:func:`replace` and :func:`fields` stand in for ``dataclasses.replace`` / ``dataclasses.fields``
(records are not dataclasses: ``dataclasses.replace`` refuses them; :func:`replace` takes both).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

__all__ = ["FrozenInstanceError", "field", "fields", "record", "replace"]

T = TypeVar("T")

_MISSING: Any = object()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class _Field:
    """``field(...)`` in a class body: a default value or a factory called per instance."""

    __slots__ = ("default", "default_factory")

    def __init__(self, default: Any, default_factory: Any) -> None:
        self.default = default
        self.default_factory = default_factory


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | Any = _MISSING) -> Any:
    """A field's default (``default``) or a factory called for each new instance (``default_factory``)."""
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("field() takes default or default_factory, not both")
    return _Field(default, default_factory)


def fields(obj_or_cls: Any) -> tuple[str, ...]:
    """The record's field names, in ``__init__`` order."""
    names = getattr(obj_or_cls, "__record_fields__", None)
    if names is None:
        raise TypeError(f"{obj_or_cls!r} is not a record")
    return names  # type: ignore[no-any-return]


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of ``obj`` with ``changes`` applied: ``dataclasses.replace`` for records and dataclasses
    alike (code handling both, e.g. FLV tags and media tags, calls this one)."""
    names = getattr(obj, "__record_fields__", None)
    if names is None:
        import dataclasses

        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    for name in changes:
        if name not in names:
            raise TypeError(f"{type(obj).__qualname__} has no field {name!r}")
    values = {name: changes[name] if name in changes else getattr(obj, name) for name in names}
    return type(obj)(**values)


def _is_classvar(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar", "t.ClassVar"))


# Shared methods: they read the field names from the class, so no code is generated for them.

def _repr(self: Any) -> str:
    cls = type(self)
    return f"{cls.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in cls.__record_fields__)})"


def _eq(self: Any, other: Any) -> Any:  # bool, or NotImplemented
    if other.__class__ is not self.__class__:
        return NotImplemented
    get = self.__class__.__record_values__
    return bool(get(self) == get(other))


def _hash(self: Any) -> int:
    return hash(self.__class__.__record_values__(self))


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _reduce(self: Any) -> tuple[Any, tuple[Any, ...]]:
    return type(self), self.__class__.__record_values__(self)


class _Values:
    """``__record_values__``: the field values as a tuple (``attrgetter`` returns a bare value for one name)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.get: Callable[[Any], tuple[Any, ...]]
        if len(names) == 1:
            one = attrgetter(names[0])
            self.get = lambda obj: (one(obj),)
        elif names:
            self.get = attrgetter(*names)
        else:
            self.get = lambda obj: ()

    def __get__(self, obj: Any, cls: Any) -> Callable[[Any], tuple[Any, ...]]:
        return self.get


def _build(cls: type, frozen: bool, slots: bool) -> type:
    own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - inspect is what records avoid loading
    names: list[str] = []
    defaults: dict[str, Any] = {}
    factories: dict[str, Any] = {}
    for base in reversed(cls.__mro__[1:]):
        for name in base.__dict__.get("__record_fields__", ()):
            if name not in names:
                names.append(name)
        defaults.update(base.__dict__.get("__record_defaults__", {}))
        factories.update(base.__dict__.get("__record_factories__", {}))
    for name, annotation in own.items():
        if _is_classvar(annotation):
            continue
        if name not in names:
            names.append(name)
        value = cls.__dict__.get(name, _MISSING)
        if isinstance(value, _Field):
            if value.default_factory is not _MISSING:
                factories[name] = value.default_factory
                defaults.pop(name, None)
            else:
                value = value.default
        if value is not _MISSING and not isinstance(value, _Field):
            defaults[name] = value
            factories.pop(name, None)
    seen_default = False
    for name in names:
        if name in defaults or name in factories:
            seen_default = True
        elif seen_default:
            raise TypeError(f"{cls.__qualname__}: field {name!r} without a default follows one with a default")

    # __init__, the one generated method (a real signature, no per-call loop over the fields), is
    # compiled when the class is first instantiated: most record classes a short command imports
    # are never instantiated in it.
    holder: list[type] = []

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        owner = holder[0]
        init = _make_init(owner.__qualname__, names, defaults, factories, frozen,
                          post_init=hasattr(owner, "__post_init__"))
        type.__setattr__(owner, "__init__", init)
        init(self, *args, **kwargs)

    fields_tuple = tuple(names)
    attrs: dict[str, Any] = {
        "__init__": __init__, "__repr__": _repr, "__eq__": _eq, "__reduce__": _reduce,
        "__match_args__": fields_tuple,
    }
    if frozen:
        attrs["__setattr__"] = _frozen_setattr
        attrs["__delattr__"] = _frozen_delattr
    body = cls.__dict__
    attrs = {name: value for name, value in attrs.items() if name not in body}  # the body's own win
    # As dataclass(eq=True): a hash of the fields when frozen, unhashable when mutable, unless the
    # body defines __hash__ itself (a body defining __eq__ alone gets __hash__ = None from Python:
    # that is not a definition).
    if "__hash__" not in body or (body["__hash__"] is None and "__eq__" in body):
        attrs["__hash__"] = _hash if frozen else None
    attrs["__record_fields__"] = fields_tuple
    attrs["__record_defaults__"] = {n: defaults[n] for n in names if n in defaults}
    attrs["__record_factories__"] = {n: factories[n] for n in names if n in factories}
    attrs["__record_values__"] = _Values(fields_tuple)
    if not slots:
        holder.append(cls)
        for name, value in attrs.items():
            type.__setattr__(cls, name, value)
        for name in own:  # a field(...) marker leaves the class: its default (if any) stays
            marker = body.get(name)
            if isinstance(marker, _Field):
                if name in defaults:
                    type.__setattr__(cls, name, defaults[name])
                else:
                    type.__delattr__(cls, name)
        return cls
    # slots: a new class whose instances hold exactly the fields (the defaults live in __init__).
    inherited = {n for b in cls.__mro__[1:] for n in b.__dict__.get("__record_fields__", ())}
    namespace = {k: v for k, v in body.items() if k not in ("__dict__", "__weakref__") and k not in names}
    namespace.update(attrs)
    namespace["__slots__"] = tuple(n for n in names if n not in inherited)
    new = type(cls)(cls.__name__, cls.__bases__, namespace)
    new.__qualname__ = cls.__qualname__
    holder.append(new)
    return new


def _make_init(qualname: str, names: list[str], defaults: dict[str, Any], factories: dict[str, Any],
               frozen: bool, *, post_init: bool = False) -> Callable[..., None]:
    params: list[str] = []
    lines: list[str] = []
    env: dict[str, Any] = {"__set": object.__setattr__, "__MISSING": _MISSING}
    for name in names:
        if name in factories:
            env[f"__f_{name}"] = factories[name]
            params.append(f"{name}=__MISSING")
            value = f"__f_{name}() if {name} is __MISSING else {name}"
        elif name in defaults:
            env[f"__d_{name}"] = defaults[name]
            params.append(f"{name}=__d_{name}")
            value = name
        else:
            params.append(name)
            value = name
        lines.append(f"__set(self, {name!r}, {value})" if frozen else f"self.{name} = {value}")
    if post_init:
        lines.append("self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n    " + ("\n    ".join(lines) or "pass") + "\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<record {qualname}>", "exec"), env, namespace)  # noqa: S102
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{qualname}.__init__"
    return init


@dataclass_transform(field_specifiers=(field,))  # type checkers read records as they read dataclasses
def record(cls: type[T] | None = None, /, *, frozen: bool = False, slots: bool = False) -> Any:
    """Make ``cls`` a record (see the module docstring); used as ``@record`` or ``@record(frozen=True)``."""
    def wrap(c: type[T]) -> type[T]:
        return _build(c, frozen, slots)

    return wrap if cls is None else wrap(cls)
