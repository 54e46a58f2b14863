"""What the engine integrations rely on, tested without an engine (tests/e2e/test_engines_*.py use real ones):

- the late finder ``remoteimport.pth`` always appends: variables set after interpreter start switch the hook
  on at the namespace's first import (``LocalCluster(env=...)``, Dask's ``Environ`` plugin), and a pinned
  name no store serves fails with a message that says how to serve it;
- instances of loaded classes unpickle through :func:`remoteimport.references.rebuild`: a process that
  cannot load the class gets a placeholder that fails on use with a picklable error, instead of failing (and,
  on a Dask worker, dying) while unpickling.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

import remoteimport
from remoteimport import references
from remoteimport.errors import NamespaceNotServedError, RemoteObjectUnavailableError
from remoteimport.pytest_plugin import run_isolated
from remoteimport.store import Store

REPO_ROOT = Path(__file__).resolve().parents[1]

SOURCE = """
class Counter:
    def __init__(self, start):
        self.start = start
        self.items = [start]

    def next(self):
        return self.start + 1
"""


@pytest.fixture
def pushed(tmp_path: Path) -> tuple[Store, str]:
    """Counter pushed to a folder store from a module that is gone afterwards."""
    store = Store(tmp_path / "store")
    namespace: dict[str, object] = {"__name__": "engines_counter_module"}
    exec(compile(SOURCE, str(tmp_path / "engines_counter_module.py"), "exec"), namespace)
    full = remoteimport.push(namespace["Counter"], store=store)  # type: ignore[arg-type]
    return store, full


def test_the_pth_appends_a_late_finder_that_imports_nothing(tmp_path: Path) -> None:
    line = (REPO_ROOT / "remoteimport.pth").read_text()
    assert line.count("\n") <= 1 and line.startswith("import os;")
    result = run_isolated(
        """
        import sys
        late = getattr(sys.meta_path[-1], "__name__", "")
        try:
            import some_module_that_does_not_exist
        except ModuleNotFoundError as missing:
            message = str(missing)
        result = [late, message, sorted(m for m in sys.modules if m.startswith("remoteimport"))]
        """
    )
    assert result == ["RemoteImportLateFinder", "No module named 'some_module_that_does_not_exist'", []]


def test_variables_set_after_start_activate_the_hook(pushed: tuple[Store, str]) -> None:
    store, full = pushed
    result = run_isolated(
        f"""
        import importlib, os, sys
        os.environ["REMOTEIMPORT_STORE"] = {store.url!r}     # as LocalCluster(env=...) does, after start
        os.environ["REMOTEIMPORT_NAMESPACE"] = "late_models"
        from late_models import Counter
        pinned = importlib.import_module("late_models.Counter@{full[:12]}").Counter
        result = [Counter(1).next(), pinned is Counter, type(sys.meta_path[-1]).__name__]
        """
    )
    assert result == [2, True, "RemoteFinder"]


def test_a_process_without_a_store_says_how_to_serve_the_namespace(pushed: tuple[Store, str]) -> None:
    store, full = pushed
    result = run_isolated(
        f"""
        import importlib
        from remoteimport.errors import NamespaceNotServedError
        result = []
        for name in ("labchain_remote", "labchain_remote.Counter@{full}"):
            try:
                importlib.import_module(name)
            except NamespaceNotServedError as missing:
                result.append(str(missing))
        """
    )
    assert len(result) == 2
    for message in result:
        assert "No module named 'labchain_remote'" in message and "REMOTEIMPORT_STORE" in message
        assert "RemoteImportPlugin" in message and "runtime_env" in message


def test_instances_unpickle_through_remoteimport(pushed: tuple[Store, str], namespace: str) -> None:
    store, full = pushed
    remoteimport.install(store, namespace=namespace)
    Counter = __import__("importlib").import_module(f"{namespace}.Counter@{full}").Counter
    data = pickle.dumps(Counter(41))
    assert b"remoteimport.references" in data and b"rebuild" in data
    copy = pickle.loads(data)
    assert type(copy) is Counter and copy.next() == 42 and copy.items == [41]
    # elsewhere, with the namespace served, the same bytes give the same version
    served = run_isolated(
        f"import pickle\nc = pickle.loads({data!r})\nresult = [type(c).__module__, c.next()]",
        store=store,
        namespace=namespace,
    )
    assert served == [f"{namespace}.Counter@{full}", 42]

    # without it: a placeholder that pickles back unchanged and fails on use with a picklable error
    unserved = run_isolated(
        f"""
        import pickle
        from remoteimport.errors import RemoteObjectUnavailableError
        c = pickle.loads({data!r})
        try:
            c.next()
        except RemoteObjectUnavailableError as error:
            again = pickle.loads(pickle.dumps(error))
        result = [type(c).__name__, str(again), pickle.dumps(c) == {data!r} or pickle.dumps(c).hex()]
        """
    )
    assert unserved[0] == "UnavailableObject"
    assert f"{namespace}.Counter@{full}" in unserved[1] and "REMOTEIMPORT_STORE" in unserved[1]
    forwarded = pickle.loads(bytes.fromhex(unserved[2])) if isinstance(unserved[2], str) else copy
    assert type(forwarded) is Counter and forwarded.items == [41]  # a forwarded placeholder loses nothing


def test_the_placeholder_fails_on_use_not_on_probes() -> None:
    placeholder = references.rebuild("gone_remote.Thing@" + "0" * 64, "new", (), {}, {"x": 1})
    assert isinstance(placeholder, references.UnavailableObject)
    assert not hasattr(placeholder, "__dask_graph__")  # engines probe objects: that must not fail the task
    with pytest.raises(RemoteObjectUnavailableError, match="gone_remote.Thing@") as failed:
        placeholder.x  # noqa: B018
    assert isinstance(failed.value, ImportError)
    with pytest.raises(RemoteObjectUnavailableError):
        placeholder()
    reloaded = pickle.loads(pickle.dumps(failed.value))
    assert str(reloaded) == str(failed.value) and reloaded.name == "gone_remote.Thing@" + "0" * 64
    assert issubclass(NamespaceNotServedError, ModuleNotFoundError)
    assert "remoteimport.references" in sys.modules


SELF_REFERRING = """
class Runner:
    def __init__(self):
        self.callback = self.run          # a bound method: the instance refers to itself
        self.children = []

    def run(self):
        return "ran"

    def __getstate__(self):              # a copy of the state holding the instance (LabChain's BasePlugin)
        return {**self.__dict__, "me": self}

    def __setstate__(self, state):
        self.__dict__.update(state)
