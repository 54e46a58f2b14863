"""What this process serves, handed down to the processes it starts: ``$REMOTEIMPORT_SERVED``.

A worker started by ``multiprocessing`` (spawn, forkserver), ``concurrent.futures.ProcessPoolExecutor`` or
joblib/loky is a fresh interpreter: it inherits the environment, not ``sys.meta_path``. So
:func:`remoteimport.install` records every namespace it serves in one environment variable (and
:func:`remoteimport.uninstall` takes it out), and the start-up hook (``remoteimport.pth``) of a child serves those
namespaces at their first import, exactly as it serves ``$REMOTEIMPORT_STORE``'s (docs/engines.md#worker-processes).
The value is JSON::

    {"format": 1, "namespaces": {"labchain_remote": {
        "store": "/srv/classes",                       # the store's URL (a local folder: its absolute path)
        "storage_options": {"anon": false},            # plain JSON data, never credentials (below)
        "allow_http": false,                           # the parent accepted a plain-http store
        "trusted_keys": ["/home/me/keys/publisher.pub"],  # absolute paths, or a key's .pub text when given as a key
        "require_signatures": false,
        "lock": null,                                  # or the lock's pins: {"store", "namespace", "pins", ...}
        "environment": {"REMOTEIMPORT_STORE": "s3://bucket/other"}}}}  # those variables, as install() saw them

Storage options go only when they are plain JSON data, and without any entry, at any depth, whose name looks
like a credential (``key``, ``secret``, ``token``, ``password``, ``auth`` ...); a store URL carrying a
password is not handed down at all. Children get credentials the backend's usual way (``AWS_*`` variables,
which they inherit; credential files).

The trust rule: a child accepts only what both its parent and its own environment accept. The parent's keys
stay required; when the child has ``$REMOTEIMPORT_TRUSTED_KEYS`` of its own, only keys in both sets are trusted
(none in common: an :class:`~remoteimport.errors.InheritedSettingsError` at the namespace's import); an empty
inherited list means "no constraint from the parent", never "accept unsigned code"; ``require_signatures`` of
either holds. The store and the lock are the parent's, unless the child was given ``$REMOTEIMPORT_STORE``,
``$REMOTEIMPORT_NAMESPACE`` or ``$REMOTEIMPORT_LOCK`` values of its own for the namespace (other than
``environment`` records: a Ray ``runtime_env``, ``Popen(env=...)``); then those serve it, under the same
combined trust policy. Anything malformed fails the namespace's import with one error that names the variable.

    >>> entry = {"store": "/srv/classes", "trusted_keys": [], "require_signatures": False, "lock": None}
    >>> namespace_of("labchain_remote.MyFilter@0123abcd", '{"format":1,"namespaces":{"labchain_remote":%s}}'
    ...              % _dumps(entry))
    'labchain_remote'
"""

from __future__ import annotations

import os

from remoteimport import _env, _memo
from remoteimport.errors import InheritedSettingsError, RemoteImportError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from remoteimport.lock import Lock
    from remoteimport.signing import PublicKey
    from remoteimport.store import Store

__all__ = ["VARIABLE", "forget", "keys_both_accept", "namespace_of", "record", "settings"]

VARIABLE = _env.SERVED
FORMAT = 1
_ENTRY_FIELDS = ("store", "storage_options", "allow_http", "trusted_keys", "require_signatures", "lock", "environment")
# The variables that serve a namespace without install() (zero-code.md), as the parent saw them at install()
_ENVIRONMENT = (_env.STORE, _env.NAMESPACE, _env.LOCK)
_LOCK_FIELDS = ("store", "namespace", "pins", "unlisted", "path")
# Parts of option names that hold credentials (s3fs key/secret/token, adlfs account_key/sas_token/
# connection_string/client_secret, sftp password, http headers' Authorization ...): never copied into the environment.
_SECRET_WORDS = ("key", "secret", "token", "passw", "credential", "auth", "sas", "cookie", "session", "connection")
_PEM_START = "-----BEGIN"

# -- the parent: install() and uninstall() keep the variable in step --------------------------------------


def record(namespace: str, store: Store, lock: Lock | None) -> None:
    """Record that this process serves ``namespace`` from ``store`` (with its trust policy and ``lock``)."""
    entry = _entry_of(store, lock)
    table = _current_table()
    if entry is None:
        table.pop(namespace, None)  # a memory:// store lives in this process only: a child could not reach it
    else:
        table[namespace] = entry
    _write(table)


