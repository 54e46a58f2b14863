"""``remoteimport doctor``: load every stored version in a fresh interpreter, report the ones that fail."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from remoteimport import registry
from remoteimport.cli.base import SHORT_HASH, Command, CommandError, Output, table, url_for_another_process
from remoteimport.names import split_versioned


class Doctor(Command):
    name = "doctor"
    help = "load every stored version in a fresh interpreter and report the ones that do not load"
    description = (
        "Load each version (of the whole store, of NAME, or the one version NAME@VERSION: a hash, prefix, tag or "
        "latest) in a fresh Python "
        "(`python -I`, an empty directory, the blob cache off) with remoteimport.get_version: the trust policy, "
        "requirement check, unpickling and re-hash all run there. A blob can pass `verify` (digest and "
        "signature) and still fail here. Prints one row per version, healthy or DAMAGED with the reason, and "
        "exits with status 1 if any is damaged. A version whose interpreter crashes or hangs (--timeout) is "
        "damaged; the check goes on with the others. Loading runs a version's code, so only versions that latest, a "
        "tag or the history names are loaded; blobs nothing names are listed as skipped (--orphans loads them "
        "too, and needs trusted keys). Everything loading a version warned or printed is shown under it."
    )
    examples = "remoteimport doctor\nremoteimport doctor MyFilter --json\nremoteimport doctor MyFilter@0123abcd"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "reference", metavar="NAME[@VERSION]", nargs="?", help="a class or one version (default: all)"
        )
        parser.add_argument(
            "--timeout", type=float, default=120.0, help="seconds one version may take to load (default: 120)"
        )
        parser.add_argument(
            "--orphans",
            action="store_true",
            help="also load blobs no ref or history entry names (needs trusted keys: only signed ones are unpickled)",
        )

    def run(self, args: argparse.Namespace, out: Output) -> None:
        from remoteimport.doctor import doctor

        store = registry.resolve_store(args.store)
        name, version = split_versioned(args.reference) if args.reference else (None, None)
        url = url_for_another_process(store)  # the children open the store by its URL

        def report(done: int, total: int, outcome: Any) -> None:
            if sys.stderr.isatty():
                end = "\n" if done == total else ""
                sys.stderr.write(f"\rloading in fresh interpreters: {done}/{total}".ljust(60) + end)
                sys.stderr.flush()

        results = doctor(url, name, version, timeout=args.timeout, progress=report, include_orphans=args.orphans)
        damaged = [result for result in results if result.damaged]
        loaded = [result for result in results if result.state != "skipped"]
        out.data(
            store=store.url,
            versions=[result.to_json() for result in results],
            damaged=len(damaged),
            skipped=len(results) - len(loaded),
        )
        if not results:
            out.line(f"no versions in the store {store.url}")
            return
        out.line(f"loaded {len(loaded)} versions in fresh interpreters (store {store.url}):")
        rows = [[r.name, r.hash[:SHORT_HASH], r.state.upper() if r.damaged else r.state, r.reason] for r in results]
        out.line(table(["NAME", "HASH", "STATE", "REASON"], rows))
        warned = [result for result in results if result.warnings]
        if warned:
            out.line("\nwhat loading them warned or printed:")
            for result in warned:
                for warning in result.warnings:
                    out.line(f"  {result.name}@{result.hash[:SHORT_HASH]}: {warning}")
        if damaged:  # --json: main prints the report with the error (Output.fail)
            raise CommandError(f"{len(damaged)} of {len(loaded)} versions are damaged: they do not load on this host")
