"""What counts as a new install (tether.install): only a machine where tether has kept
nothing gets a config file with `encryption: on`; everything that exists stays as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.config import load_settings
from tether.install import settle_new_install


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """The environment of a person whose home holds no tether config or data yet."""
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "share"),
    }


def config_of(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "tether" / "config.yaml"


def test_a_new_install_gets_encryption_on_written_down(home: dict[str, str]) -> None:
    assert load_settings(environ=home).encryption == "off"  # the built-in default stays

    written = settle_new_install(environ=home)

    assert written == config_of(home)
    text = written.read_text()
    assert "encryption: on" in text
    # The file says what it means and how to turn it off.
    assert "encryption: off" in text and "docs/encryption.md" in text
    assert load_settings(environ=home).encryption == "on"
    # Once written it is the install's own: a second command changes nothing.
    assert settle_new_install(environ=home) is None
    assert written.read_text() == text


def test_an_existing_config_is_untouched_even_without_the_key(home: dict[str, str]) -> None:
    config = config_of(home)
    config.parent.mkdir(parents=True)
    config.write_text("port: 9400\n")

    assert settle_new_install(environ=home) is None

    assert config.read_text() == "port: 9400\n"
    assert load_settings(environ=home).encryption == "off"


def test_a_used_data_dir_without_a_config_keeps_encryption_off(home: dict[str, str]) -> None:
    # An install that has run `tether serve` with no config file at all.
    data = Path(home["XDG_DATA_HOME"]) / "tether"
    data.mkdir(parents=True)
    (data / "admin-token").write_text("tth_x_y\n")

    assert settle_new_install(environ=home) is None

    assert not config_of(home).exists()
    assert load_settings(environ=home).encryption == "off"


def test_another_data_dir_does_not_change_the_existing_ones_settings(
    home: dict[str, str], tmp_path: Path
) -> None:
    # The config file is shared by every data dir: a fresh one next to a used default
    # one must not switch the default one's sessions to encrypted.
    used = Path(home["XDG_DATA_HOME"]) / "tether"
    used.mkdir(parents=True)
    (used / "tether.db").write_bytes(b"")

    assert settle_new_install(data_dir=tmp_path / "fresh", environ=home) is None
    env = {**home, "TETHER_DATA_DIR": str(tmp_path / "fresh")}
    assert settle_new_install(environ=env) is None
    assert not config_of(home).exists()


def test_a_used_chosen_data_dir_is_an_existing_install(
    home: dict[str, str], tmp_path: Path
) -> None:
    chosen = tmp_path / "elsewhere"
    (chosen / "e2e").mkdir(parents=True)  # a `tether pair` kept its pairing here

    assert settle_new_install(data_dir=chosen, environ=home) is None
    assert not config_of(home).exists()


def test_an_empty_data_dir_made_beforehand_is_still_new(home: dict[str, str]) -> None:
    (Path(home["XDG_DATA_HOME"]) / "tether").mkdir(parents=True)
    assert settle_new_install(environ=home) == config_of(home)


def test_a_config_named_on_the_command_line_is_never_written(
    home: dict[str, str], tmp_path: Path
) -> None:
    named = tmp_path / "mine.yaml"
    assert settle_new_install(config=named, environ=home) is None
    assert settle_new_install(environ={**home, "TETHER_CONFIG": str(named)}) is None
    assert not named.exists() and not config_of(home).exists()


def test_the_environment_still_wins_over_the_written_file(home: dict[str, str]) -> None:
    settle_new_install(environ=home)
    assert load_settings(environ={**home, "TETHER_ENCRYPTION": "off"}).encryption == "off"


def test_the_written_file_is_private_and_never_follows_a_symlink(
    home: dict[str, str], tmp_path: Path
) -> None:
    # Provider keys may later go into the same file.
    written = settle_new_install(environ=home)
    assert written is not None and written.stat().st_mode & 0o777 == 0o600
    # A dangling symlink where the file would go is left alone, its target not created.
    other = {**home, "XDG_CONFIG_HOME": str(tmp_path / "elsewhere")}
    config_of(other).parent.mkdir(parents=True)
    config_of(other).symlink_to(tmp_path / "target.yaml")
    assert settle_new_install(environ=other) is None
    assert not (tmp_path / "target.yaml").exists()


def test_a_relative_xdg_directory_is_ignored(
    home: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The XDG spec: relative values are invalid. Otherwise the file would land under
    # whatever directory the command ran in.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    relative = {**home, "XDG_CONFIG_HOME": "relcfg"}
    written = settle_new_install(environ=relative)
    assert written == tmp_path / "home" / ".config" / "tether" / "config.yaml"
    assert not (tmp_path / "relcfg").exists()
