"""opsflow-linux: tasks that act on a Linux host and undo exactly what they did.

Found by opsflow only through entry points (``opsflow.tasks``: ``linux.*``;
``opsflow.flows``: ``demo-provision``, ``demo-deprovision``,
``provision-tenant``, ``deprovision-tenant``).

Every task takes its settings in its constructor. A setting that is a string
may name values of the run with ``{name}`` placeholders; the task then lists
those names in ``requires=`` and receives them when it runs, from the store
or from an earlier task's result (see :mod:`opsflow_linux.fill`).
"""