"""


def test_an_instance_whose_state_refers_to_itself_round_trips(tmp_path: Path, namespace: str) -> None:
    """The state is pickled after the instance is memoized (it used to travel inside rebuild's arguments: a
    plain __dict__ holding a bound method of the instance lost it, a __getstate__ copy recursed forever)."""
    store = Store(tmp_path / "store")
    scope: dict[str, object] = {"__name__": "self_referring_module"}
    exec(compile(SELF_REFERRING, str(tmp_path / "self_referring_module.py"), "exec"), scope)
    plain_source = SELF_REFERRING.split("    def __getstate__")[0]
    plain_scope: dict[str, object] = {"__name__": "plain_referring_module"}
    exec(compile(plain_source.replace("Runner", "Plain"), str(tmp_path / "plain.py"), "exec"), plain_scope)
    runner_hash = remoteimport.push(scope["Runner"], store=store)  # type: ignore[arg-type]
    plain_hash = remoteimport.push(plain_scope["Plain"], store=store)  # type: ignore[arg-type]
    remoteimport.install(store, namespace=namespace)
    load = __import__("importlib").import_module
    Runner = load(f"{namespace}.Runner@{runner_hash}").Runner
    Plain = load(f"{namespace}.Plain@{plain_hash}").Plain
    import copy

    for original in (Runner(), Plain()):
        original.children.append(original)
        for again in (pickle.loads(pickle.dumps(original)), copy.deepcopy(original)):
            assert type(again) is type(original) and again is not original
            assert again.callback() == "ran" and again.callback.__self__ is again
            assert again.children[0] is again
    assert pickle.loads(pickle.dumps(Runner())).me.me.callback() == "ran"

    # Where the class cannot be loaded: a placeholder that keeps the state (here referring back to the instance;
    # not a bound method, which needs the real class to be made) and pickles back to what loads here.
    sent = Plain()
    sent.callback, sent.children = None, [sent]
    data = pickle.dumps(sent)
    remoteimport.uninstall(namespace)
    placeholder = pickle.loads(data)
    assert isinstance(placeholder, references.UnavailableObject)
    forwarded = pickle.dumps(placeholder)
    remoteimport.install(store, namespace=namespace)
    received = pickle.loads(forwarded)
    assert type(received).__qualname__ == "Plain" and received.children[0] is received and received.run() == "ran"


def test_pickles_made_with_the_state_among_rebuilds_arguments_still_load(
    pushed: tuple[Store, str], namespace: str
) -> None:
    """Before, the state travelled as rebuild's fifth argument: such pickles (in stores, caches, queues) load."""
    store, full = pushed
    remoteimport.install(store, namespace=namespace)
    reference = f"{namespace}.Counter@{full}"
    older = pickle.dumps(_OldForm(reference, {"start": 6, "items": [6]}))
    loaded = pickle.loads(older)
    assert type(loaded).__module__ == reference and loaded.next() == 7 and loaded.items == [6]


class _OldForm:
    """Pickles as the releases before this change wrote an instance of a loaded class."""

    def __init__(self, reference: str, state: dict[str, object]) -> None:
        self.reference, self.state = reference, state

    def __reduce__(self) -> object:
        return (references.rebuild, (self.reference, "new", (), {}, self.state))
