"""The dashboard's widgets, one per module; each is told what to show and posts what happened."""
