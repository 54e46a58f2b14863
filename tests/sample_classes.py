"""Small classes the store, registry, hook, cache and backend tests push and load, and a way to load them again."""

from __future__ import annotations

import sys


def make_filter(scale: object) -> type:
    """A fresh ``MyFilter`` class; each ``scale`` gives another version (another content hash)."""

    class MyFilter:
        factor = scale

        def apply(self, x: int) -> object:
            return x * self.factor

    return MyFilter


def greeter(text: str) -> type:
    """A ``Greeter`` class; each text is another version."""

    class Greeter:
        greeting = text

        def greet(self) -> str:
            return self.greeting

    return Greeter


def forget_loaded(*, namespace: str | None = None, name: str | None = None) -> None:
    """Make the next load of the versions of ``namespace`` (or of the class ``name``) in this process load
    again, as a new process would: drops them from the loader's memo and ``sys.modules``."""
    from remoteimport import loader

    loader.forget(namespace=namespace, name=name)
    for module in list(sys.modules):
        namespace_part, dot, version = module.rpartition(".")
        if dot and "@" in version and (namespace_part == namespace or version.partition("@")[0] == name):
            del sys.modules[module]  # the version module, and aliases made for hash prefixes
