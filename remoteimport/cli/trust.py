"""Signing and checking: ``sign``, ``keygen`` and ``verify``."""

from __future__ import annotations

import argparse
import os

from remoteimport import _env, registry
from remoteimport.cli.base import SHORT_HASH, Command, CommandError, Output, table
from remoteimport.errors import IntegrityError, RemoteImportError
from remoteimport.names import split_versioned
from remoteimport.signing import generate_key, load_public_key, signature_status


class Sign(Command):
    name = "sign"
    help = "sign stored versions over their whole header (or re-sign old-style signatures)"
    description = (
        "Sign the stored versions of NAME (all of them), or NAME@VERSION (one: a hash, 8+ hex digits, a tag or "
        "latest), with the private key --key (default: "
        f"${_env.SIGNING_KEY}). Signatures made by releases before blob format 2 covered only the name, hash and "
        "payload, and hosts that trust keys refuse them; this re-signs the versions your key signed that way. "
        "Unsigned versions are signed only with --include-unsigned: you then vouch for what was written to the "
        "store, so check them with `remoteimport show` first. Each version is loaded and re-hashed here before "
        "it is signed (run it on the Python version it was pushed from); the history records a `sign`. Pushing a "
        "class again with a signing key also signs its stored version."
    )
    examples = (
        "remoteimport sign MyFilter --key ~/.remoteimport/publisher\n"
        "remoteimport sign MyFilter@0123abcd --include-unsigned"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("reference", metavar="NAME[@VERSION]", help="a class (all its versions) or one version")
        parser.add_argument("--key", metavar="PATH", help=f"the private key (default: ${_env.SIGNING_KEY})")
        parser.add_argument(
            "--include-unsigned", action="store_true", help="also sign unsigned versions (you vouch for them)"
        )

    def run(self, args: argparse.Namespace, out: Output) -> None:
        name, version = split_versioned(args.reference)  # refuses malformed names before touching the store
        store = registry.resolve_store(args.store)
        outcomes = registry.sign(name, version, store=store, key=args.key, include_unsigned=args.include_unsigned)
        out.data(name=name, store=store.url, versions=[{"hash": h, "outcome": o} for h, o in outcomes.items()])
        for full_hash, outcome in outcomes.items():
            out.line(f"{name}@{full_hash[:SHORT_HASH]}  {outcome}")
        out.line(f"  store: {store.url}")


class Keygen(Command):
    name = "keygen"
    help = "create an Ed25519 key pair for signing pushes"
    description = (
        "Write a new Ed25519 private key at PATH (readable by you only) and its public key at PATH.pub. "
        f"Publishers sign every push by setting {_env.SIGNING_KEY}=PATH; hosts that import set "
        f"{_env.TRUSTED_KEYS} to the .pub files they trust, and then refuse anything unsigned or signed by "
        "another key, before unpickling it. Existing files are never overwritten."
    )
    examples = f"remoteimport keygen ~/.remoteimport/publisher\nexport {_env.SIGNING_KEY}=~/.remoteimport/publisher"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "path", metavar="PATH", help="where to write the private key (the public key goes to PATH.pub)"
        )

    def run(self, args: argparse.Namespace, out: Output) -> None:
        public_path = generate_key(args.path)
        fingerprint = load_public_key(public_path).fingerprint
        out.data(
            private_key=os.path.abspath(args.path), public_key=os.path.abspath(public_path), fingerprint=fingerprint
        )
        out.line(f"private key: {args.path}  (owner-only; keep it secret)")
        out.line(f"public key:  {public_path}  (give this to the hosts that import your classes)")
        out.line(f"fingerprint: {fingerprint}")
        out.line(f"sign pushes:   export {_env.SIGNING_KEY}={os.path.abspath(args.path)}")
        out.line(f"trust on a host: export {_env.TRUSTED_KEYS}=/path/to/{os.path.basename(public_path)}")


class Verify(Command):
    name = "verify"
    help = "check every stored version's digest and signature"
    description = (
        "Read every version of every class in the store (without unpickling anything) and check its payload "
        "digest, that it is stored under its own name and hash, and its signature: intact, and trusted by "
        f"this host ({_env.TRUSTED_KEYS}). Prints one row per version; exits with status 1 if any version is "
        "damaged or would be refused here."
    )
    examples = f"remoteimport verify --store s3://bucket/classes\n{_env.TRUSTED_KEYS}=publisher.pub remoteimport verify"

    def run(self, args: argparse.Namespace, out: Output) -> None:
        store = registry.resolve_store(args.store)
        # This host's trusted keys, read once: a wrong $REMOTEIMPORT_TRUSTED_KEYS (a missing file, a private key)
        # is one configuration error, not a reason to call every version damaged.
        trust = store.policy.trust
        listing = store.scan_names()
        report, problems = [], 0
        for name in listing.names:
            try:
                hashes = store.blob_hashes(name)
            except IntegrityError as exc:  # e.g. a link planted as the name's blob folder
                problems += 1
                report.append({"name": name, "hash": None, "state": "DAMAGED", "detail": str(exc)})
                continue
            for full_hash in hashes:
                try:
                    header = store.read_verified_blob(name, full_hash).header
                    signature, acceptable = signature_status(header, trust)
                    state = "ok" if acceptable else "REFUSED"
                except RemoteImportError as exc:
                    signature, acceptable, state = str(exc), False, "DAMAGED"
                problems += not acceptable
                report.append({"name": name, "hash": full_hash, "state": state, "detail": signature})
        out.data(store=store.url, versions=report, problems=problems)
        if listing.skipped:
            out.data(skipped=[{"path": entry.path, "reason": entry.reason} for entry in listing.skipped])
        if not report:
            out.line(f"no versions in the store {store.url}")
        else:
            out.line(f"verified {len(report)} versions in the store {store.url} (payload digests and signatures):")
            out.line(
                table(
                    ["NAME", "HASH", "STATE", "DETAIL"],
                    [[r["name"], (r["hash"] or "-")[:SHORT_HASH], r["state"], r["detail"]] for r in report],
                )
            )
        for entry in listing.skipped:
            out.line(f"skipped, not a class: {entry.path} ({entry.reason})")
        if problems:  # --json: main() prints the report with the error
            raise CommandError(f"{problems} of {len(report)} versions are damaged or would be refused on this host")
