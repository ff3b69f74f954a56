"""Operator views of a flow or a run: plans, pictures and timings.

=============  ==============================================================
``plan``       ``--dry-run``: each step, and what its failure would undo
``pictures``   ``--graph``: DOT, SVG, PNG, Mermaid and a text tree
``timings``    step timings a run records, and ETAs from past runs
``stored``     the picture of a stored run, coloured by step state
=============  ==============================================================

They read a compiled flow (``engine.compilation``) and, for a run, its
persisted flow detail; none of them runs a task or writes to a store.
"""
