"""One small tree of errors, all under :class:`RemoteImportError`.

Each error also derives from the built-in exception a caller would naturally catch (``TypeError`` for a
value the hasher cannot encode, ``ModuleNotFoundError`` for an unknown name, ...), so ordinary ``except``
clauses keep working. Every message names the thing that went wrong and how to fix it.
"""

from __future__ import annotations


class RemoteImportError(Exception):
    """Base class of every error raised by remoteimport."""


class UnhashableObjectError(RemoteImportError, TypeError):
    """The hasher met an object it cannot encode canonically (e.g. a lock stored as a class attribute)."""


class InvalidNameError(RemoteImportError, ValueError):
    """A class name, hash or reference is malformed; refused before any storage access."""


class StoreError(RemoteImportError):
    """The store could not be read or written."""


class StoreUnreachableError(StoreError, OSError):
    """The store's URL could not be reached (network, credentials, missing bucket)."""


class NameNotFoundError(RemoteImportError, ModuleNotFoundError):
    """No class of that name exists in the store."""


class VersionNotFoundError(RemoteImportError, ImportError):
    """No version of the name matches the hash or prefix."""


class TagNotFoundError(VersionNotFoundError):
    """The name has no tag of that name (``Name@prod`` with no tag ``prod``)."""


class TagExistsError(RemoteImportError, ValueError):
    """The tag already points at another version; moving it needs ``force=True`` (``--force``)."""


class AmbiguousPrefixError(RemoteImportError, ImportError):
    """A hash prefix matches more than one version."""


class IntegrityError(RemoteImportError):
    """A blob or ref failed verification (digest mismatch, truncation, wrong hash); nothing was unpickled."""


class UntrustedBlobError(IntegrityError):
    """A blob is unsigned, signed by a key that is not trusted, or its signature does not match."""


class IncompatibleBlobError(RemoteImportError, ImportError):
    """The blob was made for another Python version or needs a distribution this host lacks."""


class PushError(RemoteImportError):
    """A class could not be pushed (e.g. an attribute that cannot be pickled); nothing was written."""


class DependencyError(RemoteImportError, ImportError):
    """An installed dependency (e.g. cloudpickle) is outside what this remoteimport was checked against."""


class ConfigError(RemoteImportError, ValueError):
    """An object cannot be dumped as a config, or a config cannot be built."""


class LockError(RemoteImportError, ImportError):
    """A lock file is malformed, does not match the store, or does not pin the name being imported."""


class VersionInUseError(RemoteImportError):
    """A version a ref names (``latest``, a tag) was not deleted; ``force=True`` (``--force``) deletes it."""


class NamespaceNotServedError(RemoteImportError, ModuleNotFoundError):
    """A pinned version (``ns.Name@hash``) was imported in a process that serves no store for ``ns``."""


class InheritedSettingsError(RemoteImportError, ImportError):
    """``$REMOTEIMPORT_SERVED`` (what a parent process serves, handed down to the processes it starts) is
    malformed, or its trust policy and this process's own cannot both hold; raised at the namespace's import."""


class RemoteObjectUnavailableError(RemoteImportError, ImportError):
    """An instance of a pinned class arrived (unpickled) in a process that could not load its class; raised on
    first use of the placeholder it was rebuilt as, so that a Dask worker fails the task instead of dying."""
