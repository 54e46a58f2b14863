"""Which import statements inside a shipped function make requirements (capture.imported_modules); the whole
route, push to a host that lacks the distribution, is tests/e2e/test_method_imports.py."""

from __future__ import annotations

from remoteimport import capture


def fit_with_imports() -> None:  # never called: its bytecode is what is read
    import sklearn.linear_model  # noqa: F401  (an installed package, imported by its full name)
    from joblib import Parallel  # noqa: F401

    def nested() -> None:
        import numpy.linalg  # noqa: F401  (in a nested function)

    class Local:
        def method(self) -> None:
            import scipy.sparse  # noqa: F401  (in a method of a class made inside the function)

    try:
        import cloudpickle  # noqa: F401  (installed, but optional: the code copes without it)
    except ImportError:
        pass
    try:
        import no_such_module_anywhere  # noqa: F401
    except (ValueError, ModuleNotFoundError):
        pass
    import json  # noqa: F401  (the standard library: never a requirement)

    import no_such_module_unguarded  # noqa: F401  (installed nowhere: it would fail everywhere, not a requirement)

    from . import sibling  # noqa: F401  (relative, and this folder is no package: it names nothing)


def test_imports_in_shipped_functions_are_found_with_their_nested_code() -> None:
    assert capture.imported_modules(fit_with_imports) == {
        "sklearn.linear_model",
        "joblib",
        "numpy.linalg",
        "scipy.sparse",
    }
    found = capture._distributions(capture.imported_modules(fit_with_imports))
    assert {"scikit-learn", "joblib", "numpy", "scipy"} <= set(found)


def test_relative_imports_resolve_against_the_package() -> None:
    assert capture._absolute_module("helpers", 1, "myproj.models") == "myproj.models.helpers"
    assert capture._absolute_module("", 2, "myproj.models") == "myproj"
    assert capture._absolute_module("x", 3, "myproj.models") is None  # beyond the top: fails wherever it runs
    assert capture._absolute_module("x", 1, "") is None


def test_the_users_own_modules_imported_in_a_body_are_found_apart(tmp_path, monkeypatch) -> None:
    """``from .helpers import x`` in a method names the user's own code, which the loading host lacks: found by
    own_modules_imported (the push warns), never a requirement; a guarded import of it is left out."""
    package = tmp_path / "ownpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("def offset():\n    return 1\n")
    (package / "model.py").write_text(
        "class Model:\n"
        "    def fit(self):\n"
        "        from .helpers import offset\n"
        "        import json\n"
        "        return offset()\n"
        "    def guarded(self):\n"
        "        try:\n"
        "            from ownpkg import extra\n"
        "        except ImportError:\n"
        "            extra = None\n"
        "        return extra\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from ownpkg.model import Model

    assert capture.own_modules_imported(Model.fit) == {"ownpkg.helpers"}
    assert capture.imported_modules(Model.fit) == set()
    assert capture.own_modules_imported(Model.guarded) == set()
    assert capture.own_modules_imported(fit_with_imports) == set()  # installed, stdlib, or found nowhere
    message = capture._own_imports_message("Model", {"ownpkg.helpers": "Model.fit"})
    assert "Model.fit imports ownpkg.helpers inside its body" in message and "from ownpkg import helpers" in message
