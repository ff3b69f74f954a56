"""Listeners: watch an engine's flow and atom state changes.

Each listener is a context manager around ``engine.run()``::

    with LoggingListener(engine):
        engine.run()
"""
