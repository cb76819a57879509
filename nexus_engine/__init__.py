"""Nexus engine: config → DAG → plan → scheduler → runner → transports, and the events they emit.

Headless by design: nothing in this package imports Textual, so scripts and CI start fast and
the dashboard (``nexus_tui``) is only one subscriber among several.
"""

__version__ = "0.1.0"
