"""Real code as user code: standard-library modules and well-known pure-Python packages, copied under new
names into a project folder so that they travel by value exactly like the user's own modules.

:func:`build_corpus` writes the copies (each package's absolute imports of itself and of the other copied
packages renamed along); the same file run as a script is the child's side (JSON on stdin, one JSON line on
stdout), so each interpreter handles every class of the corpus in one run:

- ``hash``: ``{"module.Class": hash}`` and the error of each class that cannot be hashed;
- ``push``: hash, then push every hashable class to a store; also its members' names, for the consumer;
- ``load``: install the store, import every pushed class pinned, re-hash it, and check its members.

Only the standard library and the packages the test extras install are used, so CI has all of them.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PREFIX = "rw_"

# Single-file standard-library modules (the running interpreter's copy), travelling as rw_<name>.
STDLIB_MODULES = (
    "argparse",
    "calendar",
    "cmd",
    "configparser",
    "csv",
    "difflib",
    "fractions",
    "ftplib",
    "gettext",
    "html/parser",
    "http/cookiejar",
    "ipaddress",
    "json/decoder",
    "json/encoder",
    "mailbox",
    "mimetypes",
    "numbers",
    "optparse",
    "pprint",
    "sched",
    "shlex",
    "smtplib",
    "string",
    "tarfile",
    "textwrap",
    "zipfile",
)

# Installed packages copied whole (compiled extensions left out: markupsafe falls back to its pure code), and
# the modules of each whose classes are examined. Every one is a dependency of the test extras.
PACKAGES: dict[str, tuple[str, ...]] = {
    "attr": ("_make", "validators", "converters", "_version_info", "exceptions"),
    "certifi": ("core",),
    "click": ("core", "types", "exceptions", "formatting", "parser", "termui"),
    "dateutil": ("relativedelta", "rrule", "tz.tz", "parser._parser"),
    "decorator": (),
    "idna": ("core", "codec"),
    "itsdangerous": ("signer", "serializer", "timed", "url_safe"),
    "jinja2": ("environment", "loaders", "lexer", "utils", "bccache"),
    "markupsafe": (),
    "packaging": ("version", "specifiers", "requirements", "markers", "tags", "_structures"),
    # not pygments.style: each token type reaches the whole token tree, and a style names every token type, so
    # hashing a style costs seconds (objects shared many times over are encoded anew each time)
    "pygments": ("lexer", "formatter", "token", "filter", "filters", "formatters.other", "util"),
    "requests": ("models", "sessions", "structures", "auth", "adapters", "cookies"),
    "six": (),
    "sortedcontainers": ("sortedlist", "sorteddict", "sortedset"),
    "urllib3": ("fields", "response", "connectionpool", "poolmanager", "util.retry", "util.url", "util.timeout"),
    "xmltodict": (),
}


def copied_name(original: str) -> str:
    return PREFIX + original.replace("/", "_").replace(".", "_")


def _rename_imports(text: str, renames: Mapping[str, str]) -> str:
    for original, new in renames.items():
        name = re.escape(original)
        # `import six` keeps the name six bound; `from six.moves import ...` and `import six.moves as m` just move
        text = re.sub(rf"(?m)^(\s*)import {name}(\s*(?:#.*)?)$", rf"\g<1>import {new} as {original}\g<2>", text)
        text = re.sub(rf"(?m)^(\s*(?:from|import)\s+){name}\b(?! as {original}\b)", rf"\g<1>{new}", text)
    return text


def build_corpus(folder: Path) -> list[str]:
    """Write the corpus into ``folder``; return the names of the modules whose classes are examined."""
    folder.mkdir(parents=True, exist_ok=True)
    modules = []
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for original in STDLIB_MODULES:
        name = copied_name(original)
        shutil.copyfile(stdlib / f"{original}.py", folder / f"{name}.py")
        modules.append(name)
    renames = {package: copied_name(package) for package in PACKAGES}
    for package, submodules in PACKAGES.items():
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise AssertionError(f"{package} is not installed: the test extras should bring it")
        new = renames[package]
        if spec.submodule_search_locations:
            source = Path(spec.origin).parent
            for path in sorted(source.rglob("*.py")):
                target = folder / new / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(_rename_imports(path.read_text(encoding="utf-8"), renames), encoding="utf-8")
        else:
            text = Path(spec.origin).read_text(encoding="utf-8")
            (folder / f"{new}.py").write_text(_rename_imports(text, renames), encoding="utf-8")
        modules.append(new)
        modules.extend(f"{new}.{sub}" for sub in submodules)
    return modules


def run_child(
    mode: str,
    folder: Path,
    modules: Sequence[str],
    *,
    python: str | os.PathLike[str] = sys.executable,
    store: str | None = None,
    pushed: Mapping[str, Any] | None = None,
    cwd: Path | None = None,
    seed: str = "0",
    timeout: float = 300,
) -> dict[str, Any]:
    """Run this file as ``mode`` in a fresh interpreter (``-E``: no PYTHONPATH) and return its JSON answer."""
    request = {"mode": mode, "folder": str(folder), "modules": list(modules), "store": store, "pushed": pushed}
    env = {key: value for key, value in os.environ.items() if not key.startswith("REMOTEIMPORT_")}
    if "REMOTEIMPORT_CACHE_DIR" in os.environ:
        env["REMOTEIMPORT_CACHE_DIR"] = os.environ["REMOTEIMPORT_CACHE_DIR"]
    env.update(PYTHONHASHSEED=seed, PYTHONDONTWRITEBYTECODE="1", PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [os.fspath(python), "-E", __file__],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or folder,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise AssertionError(f"{python} {mode} exited {done.returncode}:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cause_of(error: str) -> str:
    """A short cause for the failure table: the unencodable type or the error's kind."""
    found = re.search(r"-> ([\w.]+)(?: \(|:)", error)
    if "cannot hash" in error and found:
        return f"unhashable {found.group(1)}"
    if "does not re-hash" in error or "re-hash" in error or "IntegrityError" in error:
        return "re-hash differs after load"
    return error.split(":", 1)[0][:60]


