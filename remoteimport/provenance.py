"""Where a version came from: who pushed it, from which host, with what message, and which git commit.

Recorded at push time inside the blob's header (``header.provenance``, a ``{str: str}`` mapping, so the
signature covers it), shown by ``show``, ``log``, ``ls``, ``diff`` and the web view. Versions pushed before
provenance was recorded have none: :func:`describe` says ``"unknown"`` for every field.

Keys of ``header.provenance`` (all optional, all text): ``user``, ``host``, ``message``, ``git_commit``,
``git_branch``, ``git_remote`` (credentials stripped), ``git_dirty`` (``"true"``/``"false"``).

Provenance is not part of a version's identity (the class hash): the same class pushed by two people is one
version, and its blob keeps the provenance of the push that wrote it. Every history entry a push, rollback, tag...
writes records who did it (``by``, ``"user@host"``) and the push's or rollback's message. A :class:`Collector`
gathers all of it for one push (or one ``push_all``: git runs once per folder, not once per class);
``$REMOTEIMPORT_NO_PROVENANCE=1`` records none of it but the message given. Collecting never fails a push:
whatever cannot be found (no git, not a work tree, a git that hangs) is left out.

    >>> describe(None)["pushed_by"]
    'unknown'
    >>> strip_credentials("https://user:token@github.com/org/repo.git")
    'https://github.com/org/repo.git'
"""

from __future__ import annotations

import os
import sys

from remoteimport import _env
from remoteimport.errors import PushError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from remoteimport.blob import BlobHeader

__all__ = [
    "FIELDS",
    "MAX_MESSAGE_LENGTH",
    "MAX_TEXT_LENGTH",
    "UNKNOWN",
    "Collector",
    "check_message",
    "describe",
    "pushed_by",
    "strip_credentials",
]

UNKNOWN = "unknown"
#: What :func:`describe` returns, in display order.
FIELDS = ("pushed_by", "message", "commit", "branch", "remote", "dirty")


def describe(header: BlobHeader | None) -> dict[str, str]:
    """The provenance of a version for display: every key of :data:`FIELDS`, ``"unknown"`` where not recorded
    (``message`` is ``""`` when the push gave none). Text from the store: callers escape it for their medium."""
    recorded = dict(getattr(header, "provenance", None) or {}) if header is not None else {}
    dirty = recorded.get("git_dirty")
    return {
        "pushed_by": _who(recorded.get("user"), recorded.get("host")) or UNKNOWN,
        "message": recorded.get("message", "" if recorded else UNKNOWN),
        "commit": recorded.get("git_commit") or UNKNOWN,
        "branch": recorded.get("git_branch") or UNKNOWN,
        "remote": recorded.get("git_remote") or UNKNOWN,
        "dirty": {"true": "yes", "false": "no"}.get(dirty or "", UNKNOWN),
    }


#: The longest message a push or rollback accepts (characters).
MAX_MESSAGE_LENGTH = 1000
#: The longest ``by`` or ``message`` a history entry may hold when read (store.Version.from_json).
MAX_TEXT_LENGTH = MAX_MESSAGE_LENGTH
#: Seconds all the git commands about one folder may take together (then what is missing is left out).
GIT_TIMEOUT = 2.0


def check_message(message: str | None) -> str | None:
    """``message`` when it is one line of printable text of at most :data:`MAX_MESSAGE_LENGTH` characters
    (``None`` and ``""`` give None); else :class:`~remoteimport.errors.PushError`, before anything is written.

    >>> check_message("retrained on the May data"), check_message("")
    ('retrained on the May data', None)
    """
    if message is None or message == "":
        return None
    if not isinstance(message, str):
        raise PushError(f"a push message is text, not {type(message).__name__}; nothing was pushed")
    if len(message) > MAX_MESSAGE_LENGTH:
        raise PushError(
            f"a push message is at most {MAX_MESSAGE_LENGTH} characters; this one has {len(message)} (say more in "
            "the commit or a document it links to); nothing was pushed"
        )
    for position, character in enumerate(message):
        if not character.isprintable():
            shown = message if len(message) <= 40 else message[:37] + "..."
            raise PushError(
                f"a push message must be one line of printable text: {shown!r} holds the unprintable character "
                f"{character!r} at position {position}; nothing was pushed"
            )
    return message


