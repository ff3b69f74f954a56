"""The library behind ``opsflow-run`` (:mod:`opsflow.cmd.run` stays thin).

=============  ==============================================================
``args``       the command line: flags, modes, usage errors (exit 64)
``inputs``     ``--store``, ``--store-file`` and ``--secret`` into one store
``masking``    secret values shown as ``***`` in output and log lines
``exits``      exit codes, the errors that carry them, one-line reports
``preflight``  flow plugin, engine, executor and listeners checked before a run
``plan``       ``--dry-run`` plan and ``--graph`` DOT output
``progress``   live progress bar (TTY) or log lines, and per-step timings
``report``     the end-of-run summary, JSON documents, ``--list``
``runner``     one run: engine, listeners, signals, final state
``logs``       oslo.log on stderr with secrets masked; a private log file
``streams``    stdout/stderr that a closed pipe cannot break (output dropped)
=============  ==============================================================
"""