# ---------------------------------------------------------------------------------------------------------
# The child's side.


def _classes(module_name: str) -> dict[str, type]:
    module = importlib.import_module(module_name)
    return {
        f"{module_name}.{name}": value
        for name, value in sorted(vars(module).items())
        if inspect.isclass(value) and value.__module__ == module_name and value.__qualname__ == name
    }


_MACHINERY = frozenset({"__dict__", "__weakref__", "__slotnames__", "__firstlineno__", "__static_attributes__"})


def _members(cls: type) -> dict[str, bool]:
    """Name -> callable, for the members a class defines itself. Left out: machinery made by type(), and the
    descriptors of ``__slots__`` (cloudpickle rebuilds a class with slots as one whose instances store those
    attributes in a ``__dict__``)."""
    return {
        name: callable(value) or isinstance(value, (staticmethod, classmethod))
        for name, value in vars(cls).items()
        if name not in _MACHINERY and type(value).__name__ != "member_descriptor" and not _inherited(cls, name, value)
    }


def _inherited(cls: type, name: str, value: Any) -> bool:
    # cloudpickle leaves out a member that is the very object a base defines: the rebuilt class inherits it
    return any(vars(base).get(name, _MACHINERY) is value for base in cls.__bases__)


def _stored_name(key: str) -> str:
    return key.replace(".", "__")


def _child_main() -> None:
    import warnings

    warnings.simplefilter("ignore")
    request = json.load(sys.stdin)
    sys.path.insert(0, request["folder"])
    import remoteimport

    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if request["mode"] == "load":
        remoteimport.install(request["store"], namespace="realworld")
        for key, (full_hash, members) in request["pushed"].items():
            stored = _stored_name(key)
            try:
                module = importlib.import_module(f"realworld.{stored}@{full_hash}")
                cls = getattr(module, stored)
                rehash = remoteimport.class_hash(cls)
                if rehash != full_hash:
                    raise AssertionError(f"re-hash differs: {rehash[:12]} != {full_hash[:12]}")
                missing = sorted(name for name in members if name not in vars(cls))
                if missing:
                    raise AssertionError(f"members missing after load: {missing}")
                broken = sorted(name for name, was in members.items() if was and not callable(getattr(cls, name)))
                if broken:
                    raise AssertionError(f"members no longer callable: {broken}")
                results[key] = full_hash
            except Exception as exc:
                errors[key] = f"{type(exc).__name__}: {exc}"
    else:
        for module_name in request["modules"]:
            try:
                classes = _classes(module_name)
            except Exception as exc:
                errors[module_name] = f"import failed: {type(exc).__name__}: {exc}"
                continue
            for key, cls in classes.items():
                try:
                    full_hash = remoteimport.class_hash(cls)
                except Exception as exc:
                    errors[key] = f"{type(exc).__name__}: {exc}"
                    continue
                if request["mode"] == "hash":
                    results[key] = full_hash
                    continue
                try:
                    pushed = remoteimport.push(cls, store=request["store"], name=_stored_name(key))
                    assert pushed == full_hash, "push stored another hash than class_hash() gave"
                    results[key] = (pushed, _members(cls))
                except Exception as exc:
                    errors[key] = f"push: {type(exc).__name__}: {exc}"
    version = ".".join(map(str, sys.version_info[:3]))
    print(json.dumps({"results": results, "errors": errors, "version": version}))


if __name__ == "__main__":
    _child_main()
