"""Configuration of opsflow (oslo.config): every option and the loader.

Options are declared in :mod:`opsflow.conf.opts` (one module, with
``list_opts()`` for ``oslo-config-generator``); :mod:`opsflow.conf.loader`
reads ``opsflow.conf`` from oslo.config's usual places and turns every
problem into one :class:`~opsflow.conf.loader.ConfigError` line.
"""
