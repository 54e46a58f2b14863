"""Loading a stored version: read a verified blob -> trust -> requirements -> unpickle -> re-hash -> publish.

Every route to a stored class (the import hook, :func:`remoteimport.get_version`, configs, locks, pickled
instances) ends in :func:`load_class`, and ``push`` checks a stored blob with :func:`stored_blob_problem`,
the same steps without publishing. Nothing is unpickled before the payload digest, the blob's name and hash,
the trust policy, the Python version and the requirements have been checked; nothing is published (or cached)
before the unpickled class has re-hashed to the hash it is stored under.

    >>> import remoteimport
    >>> class Tripler:
    ...     def apply(self, x):
    ...         return 3 * x
    >>> store = remoteimport.Store("memory://loader-doc")
    >>> full = remoteimport.push(Tripler, store=store)
    >>> load_class(store, "loader_doc_remote", "Tripler", full)().apply(2)
    6
"""

from __future__ import annotations

import sys
from _thread import allocate_lock
from types import ModuleType

from remoteimport import _cloudpickle, _env, _metrics, graphs, references
from remoteimport._record import record
from remoteimport.blob import CROSS_PYTHON_FORMAT, Blob, BlobHeader, decode_blob
from remoteimport.cache import BlobCache
from remoteimport.capture import REMOTE_MODULE_MARKER, check_requirements, module_travels_by_value, unpickle_class
from remoteimport.code_objects import (
    CodeRebuilder,
    is_pseudo_filename,
    python_tag,
    source_mismatches,
    version_filename,
)
from remoteimport.errors import (
    IncompatibleBlobError,
    IntegrityError,
    RemoteImportError,
    UntrustedBlobError,
)
from remoteimport.names import (
    format_reference,
    member_module_name,
    split_member_module,
    validate_hash,
    validate_name,
    validate_namespace,
)
from remoteimport.regenerate import regenerate
from remoteimport.signing import TrustPolicy
from remoteimport.store import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _thread import LockType
    from collections.abc import Callable
    from types import CodeType
    from typing import Any

__all__ = ["forget", "load_class", "stored_blob_problem"]

#: The CPython versions whose blobs load on each other (docs/compatibility.md); CI proves every pair.
CROSS_PYTHONS = ("3.10", "3.11", "3.12", "3.13")


@record
class _Loaded:
    cls: type
    header: BlobHeader  # of the blob it was accepted from: what a later, stricter policy is checked against


_LOADED: dict[tuple[str, str, str], _Loaded] = {}
_LOAD_LOCKS: dict[tuple[str, str, str], LockType] = {}
_LOCKS_GUARD = allocate_lock()
# namespace -> the trust policy of the store the import hook serves it from (hook.install)
_NAMESPACE_POLICIES: dict[str, TrustPolicy] = {}


def serve_namespace(namespace: str, policy: TrustPolicy) -> None:
    """Make ``policy`` the namespace's: every later load under it (hook, ``get_version``, configs, pickled
    instances) must satisfy it too, and versions already published under a policy it refuses are withdrawn, so
    importing them again goes through the check. Called by :func:`remoteimport.install`."""
    with _LOCKS_GUARD:
        _NAMESPACE_POLICIES[namespace] = policy
        for key, loaded in list(_LOADED.items()):
            if key[0] == namespace and not policy.accepts(loaded.header):
                del _LOADED[key]
                reference = format_reference(*key)
                for module in [m for m in sys.modules if m == reference or m.startswith(reference + "/")]:
                    sys.modules.pop(module, None)


def stop_serving(namespace: str) -> None:
    """Forget the namespace's policy (:func:`remoteimport.uninstall`)."""
    with _LOCKS_GUARD:
        _NAMESPACE_POLICIES.pop(namespace, None)


def load_class(store: Store, namespace: str, name: str, full_hash: str) -> type:
    """Load one verified version, once per process, published as module ``namespace.Name@full_hash``.

    The store's trust policy and the namespace's (when the hook serves it) apply to every call: a version
    loaded earlier under a weaker policy is handed out only once this store's copy passes this call's policies
    (the class is not unpickled again: one hash, one class)."""
    with _metrics.phase("load"):  # what the nested phases (fetch, unpickle, rehash ...) leave: the loader's own
        return _load_class(store, namespace, name, full_hash)


