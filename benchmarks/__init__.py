"""Nexus benchmarks: measured speed and memory, printed as one table by ``just bench``.

Benchmarks are not tests: nothing here asserts on a timing, it only measures and prints. Each
topic is one module (``planning``, ``local_runs``, ``memory``) whose ``run(profile)`` returns
:class:`benchmarks.common.Row` values; ``python -m benchmarks`` runs them all and prints the table.
"""
