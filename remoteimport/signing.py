"""Ed25519 keys, blob signatures and the consumer's trust policy (with the ``cryptography`` package).

A publisher signs with ``REMOTEIMPORT_SIGNING_KEY=path`` (or ``Store(..., signing_key=path)``); the signature
covers the whole blob header but itself — name, hash, payload digest, Python version, requirements, shipped
source, format... (:func:`remoteimport.blob.signed_message`) — and travels in the header. Signatures made by
releases that covered only the name, hash and payload digest are refused, with the command that re-signs. A
consumer trusts public keys with ``REMOTEIMPORT_TRUSTED_KEYS=path[,path...]``
(or ``install(..., trusted_keys=[...])``); then only blobs signed by one of them are unpickled.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "publisher")
    >>> public = generate_key(path)
    >>> load_public_key(public).fingerprint.startswith("ed25519:")
    True
"""

from __future__ import annotations

import os

from remoteimport import _env, _metrics
from remoteimport._files import make_private_folders
from remoteimport._record import field, record
from remoteimport.blob import BlobHeader, legacy_signed_message, sha256_hex, signed_message
from remoteimport.errors import RemoteImportError, UntrustedBlobError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

ENV_SIGNING_KEY = _env.SIGNING_KEY
ENV_TRUSTED_KEYS = _env.TRUSTED_KEYS
ENV_REQUIRE_SIGNATURES = _env.REQUIRE_SIGNATURES
ALGORITHM = "ed25519"
SCOPE = "header-v2"  # what a signature covers: the whole header (blob.signed_message); absent = name, hash, digest


def _fingerprint(raw_public: bytes) -> str:
    return f"{ALGORITHM}:{sha256_hex(raw_public)[:32]}"


