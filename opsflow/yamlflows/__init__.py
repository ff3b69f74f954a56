"""Declarative flows: YAML files that compose ``opsflow.tasks`` plugins.

Operators write a flow as a file in one of ``[DEFAULT] flow_dirs`` and run
it with ``opsflow-run <name>`` like any entry-point flow (the
``opsflow.flows`` namespace finds both). The path of a file through this
package, each module one stage:

==============  ===========================================================
``marks``       safe YAML loading; every key and item keeps its line/column
``document``    the JSON Schema (``schema.json``), then checks of the whole
                file (unique names, links, known task plugins)
``spec``        the typed records the checks produce
``build``       records -> patterns, tasks, retries and link deciders
``conditions``  ``when:`` of a link as a picklable decider (no code in YAML)
``files``       the flow files of ``flow_dirs`` (found without the rest)
``catalog``     those files' flow names and flow factories
``errors``      every error names the file, line and column
==============  ===========================================================

Nothing in a file is executed: the YAML is loaded safely, tasks are only
named, and conditions compare values.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsflow.yamlflows.build import build as build_flow
    from opsflow.yamlflows.catalog import YamlFlowFactory
    from opsflow.yamlflows.document import SCHEMA_PATH, read
    from opsflow.yamlflows.errors import (
        FlowFileError,
        FlowNameClash,
        FlowSourceChanged,
        MissingInputs,
        TaskPluginBroken,
    )
    from opsflow.yamlflows.files import discover

__all__ = [
    "SCHEMA_PATH",
    "FlowFileError",
    "FlowNameClash",
    "FlowSourceChanged",
    "MissingInputs",
    "TaskPluginBroken",
    "YamlFlowFactory",
    "build_flow",
    "discover",
    "read",
]

#: Name -> (module, attribute). Imported on first use: importing one stage
#: (``opsflow.yamlflows.files``, which every run uses) must not load them all.
_EXPORTS = {
    "SCHEMA_PATH": ("document", "SCHEMA_PATH"),
    "FlowFileError": ("errors", "FlowFileError"),
    "FlowNameClash": ("errors", "FlowNameClash"),
    "FlowSourceChanged": ("errors", "FlowSourceChanged"),
    "MissingInputs": ("errors", "MissingInputs"),
    "TaskPluginBroken": ("errors", "TaskPluginBroken"),
    "YamlFlowFactory": ("catalog", "YamlFlowFactory"),
    "build_flow": ("build", "build"),
    "discover": ("files", "discover"),
    "read": ("document", "read"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value
