"""The loopback Host guard against DNS rebinding: only real loopback hosts (parsed, not
prefix-matched) and the configured public host are answered."""

from __future__ import annotations

import httpx
import pytest

from tether.host_guard import host_name

REFUSED = [
    "127.attacker.example",
    "127.0.0.1.nip.io",
    "127.0.0.1.nip.io:8787",
    "localhost.attacker.example",
    "attacker.example",
    "[::1].attacker.example",
    "127.0.0.1:notaport",
    "",
]


def test_host_names_are_parsed() -> None:
    assert host_name("127.0.0.1:8787") == "127.0.0.1"
    assert host_name("[::1]:8787") == "::1"
    assert host_name("LOCALHOST") == "localhost"
    assert host_name("[::1]x") is None
    assert host_name("::1") is None  # IPv6 in a Host header must be bracketed


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_loopback_server_answers_only_loopback_and_public_hosts(server_factory) -> None:
    server = server_factory(extra_env={"TETHER_PUBLIC_URL": "https://tether.example:8443"})
    port = server.port
    allowed = [
        f"127.0.0.1:{port}",
        "127.0.0.2",
        f"localhost:{port}",
        f"[::1]:{port}",
        "[0:0:0:0:0:0:0:1]",
        "tether.example",
        "TETHER.example:8443",
    ]
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for host in allowed:
            assert http.get("/healthz", headers={"Host": host}).status_code == 200, host
        for host in REFUSED:
            response = http.get("/healthz", headers={"Host": host})
            assert response.status_code == 421, host
            assert response.json()["error"]["type"] == "misdirected_request"