def pushed_by() -> str | None:
    """``"user@host"`` of this process for history entries (``by``); None under ``$REMOTEIMPORT_NO_PROVENANCE``
    or when neither can be found."""
    return Collector().by


def _who(user: str | None, host: str | None) -> str | None:
    """``"user@host"``, or whichever of them is known (None: neither)."""
    return f"{user}@{host}" if user and host else (user or host or None)


class Collector:
    """What one push records: ``header(cls)`` for the blob of a new version, ``history()`` for each history
    entry. Git runs at most once per folder for the collector's life (a ``push_all`` of 1,000 classes from one
    module runs it once); make a new one per push, so a commit made in between is seen.

    >>> Collector("first cut").history()["message"]
    'first cut'
    """

    def __init__(self, message: str | None = None) -> None:
        self.message = check_message(message)
        self.enabled = not _env.flag(_env.NO_PROVENANCE)
        self._identity: dict[str, str] = {}
        if self.enabled:
            self._identity = {key: value for key, value in (("user", _user()), ("host", _host())) if value}
        self._git: dict[str, dict[str, str]] = {}  # folder -> its git_* keys

    @property
    def by(self) -> str | None:
        """``"user@host"`` (see :func:`pushed_by`)."""
        return _who(self._identity.get("user"), self._identity.get("host"))

    def history(self) -> dict[str, str | None]:
        """The ``by`` and ``message`` of a history entry (``Version(..., **collector.history())``)."""
        return {"by": self.by, "message": self.message}

    def header(self, cls: type) -> dict[str, str] | None:
        """``header.provenance`` for a new blob of ``cls``: who, the message, and the git state of the work tree
        holding the file of the class's module. None when nothing is recorded."""
        recorded = dict(self._identity)
        if self.message is not None:
            recorded["message"] = self.message
        if self.enabled:
            folder = _source_folder(cls)
            if folder is not None:
                if folder not in self._git:
                    try:
                        self._git[folder] = git_state(folder)
                    except Exception as exc:  # never fail a push for its provenance
                        import logging  # pushing only: the import path of a pinned class never logs

                        logging.getLogger("remoteimport").debug("no git state for %s: %r", folder, exc)
                        self._git[folder] = {}
                recorded.update(self._git[folder])
        return recorded or None


def _user() -> str | None:
    try:
        import getpass

        return getpass.getuser() or None
    except Exception:  # no login name (a container's uid without a passwd entry): KeyError, OSError...
        return None


def _host() -> str | None:
    try:
        import socket

        return socket.gethostname() or None
    except OSError:
        return None


def _source_folder(cls: type) -> str | None:
    """The folder of the file the class's module was loaded from (None for a notebook, a REPL, ``exec``)."""
    module = sys.modules.get(getattr(cls, "__module__", "") or "")
    filename = getattr(module, "__file__", None)
    if not isinstance(filename, str) or not filename:
        return None
    folder = os.path.dirname(os.path.abspath(filename))
    return folder if os.path.isdir(folder) else None


# Variables that would make git look at another repository than the folder's own (set inside git hooks).
_GIT_LOCATION = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_NAMESPACE")


