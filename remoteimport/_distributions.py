"""Installed distributions, found without scanning the environment (stdlib only, no ``importlib.metadata``).

A push records the distributions that provide the modules a class references, and a load checks that they
are installed (:mod:`remoteimport.capture`). ``importlib.metadata.packages_distributions()`` answers the first
question by parsing the metadata of *every* installed distribution (0.03-0.3 s, growing with the user's
environment), and ``importlib.metadata.version()`` the second with the ``email`` parser (about 4 ms on first
use). Both are answered here from the few files that matter:

- the distribution of a module: the ``*.dist-info`` folder (``*.egg-info``) next to the module's top-level
  package whose ``RECORD`` (``top_level.txt``) lists the module's file, trying the folders named like the
  module first;
- the version of a distribution: the ``Version:`` line of its ``METADATA``, in the first ``sys.path`` folder
  that holds it.

Folder listings and answers are kept for the life of the process. When a module's files do not reveal
their distribution (no metadata next to them), :mod:`remoteimport.capture` falls back to
``importlib.metadata``.

    >>> distribution_version("no-such-distribution-here") is None
    True
"""

from __future__ import annotations

import os
import sys

from remoteimport import _memo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["Distribution", "distribution_version", "module_distributions"]

_SEPARATORS = frozenset("-_.")
_METADATA_SUFFIXES = (".dist-info", ".egg-info")


class Distribution(tuple[str, str]):
    """``(name, version)`` as the distribution's metadata spells them."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return self[0]

    @property
    def version(self) -> str:
        return self[1]


def normalize(name: str) -> str:
    """PEP 503 normalisation, with ``_`` as the separator that ``*.dist-info`` folder names use.

    >>> normalize("Foo.Bar-baz")
    'foo_bar_baz'
    """
    # re.sub("[-_.]+", "_", name) without re, which a load need not import (docs/performance.md)
    parts, run = [], False
    for character in name:
        if character in _SEPARATORS:
            if not run:
                parts.append("_")
            run = True
        else:
            parts.append(character)
            run = False
    return "".join(parts).lower()


@_memo.bounded(256)
def _metadata_folders(directory: str) -> dict[str, list[str]]:
    """``{normalised distribution name: [metadata folder, ...]}`` of one directory (one listing, kept)."""
    found: dict[str, list[str]] = {}
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return found
    for entry in names:
        if entry.endswith(_METADATA_SUFFIXES):
            stem = entry.rsplit(".", 1)[0]
            found.setdefault(normalize(stem.split("-", 1)[0]), []).append(os.path.join(directory, entry))
    return found


@_memo.bounded(1024)
def _read_header(folder: str) -> Distribution | None:
    """Name and version from the header of a metadata folder's ``METADATA`` (``PKG-INFO``), no email parser."""
    filename = "METADATA" if folder.endswith(".dist-info") else "PKG-INFO"
    name = version = None
    try:
        with open(os.path.join(folder, filename), encoding="utf-8", errors="replace") as file:
            for line in file:
                if not line.strip():
                    break  # the header ends at the first blank line
                key, _, value = line.partition(":")
                if key == "Name" and name is None:
                    name = value.strip()
                elif key == "Version" and version is None:
                    version = value.strip()
                if name and version:
                    break
    except OSError:
        return None
    return Distribution((name, version)) if name and version else None


@_memo.bounded(1024)
def _owns(folder: str, relative: str, top: str) -> bool:
    """Whether the distribution of a metadata folder installed ``relative`` (a ``/``-separated path)."""
    if folder.endswith(".dist-info"):
        try:
            with open(os.path.join(folder, "RECORD"), encoding="utf-8", errors="replace") as file:
                prefix = relative + ","
                return any(line.startswith(prefix) for line in file)
        except OSError:
            return False
    try:  # egg-info: top_level.txt names the top-level packages
        with open(os.path.join(folder, "top_level.txt"), encoding="utf-8", errors="replace") as file:
            return any(line.strip() == top for line in file)
    except OSError:
        return False


def _location(module_name: str, filename: object) -> tuple[str, str] | None:
    """``(folder on the path, the module's file relative to it)`` for a module's ``__file__``."""
    if not isinstance(filename, str) or not filename:
        return None
    depth = module_name.count(".") + 1
    if os.path.basename(filename).startswith("__init__."):
        depth += 1
    directory = os.path.abspath(filename)
    parts: list[str] = []
    for _ in range(depth):
        directory, part = os.path.split(directory)
        parts.append(part)
    return directory, "/".join(reversed(parts))


def _module_files(module_name: str, referenced: Iterable[str]) -> list[tuple[str, object]]:
    """``(module name, file)`` that show where ``module_name`` was installed: its own file; for a namespace
    package (google, ...) the files of the packages right under it that ``referenced`` names (all those
    imported when it names none); for a module not imported, where it would be found."""
    module = sys.modules.get(module_name)
    if module is None:
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(module_name)  # a top-level name: nothing is imported
        return [] if spec is None else [(module_name, spec.origin if spec.has_location else None)]
    filename = getattr(module, "__file__", None)
    if filename is not None:
        return [(module_name, filename)]
    prefix = module_name + "."
    below = {".".join(name.split(".")[:2]) for name in referenced if name.startswith(prefix)}
    if not below:
        below = {name for name in list(sys.modules) if name.startswith(prefix) and name.count(".") == 1}
    return [(name, getattr(sys.modules.get(name), "__file__", None)) for name in sorted(below)]


def _owners(directory: str, relative: str, module_name: str) -> list[Distribution]:
    folders = _metadata_folders(directory)
    keys = [normalize(part) for part in module_name.split(".")]
    # Folders named like the module first (fsspec -> fsspec-*.dist-info, yaml -> PyYAML-*.dist-info,
    # google.protobuf -> protobuf-*.dist-info); only when none of those installed the file, every folder of
    # that one directory.
    likely = [
        folder for name, group in folders.items() if any(key in name or name in key for key in keys) for folder in group
    ]
    top = keys[0]
    for candidates in (likely, [folder for group in folders.values() for folder in group if folder not in likely]):
        owners = [folder for folder in candidates if _owns(folder, relative, top)]
        if owners:
            return [header for header in map(_read_header, owners) if header is not None]
    return []


def module_distributions(module_name: str, referenced: Iterable[str] = ()) -> list[Distribution] | None:
    """The installed distributions that provide the top-level module ``module_name``; None when its files do
    not tell (no metadata next to them). For a namespace package (``google``), those of the packages right
    under it that the module names ``referenced`` name (``google.protobuf.message``: protobuf's)."""
    found: dict[str, Distribution] = {}
    for name, filename in _module_files(module_name, referenced):
        location = _location(name, filename)
        if location is not None:
            for owner in _owners(*location, name):
                found.setdefault(owner.name, owner)
    return list(found.values()) or None


def distribution_version(name: str) -> str | None:
    """The version of the installed distribution ``name`` (first on ``sys.path``), or None when no
    ``*.dist-info``/``*.egg-info`` folder on ``sys.path`` names it."""
    return _distribution_version(normalize(name), tuple(sys.path))


@_memo.bounded(256)
def _distribution_version(key: str, path: tuple[str, ...]) -> str | None:
    for entry in path:
        for folder in _metadata_folders(os.path.abspath(entry or ".")).get(key, ()):
            header = _read_header(folder)
            if header is not None and normalize(header.name) == key:
                return header.version
    return None


def forget() -> None:
    """Drop every kept listing and answer (after installing or removing distributions in this process)."""
    for cached in (_metadata_folders, _read_header, _owns, _distribution_version):
        cached.cache_clear()
