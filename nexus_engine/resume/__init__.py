"""Carrying on a run that died or failed: what a run records of its plan, what an old run's
record says of each unit, and the plan of the run that resumes it."""