@record
class PublicKey:
    raw: bytes  # the 32 raw Ed25519 public-key bytes
    source: str = field(compare=False)  # where it came from, for messages: not part of the key's identity

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.raw)

    def verify(self, signature: bytes, message: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@record
class SigningKey:
    private: Any  # cryptography's Ed25519PrivateKey
    source: str

    @property
    def public(self) -> PublicKey:
        from cryptography.hazmat.primitives import serialization

        raw = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return PublicKey(raw, self.source + ".pub")

    def sign(self, header: BlobHeader) -> BlobHeader:
        """The header with a signature over all of it (any signature it had is replaced)."""
        import base64

        value = self.private.sign(signed_message(header.with_signature(None)))
        return header.with_signature(
            {
                "algorithm": ALGORITHM,
                "scope": SCOPE,
                "key": self.public.fingerprint,
                "public_key": base64.b64encode(self.public.raw).decode("ascii"),
                "value": base64.b64encode(value).decode("ascii"),
            }
        )


def generate_key(path: str | os.PathLike[str]) -> str:
    """Write a new Ed25519 private key at ``path`` (owner-only permissions) and its public key at
    ``path.pub``; return the public key's path. Refuses to overwrite an existing key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = os.fspath(path)
    public_path = path + ".pub"
    for existing in (path, public_path):
        if os.path.exists(existing):
            raise RemoteImportError(
                f"{existing} already exists; remove it or choose another path (keys are never overwritten)"
            )
    _make_private_folders(os.path.dirname(os.path.abspath(path)))
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # O_EXCL + 0o600: the private key is never readable by others, not even for a moment.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    with open(public_path, "wb") as file:
        file.write(public_pem)
    return public_path


def _make_private_folders(folder: str) -> None:
    """Create ``folder`` and its missing parents as owner-only (0700): they are made to hold a private key.
    Existing folders are left as they are."""
    try:
        make_private_folders(folder)
    except FileExistsError as exc:
        raise RemoteImportError(
            f"cannot create the folder {exc.filename or folder} for the key: a file is in the way"
        ) from None
    except OSError as exc:
        raise RemoteImportError(f"cannot create the folder {exc.filename or folder} for the key: {exc}") from exc


def _read_pem(path: str, parse: Callable[[bytes], Any], what: str, fix: str) -> Any:
    try:
        with open(path, "rb") as file:
            return parse(file.read())
    except (OSError, ValueError, TypeError) as exc:
        raise RemoteImportError(f"cannot read the {what} {path}: {exc}. {fix}") from exc


def _check_is_path(value: str, what: str, variable: str | None) -> None:
    """Refuse a key setting that holds something other than a file's path — typically the key's own text
    (``REMOTEIMPORT_SIGNING_KEY="$(cat key)"`` in CI) — naming the setting, never showing its value: every
    message that quotes a key's path would otherwise print the private key."""
    if "-----BEGIN" not in value and value.isprintable():
        return
    given = f"${variable}" if variable else f"the {what} given"
    private = what == "signing key"
    variable = variable or (ENV_SIGNING_KEY if private else ENV_TRUSTED_KEYS)
    file, where = ("publisher", "a file only you can read (umask 077; ") if private else ("publisher.pub", "a file (")
    raise RemoteImportError(
        f"{given} holds the text of a key (or other text that is not a file's path); it must name the key file. "
        f"Its value is not shown. Write the key to {where}printf '%s\\n' \"$KEY\" > {file}) and set "
        f"{variable}=$PWD/{file}."
    )


def _pem_kind(path: str) -> str | None:
    """``"private"`` or ``"public"`` when the file ``path`` holds a PEM key of that kind (by its armour line, so an
    encrypted or non-Ed25519 key is named too), else None (no such file, not PEM): for messages only."""
    try:
        with open(path, "rb") as file:
            head = file.read(65536)
    except OSError:
        return None
    if b"PRIVATE KEY-----" in head:
        return "private"
    return "public" if b"PUBLIC KEY-----" in head else None


def load_signing_key(path: str | os.PathLike[str], *, variable: str | None = None) -> SigningKey:
    """The private key in the file ``path`` (``variable``: the environment variable it came from, for messages)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = os.fspath(path)
    _check_is_path(path, "signing key", variable)
    if _pem_kind(path) == "public":
        private = path[: -len(".pub")] if path.endswith(".pub") else ""
        half = f" ({private}, next to it)" if private and os.path.isfile(private) else ""
        raise RemoteImportError(
            f"the signing key {path}{f' (${variable})' if variable else ''} is a public key: signing needs the "
            f"private key of its pair{half}. Give that instead; the .pub file is for the hosts that import "
            f"(${ENV_TRUSTED_KEYS})."
        )
    if os.path.exists(path) or os.path.exists(path + ".pub"):  # `keygen PATH` would refuse: never advise it
        fix = "Give the private key written by `remoteimport keygen` (the file without .pub)"
    else:
        fix = f"Create one with `remoteimport keygen {path}`"
    private = _read_pem(path, lambda data: serialization.load_pem_private_key(data, password=None), "signing key", fix)
    if not isinstance(private, Ed25519PrivateKey):
        raise RemoteImportError(f"{path} is not an Ed25519 private key; create one with `remoteimport keygen`")
    return SigningKey(private, path)


def load_public_key(path: str | os.PathLike[str], *, variable: str | None = None) -> PublicKey:
    """The public key in the file ``path`` (``variable``: the environment variable it came from, for messages)."""
    from cryptography.hazmat.primitives import serialization

    path = os.fspath(path)
    _check_is_path(path, "trusted key", variable)
    if _pem_kind(path) == "private":
        public = f" ({path}.pub, next to it)" if os.path.isfile(path + ".pub") else ""
        raise RemoteImportError(
            f"the trusted key {path}{f' (${variable})' if variable else ''} is a private key: trust its public "
            f"key{public} instead, the .pub file `remoteimport keygen` wrote. The private key stays with the "
            "publisher."
        )
    fix = "Give the .pub file written by `remoteimport keygen`"
    key = _read_pem(path, serialization.load_pem_public_key, "trusted public key", fix)
    return _public_key(key, path)


def public_key_from_text(text: str, source: str) -> PublicKey:
    """A public key from the text of its ``.pub`` file (PEM); ``source`` names it in messages."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, TypeError, UnicodeError) as exc:
        raise RemoteImportError(f"{source} is not the text of a public key: {exc}") from exc
    return _public_key(key, source)


def public_key_text(key: PublicKey) -> str:
    """The text of ``key``'s ``.pub`` file (PEM), as ``remoteimport keygen`` writes it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    public = Ed25519PublicKey.from_public_bytes(key.raw)
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _public_key(key: Any, source: str) -> PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not isinstance(key, Ed25519PublicKey):
        raise RemoteImportError(f"{source} is not an Ed25519 public key (the .pub file of `remoteimport keygen`)")
    return PublicKey(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw), source)


def signing_key_from(value: str | os.PathLike[str] | SigningKey | None) -> SigningKey | None:
    """An explicit key or path, else ``$REMOTEIMPORT_SIGNING_KEY``, else None (blobs go unsigned)."""
    if isinstance(value, SigningKey):
        return value
    if value is not None:
        return load_signing_key(value) if os.fspath(value) else None
    path = os.environ.get(ENV_SIGNING_KEY) or None
    return load_signing_key(path, variable=ENV_SIGNING_KEY) if path else None


# ---------------------------------------------------------------------------------------------------------
# Trust: what a consumer accepts.


@record
class TrustPolicy:
    """Which blobs a host accepts: signed by one of ``trusted`` (when any), and/or signed at all."""

    trusted: tuple[PublicKey, ...] = ()
    require_signatures: bool = False

    def accepts(self, header: BlobHeader) -> bool:
        """True when :meth:`check` would let ``header`` through (no warning, no exception)."""
        try:
            self.check(header, where="", local_store=True)
        except UntrustedBlobError:
            return False
        return True

    @classmethod
    def resolve(
        cls,
        trusted_keys: Iterable[str | os.PathLike[str] | PublicKey] | None = None,
        *,
        require_signatures: bool = False,
    ) -> TrustPolicy:
        """Explicit keys, else ``$REMOTEIMPORT_TRUSTED_KEYS``; ``require_signatures`` or
        ``$REMOTEIMPORT_REQUIRE_SIGNATURES=1`` refuses unsigned blobs even when no key is trusted."""
        variable = None
        if trusted_keys is None:
            trusted_keys, variable = _env.items(ENV_TRUSTED_KEYS), ENV_TRUSTED_KEYS
        keys = tuple(
            key if isinstance(key, PublicKey) else load_public_key(key, variable=variable) for key in trusted_keys
        )
        require = require_signatures or _env.flag(ENV_REQUIRE_SIGNATURES)
        return cls(keys, require)

    def check(self, header: BlobHeader, *, where: str, local_store: bool) -> None:
        """Refuse (before unpickling) a blob this policy does not accept."""
        with _metrics.phase("verify"):
            self._check(header, where=where, local_store=local_store)

    def _check(self, header: BlobHeader, *, where: str, local_store: bool) -> None:
        what = f"{header.name}@{header.hash[:12]} ({where})"
        how = (
            f"To trust a publisher's key, add its .pub file to {ENV_TRUSTED_KEYS} (comma-separated paths) "
            "or pass install(..., trusted_keys=[path])."
        )
        signature = header.signature
        if not self.trusted:
            if self.require_signatures:
                raise UntrustedBlobError(
                    f"refused {what}: {ENV_REQUIRE_SIGNATURES} is set but no key is trusted, so no blob can "
                    f"be accepted. {how} Nothing was unpickled."
                )
            if not local_store:
                _warn_unverified_once(where)
            return
        if not signature:
            raise UntrustedBlobError(
                f"refused {what}: it is unsigned and signatures are required. {how} Nothing was unpickled."
            )
        signer = str(signature.get("key", "?"))
        trusted = {key.fingerprint: key for key in self.trusted}
        key = trusted.get(signer)
        if key is None:
            raise UntrustedBlobError(
                f"refused {what}: it is signed by {signer}, which is not a trusted key (trusted: "
                f"{', '.join(sorted(trusted))}). If you trust that publisher, {how[0].lower()}{how[1:]} "
                "Nothing was unpickled."
            )
        state = signature_state(header, key)
        if state == "legacy":
            raise UntrustedBlobError(
                f"refused {what}: it is signed by the trusted key {signer} the old way, which covers only its name, "
                "hash and payload — its other header fields (Python version, requirements, source) are not "
                f"protected. The publisher re-signs it with `{resign_command(header)}` (or by pushing the class "
                "again with REMOTEIMPORT_SIGNING_KEY set). Nothing was unpickled."
            )
        if state != "valid":
            raise UntrustedBlobError(
                f"refused {what}: its signature claims the trusted key {signer} but does not match the header — "
                "the blob or its header was altered after signing. Nothing was unpickled."
            )


def resign_command(header: BlobHeader) -> str:
    return f"remoteimport sign {header.name}@{header.hash} --key <private key>"


def _decoded(signature: dict[str, str], field: str) -> bytes:
    try:
        import base64  # only for signed blobs

        return base64.b64decode(str(signature.get(field, "")), validate=True)
    except ValueError:
        return b""


def signature_state(header: BlobHeader, key: PublicKey) -> str:
    """How ``header``'s signature stands against ``key``: ``"valid"`` (over the whole header), ``"legacy"``
    (an intact signature of the old kind, over name, hash and payload digest only), ``"invalid"`` or
    ``"unsigned"``."""
    signature = header.signature
    if not signature:
        return "unsigned"
    value = _decoded(signature, "value")
    if signature.get("algorithm") != ALGORITHM or str(signature.get("key")) != key.fingerprint:
        return "invalid"
    if signature.get("scope") == SCOPE:
        return "valid" if key.verify(value, signed_message(header)) else "invalid"
    if "scope" not in signature:
        try:
            message = legacy_signed_message(header)
        except ValueError:
            return "invalid"
        return "legacy" if key.verify(value, message) else "invalid"
    return "invalid"  # a scope this release does not know: never accepted


_WARNED: list[bool] = []  # one item once warned (cleared by tests)


def _warn_unverified_once(where: str) -> None:
    if _WARNED:
        return
    _WARNED.append(True)
    _metrics.warning(
        f"remoteimport: warning: loading code from {where} without signature checks — anyone who can write "
        f"to that store can run code here. Set {ENV_TRUSTED_KEYS} to the publishers' .pub keys "
        f"(or {ENV_REQUIRE_SIGNATURES}=1 to refuse unsigned code). This warning is shown once per process."
    )


def signature_status(header: BlobHeader, policy: TrustPolicy) -> tuple[str, bool]:
    """(a one-line description of the signature, whether it is acceptable under ``policy``), for tools.

    A signature is checked against the public key it carries (is it intact?) and against the policy (is
    that key trusted?)."""
    signature = header.signature
    if not signature:
        acceptable = not policy.trusted and not policy.require_signatures
        return "unsigned", acceptable
    signer = str(signature.get("key", "?"))
    raw = _decoded(signature, "public_key")
    state = signature_state(header, PublicKey(raw, "header")) if _fingerprint(raw) == signer else "invalid"
    if state == "invalid":
        return f"INVALID signature claiming {signer} (the blob or header was altered)", False
    if state == "legacy":
        return f"OLD-STYLE signature by {signer} (covers name, hash and payload only): {resign_command(header)}", False
    trusted = any(key.fingerprint == signer for key in policy.trusted)
    if trusted:
        return f"signed by {signer} (trusted)", True
    if policy.trusted:
        return f"signed by {signer} (NOT a trusted key)", False
    return f"signed by {signer} (no keys trusted on this host)", not policy.require_signatures
