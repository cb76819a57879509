"""Headless faces of a run: the same event stream as the dashboard, drawn as text or JSON."""
