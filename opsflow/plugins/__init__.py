"""Plugin loading: one small stevedore loader per entry-point namespace.

=====================  ========================================  ==========
namespace              a name resolves to                        module
=====================  ========================================  ==========
``opsflow.tasks``      a :class:`~opsflow.task.Task` subclass    ``tasks``
``opsflow.flows``      a factory ``f(**kwargs) -> Flow``         ``flows``
``opsflow.executors``  an executor driver                        ``executors``
``opsflow.persistence`` a persistence backend, by URL scheme     ``persistence``
``opsflow.listeners``  a listener class ``opsflow-run`` attaches  ``listeners``
=====================  ========================================  ==========

Each module wraps one :class:`~opsflow.plugins.loader.Namespace`. A plugin
that fails to import (or is not what its namespace expects) is reported by
name with its error, as :class:`~opsflow.plugins.loader.BrokenPlugin`, and
never stops the others from loading.
"""
