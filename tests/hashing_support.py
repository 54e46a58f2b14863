"""Helpers shared by the hashing tests: write sources as modules, hash them here or in fresh interpreters.

Two classes defined inline in one test file share a source file, so variants that differ in one detail are
written as separate module files (each in its own directory) and imported from there.

Starting an interpreter costs tens of milliseconds and importing remoteimport more, so
:func:`hash_in_subprocess` hashes any number of modules of one directory in a single child process.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Literal

SHA256_HEX = re.compile(r"[0-9a-f]{64}")

_unique_dirs = itertools.count()


class SubprocessHashError(AssertionError):
    """Hashing failed in the child interpreter; the message lists every object that failed and why."""


def write_module(directory: Path, module_name: str, source: str) -> Path:
    """Write ``source`` as ``directory/module_name.py`` (creating the directory) and return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{module_name}.py"
    path.write_text(source, encoding="utf-8")
    return path


def write_modules(directory: Path, sources: Mapping[str, str]) -> None:
    """Write several ``{module_name: source}`` modules into one directory."""
    for module_name, source in sources.items():
        write_module(directory, module_name, source)


def hash_in_subprocess(
    directory: Path,
    targets: Mapping[str, Sequence[str] | None],
    *,
    python: str | os.PathLike[str] = sys.executable,
    env: Mapping[str, str | None] | None = None,
    cwd: Path | None = None,
    launch: Literal["script", "-c"] = "script",
    timeout: float = 300,
) -> dict[str, str]:
    """Import modules from ``directory`` in one fresh interpreter and return ``{"module.Name": hash}``.

    ``targets`` maps module names to the (dotted) names to hash in each, or to ``None`` for every top-level
    class and function the module defines. ``env`` adds to (``None`` removes from) this process's
    environment, e.g. ``{"PYTHONHASHSEED": "0"}``; bytecode caches are never written so the directory stays
    as it was. ``cwd`` defaults to ``directory``. The child runs this file as a script, or with
    ``launch="-c"`` the same code as ``python -c``. Raises :class:`SubprocessHashError` listing every failure.

    >>> hash_in_subprocess(tmp, {"mod": ["MyFilter"]}, env={"PYTHONHASHSEED": "0"})  # doctest: +SKIP
    {'mod.MyFilter': '3f0a...'}
    """
    child_env = dict(os.environ)
    child_env["PYTHONDONTWRITEBYTECODE"] = "1"
    for key, value in (env or {}).items():
        if value is None:
            child_env.pop(key, None)
        else:
            child_env[key] = value
    request = {
        "directory": str(directory),
        "targets": {module: (None if names is None else list(names)) for module, names in targets.items()},
    }
    if launch == "script":
        command = [os.fspath(python), __file__]
    else:  # the same work given as `python -c`, which 3.13+ records in linecache under "<string>"
        bootstrap = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import hashing_support"
        command = [os.fspath(python), "-c", f"{bootstrap}; hashing_support._child_main()"]
    completed = subprocess.run(
        command,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=child_env,
        cwd=cwd or directory,
        timeout=timeout,
    )
    label = f"{python} (PYTHONHASHSEED={child_env.get('PYTHONHASHSEED', 'unset')}, dir={directory})"
    if completed.returncode != 0:
        raise SubprocessHashError(f"{label} exited {completed.returncode}:\n{completed.stderr}")
    answer = json.loads(completed.stdout.strip().splitlines()[-1])
    if answer["errors"]:
        listing = "\n".join(f"  {key}: {error}" for key, error in sorted(answer["errors"].items()))
        raise SubprocessHashError(f"hashing failed on Python {answer['version']} in {label}:\n{listing}")
    return answer["results"]


def python_version(python: str | os.PathLike[str]) -> str:
    """``"3.12.1"`` for the given interpreter."""
    script = "import sys; print('.'.join(map(str, sys.version_info[:3])))"
    return subprocess.run([os.fspath(python), "-c", script], capture_output=True, text=True, check=True).stdout.strip()


def load_module(directory: Path, module_name: str, source: str) -> ModuleType:
    """Write ``source`` into ``directory`` and import it as ``module_name`` (replacing any such module).

    The module stays in ``sys.modules`` (dataclasses and the hasher look it up there) until replaced.
    """
    path = write_module(directory, module_name, source)
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def fresh_directory(base: Path) -> Path:
    """A new, empty directory under ``base``, so two variants never share a file path."""
    directory = base / f"variant_{next(_unique_dirs)}"
    directory.mkdir(parents=True)
    return directory


def hash_sources(
    base: Path,
    sources: Iterable[str],
    name: str = "C",
    *,
    module_name: str = "hashing_case",
) -> list[str]:
    """Hash object ``name`` (dotted) of each source, each imported under the same ``module_name`` from its
    own directory, so variants differ only in their text. Returns one hash per source, in order.
    """
    from remoteimport import class_hash

    hashes = []
    for source in sources:
        module = load_module(fresh_directory(base), module_name, source)
        try:
            obj = module
            for part in name.split("."):
                obj = getattr(obj, part)
            hashes.append(class_hash(obj))
        finally:
            sys.modules.pop(module_name, None)
    return hashes


def describe_differences(results_by_label: Mapping[str, Mapping[str, str]]) -> str:
    """Readable report of the objects whose hash is not the same under every label (version, seed, ...)."""
    labels = list(results_by_label)
    keys = sorted(set().union(*(results.keys() for results in results_by_label.values())))
    lines = []
    for key in keys:
        hashes = {label: results_by_label[label].get(key, "<missing>") for label in labels}
        if len(set(hashes.values())) > 1:
            detail = ", ".join(f"{label}={value[:16]}" for label, value in hashes.items())
            lines.append(f"  {key}: {detail}")
    if not lines:
        return ""
    return f"{len(lines)} of {len(keys)} objects hash differently:\n" + "\n".join(lines)


def _child_main() -> None:
    """The child's side of :func:`hash_in_subprocess`: read the request on stdin, print one JSON line.

    With names of None it hashes every top-level class and function the module defines (sorted by name).
    """
    import inspect
    import traceback

    request = json.load(sys.stdin)
    sys.path.insert(0, request["directory"])
    from remoteimport import class_hash

    results, errors = {}, {}
    for module_name, names in request["targets"].items():
        try:
            module = importlib.import_module(module_name)
        except BaseException:
            errors[module_name] = traceback.format_exc(limit=-3)
            continue
        if names is None:
            names = sorted(
                name
                for name, value in vars(module).items()
                if (inspect.isclass(value) or inspect.isfunction(value))
                and getattr(value, "__module__", None) == module_name
            )
        for name in names:
            key = f"{module_name}.{name}"
            try:
                obj = module
                for part in name.split("."):
                    obj = getattr(obj, part)
                results[key] = class_hash(obj)
            except BaseException as exc:
                errors[key] = f"{type(exc).__name__}: {exc}"
    version = ".".join(map(str, sys.version_info[:3]))
    print(json.dumps({"results": results, "errors": errors, "version": version}))


if __name__ == "__main__":
    _child_main()
