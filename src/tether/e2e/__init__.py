"""End-to-end encryption: the one crypto module the runner and every Python viewer share
(`crypto.py`, pure), the host's keys on disk (`keys.py`) and the session-level helpers
that seal and open what travels through the relay (`sessions.py`). The relay imports none
of it: it stores and forwards what it is given. The scheme is written down in
docs/encryption.md."""
