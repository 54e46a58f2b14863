"""What a loaded version brings with it (remoteimport/graphs.py): importable names for its helpers and nested
classes, one class per content hash in either import order, and the hash of a loaded class unchanged by it.
(tests/e2e/test_ml_project.py does the same across interpreters with the source deleted.)"""

from __future__ import annotations

import copy
import importlib
import pickle
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import remoteimport
from remoteimport import graphs, references
from remoteimport.errors import InvalidNameError, RemoteObjectUnavailableError
from remoteimport.hashing.encoder import _Encoder
from remoteimport.names import member_module_name, split_member_module
from remoteimport.references import UnavailableObject

PACKAGE = {
    "config.py": """
        import dataclasses, enum

        class Reduce(enum.Enum):
            MAX = "max"
            MEAN = "mean"

        @dataclasses.dataclass
        class WindowConfig:
            size: int
            reduce: Reduce = Reduce.MEAN

            class Nested:
                marker = "nested"
    """,
    "layers.py": """
        def relu(x):
            return max(x, 0)

        class Block:
            def __init__(self, width, activation=relu):
                self.width, self.activation = width, activation

            def __call__(self, x):
                return self.activation(x) * self.width
    """,
    "models.py": """
        from {package}.config import Reduce, WindowConfig
        from {package}.layers import Block

        REDUCERS = {{Reduce.MAX: max, Reduce.MEAN: lambda xs: sum(xs) / len(xs)}}

        class WindowFilter:
            def __init__(self, config: WindowConfig):
                self.config = config
                self.blocks = [Block(1), Block(2)]
                self.nested = WindowConfig.Nested()

            def apply(self, xs):
                size, reduce = self.config.size, REDUCERS[self.config.reduce]
                windows = [reduce(xs[i:i + size]) for i in range(len(xs) - size + 1)]
                return [block(w) for block in self.blocks for w in windows]
    """,
}


@pytest.fixture
def project(tmp_path: Path) -> Iterator[dict[str, type]]:
    """A package of three modules (a unique name, on sys.path for this test only); its classes."""
    package = f"graphproj_{uuid.uuid4().hex[:10]}"
    folder = tmp_path / package
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for name, text in PACKAGE.items():
        (folder / name).write_text(
            textwrap.dedent(text.replace("{package}", package).replace("{{", "{").replace("}}", "}"))
        )
    sys.path.insert(0, str(tmp_path))
    try:
        models = importlib.import_module(f"{package}.models")
        config = importlib.import_module(f"{package}.config")
        yield {"WindowFilter": models.WindowFilter, "Reduce": config.Reduce, "WindowConfig": config.WindowConfig}
    finally:
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[module]


@pytest.fixture
def served(project: dict[str, type], namespace: str) -> tuple[str, dict[str, str]]:
    store = remoteimport.Store(f"memory://graphs-{uuid.uuid4().hex}")
    hashes = {name: remoteimport.push(cls, store=store) for name, cls in project.items()}
    remoteimport.install(store, namespace=namespace)
    return namespace, hashes


def _pinned(namespace: str, hashes: dict[str, str], name: str) -> type:
    return getattr(importlib.import_module(f"{namespace}.{name}@{hashes[name]}"), name)


@pytest.mark.parametrize(
    "order", [["WindowFilter", "Reduce", "WindowConfig"], ["Reduce", "WindowConfig", "WindowFilter"]]
)
def test_one_content_hash_is_one_class_in_either_order(served: tuple[str, dict[str, str]], order: list[str]) -> None:
    namespace, hashes = served
    loaded = {name: _pinned(namespace, hashes, name) for name in order}
    WindowFilter, Reduce, WindowConfig = loaded["WindowFilter"], loaded["Reduce"], loaded["WindowConfig"]
    assert WindowFilter.__init__.__annotations__["config"] is WindowConfig
    assert WindowConfig.__dataclass_fields__["reduce"].default is Reduce.MEAN
    # The filter's table of reducers is keyed by the pinned Enum's members (a KeyError before).
    assert WindowFilter(WindowConfig(2, Reduce.MAX)).apply([1, 3, 2]) == [3, 3, 6, 6]
    for name, cls in loaded.items():
        assert remoteimport.class_hash(cls) == hashes[name], name


