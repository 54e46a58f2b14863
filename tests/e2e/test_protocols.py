"""Subclasses of a ``typing.Protocol``, pushed from one interpreter and loaded in another without the source.

typing changes such a class after it is made: on its first instantiation ``_no_init_or_replace_init`` copies the
``__init__`` it finds in the MRO onto the class, and on Python 3.10 and 3.11 ``Protocol.__init_subclass__`` gives
each subclass a ``_proto_hook`` closure of its own. Neither is the user's code: the hash is the same before and
after the first instantiation (on the pushing host and on the loading one), the blob does not ship typing.py,
and a version stored under the earlier rule (its hash taken after an instantiation) still loads.
"""

from __future__ import annotations

from pathlib import Path

from support import delete, run_consumer, run_producer, write_files

PACKAGE = {
    "scoring/__init__.py": "",
    "scoring/protocols.py": """
        from typing import Protocol, runtime_checkable


        @runtime_checkable
        class Scorer(Protocol):
            def score(self, x: float) -> float: ...
    """,
    "scoring/models.py": """
        from .protocols import Scorer


        class Shifted(Scorer):
            def score(self, x: float) -> float:
                return x + 1


        class Scaled(Scorer):
            def __init__(self, k: float = 2.0) -> None:
                self.k = k

            def score(self, x: float) -> float:
                return self.k * x
    """,
}

PRODUCER = """
import json, sys
import remoteimport
from remoteimport import registry
from remoteimport.hashing import stored_class_hash
from scoring.models import Scaled, Shifted

store = remoteimport.Store(sys.argv[1])
before = {cls.__name__: remoteimport.class_hash(cls) for cls in (Shifted, Scaled)}
made = [Shifted().score(1), Scaled().score(1)]  # typing copies object.__init__ onto Shifted here
after = {cls.__name__: remoteimport.class_hash(cls) for cls in (Shifted, Scaled)}
pushed = {cls.__name__: remoteimport.push(cls, store=store) for cls in (Shifted, Scaled)}
# A version stored by the earlier rule: its hash took the copied __init__ in (pushed after an instantiation).
earlier = stored_class_hash(Shifted, typing_init=True)
store.write_blob("Earlier", earlier, registry._blob_bytes(Shifted, "Earlier", earlier, store))
sources = {
    name: sorted(store.read_verified_blob(name, full).header.source) for name, full in pushed.items()
}
print(json.dumps({"before": before, "after": after, "pushed": pushed, "earlier": earlier, "made": made,
                  "sources": sources, "init_copied": "__init__" in vars(Shifted)}))
"""


def test_a_protocol_subclass_hashes_alike_before_and_after_its_first_instance_on_both_hosts(tmp_path: Path) -> None:
    producer = write_files(tmp_path / "producer", {**PACKAGE, "producer.py": PRODUCER})
    store = str(tmp_path / "store")
    pushed = run_producer(producer, store)
    delete(producer)
    assert pushed["init_copied"] is True and pushed["made"] == [2, 2.0]  # what typing does, here too
    assert pushed["after"] == pushed["before"] == pushed["pushed"]
    assert pushed["earlier"] != pushed["pushed"]["Shifted"]  # the earlier rule saw the copied __init__
    for name, files in pushed["sources"].items():  # the user's files only: typing.py is not shipped
        assert files and all(file.endswith(("protocols.py", "models.py")) for file in files), (name, files)

    out = run_consumer(
        tmp_path / "consumer",
        store,
        f"""
        hashes = {pushed["pushed"]!r}
        Shifted = importlib.import_module(f"labchain_remote.Shifted@{{hashes['Shifted']}}").Shifted
        Scaled = importlib.import_module(f"labchain_remote.Scaled@{{hashes['Scaled']}}").Scaled
        out["before"] = [remoteimport.class_hash(Shifted), remoteimport.class_hash(Scaled)]
        shifted, scaled = Shifted(), Scaled(3)
        out["scores"] = [shifted.score(1), scaled.score(1)]
        out["after"] = [remoteimport.class_hash(Shifted), remoteimport.class_hash(Scaled)]
        Scorer = next(base for base in Shifted.__mro__ if base.__name__ == "Scorer")
        class Duck:
            def score(self, x):
                return x
        out["checks"] = [isinstance(shifted, Scorer), isinstance(Duck(), Scorer), isinstance(object(), Scorer)]
        out["status"] = remoteimport.status(Shifted, store=STORE, name="Shifted")
        Earlier = importlib.import_module("labchain_remote.Earlier@{pushed["earlier"]}").Earlier
        out["earlier"] = Earlier().score(2)
        print(json.dumps(out))
        """,
    )
    expected = [pushed["pushed"]["Shifted"], pushed["pushed"]["Scaled"]]
    assert out["before"] == out["after"] == expected
    assert out["scores"] == [2, 3.0] and out["checks"] == [True, True, False]
    assert out["status"] == "synced"  # after its first instance, as before it
    assert out["earlier"] == 3  # stored under the earlier rule: it loads (loader.py tries that rule too)
