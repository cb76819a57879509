"""The idempotent ``ensure`` steps (issue 9): kinds, their assessments, and whole runs."""
