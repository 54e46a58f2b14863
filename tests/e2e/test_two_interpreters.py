"""Push from one interpreter, delete the producer's code, import and run it in fresh isolated interpreters.

Every case runs against a plain path, a ``file://`` URL, ``s3://`` (moto's server) and ``gs://`` (the GCS
emulator); see tests/backends.py. ``memory://`` stores live in one process only, so they are tested in-process
(tests/test_registry.py, tests/test_hook.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support import delete, run_consumer, run_producer, write_files

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture(params=["path", "file-url", "s3", "gs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param in ("s3", "gs"):
        return request.getfixturevalue(f"{request.param}_url")  # a fresh prefix on a real server
    folder = tmp_path / "store"
    return str(folder) if request.param == "path" else folder.as_uri()


PUSH_ONE = """
    import json, sys
    import remoteimport
    from {module} import MyFilter

    store = remoteimport.Store(sys.argv[1])
    full = remoteimport.push(MyFilter, store=store)
    print(json.dumps({{"hash": full, "status": remoteimport.status(MyFilter, store=store)}}))
"""


def test_class_defined_in_main(tmp_path: Path, store: str) -> None:
    producer = write_files(
        tmp_path / "producer",
        {
            "producer.py": """
                import json, sys
                import remoteimport

                SCALE = 3

                def helper(x):
                    return x + 1

                @remoteimport.persist
                class MyFilter:
                    def __init__(self, offset=0):
                        self.offset = offset

                    def apply(self, x):
                        return helper(x) * SCALE + self.offset

                    def fail(self):
                        raise ValueError("boom from the producer's source")

                store = remoteimport.Store(sys.argv[1])
                full = remoteimport.push(MyFilter, store=store)
                print(json.dumps({"hash": full, "status": remoteimport.status(MyFilter, store=store),
                                  "all": remoteimport.push_all(store=store)}))
            """
        },
    )
    pushed = run_producer(producer, store)
    full = pushed["hash"]
    assert pushed["status"] == "synced" and pushed["all"] == {"MyFilter": full}
    delete(producer)

    out = run_consumer(
        tmp_path / "consumer",
        store,
        f"""
        import traceback
        import labchain_remote
        from labchain_remote import MyFilter
        full = {full!r}
        pinned = [importlib.import_module("labchain_remote.MyFilter@" + v) for v in (full[:8], full[:20], full)]
        out["same_class"] = all(module.MyFilter is MyFilter for module in pinned)
        out["module"] = MyFilter.__module__
        out["apply"] = MyFilter(1).apply(2)
        out["dir"] = dir(labchain_remote)
        out["versions"] = [(v.hash, v.python) for v in remoteimport.versions("MyFilter", store=STORE)]
        out["get_version"] = remoteimport.get_version("MyFilter", full[:8], store=STORE) is MyFilter
        out["rehash"] = remoteimport.class_hash(MyFilter)
        try:
            MyFilter().fail()
        except ValueError:
            out["traceback"] = traceback.format_exc()
        import inspect
        out["getsource"] = inspect.getsource(MyFilter.apply)
        print(json.dumps(out))
        """,
    )
    assert out["getsource"].splitlines() == [
        "    def apply(self, x):",
        "        return helper(x) * SCALE + self.offset",
    ]
    assert out["same_class"] and out["get_version"] and out["apply"] == 10
    assert out["module"] == f"labchain_remote.MyFilter@{full}" and out["dir"] == ["MyFilter"]
    assert out["versions"] == [[full, PYTHON]] and out["rehash"] == full
    assert 'raise ValueError("boom from the producer\'s source")' in out["traceback"]  # the shipped source


def test_class_defined_in_a_plain_module(tmp_path: Path, store: str) -> None:
    producer = write_files(
        tmp_path / "producer",
        {
            "myfilters.py": """
                import math

                THRESHOLD = 10

                def clip(x):
                    return min(x, THRESHOLD)

                class MyFilter:
                    names = ("a", "b")

                    def apply(self, x):
                        return clip(x) + math.floor(0.5) + len(self.names)
            """,
            "producer.py": PUSH_ONE.format(module="myfilters"),
        },
    )
    full = run_producer(producer, store)["hash"]
    delete(producer)
    out = run_consumer(
        tmp_path / "consumer",
        store,
        f"""
        from labchain_remote import MyFilter
        pinned = importlib.import_module("labchain_remote.MyFilter@{full[:8]}")
        out["pinned_is_latest"] = pinned.MyFilter is MyFilter
        out["results"] = [MyFilter().apply(3), MyFilter().apply(50)]
        out["producer_module_importable"] = importlib.util.find_spec("myfilters") is not None
        print(json.dumps(out))
        """,
    )
    assert out == {"pinned_is_latest": True, "results": [5, 12], "producer_module_importable": False}


def test_class_in_a_package_with_a_helper_and_a_base_class_from_sibling_modules(tmp_path: Path, store: str) -> None:
    producer = write_files(
        tmp_path / "producer",
        {
            "pkg/__init__.py": "",
            "pkg/helpers.py": """
                OFFSET = 100

                def scale(x, factor):
                    return x * factor + OFFSET
            """,
            "pkg/base.py": """
                class BaseFilter:
                    greeting = "base"

                    def describe(self):
                        return f"{self.greeting}:{type(self).__name__}"

                    def run(self, values):
                        return [self.apply(value) for value in values]
            """,
            "pkg/filters.py": """
                from pkg import helpers
                from pkg.base import BaseFilter

                from .helpers import scale

                class MyFilter(BaseFilter):
                    greeting = "pkg"

                    def apply(self, x):
                        return scale(x, 2) + helpers.OFFSET
            """,
            "producer.py": PUSH_ONE.format(module="pkg.filters"),
        },
    )
    full = run_producer(producer, store)["hash"]
    delete(producer)
    out = run_consumer(
        tmp_path / "consumer",
        store,
        f"""
        from labchain_remote import MyFilter
        out["pinned_is_latest"] = importlib.import_module("labchain_remote.MyFilter@{full}").MyFilter is MyFilter
        out["run"] = MyFilter().run([1, 2])
        out["describe"] = MyFilter().describe()
        out["bases"] = [cls.__name__ for cls in MyFilter.__mro__]
        out["pkg_importable"] = importlib.util.find_spec("pkg") is not None
        print(json.dumps(out))
        """,
    )
    assert out == {
        "pinned_is_latest": True,
        "run": [202, 204],
        "describe": "pkg:MyFilter",
        "bases": ["MyFilter", "BaseFilter", "object"],
        "pkg_importable": False,
    }


def push_two_versions(tmp_path: Path, store: str) -> tuple[str, str]:
    """Push ``myfilters.MyFilter`` v1, edit the file, push v2 from a new interpreter, delete the folder."""
    producer = tmp_path / "producer"
    module = """
        class MyFilter:
            def __init__(self, weight):
                self.weight = weight

            def apply(self, x):
                return {body}
    """
    write_files(
        producer,
        {"myfilters.py": module.format(body="x + self.weight"), "producer.py": PUSH_ONE.format(module="myfilters")},
    )
    h1 = run_producer(producer, store)["hash"]
    write_files(producer, {"myfilters.py": module.format(body="x * self.weight")})
    h2 = run_producer(producer, store)["hash"]
    delete(producer)
    assert h1 != h2
    return h1, h2


def test_two_versions_side_by_side(tmp_path: Path, store: str) -> None:
    h1, h2 = push_two_versions(tmp_path, store)
    out = run_consumer(
        tmp_path / "consumer",
        store,
        f"""
        V1 = importlib.import_module("labchain_remote.MyFilter@{h1[:8]}").MyFilter
        V2 = importlib.import_module("labchain_remote.MyFilter@{h2[:8]}").MyFilter
        from labchain_remote import MyFilter
        out["results"] = [V1(3).apply(5), V2(3).apply(5)]
        out["distinct"] = V1 is not V2
        out["latest_is_v2"] = MyFilter is V2
        out["modules"] = [V1.__module__, V2.__module__]
        out["history"] = [v.hash for v in remoteimport.versions("MyFilter", store=STORE)]
        print(json.dumps(out))
        """,
    )
    assert out["results"] == [8, 15] and out["distinct"] and out["latest_is_v2"]
    assert out["modules"] == [f"labchain_remote.MyFilter@{h1}", f"labchain_remote.MyFilter@{h2}"]
    assert out["history"] == [h2, h1]


def test_instances_pickle_across_interpreters_and_resolve_their_exact_version(tmp_path: Path, store: str) -> None:
    h1, h2 = push_two_versions(tmp_path, store)
    pickles = tmp_path / "instances.pkl"
    made = run_consumer(
        tmp_path / "consumer-1",
        store,
        f"""
        from labchain_remote import MyFilter  # latest: v2
        old = importlib.import_module("labchain_remote.MyFilter@{h1[:10]}").MyFilter(4)
        new = MyFilter(4)
        old.history, new.history = ["old"], ["new"]
        with open({str(pickles)!r}, "wb") as file:
            pickle.dump([old, new], file)
        out["results"] = [old.apply(10), new.apply(10)]
        print(json.dumps(out))
        """,
    )
    assert made["results"] == [14, 40]
    out = run_consumer(
        tmp_path / "consumer-2",
        store,
        f"""
        with open({str(pickles)!r}, "rb") as file:
            old, new = pickle.load(file)
        out["modules"] = [type(old).__module__, type(new).__module__]
        out["results"] = [old.apply(10), new.apply(10)]
        out["state"] = [old.history, new.history, old.weight]
        print(json.dumps(out))
        """,
    )
    assert out["modules"][0].endswith(f"@{h1}") and out["modules"][1].endswith(f"@{h2}")
    assert out["results"] == [14, 40] and out["state"] == [["old"], ["new"], 4]


def test_a_class_built_on_a_class_from_the_store(tmp_path: Path, store: str) -> None:
    # Loading Child unpickles a reference to Base, which the hook loads (unpickles) in the middle of it.
    producer = write_files(
        tmp_path / "producer",
        {
            "base.py": """
                import json, sys
                import remoteimport

                class Base:
                    def greet(self):
                        return "base"

                print(json.dumps({"hash": remoteimport.push(Base, store=sys.argv[1])}))
            """,
            "child.py": """
                import json, sys
                import remoteimport

                remoteimport.install(sys.argv[1])
                from labchain_remote import Base

                class Child(Base):
                    def greet(self):
                        return "child+" + super().greet()

                print(json.dumps({"hash": remoteimport.push(Child, store=sys.argv[1])}))
            """,
        },
    )
    base = run_producer(producer, store, "base.py")["hash"]
    child = run_producer(producer, store, "child.py")["hash"]
    delete(producer)
    out = run_consumer(
        tmp_path / "consumer-1",
        store,
        f"""
        from labchain_remote import Child
        out["greet"] = Child().greet()
        out["base_module"] = Child.__mro__[1].__module__
        out["same_base"] = Child.__mro__[1] is importlib.import_module("labchain_remote.Base@{base[:8]}").Base
        print(json.dumps(out))
        """,
    )
    assert out == {"greet": "child+base", "base_module": f"labchain_remote.Base@{base}", "same_base": True}

    # Two threads: one imports Base (holding its import lock while the store is slow), the other imports
    # Child, whose unpickling needs Base. Loading must not hold any lock of its own across the unpickling.
    out = run_consumer(
        tmp_path / "consumer-2",
        store,
        f"""
        import os, threading, time
        read_blob = finder.store.read_blob

        def slow_read_blob(name, full_hash, **options):
            if name == "Base":
                time.sleep(0.5)
            return read_blob(name, full_hash, **options)

        finder.store.read_blob = slow_read_blob
        found = {{}}
        def load(name, version):
            found[name] = importlib.import_module(f"labchain_remote.{{name}}@{{version}}")
        threads = [threading.Thread(target=load, args=("Base", "{base[:8]}"), daemon=True),
                   threading.Thread(target=load, args=("Child", "{child[:8]}"), daemon=True)]
        threads[0].start()
        time.sleep(0.15)
        threads[1].start()
        for thread in threads:
            thread.join(timeout=15)
        out["finished"] = [not thread.is_alive() for thread in threads]
        if all(out["finished"]):
            out["greet"] = found["Child"].Child().greet()
            out["same_base"] = found["Child"].Child.__mro__[1] is found["Base"].Base
        print(json.dumps(out), flush=True)
        os._exit(0)  # a deadlocked daemon thread must not keep the interpreter alive
        """,
    )
    assert out == {"finished": [True, True], "greet": "child+base", "same_base": True}
