"""``remoteimport quickstart``: the whole round trip on one machine, for a first look."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import tempfile
import textwrap

from remoteimport import _env, registry
from remoteimport.cli.base import Command, CommandError, Output, url_for_another_process
from remoteimport.cli.target import load_target_class, parse_target
from remoteimport.isolated import IsolatedPythonError, run_isolated

QUICKSTART_CLASS = "QuickstartGreeter"
QUICKSTART_MODULE = "remoteimport_quickstart_example"
QUICKSTART_SOURCE = '''\
"""Written by `remoteimport quickstart`: a class, a class attribute and a module-level helper it uses."""


def exclaim(text):
    return text + "!"


class QuickstartGreeter:
    greeting = "Hello"

    def greet(self, name):
        return exclaim(f"{self.greeting}, {name}")
'''
QUICKSTART_CALL = 'greet("world")'
# Run with `python -E` (PYTHON* variables ignored) in an empty directory, so nothing of the example's source
# is reachable; the store URL is written into the code. Not -I: that would also hide a `pip install --user`.
QUICKSTART_CHILD = """\
import importlib, remoteimport
remoteimport.install({store!r})
from {namespace} import {name}
pinned = importlib.import_module("{namespace}.{name}@{prefix}").{name}
result = {{
    "result": {name}().{call},
    "module": {name}.__module__,
    "pinned_result": pinned().{call},
    "pinned_is_latest": pinned is {name},
}}
"""


class Quickstart(Command):
    name = "quickstart"
    help = "demo: push an example class, delete its source, import it in a fresh interpreter"
    description = (
        f"Show the whole round trip on this machine: write an example module (class {QUICKSTART_CLASS}) to "
        "a temporary directory, push the class to the store, delete the directory, then start a fresh Python "
        f"(`python -E`, in an empty directory) that installs the import hook, runs `from labchain_remote "
        f"import {QUICKSTART_CLASS}`, calls a method and also imports the version pinned by an 8-character "
        "hash prefix. Without --store it uses a temporary store, deleted afterwards unless --keep (which then "
        "prints the commands to explore it; never "
        f"${_env.STORE}, which may be a production bucket); with --store, that store (safe to run again: the "
        "push is then 'unchanged')."
    )
    examples = (
        "remoteimport quickstart\nremoteimport quickstart --keep\nremoteimport quickstart --store /tmp/demo-store"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--keep",
            action="store_true",
            help="keep the temporary store afterwards, and print the commands to explore it",
        )

    def run(self, args: argparse.Namespace, out: Output) -> None:
        # Without --store: a store of its own, never $REMOTEIMPORT_STORE (which may be a production bucket).
        temporary = args.store is None
        if temporary:
            args.store = tempfile.mkdtemp(prefix="remoteimport-quickstart-store-")
        try:
            store_url = _round_trip(args, out)
        finally:
            if temporary and not args.keep:
                shutil.rmtree(args.store, ignore_errors=True)
        out.data(temporary_store=temporary, store_deleted=temporary and not args.keep)
        if temporary and not args.keep:
            out.line(f"6. deleted the temporary store {store_url} (--keep keeps it; --store URL uses yours)")
            return
        commands = [f"export {_env.STORE}={shlex.quote(store_url)}", "remoteimport ls", "remoteimport ui"]
        out.data(next_commands=commands)
        out.line()
        out.line("Next, in this shell: make it the store of every command, list it, browse it (needs the ui extra):")
        for command in commands:
            out.line(f"    {command}")
        out.line("Or in any Python on a host that can read the store:")
        out.line(f"    import remoteimport; remoteimport.install({store_url!r})")
        out.line(f"    from {registry.DEFAULT_NAMESPACE} import {QUICKSTART_CLASS}")


def _round_trip(args: argparse.Namespace, out: Output) -> str:
    """Steps 1-5 on the store ``args.store``; returns its URL."""
    store = registry.resolve_store(args.store)
    store_url = url_for_another_process(store)
    name, namespace = QUICKSTART_CLASS, registry.DEFAULT_NAMESPACE
    source_dir = tempfile.mkdtemp(prefix="remoteimport-quickstart-")
    try:
        path = os.path.join(source_dir, QUICKSTART_MODULE + ".py")
        with open(path, "w", encoding="utf-8") as file:
            file.write(QUICKSTART_SOURCE)
        out.line(f"1. wrote example class {name} to {path}")
        target = parse_target(f"{path}:{name}")
        with load_target_class(target) as cls:
            pushed = registry.publish(cls, store=store, name=name)
        full_hash, result = pushed.hash, pushed.action
        out.line(f"2. pushed {name} {full_hash} ({result}) to the store {store.url}")
        if pushed.detail:
            out.line(f"   {pushed.detail}")
    finally:
        shutil.rmtree(source_dir, ignore_errors=True)
    out.line(f"3. deleted the source {source_dir}: the class now exists only in the store")

    prefix = full_hash[:8]
    code = QUICKSTART_CHILD.format(store=store_url, namespace=namespace, name=name, prefix=prefix, call=QUICKSTART_CALL)
    # The harness of the isolated_python fixture: `python -E` in an empty folder. The store URL is in the code;
    # the caller's own remoteimport settings (trusted keys, cache folder ...) go along, as they always did.
    settings = {key: value for key, value in os.environ.items() if key.startswith("REMOTEIMPORT_")}
    try:
        seen = run_isolated(code, install=False, env=settings, timeout=300)
    except IsolatedPythonError as exc:
        raise CommandError(
            f"quickstart step 4 failed in the fresh interpreter.\nIts code:\n{textwrap.indent(code, '    ')}{exc}"
        ) from None
    out.data(name=name, hash=full_hash, result=result, store=store.url, source_deleted=source_dir, child=seen)
    out.line(
        f"4. fresh interpreter (python -E, empty directory) ran `from {namespace} import {name}`: "
        f"result {seen['result']!r}"
    )
    out.line(f"   {name}().{QUICKSTART_CALL} returned {seen['result']!r}; its __module__ is {seen['module']}")
    same = "the same class" if seen["pinned_is_latest"] else "a different class (?)"
    out.line(
        f"5. pinned import {namespace}.{name}@{prefix} (8-character prefix) gave {same}: "
        f"result {seen['pinned_result']!r}"
    )
    return store.url  # for messages: without credentials
