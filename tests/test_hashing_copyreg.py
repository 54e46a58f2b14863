"""Objects the standard library pickles through copyreg (or not at all) get deterministic encodings: compiled
regular expressions by (pattern, flags), ``struct.Struct`` by its format, ``functools.cached_property`` by its
function (never its lock), ``threading.local`` by its type (never its per-thread values). All of them sit in the
same table as the encoders users add with :func:`remoteimport.hashing.register`."""

from __future__ import annotations

import functools
import re
import struct
import threading
import types
import typing
from pathlib import Path

from hashing_support import SHA256_HEX, hash_in_subprocess, write_modules
from hypothesis import given, settings
from hypothesis import strategies as st

from remoteimport import class_hash, hashing

REGEX_FLAGS = (0, re.IGNORECASE, re.MULTILINE, re.DOTALL, re.VERBOSE, re.ASCII, re.IGNORECASE | re.DOTALL)


def _valid(text: str) -> bool:
    try:
        re.compile(text)
    except re.error:
        return False
    return True


patterns = st.text(alphabet="ab.*+?|()^$\\d", max_size=12).filter(_valid)


def holder(**attributes: object) -> type:
    """A class holding ``attributes`` (made fresh each time: the hasher sees only content)."""
    return types.new_class("Holder", (), {}, lambda namespace: namespace.update(attributes))


@settings(max_examples=60, deadline=None)
@given(pattern=patterns, flags=st.sampled_from(REGEX_FLAGS))
def test_regex_hash_is_its_pattern_and_flags(pattern: str, flags: int) -> None:
    first = class_hash(holder(pattern=re.compile(pattern, flags)))
    assert SHA256_HEX.fullmatch(first)
    re.purge()  # a new Pattern object for the same text: equal hash
    assert class_hash(holder(pattern=re.compile(pattern, flags))) == first


@settings(max_examples=60, deadline=None)
@given(one=patterns, other=patterns, flags=st.sampled_from(REGEX_FLAGS), other_flags=st.sampled_from(REGEX_FLAGS))
def test_different_regexes_hash_differently(one: str, other: str, flags: int, other_flags: int) -> None:
    first, second = re.compile(one, flags), re.compile(other, other_flags)
    same = (first.pattern, first.flags) == (second.pattern, second.flags)
    assert (class_hash(holder(pattern=first)) == class_hash(holder(pattern=second))) == same


@settings(max_examples=40, deadline=None)
@given(one=st.sampled_from(["<I", ">I", "<H", "<IH", "!q", "=2s", "<d"]), other=st.sampled_from(["<I", ">I", "<Q"]))
def test_struct_hash_is_its_format(one: str, other: str) -> None:
    assert (class_hash(holder(s=struct.Struct(one))) == class_hash(holder(s=struct.Struct(other)))) == (one == other)


def test_cached_property_hash_ignores_its_lock_and_follows_its_function() -> None:
    def area(self: object) -> int:
        return 1

    def other(self: object) -> int:
        return 2

    prop = functools.cached_property(area)
    before = class_hash(holder(area=prop))
    if hasattr(prop, "lock"):  # 3.11 and older
        prop.lock = threading.RLock()
    assert class_hash(holder(area=prop)) == before
    assert class_hash(holder(area=functools.cached_property(other))) != before


def test_thread_local_hash_ignores_its_values() -> None:
    storage = threading.local()
    before = class_hash(holder(storage=storage))
    storage.stack = [1, 2, 3]
    assert class_hash(holder(storage=storage)) == before


def test_locks_hash_by_type_only() -> None:
    lock, rlock = threading.Lock(), threading.RLock()
    ready = threading.Condition(rlock)
    free = class_hash(holder(lock=lock, rlock=rlock, ready=ready))
    with lock, rlock:  # held: process-local state, not behaviour
        assert class_hash(holder(lock=lock, rlock=rlock, ready=ready)) == free
    assert class_hash(holder(lock=threading.Lock(), rlock=threading.RLock(), ready=threading.Condition())) == free
    assert class_hash(holder(lock=threading.RLock(), rlock=threading.RLock(), ready=threading.Condition())) != free
    # A Condition is its lock: one over a plain Lock is another object than one over an RLock.
    assert class_hash(holder(ready=threading.Condition(threading.Lock()))) != class_hash(holder(ready=ready))


def test_a_condition_hashes_alike_while_a_thread_waits_on_it() -> None:
    ready = threading.Condition()
    free = class_hash(holder(ready=ready))

    def wait() -> None:
        with ready:
            ready.wait(timeout=30)

    waiter = threading.Thread(target=wait)
    waiter.start()
    while True:  # the waiter is in wait() once it has released the lock and registered itself
        with ready:
            if ready._waiters:
                break
    try:
        assert class_hash(holder(ready=ready)) == free
    finally:
        with ready:
            ready.notify_all()
        waiter.join()


