"""remoteimport/_cloudpickle.py: the one place that names cloudpickle internals, and the check that names the
installed cloudpickle version when one of them changes."""

from __future__ import annotations

import inspect

import cloudpickle
import cloudpickle.cloudpickle as internals
import pytest

from remoteimport import _cloudpickle
from remoteimport.errors import DependencyError


def test_installed_cloudpickle_has_every_internal_we_rely_on() -> None:
    problems = _cloudpickle.internals_problems()
    assert problems == [], (
        f"cloudpickle {cloudpickle.__version__} differs from the versions remoteimport/_cloudpickle.py was checked "
        f"against ({', '.join(_cloudpickle.CHECKED_VERSIONS)}): {problems}"
    )
    _cloudpickle.check_internals()


def test_a_missing_internal_is_named_with_the_installed_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(internals, "_make_skeleton_enum")
    with pytest.raises(DependencyError) as raised:
        _cloudpickle.check_internals.__wrapped__()
    message = str(raised.value)
    assert f"cloudpickle {cloudpickle.__version__}" in message
    assert "_make_skeleton_enum is missing" in message and "pip install 'cloudpickle>=3.0,<3.2'" in message


def test_a_changed_signature_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def _make_skeleton_class(type_constructor, name, bases, type_kwargs, extra):  # one parameter fewer
        raise AssertionError("never called")

    monkeypatch.setattr(internals, "_make_skeleton_class", _make_skeleton_class)
    problems = _cloudpickle.internals_problems()
    assert (
        "cloudpickle.cloudpickle._make_skeleton_class takes (type_constructor, name, bases, type_kwargs, extra), "
        "not (type_constructor, name, bases, type_kwargs, class_tracker_id, extra)"
    ) in problems
    assert any(problem.startswith("cloudpickle.cloudpickle._make_skeleton_class changed") for problem in problems)


def test_a_changed_reconstructor_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loader rebuilds payloads with copies of cloudpickle's reconstructors (no cloudpickle import): a
    release whose original behaves otherwise must be named, not silently diverge from the copy."""

    def _function_setstate(obj, state):  # what a new release might do differently
        obj.__dict__.update(state[0])

    monkeypatch.setattr(internals, "_function_setstate", _function_setstate)
    problems = _cloudpickle.internals_problems()
    changed = [problem for problem in problems if "changed" in problem]
    assert len(changed) == 1 and changed[0].startswith("cloudpickle.cloudpickle._function_setstate changed (source")
    assert _cloudpickle.internals_problems(reconstructors=False) == []  # what a push checks: signatures only


@pytest.mark.parametrize("name", sorted(_cloudpickle.RECONSTRUCTOR_DIGESTS))
def test_each_reconstructor_copy_has_its_originals_signature(name: str) -> None:

    copy, original = _cloudpickle.reconstructor("cloudpickle.cloudpickle", name), getattr(internals, name)
    if not callable(original) or isinstance(original, type):
        assert type(copy).__name__ == type(original).__name__ == name
        assert copy.__reduce__() == original.__reduce__() == name  # both pickle as the global name
        return
    assert list(inspect.signature(copy).parameters) == list(inspect.signature(original).parameters)


def test_payloads_rebuild_alike_through_the_copies() -> None:
    """A by-value class with closures, an empty cell, an enum and an ABC registry, unpickled by plain pickle
    (cloudpickle's reconstructors) and by the loader's unpickler (the copies): the same behaviour."""
    import abc
    import enum
    import pickle

    from remoteimport.capture import unpickle_class
    from remoteimport.code_objects import CodeRebuilder

    def make():
        factor = 3

        def unused_cell():
            return later  # an empty cell when pickled

        if factor < 0:
            later = None

        class Color(enum.Enum):
            RED = 1

        class Base(abc.ABC):
            @abc.abstractmethod
            def run(self): ...

        class Job(Base):
            color = Color.RED

            def run(self, x):
                cell = unused_cell.__closure__[0]
                return [x * factor, self.color.name, cell.cell_contents if factor < 0 else "empty"]

        Base.register(int)
        return Job

    payload = cloudpickle.dumps(make())
    plain = pickle.loads(payload)
    copied = unpickle_class(payload, CodeRebuilder("Job@test", {}))
    assert copied is not plain
    assert copied().run(2) == plain().run(2) == [6, "RED", "empty"]
    assert issubclass(int, copied.__mro__[1]) and isinstance(copied(), copied.__mro__[1])


def test_no_other_module_names_cloudpickle_internals() -> None:
    from pathlib import Path

    package = Path(_cloudpickle.__file__).parent
    offenders = [
        path.name
        for path in package.rglob("*.py")
        if path.name != "_cloudpickle.py" and "cloudpickle.cloudpickle" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
