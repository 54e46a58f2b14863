"""Issue 23: what a class factory generated (a dataclass's ``__init__``, a namedtuple's ``__new__``) has no source,
so a version's hash leaves it out and covers the fields and parameters instead. A store writer could therefore
ship another ``__init__`` under the same hash: on a host of the pushing Python it would run from the payload's
bytecode. Such methods are made again from the fields on every load (remoteimport/regenerate.py), as they are on
another Python. The attacker's method would create a marker directory; each test asserts it never appears, and a
control shows that it would have (the same blob loaded without the regeneration)."""

from __future__ import annotations

import collections
import dataclasses
from pathlib import Path

import pytest

import remoteimport
from remoteimport import regenerate
from remoteimport.blob import decode_blob
from remoteimport.hashing import class_hash
from remoteimport.loader import class_from_blob
from remoteimport.store import Store


def _evil_function(name: str, signature: str, body: str, marker: Path) -> object:
    """A function made by exec, as class factories make theirs (file ``<string>``, no source anywhere)."""
    namespace: dict[str, object] = {}
    code = f"def {name}({signature}):\n    import os\n    os.makedirs(MARKER, exist_ok=True)\n    {body}\n"
    exec(code, {"MARKER": str(marker)}, namespace)  # noqa: S102 - the attack under test
    return namespace[name]


def _stored(tmp_path: Path, cls: type) -> tuple[Store, str]:
    store = Store(str(tmp_path / "store"))
    return store, remoteimport.push(cls, store=store)


def _loaded(store: Store, name: str, full_hash: str) -> type:
    blob = decode_blob(store.read_blob(name, full_hash), expected_hash=full_hash, expected_name=name)
    return class_from_blob(blob, where=store.blob_url(name, full_hash), signature_checked=False)


def _dataclass_with_evil_init(marker: Path) -> tuple[type, str]:
    @dataclasses.dataclass
    class Config:
        size: int = 1

        def double(self) -> int:
            return 2 * self.size

    honest = class_hash(Config)
    evil = _evil_function("__init__", "self, size=1", "self.size = size", marker)
    evil.__qualname__ = "Config.__init__"
    Config.__init__ = evil
    return Config, honest


def test_a_dataclass_init_swapped_under_the_same_hash_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ATTACKER-CODE-RAN"
    Config, honest = _dataclass_with_evil_init(marker)
    assert class_hash(Config) == honest  # the attack keeps the version's hash: __init__ is not part of it
    store, full_hash = _stored(tmp_path, Config)
    assert full_hash == honest and not marker.exists()

    loaded = _loaded(store, "Config", full_hash)
    instance = loaded(size=4)
    assert (instance.size, instance.double(), repr(instance)) == (4, 8, "Config(size=4)")
    assert loaded(size=4) == instance and class_hash(loaded) == full_hash
    assert not marker.exists()


def test_control_without_the_regeneration_the_swapped_init_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "ATTACKER-CODE-RAN"
    Config, _ = _dataclass_with_evil_init(marker)
    store, full_hash = _stored(tmp_path, Config)
    monkeypatch.setattr(regenerate, "_regenerate_factory_methods", lambda rebuilder: None)
    _loaded(store, "Config", full_hash)(size=4)
    assert marker.exists()


def test_a_namedtuple_new_swapped_under_the_same_hash_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ATTACKER-CODE-RAN"
    Point = collections.namedtuple("Point", "x y", defaults=(0,))
    honest = class_hash(Point)
    evil = _evil_function("__new__", "_cls, x, y=0", "return tuple.__new__(_cls, (x, y))", marker)
    evil.__qualname__ = "Point.__new__"
    Point.__new__ = staticmethod(evil)
    assert class_hash(Point) == honest
    store, full_hash = _stored(tmp_path, Point)
    loaded = _loaded(store, "Point", full_hash)
    assert tuple(loaded(1)) == (1, 0) and loaded(1, 2).y == 2
    assert not marker.exists()


def test_an_honest_dataclass_loads_as_before(tmp_path: Path) -> None:
    """Frozen, ordered, keyword-only, with defaults and factories: regenerated methods behave as the originals."""

    @dataclasses.dataclass(frozen=True, order=True)
    class Version:
        major: int
        minor: int = 0
        labels: tuple = dataclasses.field(default_factory=tuple)

    store, full_hash = _stored(tmp_path, Version)
    loaded = _loaded(store, "Version", full_hash)
    first, second = loaded(1, 2), loaded(1, 3, ("rc",))
    assert first < second and first == loaded(1, 2) and hash(first) == hash(loaded(1, 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.major = 5  # type: ignore[misc]
    assert repr(second) == "Version(major=1, minor=3, labels=('rc',))"


def test_a_dataclass_with_string_annotations_regenerates_without_its_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``from __future__ import annotations``: dataclasses classifies string annotations through the class's
    module, which a host without the source lacks; the payload's fields say what each one was."""
    import importlib
    import sys

    source = tmp_path / "src" / "strconf.py"
    source.parent.mkdir()
    source.write_text(
        "from __future__ import annotations\n"
        "import dataclasses\n"
        "from dataclasses import KW_ONLY, InitVar\n"
        "from typing import ClassVar as CV\n\n"
        "@dataclasses.dataclass\n"
        "class Conf:\n"
        "    size: int\n"
        "    registry: CV[dict] = {}\n"
        "    seed: InitVar[int] = 0\n"
        "    _: KW_ONLY\n"
        "    label: str = 'x'\n\n"
        "    def __post_init__(self, seed):\n"
        "        self.size += seed\n"
    )
    monkeypatch.syspath_prepend(str(source.parent))
    Conf = importlib.import_module("strconf").Conf
    store, full_hash = _stored(tmp_path, Conf)
    monkeypatch.delitem(sys.modules, "strconf")  # from here on, as on a host without the source

    loaded = _loaded(store, "Conf", full_hash)
    assert "strconf" not in sys.modules
    assert [field.name for field in dataclasses.fields(loaded)] == ["size", "label"]
    made = loaded(1, seed=2, label="y")
    assert (made.size, made.label, loaded.registry) == (3, "y", {})
    with pytest.raises(TypeError):
        loaded(1, 2, "positional label")  # label is keyword-only
    assert class_hash(loaded) == full_hash


def test_sign_include_unsigned_signs_a_dataclass_whose_generated_methods_are_made_again(tmp_path: Path) -> None:
    """The payload's generated methods never run (they are made again from the fields), so they do not stop a
    publisher from vouching for an unsigned version; exec-made code of the user's still does
    (tests/test_smuggled_bytecode.py)."""
    from remoteimport import registry, signing

    @dataclasses.dataclass(order=True)
    class Conf:
        size: int = 1

        def double(self) -> int:
            return 2 * self.size

    store, full_hash = _stored(tmp_path, Conf)
    signing.generate_key(tmp_path / "publisher")
    outcomes = registry.sign("Conf", full_hash, store=store, key=tmp_path / "publisher", include_unsigned=True)
    assert outcomes[full_hash].startswith("signed"), outcomes[full_hash]
    assert decode_blob(store.read_blob("Conf", full_hash)).header.signature is not None
