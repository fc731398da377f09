"""Gemini CLI as the tests run it: a home of its own that never phones home."""

from __future__ import annotations

import json
from pathlib import Path


def quiet_gemini_home(home: Path) -> None:
    """API-key auth, and nothing phoning home: no statistics, telemetry or update check."""
    settings = home / ".gemini" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(
        json.dumps(
            {
                "security": {"auth": {"selectedType": "gemini-api-key"}},
                "privacy": {"usageStatisticsEnabled": False},
                "telemetry": {"enabled": False},
                "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
            }
        )
    )
