"""What every translator into the hub's request (`<format>_request_to_anthropic`) shares,
and the turn joining the Gemini request out of it needs too. Pure: no I/O."""

from __future__ import annotations

from typing import Any


def add_turn(
    out: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]], key: str = "content"
) -> None:
    """Append content blocks as a turn of `role`, joined to the last turn when it has the
    same role: Anthropic (and Gemini, whose turns hold `parts`) wants user and assistant
    turns strictly alternating."""
    if not blocks:
        return
    if out and out[-1]["role"] == role:
        out[-1][key].extend(blocks)
    else:
        out.append({"role": role, key: blocks})