def git_state(folder: str, *, timeout: float = GIT_TIMEOUT) -> dict[str, str]:
    """The ``git_*`` keys for the work tree holding ``folder``: ``git_commit``, ``git_branch`` (none when
    detached), ``git_remote`` (``origin``, else the first remote; credentials stripped) and ``git_dirty``
    (tracked files changed). ``{}`` when git is missing, ``folder`` is in no work tree (or one without a commit);
    a key git does not give within ``timeout`` seconds is left out. Three git processes run at once (about 4 ms
    here, each of them alone 1.5-3 ms); git never prompts, takes no lock and runs no fsmonitor hook here."""
    head, remotes, status = _git_outputs(
        folder,
        [
            ("rev-parse", "HEAD", "--symbolic-full-name", "HEAD"),
            ("remote", "-v"),
            ("status", "--porcelain", "--untracked-files=no"),
        ],
        timeout,
    )
    lines = (head or "").splitlines()
    if not lines:
        return {}  # not a work tree, no commit yet, no git, or no answer in time
    state = {"git_commit": lines[0]}
    if len(lines) > 1 and lines[1].startswith("refs/heads/"):  # "HEAD" when detached
        state["git_branch"] = lines[1][len("refs/heads/") :]
    remote = _remote_url(remotes or "")
    if remote:
        state["git_remote"] = strip_credentials(remote)
    if status is not None:
        state["git_dirty"] = "true" if status else "false"
    return state


def _git_outputs(folder: str, commands: list[tuple[str, ...]], timeout: float) -> list[str | None]:
    """The output of each git command in ``folder`` (None when it failed, or did not end within ``timeout``
    seconds of the start: then it is killed). The commands run at once; no shell, no terminal, no prompt."""
    import subprocess
    import time

    deadline = time.monotonic() + timeout
    environment = {key: value for key, value in os.environ.items() if key not in _GIT_LOCATION}
    environment.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    started: list[subprocess.Popen[bytes] | None] = []
    for arguments in commands:
        try:
            started.append(
                subprocess.Popen(
                    ["git", "-c", "core.fsmonitor=false", "-C", folder, *arguments],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    env=environment,
                )
            )
        except (OSError, ValueError, subprocess.SubprocessError):  # no git on PATH; a folder name git cannot take
            started.append(None)
    outputs: list[str | None] = []
    for process in started:
        if process is None:
            outputs.append(None)
            continue
        try:
            output, _ = process.communicate(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            outputs.append(None)
            continue
        outputs.append(output.decode("utf-8", "replace").strip() if process.returncode == 0 else None)
    return outputs


def _remote_url(listing: str) -> str | None:
    """The fetch URL of ``origin``, else of the first remote, in the output of ``git remote -v``."""
    found: dict[str, str] = {}
    for line in listing.splitlines():
        name, _, rest = line.partition("\t")
        url, _, kind = rest.rpartition(" ")
        if url and kind == "(fetch)":
            found.setdefault(name, url)
    return found.get("origin") or next(iter(found.values()), None)


def strip_credentials(url: str) -> str:
    """``url`` without what may be a secret: the user and password of a URL (``https://user:token@host/x`` ->
    ``https://host/x``; an ``ssh://`` URL keeps its user, not a password) and its query. An scp-like
    ``git@host:path`` or a local path is kept as it is.

    >>> strip_credentials("https://oauth2:glpat-123@gitlab.com/g/p.git?private_token=x")
    'https://gitlab.com/g/p.git'
    >>> strip_credentials("ssh://git:pw@host:22/p.git"), strip_credentials("git@github.com:org/p.git")
    ('ssh://git@host:22/p.git', 'git@github.com:org/p.git')
    """
    url = url.strip()
    scheme, separator, rest = url.partition("://")
    if not separator or "/" in scheme or "@" in scheme:
        return url  # a path or an scp-like address: no password can be in it
    authority, slash, path = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        user = userinfo.partition(":")[0]
        keep_user = scheme.lower() in ("ssh", "git+ssh", "ssh+git") and user
        authority = f"{user}@{hostport}" if keep_user else hostport
    path = path.split("?", 1)[0].split("#", 1)[0]
    return f"{scheme}://{authority}{slash}{path}"