def forget(namespace: str) -> None:
    """Take ``namespace`` out of the variable (:func:`remoteimport.uninstall`)."""
    table = _current_table()
    if table.pop(namespace, None) is not None:
        _write(table)


def _current_table() -> dict[str, Any]:
    """The namespaces recorded now (inherited ones this process has not served yet included): a child serves them
    alike. A malformed value is replaced: it would fail every import of the namespaces it names anyway."""
    raw = os.environ.get(VARIABLE)
    if not raw:
        return {}
    try:
        return dict(_table(raw))
    except InheritedSettingsError:
        return {}


def _write(table: dict[str, Any]) -> None:
    if table:
        os.environ[VARIABLE] = _dumps({"format": FORMAT, "namespaces": table})
    else:
        os.environ.pop(VARIABLE, None)


def _entry_of(store: Store, lock: Lock | None) -> dict[str, Any] | None:
    from remoteimport.store import store_protocol  # loaded already: `store` is a Store

    url = store.unredacted_url  # a child opens the store by it (so one with a password is not recorded)
    protocol = store_protocol(url)  # a chained URL's last link: `simplecache::memory://x` is in this process too
    if protocol == "memory" or _has_password(url):
        return None
    policy = store.policy
    given = policy.trusted_keys_given
    if given is None:
        given = tuple(_env.items(_env.TRUSTED_KEYS))  # what the policy read: the same paths, made absolute here
    return {
        "store": url,
        "storage_options": _plain_options(store.storage_options),
        "allow_http": protocol == "http",  # Store() refused it unless this process allowed it
        "trusted_keys": [_key_entry(key) for key in given],
        "require_signatures": policy.trust.require_signatures,
        "lock": None if lock is None else {field: _lock_value(lock, field) for field in _LOCK_FIELDS},
        "environment": {name: os.environ[name] for name in _ENVIRONMENT if os.environ.get(name)},
    }


def _key_entry(key: str | os.PathLike[str] | PublicKey) -> str:
    if isinstance(key, (str, os.PathLike)):
        return os.path.abspath(os.fspath(key))  # resolved against this process's folder: a child's may differ
    from remoteimport.signing import public_key_text

    return public_key_text(key)


def _lock_value(lock: Lock, field: str) -> Any:
    value = getattr(lock, field)
    return dict(value) if field == "pins" else value


def _plain_options(options: dict[str, Any]) -> dict[str, Any]:
    """The storage options a child may be given: plain JSON data (objects, tuples and bytes cannot travel in a
    variable), without credentials."""
    kept = {}
    for name, value in options.items():
        if _looks_secret(name):
            continue
        value = _without_secrets(value)
        try:
            if _loads(_dumps({name: value})) == {name: value}:
                kept[name] = value
        except (TypeError, ValueError):
            continue
    return kept


def _looks_secret(name: object) -> bool:
    return not isinstance(name, str) or any(word in name.lower() for word in _SECRET_WORDS)


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_secrets(item) for key, item in value.items() if not _looks_secret(key)}
    if isinstance(value, list):
        return [_without_secrets(item) for item in value if not (isinstance(item, str) and _has_password(item))]
    if isinstance(value, str) and _has_password(value):
        return None
    return value


def _has_password(text: str) -> bool:
    """``scheme://user:password@host...``"""
    scheme, separator, rest = text.partition("://")
    userinfo, at, _ = rest.partition("/")[0].rpartition("@")
    return bool(separator and at and ":" in userinfo)


def _dumps(value: Any) -> str:
    """Compact JSON with sorted keys through json's own C encoder (what ``json.dumps`` uses): importing ``json``
    imports ``re``, which an install() followed by a pinned import does not otherwise need (docs/performance.md)."""
    try:
        from _json import encode_basestring_ascii, make_encoder
    except ImportError:  # pragma: no cover - Pythons without json's C accelerator
        import json

        return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)
    encode = make_encoder({}, _not_json, encode_basestring_ascii, None, ":", ",", True, False, False)
    return "".join(encode(value, 0))


def _not_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _loads(text: str) -> Any:
    from remoteimport.blob import _loads as loads  # json's C scanner, without importing json (or re)

    return loads(text)


# -- the child: the start-up hook asks which namespace a name is in, then for its settings -----------------


def namespace_of(fullname: str, raw: str) -> str | None:
    """The namespace ``raw`` (the variable's value) names that ``fullname`` is (or is in), or None."""
    found = [namespace for namespace in _table(raw) if fullname == namespace or fullname.startswith(namespace + ".")]
    return max(found, key=len) if found else None


