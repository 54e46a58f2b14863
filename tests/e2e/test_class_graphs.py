"""Class graphs that cloudpickle's skeleton-then-namespace rebuilding gets wrong, each pushed from one interpreter,
its source deleted, and imported pinned in a fresh one (the patterns of ipaddress, jinja2.nodes and six, which
tests/e2e/test_real_world_corpus.py meets in real code)."""

from __future__ import annotations

from pathlib import Path

from support import push_then_delete, run_consumer


def test_class_attributes_holding_instances_of_sibling_classes(tmp_path: Path) -> None:
    """Class attributes hold instances of by-value classes of the same payload, rebuilt by calling their class
    (``__reduce__``) or by its ``__setstate__``: they are rebuilt once every class is complete."""
    store, pushed = push_then_delete(
        tmp_path,
        {
            "geometry.py": """
                class Point:
                    def __init__(self, x, y):
                        self.x, self.y = x, y

                    def __reduce__(self):  # rebuilt by calling the class, as ipaddress's classes are
                        return Point, (self.x, self.y)

                    def norm(self):
                        return abs(self.x) + abs(self.y)

                class Celsius:
                    def __init__(self, degrees):
                        self.degrees = degrees

                    def __getstate__(self):
                        return {"tenths": round(self.degrees * 10)}

                    def __setstate__(self, state):
                        self.degrees = state["tenths"] / 10

                class Constants:
                    origin = Point(0, 0)
                    corners = [Point(1, 2), (Point(-3, 4),)]
                    by_name = {"unit": Point(1, 1), "temperatures": frozenset({Celsius(21.5)})}

                class Shape:
                    # cloudpickle pickles a namespace in sorted order: Point is reached first, and its namespace
                    # reaches Constants, whose instances of Point used to be rebuilt while Point was empty
                    anchor = Point(5, 5)
                    constants = Constants
                    freezing = Celsius(0.5)

                    def total(self):
                        points = [self.constants.origin, *self.constants.corners[:1], *self.constants.corners[1]]
                        temperatures = self.constants.by_name["temperatures"]
                        return [sum(point.norm() for point in points), self.constants.by_name["unit"].norm(),
                                [t.degrees for t in temperatures], self.freezing.degrees,
                                self.freezing.boiling.degrees, self.anchor.norm()]

                Point.constants = Constants  # a class attribute holding a sibling class (ipaddress's _constants)
                Celsius.boiling = Celsius(100.0)  # an instance of the class itself, rebuilt by its __setstate__
            """,
        },
        "geometry:Shape",
        "Shape().total()",
    )
    out = run_consumer(
        tmp_path / "consumer",
        store,
        f"""
        module = importlib.import_module("labchain_remote.Shape@{pushed["hash"]}")
        Shape = module.Shape
        out["there"] = Shape().total()
        out["rehash"] = remoteimport.class_hash(Shape) == {pushed["hash"]!r}
        out["sibling"] = type(Shape.constants.origin).constants is Shape.constants
        print(json.dumps(out))
        """,
    )
    assert out == {"there": pushed["here"], "rehash": True, "sibling": True}
    assert pushed["here"] == [10, 2, [21.5], 0.5, 100.0, 10]


