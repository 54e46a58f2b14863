"""Versions stored before blob format 3 were hashed by the rules of their day; they keep loading, verified by
those rules (remoteimport/_legacy/hashing_v1.py), while blobs of format 3 are verified by today's rules only."""

from __future__ import annotations

import importlib
import sys
import uuid
from pathlib import Path

import pytest
from sample_classes import forget_loaded

import remoteimport
from remoteimport._legacy import hashing_v1
from remoteimport.blob import encode_blob, make_header
from remoteimport.capture import capture_class
from remoteimport.hashing import class_hash
from remoteimport.store import Store

# A class that uses a Protocol of the user's: the old rules encoded such a Protocol by its name only (so
# editing its members did not change the hash); today's encode it by content, like any class.
SOURCE = """
import typing


class Shape(typing.Protocol):
    def area(self) -> float: ...


class Holder:
    kind = Shape

    def get(self):
        return 6
"""


@pytest.fixture
def holder(tmp_path: Path) -> type:
    module_name = f"legacy_holder_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module_name}.py").write_text(SOURCE)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(module_name).Holder
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(module_name, None)


def _stored(store: Store, cls: type, full_hash: str, blob_format: int) -> None:
    captured = capture_class(cls, path="Holder")
    header = make_header("Holder", full_hash, captured.payload, source=captured.source, qualname="Holder")
    header = header.replace(format=blob_format, requirements=captured.requirements)
    store.write_blob("Holder", full_hash, encode_blob(header, captured.payload))


def test_the_rules_changed_for_this_class(holder: type) -> None:
    assert hashing_v1.class_hash(holder) != class_hash(holder)


@pytest.mark.parametrize("blob_format", [1, 2])
def test_a_version_stored_before_format_3_loads_under_its_old_hash(
    holder: type, memory_store: Store, blob_format: int
) -> None:
    old_hash = hashing_v1.class_hash(holder)
    _stored(memory_store, holder, old_hash, blob_format)
    loaded = remoteimport.get_version("Holder", old_hash, store=memory_store)
    assert loaded().get() == 6 and loaded is not holder
    forget_loaded(name="Holder")


def test_a_format_3_blob_is_verified_by_todays_rules_only(holder: type, memory_store: Store) -> None:
    old_hash = hashing_v1.class_hash(holder)
    # The same payload loaded under the old rules first (and recorded as re-hashed): that does not count for a
    # format-3 blob.
    _stored(memory_store, holder, old_hash, 2)
    remoteimport.get_version("Holder", old_hash, store=memory_store)
    forget_loaded(name="Holder")
    newer = Store(f"memory://legacy-hashing-{uuid.uuid4().hex}")
    _stored(newer, holder, old_hash, 3)
    with pytest.raises(remoteimport.IntegrityError, match="re-hashes to"):
        remoteimport.get_version("Holder", old_hash, store=newer)
    _stored(newer, holder, class_hash(holder), 3)
    assert remoteimport.get_version("Holder", class_hash(holder), store=newer)().get() == 6
    forget_loaded(name="Holder")
