"""Console scripts; each is a thin ``main()`` over :mod:`opsflow.cli`."""