def _load_class(store: Store, namespace: str, name: str, full_hash: str) -> type:
    key = (validate_namespace(namespace), validate_name(name), validate_hash(full_hash, allow_prefix=False))
    policies = _policies(store, namespace)
    with _LOCKS_GUARD:
        lock = _LOAD_LOCKS.get(key)
        if lock is None:
            lock = _LOAD_LOCKS[key] = allocate_lock()
    with lock:
        loaded = _LOADED.get(key)
        if loaded is not None and not all(policy.accepts(loaded.header) for policy in policies):
            blob, _ = _trusted_blob(store, namespace, name, full_hash, policies)
            loaded = _LOADED[key] = _Loaded(loaded.cls, blob.header)
        if loaded is None:
            loaded = _LOADED[key] = _unpickle_verified(store, namespace, name, full_hash)
        _publish(format_reference(namespace, name, full_hash), name, loaded.cls, full_hash)
        return loaded.cls


def forget(*, namespace: str | None = None, name: str | None = None) -> None:
    """Make the next load of the versions of ``namespace`` (or of the class ``name``) in this process unpickle
    again, as in a new process: drops them, and the graphs they brought, from the loader's memory (classes
    already handed out keep working). For tests; ``sys.modules`` is the caller's to clean."""
    with _LOCKS_GUARD:
        for key in [key for key in _LOADED if key[0] == namespace or key[1] == name]:
            del _LOADED[key]
    for graph in graphs.registered():
        version = graph.reference[len(graph.namespace) + 1 :]
        if graph.namespace == namespace or version.partition("@")[0] == name:
            graphs.unregister(graph)


def _policies(store: Store, namespace: str) -> list[TrustPolicy]:
    own, served = store.policy.trust, _NAMESPACE_POLICIES.get(namespace)
    return [own] if served is None or served == own else [own, served]


