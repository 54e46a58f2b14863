"""Small classes the store, registry, hook, cache and backend tests push and load."""

from __future__ import annotations


def make_filter(scale: object) -> type:
    """A fresh ``MyFilter`` class; each ``scale`` gives another version (another content hash)."""

    class MyFilter:
        factor = scale

        def apply(self, x: int) -> object:
            return x * self.factor

    return MyFilter
