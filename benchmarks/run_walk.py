"""Count what one ``opsflow-run FLOW`` does on its way from argv to the exit code.

Runs ``opsflow-run`` in this process with counters wrapped around the steps
that should happen once per run, and prints them: flow factory lookups,
scans of the flow directories, entry-point scans (``importlib.metadata``
and stevedore managers), engines built, compiles and validates. A measure
of the run lifecycle's shape, not of its speed; nothing here is a test.

    python benchmarks/run_walk.py demo --store steps=2 --store delay=0
"""

from __future__ import annotations

import collections
import contextlib
import functools
import importlib
import importlib.metadata
import io
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

COUNTS: collections.Counter[str] = collections.Counter()


def _counted(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        COUNTS[label] += 1
        return function(*args, **kwargs)

    return wrapper


#: (label, module, attribute path) of what is counted.
PROBES = (
    ("flow factory lookups", "opsflow.plugins.flows", "FlowNamespace.load"),
    ("flow_dirs scans", "opsflow.yamlflows.catalog", "discover"),
    ("entry-point scans (importlib.metadata)", "importlib.metadata", "entry_points"),
    ("stevedore managers", "stevedore.extension", "ExtensionManager.__init__"),
    ("engines built", "opsflow.engines.engine", "ActionEngine.__init__"),
    ("compiles", "opsflow.engines.compiler", "Compiler.compile"),
    ("validates", "opsflow.engines.engine", "ActionEngine.validate"),
)


@contextlib.contextmanager
def probes() -> Iterator[None]:
    undo = []
    for label, module_name, path in PROBES:
        try:
            owner: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        *parents, attribute = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        original = getattr(owner, attribute)
        setattr(owner, attribute, _counted(label, original))
        undo.append((owner, attribute, original))
    try:
        yield
    finally:
        for owner, attribute, original in reversed(undo):
            setattr(owner, attribute, original)


def main(argv: list[str]) -> int:
    from opsflow.cmd import run

    with tempfile.TemporaryDirectory() as state:
        config = f"{state}/opsflow.conf"
        with open(config, "w") as out:
            out.write(f"[DEFAULT]\nstate_path = {state}\n")
        with probes(), contextlib.redirect_stdout(io.StringIO()):
            code = run.main(["--config-file", config, *argv])
    print(f"opsflow-run {' '.join(argv)} -> exit {code}")
    for label, _module, _path in PROBES:
        print(f"  {label:40} {COUNTS[label]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["demo", "--store", "steps=2", "--store", "delay=0"]))