def test_metaclass_that_refuses_new_classes_after_import(tmp_path: Path) -> None:
    """A by-value metaclass sealed at the end of its module (jinja2.nodes' ``NodeType``): its classes load, and
    it still refuses new classes on the loading host. One metaclass derives from ``ABCMeta``, whose own set-up
    must still run (abstract methods keep being enforced)."""
    store, pushed = push_then_delete(
        tmp_path,
        {
            "nodes.py": """
                import abc

                class NodeType(type):
                    def __new__(mcs, name, bases, namespace):
                        fields = [f for base in bases for f in getattr(base, "fields", ())]
                        namespace["fields"] = (*fields, *namespace.get("fields", ()))
                        return super().__new__(mcs, name, bases, namespace)

                class Node(metaclass=NodeType):
                    fields = ("lineno",)

                    def describe(self):
                        return f"{type(self).__name__}{list(self.fields)}"

                class Name(Node):
                    fields = ("name", "ctx")

                class Checked(abc.ABCMeta):
                    def __init__(cls, name, bases, namespace):
                        super().__init__(name, bases, namespace)
                        cls.checked = name.lower()

                class Visitor(metaclass=Checked):
                    @abc.abstractmethod
                    def visit(self, node): ...

                class Printer(Visitor):
                    kind = Name

                    def visit(self, node):
                        return [node.describe(), self.checked, isinstance(self, Visitor)]

                def _refuse(*args, **kwargs):
                    raise TypeError("can't create custom node types")

                NodeType.__new__ = staticmethod(_refuse)
                Checked.__init__ = _refuse
            """,
        },
        "nodes:Printer",
        "Printer().visit(Printer.kind())",
    )
    out = run_consumer(
        tmp_path / "consumer",
        store,
        f"""
        module = importlib.import_module("labchain_remote.Printer@{pushed["hash"]}")
        Printer = module.Printer
        out["there"] = Printer().visit(Printer.kind())
        out["rehash"] = remoteimport.class_hash(Printer) == {pushed["hash"]!r}
        out["metaclass"] = type(Printer.kind).__name__
        try:
            type(Printer.kind)("Custom", (Printer.kind,), {{}})
            out["sealed"] = False
        except TypeError as exc:
            out["sealed"] = str(exc)
        try:
            Printer.__bases__[0]()
            out["abstract"] = False
        except TypeError:
            out["abstract"] = True
        print(json.dumps(out))
        """,
    )
    assert out == {
        "there": pushed["here"],
        "rehash": True,
        "metaclass": "NodeType",
        "sealed": "can't create custom node types",
        "abstract": True,
    }
    assert pushed["here"] == ["Name['lineno', 'name', 'ctx']", "printer", True]


def test_lazy_modules_and_self_resolving_attributes(tmp_path: Path) -> None:
    """six's patterns: instances of a ``ModuleType`` subclass registered in ``sys.modules`` (the user's own,
    rebuilt by value; six's, imported by name), and objects whose ``__getattr__`` resolves them from their state
    (``MovedModule``: pickle's lookup of ``__setstate__`` on the half-made object used to recurse endlessly)."""
    store, pushed = push_then_delete(
        tmp_path,
        {
            "lazy.py": """
                import sys, types
                import six.moves.urllib.parse

                class LazyModule(types.ModuleType):
                    @property
                    def dumps(self):
                        import json
                        return json.dumps

                moves = LazyModule(__name__ + ".moves")
                sys.modules[moves.__name__] = moves

                class MovedModule:
                    def __init__(self, name):
                        self.mod = name

                    def _resolve(self):
                        return __import__(self.mod)

                    def __getattr__(self, attr):
                        value = getattr(self._resolve(), attr)
                        setattr(self, attr, value)
                        return value

                class Fetcher:
                    moves = moves
                    parse = six.moves.urllib.parse
                    textwrap = MovedModule("textwrap")

                    def run(self):
                        return [self.moves.dumps({"a": 1}), self.parse.quote("a b"),
                                self.textwrap.dedent("  x\\n  y"), type(self.moves).__name__, self.moves.__name__]
            """,
        },
        "lazy:Fetcher",
        "Fetcher().run()",
    )
    out = run_consumer(
        tmp_path / "consumer",
        store,
        f"""
        module = importlib.import_module("labchain_remote.Fetcher@{pushed["hash"]}")
        Fetcher = module.Fetcher
        out["rehash"] = remoteimport.class_hash(Fetcher) == {pushed["hash"]!r}  # before run(): MovedModule caches
        out["there"] = Fetcher().run()
        out["six by name"] = Fetcher.parse is sys.modules["six.moves.urllib.parse"]
        out["own not registered"] = "lazy.moves" not in sys.modules
        print(json.dumps(out))
        """,
    )
    assert out == {"there": pushed["here"], "rehash": True, "six by name": True, "own not registered": True}
    assert pushed["here"] == ['{"a": 1}', "a%20b", "x\ny", "LazyModule", "lazy.moves"]
