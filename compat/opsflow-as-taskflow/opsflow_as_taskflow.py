"""Start-up hook: with ``OPSFLOW_AS_TASKFLOW=1``, ``import taskflow`` gives opsflow.

Imported at every interpreter start by ``opsflow_as_taskflow.pth``; without
the variable it only reads it. See ``opsflow.compat``.
"""

import os
import sys

if os.environ.get("OPSFLOW_AS_TASKFLOW") == "1":
    try:
        from opsflow import compat

        compat.install_as_taskflow()
    except Exception as exc:  # never break the interpreter's start
        print(f"opsflow-as-taskflow: not installed: {exc}", file=sys.stderr)
