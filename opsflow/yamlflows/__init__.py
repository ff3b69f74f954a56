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
``catalog``     the files of ``flow_dirs`` and their flow factories
``errors``      every error names the file, line and column
==============  ===========================================================

Nothing in a file is executed: the YAML is loaded safely, tasks are only
named, and conditions compare values.
"""

from __future__ import annotations

from opsflow.yamlflows.build import build as build_flow
from opsflow.yamlflows.catalog import YamlFlowFactory, discover
from opsflow.yamlflows.document import SCHEMA_PATH, read
from opsflow.yamlflows.errors import (
    FlowFileError,
    FlowNameClash,
    FlowSourceChanged,
    MissingInputs,
    TaskPluginBroken,
)

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
