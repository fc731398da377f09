"""`tether pair` and `tether devices` as a person types them (the browser side of pairing
is in tests/web/test_pairing.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.cli.support import cli_env, new_machine_env, one_line_error, tether
from tests.support.server import TetherServer
from tests.support.sql import old_device


def host_env(server: TetherServer, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "host").mkdir()
    (tmp_path / "host" / "config.yaml").write_text("{}\n")
    return cli_env(server.url, server.token, tmp_path / "host")


def test_pair_prints_a_qr_code_and_a_link_whose_secret_is_in_the_fragment(
    server: TetherServer, tmp_path: Path
) -> None:
    env = host_env(server, tmp_path)
    done = tether(
        env, "pair", "--no-wait", "--name", "desk", "--link-url", "https://tether.example"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    link = lines[-1]
    assert link.startswith("https://tether.example/#pair=")
    assert sum("█" in line or "▀" in line or "▄" in line for line in lines) > 10
    assert "desk" in done.stderr and "client" in done.stderr
    # The host keeps its half of the link's secret, privately.
    pairings = Path(env["TETHER_DATA_DIR"]) / "e2e" / "pairings.json"
    assert pairings.stat().st_mode & 0o077 == 0
    assert link.split("#pair=")[1].split(".")[0] in pairings.read_text()


def test_pair_refuses_what_a_device_may_not_be(server: TetherServer, tmp_path: Path) -> None:
    env = host_env(server, tmp_path)
    assert "client or a viewer" in one_line_error(tether(env, "pair", "--scope", "admin"))
    assert tether(env, "pair", "--expires", "soon").returncode == 2
    assert "no paired device named" in one_line_error(tether(env, "devices", "revoke", "nope"))
    listed = tether(env, "devices")
    assert listed.returncode == 0 and "no paired devices" in listed.stdout


def test_revoke_refuses_a_name_two_devices_share_and_takes_an_id(
    server: TetherServer, tmp_path: Path
) -> None:
    # Two devices of one name: data from before names were unique.
    asyncio.run(old_device(server, "old000000000000a", "twin", "gone000a"))
    asyncio.run(old_device(server, "old000000000000b", "twin", "gone000b"))
    env = host_env(server, tmp_path)
    listed = tether(env, "devices")
    assert "old000000000000a" in listed.stdout and "old000000000000b" in listed.stdout
    error = one_line_error(tether(env, "devices", "revoke", "twin"))
    assert "2 paired devices are named 'twin'" in error and "by its id" in error
    assert "old000000000000a" in error and "old000000000000b" in error
    assert tether(env, "devices").stdout.count("twin") == 2  # nothing revoked
    done = tether(env, "devices", "revoke", "old000000000000b")
    assert done.returncode == 0 and "revoked twin" in done.stdout
    remaining = tether(env, "devices").stdout
    assert "old000000000000a" in remaining and "old000000000000b" not in remaining


def test_pair_as_the_first_command_here_makes_a_new_install(
    server: TetherServer, tmp_path: Path
) -> None:
    # Pairing a phone before anything else ran here: the runs that follow are encrypted
    # to it, so the install it starts is one with encryption on.
    env = new_machine_env(server.url, server.token, tmp_path / "home")
    done = tether(env, "pair", "--no-wait", "--link-url", "https://tether.example")
    assert done.returncode == 0, done.stderr
    config = tmp_path / "home" / ".config" / "tether" / "config.yaml"
    assert "encryption: on" in config.read_text()
    assert "new install" in done.stderr and str(config) in done.stderr
    pairings = tmp_path / "home" / ".local" / "share" / "tether" / "e2e" / "pairings.json"
    assert pairings.exists()