def stored_blob_problem(store: Store, name: str, full_hash: str, blob: Blob) -> str | None:
    """Why the stored ``blob`` of ``name@full_hash`` does not load on this host (None when it loads and
    re-hashes), for ``push``, which then replaces it. A blob this host's trust policy refuses is reported as
    None: it is not unpickled here, and not ours to replace (another publisher may have signed it)."""
    where = store.blob_url(name, full_hash)
    if blob.header.python != python_tag():
        # Another Python's blob: it serves hosts of that Python natively. Replacing it because this host could
        # not rebuild it would take it from them (and a version with source loads here anyway).
        return None
    try:
        store.policy.trust.check(blob.header, where=where, local_store=True)  # no warning: this host is publishing
        _check_host(blob.header, where)
    except (UntrustedBlobError, IncompatibleBlobError):
        # Refused here, or made for another Python or distributions this host lacks: this host cannot judge
        # it, and replacing it would take it from the hosts it serves.
        return None
    try:
        class_from_blob(blob, where=where, signature_checked=bool(store.policy.trust.trusted))
    except (RemoteImportError, ImportError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        _forget_checked_source(blob.header)
    return None


def _forget_checked_source(header: BlobHeader) -> None:
    """Drop the shipped source a check-only load registered, unless the version is loaded in this process: a
    ``push_all`` of thousands of unchanged classes checks each stored blob once, and kept each one's lines."""
    if any(key[1:] == (header.name, header.hash) for key in list(_LOADED)):
        return
    label = _label(header)
    virtual = {version_filename(filename, label) for filename in header.source}
    with _SOURCES_GUARD:
        for name in virtual:
            _PENDING_SOURCES.pop(name, None)
    linecache = _imported_linecache()
    if linecache is not None:
        for name in virtual:
            linecache.cache.pop(name, None)


def class_from_blob(blob: Blob, *, where: str, signature_checked: bool, rehash: bool = True) -> type:
    """Unpickle a verified, trusted blob and check that the class re-hashes to the blob's hash.

    ``signature_checked``: the trust policy verified the blob's signature against a trusted key (so a
    re-hash mismatch is not tampering after signing). ``rehash=False`` only for a payload this host has
    re-hashed before in this environment (:func:`_unpickle_verified`; the argument is in docs/security.md).

    Raises :class:`IncompatibleBlobError` when this host cannot rebuild it (another Python, a missing
    requirement, a cloudpickle payload it cannot read) and :class:`IntegrityError` when the class it holds
    is not the class its hash names."""
    return _rebuild(blob, where=where, signature_checked=signature_checked, rehash=rehash)[0]


def _rebuild(
    blob: Blob, *, where: str, signature_checked: bool, rehash: bool, substitutions: dict[int, type] | None = None
) -> tuple[type, CodeRebuilder]:
    """:func:`class_from_blob`, with the :class:`CodeRebuilder` that says what the payload made.
    ``substitutions``: class skeletons to take from other loaded versions instead (see :func:`_graph_of`)."""
    header = blob.header
    label = _label(header)
    _check_host(header, where)
    _register_source(header.source, label)
    rebuilder = CodeRebuilder(label, header.source, pushed_from=header.python)
    rebuilder.substitutions = dict(substitutions or {})
    try:
        with _metrics.phase("unpickle"):
            cls = unpickle_class(blob.payload, rebuilder)
    except RemoteImportError:
        raise
    except Exception as exc:
        raise IncompatibleBlobError(
            f"{label} ({where}) could not be unpickled on this host: {type(exc).__name__}: {exc}. "
            f"{_environments(header)} {_how_to_repair(header)}"
        ) from exc
    if not isinstance(cls, type):
        raise IntegrityError(f"{where} does not hold a class but a {type(cls).__qualname__}; it was not used")
    regenerate(cls, rebuilder)  # methods made by exec on another Python (dataclasses, namedtuple)
    if rehash:
        # The hash covers a function's source, the class runs its bytecode: they must be one program (the
        # record that lets later loads skip this covers exactly this payload: see _environment_key).
        mismatched = source_mismatches(rebuilder.unmarshalled, header.source, reads_source=_hasher_reads_source(label))
        if mismatched:
            raise IntegrityError(
                f"refused {where}: {mismatched[0]}, which it ships as that code's source: the payload's bytecode "
                "is not the program its hash names, so it was not published. Push the class again from its source."
            )
        # Not imported at all when every load is known good. A blob stored before format 3 was hashed by the
        # rules of its day (remoteimport/_legacy/hashing_v1.py): it is verified by them.
        _fill_waiting_sources()  # the hasher reads source through linecache, which it has imported
        with _metrics.phase("rehash"):
            actual = _stored_hash(cls, header)
        if actual != header.hash:
            raise _rehash_error(header, where, actual, signature_checked=signature_checked)
    return cls, rebuilder


def _hasher_reads_source(label: str) -> Callable[[CodeType, str], bool]:
    """Whether the re-hash takes ``code``'s identity from shipped text (its AST) rather than from its bytecode:
    what it finds in linecache under the code's version-tagged file name (registered from the shipped source)."""

    def reads_source(code: CodeType, filename: str) -> bool:
        from remoteimport.hashing import source  # as the re-hash does: only when a payload is checked

        _fill_waiting_sources()
        tagged = code.replace(co_filename=version_filename(filename, label))
        return source._source_encoding(tagged)[0] is not None

    return reads_source


def unchecked_code(blob: Blob, *, where: str) -> list[str]:
    """The code of a stored version that this host cannot check against its shipped source: bytecode another
    Python compiled (this one compiles the source instead, so the bytecode that Python's hosts run goes
    unchecked here), code with no shipped file, or under a pseudo file name the hasher takes no source from.
    One sentence each; [] when every code object of the payload was compared with its source. What ``sign``
    asks of a version nobody signed (it vouches for what the source says, which the bytecode must be)."""
    header = blob.header
    if header.python != python_tag():
        return [f"its bytecode was compiled by Python {header.python}, this is Python {python_tag()}"]
    _, rebuilder = _rebuild(blob, where=where, signature_checked=False, rehash=True)
    reads_source = _hasher_reads_source(_label(header))
    never_run = {id(code) for code in rebuilder.replaced.values()}  # what dataclasses generated: made again
    return [
        f"the code of {code.co_name!r} ({filename}, line {code.co_firstlineno}) has no shipped source it was "
        "compared with"
        for code, filename in rebuilder.unmarshalled
        if id(code) not in never_run
        and (filename not in header.source or (is_pseudo_filename(filename) and not reads_source(code, filename)))
    ]


def _stored_hash(cls: type, header: BlobHeader) -> str:
    """What ``cls``, loaded from a blob with ``header``, hashes to by the rules its version was pushed with.

    A blob stored before format 3 was hashed by the rules of its day (remoteimport/_legacy/hashing_v1.py). One of
    format 3 by today's; a version of an attrs class stored before attrs' generated methods were left out of the
    hash (they embedded a seed-dependent value in frozen classes) hashed them with their source, and a subclass of a
    Protocol pushed after its first instantiation hashed the ``__init__`` typing had copied onto it: when today's
    rule disagrees, those rules are tried too. Each encodes the whole class (the older ones more of it), so none
    lets a different program through. (Not imported at all when every load is known good.)"""
    if header.format < CROSS_PYTHON_FORMAT:
        from remoteimport._legacy.hashing_v1 import class_hash

        return class_hash(cls)
    from remoteimport.hashing import stored_class_hash

    actual = stored_class_hash(cls)
    if actual != header.hash and header.format == CROSS_PYTHON_FORMAT:
        for earlier_rule in ({"attrs_generated_code": True}, {"typing_init": True}):
            earlier = stored_class_hash(cls, **earlier_rule)
            if earlier == header.hash:
                return earlier
    return actual


def _label(header: BlobHeader) -> str:
    return f"{header.name}@{header.hash[:12]}"


def _check_host(header: BlobHeader, where: str) -> None:
    """Refuse, before unpickling, a blob this host cannot rebuild: made for another Python by a release whose
    payloads only that Python reads, or needing distributions this host lacks.

    A blob of format 3 or later loads on every supported CPython: its code is compiled from the shipped
    source where the bytecode is another Python's (:class:`~remoteimport.code_objects.CodeRebuilder`)."""
    if header.python != python_tag() and header.python not in CROSS_PYTHONS:
        raise IncompatibleBlobError(
            f"{_label(header)} was pushed from Python {header.python}, which this remoteimport does not know how to "
            f"load on Python {python_tag()} (it loads versions pushed from CPython {', '.join(CROSS_PYTHONS)} on "
            f"each other). Load it with Python {header.python} ({where})."
        )
    if header.python != python_tag() and header.format < CROSS_PYTHON_FORMAT:
        raise IncompatibleBlobError(
            f"{_label(header)} was pushed from Python {header.python} by an older remoteimport (blob format "
            f"{header.format}), whose payloads only that Python reads; this is Python {python_tag()}. Load it "
            f"with Python {header.python}, or push it again from its source with Python {header.python} and this "
            f"remoteimport, which stores a payload every supported Python loads ({where})."
        )
    check_requirements(header.requirements, what=_label(header))


def _unpickle_verified(store: Store, namespace: str, name: str, full_hash: str) -> _Loaded:
    where = store.blob_url(name, full_hash)
    policies = _policies(store, namespace)
    blob, fetched = _trusted_blob(store, namespace, name, full_hash, policies)
    reference = format_reference(namespace, name, full_hash)
    existing = _interned(namespace, name, full_hash)
    if existing is not None:
        # Loaded already, inside another version's graph: one content hash, one class. Its blob here passed
        # this store's policies (above); the class is the one the other version's re-hash vouched for.
        return _Loaded(existing, blob.header)
    cache = store.policy.cache
    records = cache if cache is not None else _default_records()
    payload_sha256, environment = blob.header.payload_sha256, _environment_key(blob.header)
    known_good = records is not None and records.rehashed(name, full_hash, payload_sha256, environment)
    signature_checked = any(policy.trusted for policy in policies)
    try:
        cls, rebuilder = _rebuild(blob, where=where, signature_checked=signature_checked, rehash=not known_good)
        if records is not None and not known_good:
            records.record_rehashed(name, full_hash, payload_sha256, environment)
        graph = _graph_of(blob, where, reference, namespace, cls, rebuilder, signature_checked)
    except IntegrityError:
        if cache is not None:
            cache.discard(name, full_hash)
        raise
    if graph not in graphs.registered(namespace):  # another thread loaded this class in another version meanwhile
        return _Loaded(graph.root, blob.header)
    cls = graph.root  # made again when classes of other versions were reused
    original = (cls.__module__, cls.__qualname__)
    cls.__module__ = reference
    cls.__qualname__ = name
    _name_members(graph, original)
    if fetched is not None and cache is not None:
        cache.put(name, full_hash, fetched)  # only a blob that loaded and re-hashed is cached
    return _Loaded(cls, blob.header)


# ---------------------------------------------------------------------------------------------------------
# The objects a version brings with it (remoteimport.graphs): one class per content hash, importable names.

_GRAPH_GUARD = allocate_lock()  # one version's graph is compared with the others and registered at a time


def _interned(namespace: str, name: str, full_hash: str) -> type | None:
    """A class named ``name`` with content hash ``full_hash`` that a loaded version of ``namespace`` brought.
    (The name a version is stored under is not part of its hash: ``persist(name=...)`` may push one class
    body under two names, which stay two classes.)"""
    with _GRAPH_GUARD:
        return _loaded_classes(namespace, {name}).get(full_hash)


def _short_name(klass: type) -> str:
    return klass.__qualname__.rpartition(".")[2]


_CONTENT_HASHES: dict[int, str | None] = {}  # id(class of a registered graph: kept alive) -> its content hash


def _loaded_classes(namespace: str, names: set[str]) -> dict[str, type]:
    """content hash -> class, for the classes the loaded versions of ``namespace`` brought that are named as one
    of ``names`` (interning needs equal names: only those are hashed, each once per process)."""
    found: dict[str, type] = {}
    for graph in graphs.registered(namespace):
        for klass in graph.classes:
            if _short_name(klass) not in names:
                continue
            if klass is graph.root and graph.current_rules:
                content_hash: str | None = graph.reference.rpartition("@")[2]
            else:
                if id(klass) not in _CONTENT_HASHES:
                    _CONTENT_HASHES[id(klass)] = _content_hash(klass)
                content_hash = _CONTENT_HASHES[id(klass)]
            if content_hash is not None:
                found.setdefault(content_hash, klass)
    return found


def _content_hash(klass: type) -> str | None:
    from remoteimport.errors import UnhashableObjectError
    from remoteimport.hashing import stored_class_hash

    try:
        return stored_class_hash(klass)
    except (UnhashableObjectError, RecursionError):  # a member that hashes only inside its version's graph
        return None


def _graph_of(
    blob: Blob,
    where: str,
    reference: str,
    namespace: str,
    cls: type,
    rebuilder: CodeRebuilder,
    signature_checked: bool,
) -> graphs.VersionGraph:
    """Register the graph of the version just unpickled, with every class that has the content hash (and name)
    of a class another version of the namespace brought replaced by that class (unpickling the payload again,
    with those classes reused: references to a class are spread over the whole graph, so it cannot be swapped
    afterwards). Returns the graph; when an existing class has the version's own hash and name, a graph of just
    that class, not registered.

    Reusing part of a cycle of classes can change how the version's class encodes (a back-reference becomes the
    digest of the other version's copy): then the re-hash disagrees, and the version keeps classes of its own,
    as it would without other versions loaded (equal content, so equal behaviour; only ``is`` tells them apart)."""
    current_rules = blob.header.format >= CROSS_PYTHON_FORMAT
    own_hash = blob.header.hash if current_rules else None
    first = cls, rebuilder
    substitutions: dict[int, type] = {}
    for _ in range(3):  # a pass may find more classes to reuse (or a concurrent load registered some): again
        with _GRAPH_GUARD:
            found, hashes = _substitutions(namespace, cls, rebuilder, own_hash, blob.header.name)
            if -1 in found:
                return graphs.VersionGraph(reference, namespace, found[-1], [], [])
            if not found:
                graph = _register(reference, namespace, cls, rebuilder, current_rules, hashes)
                if not rebuilder.reused or _stored_hash(cls, blob.header) == blob.header.hash:
                    return graph
                graphs.unregister(graph)
                return _keep_own(reference, namespace, first, current_rules, where, "it encodes differently")
        substitutions.update(found)
        try:
            cls, rebuilder = _rebuild(
                blob, where=where, signature_checked=signature_checked, rehash=False, substitutions=substitutions
            )
        except Exception as exc:  # e.g. an Enum whose values are object()s: the reused copy has other objects
            with _GRAPH_GUARD:
                return _keep_own(reference, namespace, first, current_rules, where, f"{type(exc).__name__}: {exc}")
    with _GRAPH_GUARD:
        return _keep_own(reference, namespace, first, current_rules, where, "other versions kept loading")


def _keep_own(
    reference: str,
    namespace: str,
    first: tuple[type, CodeRebuilder],
    current_rules: bool,
    where: str,
    why: str,
) -> graphs.VersionGraph:
    """Register the version with the classes its own payload made (the first pass, verified), when reusing
    those of other versions did not give the same program: an Enum whose values are ``object()`` s rebuilt
    against another copy, part of a cycle of classes (a back-reference becomes another copy's digest). Equal
    content, so equal behaviour; only ``is`` tells the copies apart."""
    import logging

    logging.getLogger("remoteimport").debug("%s keeps classes of its own, not other versions': %s", where, why)
    return _register(reference, namespace, *first, current_rules, {})


def _register(
    reference: str,
    namespace: str,
    cls: type,
    rebuilder: CodeRebuilder,
    current_rules: bool,
    hashes: dict[int, str | None],
) -> graphs.VersionGraph:
    # Classes reused from other versions bring what travelled with them: the regenerated members of a class over
    # a reused base (another Python's dataclass fields) may hold it.
    brought_classes, brought_functions = graphs.brought_with(rebuilder.reused)
    graph = graphs.VersionGraph(
        reference,
        namespace,
        cls,
        _unique([*rebuilder.classes, *rebuilder.reused, *brought_classes]),
        _unique([*rebuilder.functions, *brought_functions]),
        current_rules=current_rules,
    )
    graphs.register(graph)
    _CONTENT_HASHES.update(hashes)  # the graph keeps these classes alive: their ids stay theirs
    return graph


def _unique(objects: list[Any]) -> list[Any]:
    seen: set[int] = set()
    return [obj for obj in objects if not (id(obj) in seen or seen.add(id(obj)))]  # type: ignore[func-returns-value]


def _substitutions(
    namespace: str, cls: type, rebuilder: CodeRebuilder, own_hash: str | None, stored_name: str
) -> tuple[dict[int, type], dict[int, str | None]]:
    """Skeleton number -> the loaded class of the same content hash and name, for this payload's classes
    (``-1`` -> it, when it is the version's own class); and id -> content hash of the payload's classes hashed.
    The version's own class is another version's only when it is stored under that class's name: one body pushed
    as ``MyFilter`` and as ``persist(name="Renamed")`` gives two classes, each named as stored."""
    order = _skeleton_order(rebuilder)
    reused = {id(klass) for klass in rebuilder.reused}
    candidates = [(number, klass) for number, klass in enumerate(order) if id(klass) not in reused]
    existing = _loaded_classes(namespace, {_short_name(klass) for _, klass in candidates})
    if not existing:
        return {}, {}
    names = {_short_name(klass) for klass in existing.values()}
    found: dict[int, type] = {}
    hashed: dict[int, str | None] = {}
    for number, klass in candidates:
        if _short_name(klass) not in names:
            continue
        content_hash = own_hash if klass is cls and own_hash is not None else _content_hash(klass)
        hashed[id(klass)] = content_hash
        match = existing.get(content_hash) if content_hash is not None else None
        if match is None or match is klass or _short_name(match) != _short_name(klass):
            continue
        if klass is cls:
            if _short_name(match) != stored_name:
                continue
            return {-1: match}, hashed
        found[number] = match
    return found, hashed


def _skeleton_order(rebuilder: CodeRebuilder) -> list[type]:
    """The payload's classes by skeleton number (made and reused ones interleaved as the payload asked)."""
    order: list[type] = []
    made, reused = iter(rebuilder.classes), dict(rebuilder.substitutions)
    for number in range(rebuilder.skeletons):
        order.append(reused[number] if number in reused else next(made))
    return order


def _name_members(graph: graphs.VersionGraph, original: tuple[str, str]) -> None:
    """Give the graph's own members (not the version's class, not classes reused from other versions) names
    that import anywhere the namespace is served: ``ns.Name@hash/<module>``, published as such modules.
    ``original``: the version's class's module and qualified name as pushed (methods follow their class)."""
    owners: dict[tuple[str, str], type] = {original: graph.root}
    modules: dict[str, ModuleType] = {}
    for member in graph.members()[1:]:
        module, qualname = getattr(member, "__module__", None), getattr(member, "__qualname__", "")
        if not isinstance(module, str) or not module_travels_by_value(module) or _named_elsewhere(member):
            continue  # installed code's (a closure it made), or a class another version brought
        head = qualname.rpartition(".")[0]
        owner = owners.get((module, head)) if head else None
        if owner is not None:  # a method (or nested class): pickled as <its class's name>.<name>
            member.__module__ = owner.__module__
            continue
        if "<" in qualname or "." in qualname:
            # made at run time (<locals>, <lambda>): nothing can name it, here or on the producer; or a method of
            # a class this version did not make (one it reused from another version: that one names it)
            continue
        member_module = modules.get(module) or _member_module(graph, module)
        if member_module is None:
            continue
        modules[module] = member_module
        if isinstance(member, type):
            owners[(module, qualname)] = member
        _bind(member_module, qualname, member)
        member.__module__ = member_module.__name__
        if isinstance(member, type):
            references.register(member)
    for function in graph.functions:  # the module globals the payload carried: typing.get_type_hints reads them
        module = modules.get(function.__globals__.get("__name__", ""))
        if module is not None:
            for key, value in function.__globals__.items():
                if not key.startswith("__"):
                    module.__dict__.setdefault(key, value)


def _named_elsewhere(member: object) -> bool:
    module = sys.modules.get(getattr(member, "__module__", None) or "")
    return module is not None and bool(getattr(module, REMOTE_MODULE_MARKER, None))


def _member_module(graph: graphs.VersionGraph, module: str) -> ModuleType | None:
    try:
        name = member_module_name(graph.reference, module)
        split_member_module(name[len(graph.namespace) + 1 :])  # a module name the hook can serve back
    except RemoteImportError:
        return None
    found = sys.modules.get(name)
    if found is None:
        found = sys.modules[name] = ModuleType(name, f"what {graph.reference} brought of {module}")
    setattr(found, REMOTE_MODULE_MARKER, graph.reference.rpartition("@")[2])
    return found


def _bind(module: ModuleType, name: str, member: object) -> None:
    """``module.<name>`` is ``member``, unless the module already has that name (two classes of one name in one
    module: the first keeps it). Only our own module's dict is touched: never an attribute look-up on user code."""
    vars(module).setdefault(name, member)


_RECORDS: dict[str, BlobCache | None] = {}


def _default_records() -> BlobCache | None:
    """Where re-hash records go for a store without a cache (a local folder): the default cache folder
    (None when ``$REMOTEIMPORT_CACHE_DIR=off``: then every load re-hashes). One object per setting."""
    setting = _env.text(_env.CACHE_DIR)
    if setting not in _RECORDS:
        _RECORDS[setting] = BlobCache.default()
    return _RECORDS[setting]


def _environment_key(header: BlobHeader) -> str:
    """What a re-hash record is valid for: a payload unpickles to the same class, and hashes the same way, with
    the same Python, remoteimport and cloudpickle, under the same hashing rules (which depend on the blob's
    format: see :func:`class_from_blob`)."""
    from remoteimport import __version__

    # h2s: format-3 rules, with the check that bytecode and shipped source agree (records made before it was
    # added do not count)
    rules = "h1s" if header.format < CROSS_PYTHON_FORMAT else "h3s"
    return f"py{python_tag()}-ri{__version__}-cp{_cloudpickle.installed_version()}-{rules}".replace("+", "_")


def _trusted_blob(
    store: Store, namespace: str, name: str, full_hash: str, policies: list[TrustPolicy]
) -> tuple[Blob, bytes | None]:
    """The verified blob, accepted by every policy: from the cache, else (or when the cached copy is refused:
    a cached copy is never more authoritative than the store) from the store. The second item is the bytes read
    from the store, None for a cache hit."""
    where = store.blob_url(name, full_hash)
    blob, fetched = _read_verified_blob(store, namespace, name, full_hash, where)
    try:
        for policy in policies:
            policy.check(blob.header, where=where, local_store=store.is_local)
    except UntrustedBlobError:
        cache = store.policy.cache
        if fetched is not None or cache is None:
            raise
        cache.discard(name, full_hash)
        blob, fetched = _read_verified_blob(store, namespace, name, full_hash, where, use_cache=False)
        for policy in policies:
            policy.check(blob.header, where=where, local_store=store.is_local)
    return blob, fetched


def _environments(header: BlobHeader) -> str:
    here = _cloudpickle.installed_version()
    pushed = f"It was pushed with Python {header.python} and cloudpickle {header.cloudpickle}"
    other = _other_versions(header.requirements)
    if other:
        # a framework another release of which derives other members (pydantic's model_config) may hash unlike
        pushed = f"It was pushed with {other}, Python {header.python} and cloudpickle {header.cloudpickle}"
    if header.cloudpickle != here:
        return (
            f"{pushed}; this host has cloudpickle {here}, which may not read it the same way: try "
            f"pip install 'cloudpickle=={header.cloudpickle}' here."
        )
    return f"{pushed}, as this host has."


def _other_versions(requirements: dict[str, str]) -> str:
    """The required distributions this host has at another version: ``"pydantic 2.14.4 (here 2.5.3)"``."""
    from remoteimport import _distributions

    found = []
    for dist, wanted in sorted(requirements.items()):
        have = _distributions.distribution_version(dist)
        if have is not None and have != wanted:
            found.append(f"{dist} {wanted} (here {have})")
    return ", ".join(found)


def _how_to_repair(header: BlobHeader) -> str:
    return (
        f"Where its source exists, `remoteimport push` of {header.qualname or header.name} replaces a stored "
        "version that does not load."
    )


def _rehash_error(header: BlobHeader, where: str, actual: str, *, signature_checked: bool) -> RemoteImportError:
    """Not every re-hash mismatch is tampering: a signature this host checked rules that out."""
    problem = (
        f"refused {where}: the class it holds re-hashes to {actual}, not to the {header.hash} it is stored under, "
        "so it was not published."
    )
    if signature_checked:
        return IncompatibleBlobError(
            f"{problem} Its signature by a trusted key checked out, so this is not tampering after signing: "
            f"this host rebuilt the class differently from the pushing host. {_environments(header)} "
            f"{_how_to_repair(header)}"
        )
    return IntegrityError(
        f"{problem} Either the blob was altered or copied over another key, or this host rebuilt the class "
        f"differently from the pushing host. {_environments(header)} {_how_to_repair(header)}"
    )


def _read_verified_blob(
    store: Store, namespace: str, name: str, full_hash: str, where: str, *, use_cache: bool = True
) -> tuple[Blob, bytes | None]:
    """The blob, its digest, name and hash verified: from the local cache when it holds a good copy (no
    storage request, the backend not even imported), else from the store. The second item is the bytes read
    from the store (to cache once the class has loaded), None for a cache hit."""
    cache = store.policy.cache if use_cache else None
    if cache is not None:
        cached = cache.get(name, full_hash)  # a corrupt entry is dropped there and fetched again
        if cached is not None:
            return cached, None
    data = store.read_blob(name, full_hash, namespace=namespace)  # the bytes too: they are cached once loaded
    return decode_blob(data, expected_hash=full_hash, expected_name=name, source=where), data


def _register_source(source: dict[str, str], label: str) -> None:
    """Make the shipped source visible to linecache under the version's own file names (see
    :func:`~remoteimport.code_objects.version_filename`): real tracebacks, and re-hashing gives the pushed hash.

    In a process that has not imported :mod:`linecache` (it imports ``tokenize`` and ``re``: more than the rest
    of a pinned import costs, docs/performance.md), the entries wait, and are added as soon as something
    imports it — everything that reads source lines (``traceback``, ``inspect``, the re-hash) does."""
    entries = {version_filename(filename, label): text for filename, text in source.items()}
    linecache = _imported_linecache()
    if linecache is not None:
        _fill_linecache(linecache, entries)
        return
    with _SOURCES_GUARD:
        _PENDING_SOURCES.update(entries)
        if not any(isinstance(finder, _LinecacheWatch) for finder in sys.meta_path):
            sys.meta_path.insert(0, _LinecacheWatch())
    _fill_waiting_sources()  # linecache imported meanwhile, in another thread


def _fill_waiting_sources() -> None:
    """Add the sources that wait for linecache to it, once it has been imported."""
    linecache = _imported_linecache()
    if linecache is not None:
        _fill_linecache(linecache, {})


def _imported_linecache() -> ModuleType | None:
    """linecache once it has run (another thread may be importing it: then it is in sys.modules, unfinished,
    and the watch fills it in when it is done)."""
    module = sys.modules.get("linecache")
    return module if isinstance(getattr(module, "cache", None), dict) else None


_PENDING_SOURCES: dict[str, str] = {}  # file name -> text, for linecache once something imports it
_SOURCES_GUARD = allocate_lock()


def _fill_linecache(linecache: ModuleType, entries: dict[str, str]) -> None:
    with _SOURCES_GUARD:
        entries = {**_PENDING_SOURCES, **entries}
        _PENDING_SOURCES.clear()
    for virtual, text in entries.items():
        linecache.cache[virtual] = (len(text), None, text.splitlines(keepends=True), virtual)


class _LinecacheWatch:
    """A ``sys.meta_path`` finder that only watches for the import of :mod:`linecache`: it lets the other finders
    find it, and fills in the waiting sources right after the module has run (see :func:`_register_source`).
    It stays in ``sys.meta_path`` (removing a finder while the import system walks the list would skip the
    next one) and answers every other name at once."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        if fullname != "linecache" or not _PENDING_SOURCES:
            return None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _FillAfterLoading(spec.loader)
                return spec
        return None


class _FillAfterLoading:
    """Runs the wrapped loader, then :func:`_fill_linecache` (anything else is the wrapped loader's)."""

    def __init__(self, loader: object) -> None:
        self._loader = loader

    def create_module(self, spec: object) -> object:
        return self._loader.create_module(spec)  # type: ignore[attr-defined]

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)  # type: ignore[attr-defined]
        _fill_linecache(module, {})

    def __getattr__(self, name: str) -> object:
        return getattr(self._loader, name)


def _publish(module_name: str, name: str, cls: type, full_hash: str) -> None:
    """Bind the class in its version module (creating the module when not imported through the hook)."""
    module = sys.modules.get(module_name)
    if module is None:
        module = ModuleType(module_name, f"{name} at version {full_hash}")
        sys.modules[module_name] = module
    setattr(module, name, cls)
    setattr(module, REMOTE_MODULE_MARKER, full_hash)
    # Its instances pickle through remoteimport.references: they unpickle everywhere (a placeholder that fails
    # on use where the version cannot load), on every route that loads it (hook, get_version, configs).
    references.register(cls)
    module.__dict__.setdefault("__all__", [name])
