"""Contract fuzzing with schemathesis (see targets.py for the overview)."""