def settings(namespace: str) -> tuple[Store, Lock | bool | None]:
    """The store (with the trust policy of the rule above) and the lock (False: none; None: the ambient one) to
    serve ``namespace`` with. Raises :class:`InheritedSettingsError` when the variable is malformed.

    The store and the lock are the parent's, unless this process was given variables of its own for the
    namespace (``$REMOTEIMPORT_STORE``, ``$REMOTEIMPORT_NAMESPACE``, ``$REMOTEIMPORT_LOCK`` other than the parent
    had: a Ray ``runtime_env``, ``Popen(env=...)``): then those, as without the variable. The trust policy is
    the combination either way."""
    entry = _table(os.environ.get(VARIABLE, ""))[namespace]
    trusted, require = _trust(namespace, entry["trusted_keys"], entry["require_signatures"])
    if _configured_here(namespace, entry["environment"]):
        from remoteimport.store import Store

        return Store.default().with_trust(trusted, require_signatures=require), None
    store = _store(namespace, entry)
    return store.with_trust(trusted, require_signatures=require), _lock(namespace, entry["lock"])


def _configured_here(namespace: str, recorded: dict[str, str]) -> bool:
    """Whether this process's own variables name the store of ``namespace``, and are not merely those it
    inherited from the parent (which served the namespace as its entry says, whatever they named)."""
    current = {name: os.environ[name] for name in _ENVIRONMENT if os.environ.get(name)}
    configured = current.get(_env.STORE) or current.get(_env.NAMESPACE)
    return bool(configured) and _env.namespace() == namespace and current != recorded


def _store(namespace: str, entry: dict[str, Any]) -> Store:
    from remoteimport.store import Store

    options = entry["storage_options"]
    # A Store argument among the options (trusted_keys=[], cache=...) would change the policy: never an option.
    own = Store.__init__.__code__
    parameters = own.co_varnames[1 : 1 + own.co_argcount + own.co_kwonlyargcount]
    misplaced = sorted(set(options) & set(parameters))
    if misplaced:
        names = ", ".join(misplaced)
        raise _malformed(f"the storage options of {namespace!r} hold {names}, which are Store arguments, not options")
    return Store(entry["store"], allow_http=entry["allow_http"], **options)


def _lock(namespace: str, data: dict[str, Any] | None) -> Lock | bool:
    if data is None:
        return False  # the parent served it without a lock: so does the child, whatever lock file is around
    from remoteimport.lock import Lock

    try:
        return Lock(**data)
    except (RemoteImportError, TypeError, ValueError) as exc:
        raise _malformed(f"its lock for {namespace!r} is invalid ({exc})") from None


def _trust(namespace: str, inherited: list[str], inherited_require: bool) -> tuple[list[Any], bool]:
    """The trusted keys (as given: absolute paths, or keys read from their text) and whether signatures are
    required, at least as strict as the parent's (``inherited``) and this process's own environment."""
    from remoteimport.signing import TrustPolicy

    parent = [(spec, _inherited_key(namespace, spec)) for spec in inherited]
    own = TrustPolicy.resolve()  # $REMOTEIMPORT_TRUSTED_KEYS and $REMOTEIMPORT_REQUIRE_SIGNATURES of this process
    require = inherited_require or own.require_signatures
    if not parent:
        return [os.path.abspath(path) for path in _env.items(_env.TRUSTED_KEYS)], require
    # as given: a path stays a path (recorded again as such), a key's text becomes the key
    as_given = [(key if spec.startswith(_PEM_START) else spec, key) for spec, key in parent]
    both = keys_both_accept(
        namespace,
        as_given,
        own.trusted,
        offered_by=f"the parent process ({VARIABLE})",
        advice=f"Put the parent's key among {_env.TRUSTED_KEYS} here, or start the worker without {VARIABLE} (or "
        "call remoteimport.install() in it) to serve it on its own terms.",
    )
    return [given for given, _ in both], require


def keys_both_accept(
    namespace: str, offered: list[tuple[Any, PublicKey]], own: tuple[PublicKey, ...], *, offered_by: str, advice: str
) -> list[tuple[Any, PublicKey]]:
    """The rule for keys handed to a worker (by its parent process, a Dask or Ray client): ``offered`` are
    ``(as given, key)`` pairs, ``own`` the keys this process's ``$REMOTEIMPORT_TRUSTED_KEYS`` trusts. With none of
    its own, the worker takes what it was given; else only keys in both; none in common is an
    :class:`~remoteimport.errors.InheritedSettingsError` naming both sets (nothing could load)."""
    if not own:
        return list(offered)
    both = [pair for pair in offered if pair[1] in own]
    if not both:
        theirs = ", ".join(sorted(key.fingerprint for _, key in offered))
        mine = ", ".join(sorted(key.fingerprint for key in own))
        raise InheritedSettingsError(
            f"refused to serve {namespace!r}: {offered_by} trusts only {theirs}, and this process's "
            f"{_env.TRUSTED_KEYS} trusts only {mine}. A worker accepts only what both accept, and no key is in both, "
            f"so nothing could load. {advice}"
        )
    return both


