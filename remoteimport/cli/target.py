"""TARGET on the command line: ``module:Class`` or ``path/to/file.py:Class``, and loading that class."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import runpy
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.machinery import BYTECODE_SUFFIXES, ModuleSpec, PathFinder, SourceFileLoader
from types import ModuleType
from typing import Any

from remoteimport.capture import module_travels_by_value
from remoteimport.cli.base import CommandError

TARGET_HELP = "'module:Class' or 'path/to/file.py:Class'"


@dataclass(frozen=True)
class Target:
    text: str  # as typed
    location: str  # a dotted module name or a file path
    qualname: str  # the class inside it, possibly nested: Outer.Inner
    is_file: bool

    @property
    def module_name(self) -> str:
        """The name the class's module gets in ``sys.modules`` (a file's stem, like ``python file.py``)."""
        if self.is_file:
            return os.path.splitext(os.path.basename(self.location))[0]
        return self.location


def parse_target(text: str) -> Target:
    """``"pkg.mod:MyFilter"`` or ``"path/to/file.py:MyFilter"`` -> :class:`Target` (argparse ``type=``)."""
    location, sep, qualname = text.rpartition(":")
    is_file = location.endswith(".py") or "/" in location or os.sep in location
    valid_module = is_file or all(part.isidentifier() for part in location.split("."))
    if not sep or not location or not valid_module or not all(p.isidentifier() for p in qualname.split(".")):
        raise argparse.ArgumentTypeError(
            f"invalid TARGET {text!r}: expected 'module:Class' (e.g. 'my_filters:MyFilter', imported from the "
            "current directory) or 'path/to/file.py:Class' (e.g. 'src/my_filters.py:MyFilter')"
        )
    return Target(text, location, qualname, is_file)


@contextlib.contextmanager
def load_target_class(target: Target) -> Iterator[type]:
    """Import TARGET's module as ``python -m module`` / ``python path/to/file.py`` would and yield the class.

    The user's files it imports run the text they hold now, whatever ``__pycache__`` holds
    (:class:`_CurrentSourceLoader`). Afterwards ``sys.path`` is restored and the module forgotten, so one process
    can load many targets (the in-process tests, and ``quickstart`` run twice). This belongs in the library if a
    second caller appears (e.g. ``remoteimport.load_target("file.py:Class")``)."""
    saved_path = list(sys.path)
    module_name = target.module_name
    was_loaded = module_name in sys.modules
    finder = _CurrentSourceFinder()
    # Before PathFinder (which it asks): the finders ahead of it (an editable install's, say) keep their turn.
    sys.meta_path.insert(sys.meta_path.index(PathFinder) if PathFinder in sys.meta_path else 0, finder)
    try:
        try:
            module = _load_file(target) if target.is_file else _import_module(target)
        except CommandError:
            raise
        except Exception as exc:  # the user's module itself failed (SyntaxError, a missing dependency, ...)
            raise CommandError(
                f"importing {target.location} (TARGET {target.text!r}) failed:\n{user_traceback(exc)}"
            ) from exc
        yield _class_in(module, target)
    finally:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        sys.path[:] = saved_path
        if not was_loaded:
            sys.modules.pop(module_name, None)


class _CurrentSourceLoader(SourceFileLoader):
    """Runs the text a file of the user's holds now, never an earlier one from ``__pycache__``.

    Python reuses a cached file whose recorded modification time (in whole seconds) and size are the source's:
    after an edit within the same second that keeps the size (a script, a CI step, a ``git checkout``) it runs
    the old bytecode, and a push would hash one text while shipping another program. Code that travels by value
    is compiled from its source (and its cached file rewritten, when Python writes bytecode); installed code
    travels by name, and its cache is Python's business."""

    def exec_module(self, module: ModuleType) -> None:
        # The module carries Python's own loader: a pickled module object (its namespace travels by value) must
        # never name a class of this private module, which old blobs would then need forever.
        module.__loader__ = SourceFileLoader(self.name, self.path)
        if module.__spec__ is not None:
            module.__spec__.loader = module.__loader__
        super().exec_module(module)

    def get_data(self, path: str) -> bytes:
        if path.endswith(tuple(BYTECODE_SUFFIXES)) and module_travels_by_value(self.name):
            raise OSError(f"{path} is not read: {self.path} is compiled")  # SourceLoader.get_code: no cached file
        return super().get_data(path)


class _CurrentSourceFinder:
    """PathFinder's answer, with :class:`_CurrentSourceLoader` for source files (for the modules a TARGET imports)."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        spec = PathFinder.find_spec(name, path, target)
        if spec is not None and type(spec.loader) is SourceFileLoader:
            spec.loader = _CurrentSourceLoader(spec.loader.name, spec.loader.path)
        return spec


def _import_module(target: Target) -> Any:
    # `python -m` semantics: the current directory comes first.
    sys.path.insert(0, os.getcwd())
    importlib.invalidate_caches()  # a long-lived process may have listed this directory before
    try:
        return importlib.import_module(target.location)
    except ModuleNotFoundError as exc:
        if exc.name is None or not target.location.startswith(exc.name):
            raise  # the module exists but imports something missing: that message is the right one
        raise CommandError(
            f"cannot import module {target.location!r} for TARGET {target.text!r} (looked in the current "
            f"directory {os.getcwd()}, then sys.path). Run from the directory that contains it, or give a "
            f"file path such as 'path/to/{target.location.replace('.', '/')}.py:{target.qualname}'"
        ) from None


def _load_file(target: Target) -> Any:
    path = os.path.abspath(target.location)
    if not os.path.isfile(path):
        raise CommandError(f"no such file {target.location!r} (from TARGET {target.text!r})")
    module_name = target.module_name
    existing = sys.modules.get(module_name)
    existing_file = getattr(existing, "__file__", None)
    if existing is not None and (existing_file is None or os.path.realpath(existing_file) != os.path.realpath(path)):
        raise CommandError(
            f"cannot load {target.location} as module {module_name!r}: a different module of that name is "
            f"already imported ({existing_file or 'built in'}). Rename the file."
        )
    spec = importlib.util.spec_from_file_location(module_name, path, loader=_CurrentSourceLoader(module_name, path))
    if spec is None or spec.loader is None:
        raise CommandError(f"cannot load {target.location} as a Python module: give a .py file")
    module = importlib.util.module_from_spec(spec)
    # Like `python path/to/file.py`: the file's directory comes first, so sibling imports work.
    sys.path.insert(0, os.path.dirname(path))
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


# The frames a user's traceback leaves out: this package's (loading a target here, running a script in
# `run`) and the import machinery's.
_CLI_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_MACHINERY = {importlib.__file__, runpy.__file__}


def user_traceback(exc: BaseException) -> str:
    """The error as Python would print it, without the frames of this package and of importlib's machinery."""
    report = traceback.TracebackException.from_exception(exc)
    report.stack = traceback.StackSummary.from_list(
        [
            frame
            for frame in report.stack
            if frame.filename not in _MACHINERY
            and not frame.filename.startswith(_CLI_PACKAGE)
            and not frame.filename.startswith("<frozen ")
        ]
    )
    return "".join(report.format()).rstrip()


def _class_in(module: Any, target: Target) -> type:
    found: Any = module
    for part in target.qualname.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise CommandError(
                f"{target.location} has no attribute {target.qualname!r} (TARGET {target.text!r}); "
                f"its public names: {', '.join(n for n in sorted(vars(module)) if not n.startswith('_')) or 'none'}"
            ) from None
    if not isinstance(found, type):
        raise CommandError(f"{target.text} is a {type(found).__name__}, not a class; remoteimport pushes classes")
    return found
