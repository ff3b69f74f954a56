"""Puts ``opsflow_as_taskflow.pth`` at the top of site-packages.

Python runs the ``import`` line of every ``.pth`` file there at start-up;
this one imports :mod:`opsflow_as_taskflow`, which does nothing unless
``OPSFLOW_AS_TASKFLOW=1``.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "opsflow_as_taskflow.pth"


class BuildWithPth(build_py):
    def run(self) -> None:
        super().run()
        here = os.path.dirname(os.path.abspath(__file__))
        self.copy_file(os.path.join(here, PTH), os.path.join(self.build_lib, PTH))


setup(cmdclass={"build_py": BuildWithPth})
