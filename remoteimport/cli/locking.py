"""Pinned versions in use: ``lock`` writes the lock file, ``run`` runs a script with the import hook."""

from __future__ import annotations

import argparse
import os
import runpy
import sys

from remoteimport import _env
from remoteimport.cli.base import SHORT_HASH, Command, CommandError, Output, table
from remoteimport.cli.target import user_traceback
from remoteimport.hook import install
from remoteimport.lock import LOCK_FILENAME, update_lock


class Lock(Command):
    name = "lock"
    help = "pin classes to their current versions in remoteimport.lock"
    description = (
        "Write the lock file (default: $REMOTEIMPORT_LOCK, else remoteimport.lock in the current directory): "
        "each NAME pinned to the full hash of its latest version in the store, plus the store's URL and the "
        "namespace. While the lock is active (the file in the working directory, $REMOTEIMPORT_LOCK, or "
        "install(lock=...)), `from labchain_remote import NAME` imports the pinned version, and a name the "
        "lock does not list is an error. Names already pinned keep their pin; --upgrade moves the named pins "
        "(or, with no NAME, every pin) to the current latest."
    )
    examples = (
        "remoteimport lock MyFilter Pipeline --store s3://bucket/classes\n"
        "remoteimport lock --upgrade\nremoteimport lock --upgrade MyFilter"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("names", metavar="NAME", nargs="*", help="class names to pin (NAME@VERSION: that version)")
        parser.add_argument("--upgrade", action="store_true", help="move the pins to the current latest versions")
        parser.add_argument(
            "--lock", metavar="PATH", help=f"the lock file (default: ${_env.LOCK}, else ./{LOCK_FILENAME})"
        )
        parser.add_argument("--namespace", help="the namespace a new lock applies to (default: labchain_remote)")

    def run(self, args: argparse.Namespace, out: Output) -> None:
        lock, changes = update_lock(
            args.names, path=args.lock, store=args.store, namespace=args.namespace, upgrade=args.upgrade
        )
        rows, report = [], {}
        for name, (previous, pinned) in changes.items():
            if previous is None:
                change = "added"
            elif previous != pinned:
                change = f"upgraded from {previous[:SHORT_HASH]}"
            else:
                change = "already the latest" if args.upgrade else "kept (--upgrade moves it to the latest)"
            rows.append([name, pinned[:SHORT_HASH], change])
            report[name] = {"hash": pinned, "previous": previous}
        out.data(lock=lock.path, store=lock.store, namespace=lock.namespace, pins=dict(lock.pins), changes=report)
        out.line(f"wrote {lock.path}: {len(lock.pins)} pins in the store {lock.store} (namespace {lock.namespace})")
        if rows:
            out.line(table(["NAME", "PINNED", "CHANGE"], rows))


class Run(Command):
    name = "run"
    help = "run a Python script with the import hook installed"
    description = (
        "Run SCRIPT like `python SCRIPT ARGS...` with the import hook serving the namespace (default "
        "$REMOTEIMPORT_NAMESPACE, else labchain_remote) from the store, and the active lock applied: the "
        "explicit alternative to the zero-code start-up hook. Options go before SCRIPT; everything after it "
        "is passed to the script. Exits with the script's status."
    )
    examples = (
        "remoteimport run --store s3://bucket/classes train.py --epochs 3\n"
        "python -m remoteimport run --lock prod.lock serve.py"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--lock",
            metavar="PATH",
            help=f"use this lock file (default: ${_env.LOCK}, else ./{LOCK_FILENAME} if present)",
        )
        parser.add_argument(
            "--namespace", help="the namespace to serve (default: $REMOTEIMPORT_NAMESPACE or labchain_remote)"
        )
        parser.add_argument("script", metavar="SCRIPT", help="the Python file to run")
        parser.add_argument(
            "args", metavar="ARGS", nargs=argparse.REMAINDER, help="passed to the script as sys.argv[1:]"
        )

    def run(self, args: argparse.Namespace, out: Output) -> int:
        out.as_json = False  # the script owns stdout
        script = os.path.abspath(args.script)
        if not os.path.isfile(script):
            raise CommandError(f"no such script {args.script!r}")
        install(args.store, namespace=args.namespace, lock=args.lock)
        saved_argv, saved_path = list(sys.argv), list(sys.path)
        sys.argv = [args.script, *args.args]
        sys.path[0:1] = [os.path.dirname(script)]  # like `python script.py`: the script's folder comes first
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                return exc.code or 0
            print(exc.code, file=sys.stderr)
            return 1
        except Exception as exc:
            print(user_traceback(exc), file=sys.stderr)
            return 1
        finally:
            sys.argv, sys.path[:] = saved_argv, saved_path
        return 0
