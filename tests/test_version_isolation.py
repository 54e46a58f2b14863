"""Versions pushed from one process stay distinct classes, and loading never touches the user's class."""

import importlib

import remoteimport


def test_versions_of_a_mutated_class_load_as_distinct_classes(tmp_path):
    class Greeter:
        greeting = "hello"

        def greet(self, name):
            return f"{self.greeting}, {name}"

    store = remoteimport.Store(tmp_path / "store")
    v1 = remoteimport.push(Greeter, store=store)
    Greeter.greeting = "hi"
    v2 = remoteimport.push(Greeter, store=store)
    assert v1 != v2

    remoteimport.install(store, namespace="isolation_remote")
    try:
        old = importlib.import_module(f"isolation_remote.Greeter@{v1[:8]}").Greeter
        new = importlib.import_module(f"isolation_remote.Greeter@{v2}").Greeter
        from isolation_remote import Greeter as latest  # noqa: N813

        assert latest is new
        assert old is not new and old is not Greeter and new is not Greeter
        assert (old().greet("Ada"), new().greet("Ada")) == ("hello, Ada", "hi, Ada")
        # The user's own class is left exactly as it was.
        assert Greeter.__module__ == __name__
        assert Greeter.__qualname__.endswith("<locals>.Greeter")
        assert new.__module__ == f"isolation_remote.Greeter@{v2}"
    finally:
        remoteimport.uninstall("isolation_remote")