def _inherited_key(namespace: str, spec: str) -> PublicKey:
    from remoteimport.signing import load_public_key, public_key_from_text

    try:
        if spec.startswith(_PEM_START):
            return public_key_from_text(spec, f"a trusted key of {namespace!r} in {VARIABLE}")
        return load_public_key(spec)
    except RemoteImportError as exc:
        raise InheritedSettingsError(
            f"refused to serve {namespace!r}: the parent process ({VARIABLE}) requires signatures by the key {spec}, "
            f"which cannot be read here ({exc}). Nothing is loaded without it."
        ) from None


@_memo.bounded(4)
def _table(raw: str) -> dict[str, dict[str, Any]]:
    """The variable's namespaces, each entry checked and completed (parsed once per value)."""
    try:
        document = _loads(raw)
    except ValueError as exc:
        raise _malformed(f"it is not JSON ({exc})") from None
    if not isinstance(document, dict) or set(document) != {"format", "namespaces"}:
        raise _malformed('it is not an object {"format": 1, "namespaces": {...}}')
    if document["format"] != FORMAT:
        raise _malformed(f"its format is {document['format']!r}; this remoteimport reads format {FORMAT}")
    namespaces = document["namespaces"]
    if not isinstance(namespaces, dict):
        raise _malformed('its "namespaces" is not an object')
    return {_namespace(name): _checked(name, entry) for name, entry in namespaces.items()}


def _namespace(name: str) -> str:
    from remoteimport.names import validate_namespace

    try:
        return validate_namespace(name)
    except ValueError as exc:
        raise _malformed(str(exc)) from None


def _checked(namespace: str, entry: object) -> dict[str, Any]:
    if not isinstance(entry, dict) or not isinstance(entry.get("store"), str) or not entry["store"]:
        raise _malformed(f'the entry of {namespace!r} is not an object with a "store" URL')
    unknown = sorted(set(entry) - set(_ENTRY_FIELDS))
    if unknown:  # a setting this release does not know could be a restriction: never ignored
        raise _malformed(f"the entry of {namespace!r} has unknown fields {unknown}")
    checked = {"storage_options": {}, "allow_http": False, "trusted_keys": [], "require_signatures": False}
    checked.update(entry)
    checked.setdefault("environment", {})
    expected = {
        "environment": (dict, "an object"),
        "storage_options": (dict, "an object"),
        "allow_http": (bool, "true or false"),
        "trusted_keys": (list, "a list of .pub paths or key texts"),
        "require_signatures": (bool, "true or false"),
    }
    for field, (kind, what) in expected.items():
        if not isinstance(checked[field], kind):
            raise _malformed(f'"{field}" of {namespace!r} is not {what}')
    environment = checked["environment"]
    if not set(environment) <= set(_ENVIRONMENT) or not all(isinstance(value, str) for value in environment.values()):
        raise _malformed(f'"environment" of {namespace!r} holds other than {", ".join(_ENVIRONMENT)} as strings')
    for spec in checked["trusted_keys"]:
        if not isinstance(spec, str) or not (spec.startswith(_PEM_START) or os.path.isabs(spec)):
            raise _malformed(f"the trusted key {spec!r} of {namespace!r} is neither an absolute path nor a key's text")
    lock = checked.get("lock")
    if lock is not None and (not isinstance(lock, dict) or not set(lock) <= set(_LOCK_FIELDS)):
        raise _malformed(f'"lock" of {namespace!r} is neither null nor an object with {", ".join(_LOCK_FIELDS)}')
    checked["lock"] = lock
    return checked


def _malformed(detail: str) -> InheritedSettingsError:
    return InheritedSettingsError(
        f"{VARIABLE} is malformed: {detail}. remoteimport.install() sets it in a process so that the processes "
        f"it starts serve the same namespaces; nothing is served from it. Fix: start this process without "
        f"{VARIABLE} (or with the value its parent's install() wrote), or call remoteimport.install(store, ...) here."
    )
