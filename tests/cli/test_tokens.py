"""`tether token create|list|revoke` against a running relay's store, on both backends."""

from __future__ import annotations

import os
import re
import subprocess

import httpx

from tests.relay.support import run_tether
from tests.support import forkserver


def _tokens(server, *args: str):
    return run_tether(server, "token", *args, "--data-dir", str(server.data_dir))


def test_create_list_revoke(server) -> None:
    created = {}
    for scope in ("admin", "agent", "client", "viewer"):
        done = _tokens(server, "create", "--scope", scope, "--name", f"my-{scope}")
        assert done.returncode == 0, done.stderr
        token = done.stdout.strip()
        # Only the token on stdout (scripts capture it); the note goes to stderr.
        assert "\n" not in token and token.startswith("tth_")
        assert f"my-{scope}" in done.stderr
        created[scope] = token
        me = httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["scope"] == scope and me.json()["name"] == f"my-{scope}"

    listed = _tokens(server, "list")
    assert listed.returncode == 0
    for scope, token in created.items():
        token_id = token.split("_")[1]
        assert token_id in listed.stdout and f"my-{scope}" in listed.stdout
        assert token.split("_", 2)[2] not in listed.stdout  # never the secret

    victim = created["client"].split("_")[1]
    revoked = _tokens(server, "revoke", victim)
    assert revoked.returncode == 0 and victim in revoked.stdout
    after = _tokens(server, "list").stdout.splitlines()
    row = next(line for line in after if victim in line)
    assert len(re.findall(r"\d{4}-\d\d-\d\dT", row)) == 2, row  # created and revoked
    kept = next(line for line in after if created["agent"].split("_")[1] in line)
    assert len(re.findall(r"\d{4}-\d\d-\d\dT", kept)) == 1, kept

    again = _tokens(server, "revoke", victim)
    assert again.returncode != 0 and "no active token" in again.stderr
    unknown = _tokens(server, "revoke", "ffffffff")
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr


def test_bad_scope_and_link(server) -> None:
    bad = _tokens(server, "create", "--scope", "root")
    assert bad.returncode == 2
    assert "unknown scope 'root'" in bad.stderr and "viewer" in bad.stderr
    missing = _tokens(server, "create")
    assert missing.returncode != 0 and "--scope" in missing.stderr

    link = _tokens(
        server, "create", "--scope", "client", "--link", "--url", "https://tether.example/"
    )
    assert link.returncode == 0
    url = link.stdout.strip()
    assert url.startswith("https://tether.example/?token=tth_")
    token = url.split("token=", 1)[1]
    me = httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["scope"] == "client"


def test_an_unreachable_database_is_one_line(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env["TETHER_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
    done = forkserver.run(["token", "list", "--data-dir", str(tmp_path)], env, timeout=60)
    assert done.returncode != 0
    assert "cannot open the relay's database" in done.stderr
    assert "Traceback" not in done.stderr


def test_with_the_server_running_the_commands_go_through_it(server_factory) -> None:
    # A real `tether serve`: it is what writes the address the command finds it by.
    server = server_factory(process=True)
    # The command itself cannot open the database: only the running server can do it. A
    # server given its admin token from outside writes no admin-token file, so the command
    # signs in with TETHER_TOKEN, as a person's shell would.
    env = {**server.env(), "TETHER_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}

    def tokens(*args: str) -> subprocess.CompletedProcess[str]:
        return forkserver.run(["token", *args, "--data-dir", str(server.data_dir)], env, timeout=60)

    created = tokens("create", "--scope", "viewer", "--name", "tv")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    me = httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["name"] == "tv"
    listed = tokens("list")
    assert listed.returncode == 0 and "tv" in listed.stdout
    token_id = token.split("_")[1]
    revoked = tokens("revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    me = httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401  # at once: the server that revoked it forgot it
    again = tokens("revoke", token_id)
    assert again.returncode == 1 and "no active token" in again.stderr


def test_without_a_server_they_use_the_store(server) -> None:
    server.stop()
    # A note left by a server that died: nothing answers there, so the store is used.
    (server.data_dir / "server-url").write_text("http://127.0.0.1:9\n")
    done = _tokens(server, "create", "--scope", "client", "--name", "offline")
    assert done.returncode == 0, done.stderr
    listed = _tokens(server, "list")
    assert "offline" in listed.stdout
