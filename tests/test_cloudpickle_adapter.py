"""remoteimport/_cloudpickle.py: the one place that names cloudpickle internals, and the check that names the
installed cloudpickle version when one of them changes."""

from __future__ import annotations

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
    assert _cloudpickle.internals_problems() == [
        "cloudpickle.cloudpickle._make_skeleton_class takes (type_constructor, name, bases, type_kwargs, extra), "
        "not (type_constructor, name, bases, type_kwargs, class_tracker_id, extra)"
    ]


def test_no_other_module_names_cloudpickle_internals() -> None:
    from pathlib import Path

    package = Path(_cloudpickle.__file__).parent
    offenders = [
        path.name
        for path in package.rglob("*.py")
        if path.name != "_cloudpickle.py" and "cloudpickle.cloudpickle" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
