"""Small helpers that TaskFlow programs import from ``taskflow.utils``.

opsflow's own code does not need them; they exist so that a program written
for TaskFlow (``from taskflow.utils import persistence_utils``) runs on
opsflow unchanged (see :mod:`opsflow.compat`).
"""
