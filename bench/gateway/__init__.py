"""Gateway benchmark: direct-to-upstream versus through tether (see run.py)."""
