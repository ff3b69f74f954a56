"""A test plugin put on PYTHONPATH (not installed): journal tasks, Python flows.

``tests/functional/test_yaml_flows.py`` runs each Python flow here and its
YAML twin in ``../flows.d`` through ``opsflow-run`` and compares the
journals of execute and revert calls.
"""
