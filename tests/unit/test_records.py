"""rtmpconf.records behaves as ``dataclasses`` does for what the project uses.

Each test builds the same class with ``@record`` and ``@dataclass`` and compares them, so a
difference from the standard library shows up here rather than in a decoder.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
from typing import ClassVar

import pytest

from rtmpconf import records
from rtmpconf.records import FrozenInstanceError, field, record


def pair(frozen: bool, slots: bool) -> tuple[type, type]:
    def body() -> dict[str, object]:
        return {"__annotations__": {"size": "int", "data": "bytes", "K": "ClassVar[int]"},
                "data": b"", "K": 3, "__doc__": "A message.",
                "double": property(lambda self: self.size * 2)}

    rec = record(type("Msg", (), body()), frozen=frozen, slots=slots)
    dc = dataclasses.dataclass(frozen=frozen, slots=slots)(type("Msg", (), body()))
    return rec, dc


@pytest.mark.parametrize(("frozen", "slots"), [(True, True), (False, False), (False, True), (True, False)])
def test_same_behaviour_as_dataclass(frozen: bool, slots: bool) -> None:
    rec, dc = pair(frozen, slots)
    for cls in (rec, dc):
        a, b, c = cls(1), cls(size=1, data=b""), cls(2, b"x")
        assert a == b and a != c and (a == 1) is False
        assert a.double == 2 and cls.K == 3 and cls.__doc__ == "A message."
        assert cls.__match_args__ == ("size", "data")
    assert repr(rec(1, b"x")) == repr(dc(1, b"x")) == "Msg(size=1, data=b'x')"
    assert rec(1) != dc(1)  # different classes never compare equal
    if frozen:
        assert hash(rec(5, b"q")) == hash(rec(5, b"q"))
        with pytest.raises(FrozenInstanceError):
            rec(1).size = 2
        with pytest.raises(AttributeError):  # FrozenInstanceError is an AttributeError, as in dataclasses
            del rec(1).data
    else:
        with pytest.raises(TypeError):
            hash(rec(1))
        with pytest.raises(TypeError):
            hash(dc(1))
        m = rec(1)
        m.size = 7
        assert m.size == 7
    if slots:
        assert rec.__slots__ == dc.__slots__ == ("size", "data")
        with pytest.raises((AttributeError, TypeError)):
            rec(1).other = 1
    with pytest.raises(TypeError):
        rec()  # a field without a default is required
    with pytest.raises(TypeError):
        rec(1, b"", 3)


def test_copy_pickle_replace_fields_and_match() -> None:
    rec, _ = pair(True, True)
    globals()["Msg"] = rec  # pickle finds classes by module and name
    rec.__module__ = __name__
    try:
        a = rec(4, b"z")
        assert copy.copy(a) == a and copy.deepcopy(a) == a and pickle.loads(pickle.dumps(a)) == a
    finally:
        del globals()["Msg"]
    assert records.replace(a, size=9) == rec(9, b"z")
    assert records.fields(a) == records.fields(rec) == ("size", "data")
    with pytest.raises(TypeError):
        records.replace(a, nope=1)
    with pytest.raises(TypeError):
        dataclasses.replace(a, size=1)  # type: ignore[type-var]  # records are not dataclasses
    with pytest.raises(TypeError):
        records.fields(object())
    match a:
        case rec(size, data):  # type: ignore[misc]
            assert (size, data) == (4, b"z")
        case _:
            pytest.fail("positional match failed")


def test_replace_also_takes_a_dataclass() -> None:
    @dataclasses.dataclass(frozen=True)
    class Tag:
        timestamp: int
        payload: bytes = b""

    assert records.replace(Tag(1, b"a"), timestamp=5) == Tag(5, b"a")


def test_factories_defaults_and_field_markers() -> None:
    @record
    class Report:
        name: str
        notes: list[str] = field(default_factory=list)
        mode: str = field(default="text")
        count: int = 0
        LIMIT: ClassVar[int] = 9

    one, two = Report("a"), Report("b")
    one.notes.append("x")
    assert two.notes == [] and one.notes == ["x"]  # a new list per instance
    assert Report.mode == "text" and Report.count == 0  # class attributes as dataclasses leave them
    assert "notes" not in Report.__dict__  # a factory field has no class attribute
    assert records.fields(Report) == ("name", "notes", "mode", "count")
    assert Report("c", ["n"], "json", 2) == Report(name="c", notes=["n"], mode="json", count=2)
    with pytest.raises(ValueError):
        field(default=1, default_factory=list)


def test_field_order_is_checked() -> None:
    with pytest.raises(TypeError, match="without a default"):
        record(type("Bad", (), {"__annotations__": {"a": "int", "b": "int"}, "a": 1}))


def test_inheritance_and_own_methods() -> None:
    @record(frozen=True, slots=True)
    class Base:
        a: int
        b: int = 2

    @record(frozen=True, slots=True)
    class Child(Base):
        c: int = 3

        def __repr__(self) -> str:
            return "child"

    child = Child(1)
    assert (child.a, child.b, child.c) == (1, 2, 3)
    assert records.fields(Child) == ("a", "b", "c") and Child.__slots__ == ("c",)
    assert repr(child) == "child"  # a method the body defines is kept
    assert Child(1) == Child(1, 2, 3) and Child(1) != Base(1)

    @record(frozen=True)
    class Keyed:
        key: int
        extra: str = ""

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Keyed) and other.key == self.key

        def __hash__(self) -> int:
            return self.key

    assert Keyed(1, "a") == Keyed(1, "b") and hash(Keyed(7)) == 7


def test_analyzer_path_imports_no_dataclasses() -> None:
    """The reason records exist: ``rtmpconf analyze`` must not load ``dataclasses`` (and ``inspect``)."""
    code = ("import sys; import rtmpconf.harness.capture.analyze, rtmpconf.harness.capture.cli; "
            "print(sorted(m for m in ('dataclasses', 'inspect', 'socket') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_post_init_runs_after_the_fields_are_set() -> None:
    @record(frozen=True, slots=True)
    class Window:
        size: int
        scale: int = 1

        def __post_init__(self) -> None:
            if self.size * self.scale <= 0:
                raise ValueError("window must be positive")

    assert Window(3).size == 3
    with pytest.raises(ValueError, match="positive"):
        Window(0)

    @record
    class Empty:
        def __post_init__(self) -> None:
            self.seen = True  # type: ignore[attr-defined]

    assert Empty().seen  # type: ignore[attr-defined]
