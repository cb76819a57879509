"""Nexus dashboard: a Textual face over ``nexus_engine``'s event stream.

It reads events and sends decisions; it never reaches into the engine's state. The engine, in
turn, never imports this package.
"""
