"""The on-disk outbox: order, removal only when told, survival across reopen, locking."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tether.runner.outbox import Outbox, OutboxLocked, orphans, outbox_dir


def test_entries_keep_their_order_and_kind(tmp_path: Path) -> None:
    box = Outbox.for_session(tmp_path, "ses_1")
    box.add_messages([{"id": "a"}, {"id": "b"}])
    box.add_patch({"status": "idle"})
    box.add_messages([{"id": "c"}])
    entries = box.peek()
    assert [(e.op, e.body) for e in entries] == [
        ("messages", {"id": "a"}),
        ("messages", {"id": "b"}),
        ("session", {"status": "idle"}),
        ("messages", {"id": "c"}),
    ]
    assert [e.seq for e in entries] == sorted(e.seq for e in entries)
    box.remove(entries[1].seq)
    assert [e.body for e in box.peek()] == [{"status": "idle"}, {"id": "c"}]
    assert len(box) == 2
    assert box.peek(limit=1)[0].op == "session"
    box.close()


def test_survives_a_crash_and_reopen(tmp_path: Path) -> None:
    # A child process writes and dies without closing: nothing written is lost.
    code = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from tether.runner.outbox import Outbox
        box = Outbox.for_session(Path({str(tmp_path)!r}), "ses_2")
        box.add_messages([{{"id": "m1", "content": {{"text": "é"}}}}])
        box.add_patch({{"agent_state": {{"status": "running"}}}})
        os._exit(9)
    """)
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    found = orphans(tmp_path)
    assert [sid for sid, _ in found] == ["ses_2"]
    box = found[0][1]
    assert [e.body for e in box.peek()] == [
        {"id": "m1", "content": {"text": "é"}},
        {"agent_state": {"status": "running"}},
    ]
    box.close(delete_if_empty=False)


def test_a_live_outbox_is_locked_and_not_an_orphan(tmp_path: Path) -> None:
    box = Outbox.for_session(tmp_path, "ses_3")
    box.add_messages([{"id": "x"}])
    with pytest.raises(OutboxLocked):
        Outbox.for_session(tmp_path, "ses_3")
    assert orphans(tmp_path) == []
    box.close()
    # Not empty: kept for the next runner.
    assert [sid for sid, b in orphans(tmp_path) if not b.close()] == ["ses_3"]


def test_empty_outbox_is_removed_on_close_and_private(tmp_path: Path) -> None:
    box = Outbox.for_session(tmp_path, "ses_4")
    assert stat.S_IMODE(os.stat(box.path).st_mode) == 0o600
    box.add_messages([{"id": "x"}])
    box.remove(box.peek()[0].seq)
    box.close()
    assert list(outbox_dir(tmp_path).iterdir()) == []


def test_rejects_session_ids_that_are_paths(tmp_path: Path) -> None:
    for bad in ("../etc", "a/b", "", ".hidden"):
        with pytest.raises(ValueError):
            Outbox.for_session(tmp_path, bad)
