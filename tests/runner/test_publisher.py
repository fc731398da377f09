"""The outbox reaches a real relay: in order, once, across an outage, past a bad entry."""

from __future__ import annotations

from pathlib import Path

from tether.client import RelayClient
from tether.runner.outbox import Outbox
from tether.runner.publisher import Publisher


def text_message(i: int) -> dict:
    return {
        "id": f"m{i}",
        "role": "agent",
        "kind": "assistant_text",
        "content": {"text": f"text {i}"},
        "raw": {"n": i},
    }


async def test_delivers_in_order_and_replays_are_harmless(server, tmp_path: Path) -> None:
    async with RelayClient(url=server.url, token=server.token) as relay:
        session = await relay.create_session(title="publisher")
        box = Outbox.for_session(tmp_path, session["id"])
        publisher = Publisher(relay, box, session["id"])
        publisher.start()
        publisher.messages([text_message(1), text_message(2)])
        publisher.patch(status="running", agent_state={"status": "running"})
        publisher.messages([text_message(3)])
        assert await publisher.flush(20)
        assert len(box) == 0
        # A replay (what a restarted runner does with its outbox) stores nothing twice.
        publisher.messages([text_message(1), text_message(2), text_message(3)])
        assert await publisher.flush(20)
        messages = await relay.messages(session["id"])
        assert [(m["seq"], m["id"]) for m in messages] == [(1, "m1"), (2, "m2"), (3, "m3")]
        assert messages[0]["raw"] == {"n": 1}
        stored = await relay.get_session(session["id"])
        assert stored["status"] == "running"
        assert stored["agent_state"] == {"status": "running"}
        publisher.end("finished")
        assert await publisher.flush(20)
        assert (await relay.get_session(session["id"]))["status"] == "ended"
        await publisher.stop()
        box.close()


async def test_keeps_everything_while_the_relay_is_down(server, tmp_path: Path) -> None:
    async with RelayClient(url=server.url, token=server.token) as relay:
        session = await relay.create_session(title="outage")
        notices: list[str] = []
        box = Outbox.for_session(tmp_path, session["id"])
        publisher = Publisher(relay, box, session["id"], on_state=notices.append)
        publisher.start()
        server.stop()
        publisher.messages([text_message(i) for i in range(1, 6)])
        assert not await publisher.flush(1.5)
        assert len(box) == 5
        assert any("unreachable" in n for n in notices)
        server.start()
        assert await publisher.flush(30)
        assert len(box) == 0
        messages = await relay.messages(session["id"])
        assert [m["id"] for m in messages] == [f"m{i}" for i in range(1, 6)]
        await publisher.stop()
        box.close()


async def test_an_entry_the_relay_refuses_does_not_block_the_rest(server, tmp_path: Path) -> None:
    async with RelayClient(url=server.url, token=server.token) as relay:
        session = await relay.create_session(title="refused")
        notices: list[str] = []
        box = Outbox.for_session(tmp_path, session["id"])
        publisher = Publisher(relay, box, session["id"], on_state=notices.append)
        publisher.start()
        bad = {"id": "bad", "role": "agent", "kind": "x" * 500, "content": {}}
        publisher.messages([text_message(1), bad, text_message(2)])
        publisher.patch(status="not-a-status")
        publisher.messages([text_message(3)])
        assert await publisher.flush(20)
        messages = await relay.messages(session["id"])
        assert [m["id"] for m in messages] == ["m1", "m2", "m3"]
        assert publisher.dropped == 2 and len(notices) == 2
        await publisher.stop()
        box.close()