def test_objects_built_from_locks_hash_by_their_other_state() -> None:
    # Event, Semaphore, Queue ... are plain Python objects over a Condition: their flag, count or items count.
    assert class_hash(holder(done=threading.Event())) == class_hash(holder(done=threading.Event()))
    flagged = threading.Event()
    flagged.set()
    assert class_hash(holder(done=flagged)) != class_hash(holder(done=threading.Event()))
    assert class_hash(holder(slots=threading.Semaphore(2))) != class_hash(holder(slots=threading.Semaphore(3)))


def test_builtin_encoders_live_in_the_register_table() -> None:
    for kind in (re.Pattern, struct.Struct, threading.local, type(threading.Lock()), type(threading.RLock())):
        assert kind in hashing._ENCODERS
    assert threading.Condition in hashing._ENCODERS


def test_a_users_typed_dict_and_protocol_hash_by_content() -> None:
    class Movie(typing.TypedDict):
        title: str

    class Film(typing.TypedDict):
        title: str
        year: int

    assert class_hash(Movie) != class_hash(Film)


def test_regex_struct_and_friends_hash_alike_in_fresh_processes(tmp_path: Path) -> None:
    write_modules(
        tmp_path,
        {
            "copyreg_mod": """
import functools, re, struct, threading, weakref

WORD = re.compile(r"\\w+", re.IGNORECASE)
HEADER = struct.Struct("<IH")
_local = threading.local()
_cache = weakref.WeakKeyDictionary()

class Parser:
    pattern = re.compile(r"(?P<key>[a-z]+)=(?P<value>\\d+)")

    @functools.cached_property
    def header_size(self):
        return HEADER.size

    def words(self, text):
        _local.last = text
        return WORD.findall(text)

    @functools.lru_cache(maxsize=32)
    def cached(self, x):
        return x
"""
        },
    )
    runs = [hash_in_subprocess(tmp_path, {"copyreg_mod": ["Parser"]}, env={"PYTHONHASHSEED": seed}) for seed in "01"]
    assert runs[0] == runs[1]


# Rules the real-world corpus (tests/e2e/test_real_world_corpus.py) found, each in its smallest form.


def test_a_method_an_installed_module_exposes_is_hashed_by_its_name() -> None:
    import random

    before = class_hash(holder(pick=random.choice))
    random.random()  # moves the state of random's own generator, which is no part of the hash
    assert class_hash(holder(pick=random.choice)) == before
    out: list[str] = []
    hashing._Encoder().value(random.choice, out, "pick")
    assert "".join(out) == "attr" + hashing._atom("random:choice")


def test_a_builtin_is_named_by_its_public_module() -> None:
    assert hashing._public_module("_io", open) == "io"  # 3.12 says _io, 3.11 io: the same io.open
    assert hashing._public_module("_io", len) == "_io"  # no public alias: left as it is


def test_typing_generic_as_a_value_terminates() -> None:
    T = typing.TypeVar("T")

    class Box(typing.Generic[T]):
        pass

    assert SHA256_HEX.fullmatch(class_hash(holder(kind=typing.Generic, box=Box)))


def test_a_member_that_is_the_bases_own_object_is_left_out() -> None:
    # cloudpickle leaves such members out of the pickled class; the rebuilt class inherits them
    class Base:
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = None  # type: ignore[assignment]

    with_member = types.new_class("C", (Base,), {}, lambda ns: ns.update(__hash__=None))
    without = types.new_class("C", (Base,), {}, lambda ns: None)
    assert class_hash(with_member) == class_hash(without)


def test_instance_state_of_real_and_dict_backed_slots_is_one_form() -> None:
    class Slotted:
        __slots__ = ("x",)

    assert hashing._canonical_state(Slotted, (None, {"x": 1})) == (None, {"x": 1})
    assert hashing._canonical_state(Slotted, {"x": 1}) == (None, {"x": 1})  # as cloudpickle's rebuilt class gives


def test_only_global_reads_are_a_functions_globals(tmp_path: Path) -> None:
    source = """
weekday = {value!r}

class Day:
    def __init__(self, weekday):
        self.weekday = weekday  # a parameter and an attribute, never the module-level name
"""
    write_modules(tmp_path / "a", {"days": source.format(value=1)})
    write_modules(tmp_path / "b", {"days": source.format(value=2)})
    first = hash_in_subprocess(tmp_path / "a", {"days": ["Day"]})
    assert first == hash_in_subprocess(tmp_path / "b", {"days": ["Day"]})