def test_what_a_version_brought_has_names_that_import(served: tuple[str, dict[str, str]]) -> None:
    namespace, hashes = served
    WindowFilter = _pinned(namespace, hashes, "WindowFilter")
    model = WindowFilter(WindowFilter.__init__.__annotations__["config"](2))
    reference = f"{namespace}.WindowFilter@{hashes['WindowFilter']}"
    package = type(model.blocks[0]).__module__.split("/")[1]
    assert type(model.config).__module__ == f"{reference}/{package}/config"
    assert type(model.blocks[0]).__module__ == f"{reference}/{package}/layers"
    assert model.blocks[0].activation.__module__ == f"{reference}/{package}/layers"  # a helper used as a default
    # a nested class keeps its qualified name (cloudpickle alone rebuilds it under its plain name), and names its
    # module like its owner: an instance of it pickles by that name, and the name imports
    nested = type(model.nested)
    assert nested.__qualname__ == "WindowConfig.Nested" and nested.marker == "nested"
    assert nested.__module__ == f"{reference}/{package}/config" and nested.__name__ == "Nested"
    assert pickle.loads(pickle.dumps(model.nested)).__class__ is nested
    assert WindowFilter.apply.__module__ == reference  # methods follow their class
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert clone.apply([1, 3, 2]) == model.apply([1, 3, 2])
        assert (
            type(clone.blocks[0]) is type(model.blocks[0]) and clone.blocks[0].activation is model.blocks[0].activation
        )
    assert references.reference_of(type(model.config)) == f"{reference}/{package}/config:WindowConfig"
    assert references.reference_of(WindowFilter) == reference


def test_member_modules_by_prefix_and_the_errors(served: tuple[str, dict[str, str]]) -> None:
    namespace, hashes = served
    full = hashes["WindowFilter"]
    layers = _pinned(namespace, hashes, "WindowFilter").__init__.__globals__["Block"].__module__
    package = layers.split("/")[1]
    by_prefix = importlib.import_module(f"{namespace}.WindowFilter@{full[:10]}/{package}/layers")
    assert by_prefix is sys.modules[layers] and by_prefix.Block.__module__ == layers
    with pytest.raises(ImportError, match="brought nothing of the module 'elsewhere'"):
        importlib.import_module(f"{namespace}.WindowFilter@{full}/elsewhere")
    with pytest.raises(InvalidNameError, match="invalid member module"):
        importlib.import_module(f"{namespace}.WindowFilter@{full}/not-a-module")


def test_instances_of_brought_classes_unpickle_as_placeholders_where_nothing_serves_them(
    served: tuple[str, dict[str, str]],
) -> None:
    namespace, hashes = served
    WindowFilter = _pinned(namespace, hashes, "WindowFilter")
    # (a helper function inside an object still pickles by name, as a class passed itself does: references.py)
    config = WindowFilter(WindowFilter.__init__.__annotations__["config"](2)).config
    data = pickle.dumps(config)
    remoteimport.uninstall(namespace)
    for module in [m for m in sys.modules if m.startswith(f"{namespace}.")]:
        del sys.modules[module]
    placeholder = pickle.loads(data)
    assert isinstance(placeholder, UnavailableObject)
    with pytest.raises(RemoteObjectUnavailableError, match=f"no store is configured for '{namespace}'"):
        _ = placeholder.size


def test_the_hasher_reads_a_loaded_graph_by_content(served: tuple[str, dict[str, str]]) -> None:
    """Members of a loaded version are encoded by content inside it, by name (with their version's hash) in a
    class pushed later that refers to them."""
    namespace, hashes = served
    WindowFilter = _pinned(namespace, hashes, "WindowFilter")
    Block = WindowFilter.__init__.__globals__["Block"]
    assert graphs.graphs_of(Block) and graphs.shares_graph(graphs.graphs_of(WindowFilter), Block)

    class Wider(Block):  # a class written on this host, over a class the loaded version brought
        pass

    encoder = _Encoder()
    encoder.root_object, encoded = Wider, []
    encoder._class_body(Wider, encoded, "Wider")
    assert f"{Block.__module__}:Block" in "".join(encoded)  # by its name, which holds the version's hash
    assert not graphs.shares_graph(graphs.graphs_of(Wider), Block)


@given(
    namespace=st.lists(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=3),
    name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True),
    version=st.text("0123456789abcdef", min_size=8, max_size=64),
    module=st.lists(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=4),
)
def test_member_module_names_round_trip(namespace: list[str], name: str, version: str, module: list[str]) -> None:
    ns, dotted = ".".join(namespace), ".".join(module)
    full = member_module_name(f"{ns}.{name}@{version}", dotted)
    assert split_member_module(full[len(ns) + 1 :]) == (f"{name}@{version}", dotted)
    assert "." not in full.partition("@")[2]  # the import system never reads a submodule into it
