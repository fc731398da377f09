"""What every translator into the hub's request (`<format>_request_to_anthropic`) shares.
Pure: no I/O."""

from __future__ import annotations

from typing import Any


def add_turn(out: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Append content blocks as a turn of `role`, joined to the last turn when it has the
    same role: Anthropic wants user and assistant turns strictly alternating."""
    if not blocks:
        return
    if out and out[-1]["role"] == role:
        out[-1]["content"].extend(blocks)
    else:
        out.append({"role": role, "content": blocks})
