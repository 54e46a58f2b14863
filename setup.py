"""Build step that pyproject.toml cannot express: install ``remoteimport.pth`` at the root of site-packages.

The file's one line is the zero-code start-up hook (see remoteimport/_startup.py and docs/zero-code.md). A
file at the root of a wheel lands in site-packages, where ``site`` runs ``.pth`` lines at interpreter start:

- ``pip install .`` builds a wheel from ``build_lib``: the file is copied there next to the package;
- ``pip install -e .`` (PEP 660) builds an "editable" wheel whose importable files are only a finder; setuptools
  sets the ``install`` command's ``install_lib`` to that wheel's root, so the file is copied there.

Everything else is configured in pyproject.toml.
"""

from __future__ import annotations

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH_NAME = "remoteimport.pth"
PTH_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), PTH_NAME)


class build_py_with_pth(build_py):  # noqa: N801 - setuptools command naming
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            wheel_root = self.get_finalized_command("install").install_lib
        else:
            wheel_root = self.build_lib
        if not wheel_root:
            raise RuntimeError(f"cannot place {PTH_NAME}: no wheel root from setuptools")
        self.copy_file(PTH_SOURCE, os.path.join(wheel_root, PTH_NAME), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs.append(os.path.join(self.build_lib, PTH_NAME))
        return outputs


setup(cmdclass={"build_py": build_py_with_pth})
