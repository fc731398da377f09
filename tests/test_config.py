"""Settings layering: defaults < YAML config file < environment < flags, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.config import ConfigError, Settings, load_settings


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "nowhere"), "XDG_DATA_HOME": str(tmp_path / "d")}
    settings = load_settings(environ=env)
    assert (settings.host, settings.port, settings.log_level) == ("127.0.0.1", 8787, "info")
    assert settings.permission_timeout == 600 and settings.ping_interval == 15
    assert settings.max_body_bytes == 8 * 1024 * 1024
    assert settings.token is None and settings.database_url is None
    assert settings.url == "http://127.0.0.1:8787" and settings.is_loopback
    assert settings.data_dir == tmp_path / "d" / "tether"  # XDG_DATA_HOME of `environ`


def test_default_data_dir_is_under_the_users_share(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = load_settings(environ={"XDG_CONFIG_HOME": str(tmp_path / "c")})
    assert settings.data_dir == tmp_path / ".local" / "share" / "tether"


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        "port: 9000\nhost: 127.0.0.2\nping_interval: 5\n"
        "permission_timeout: 30\nlog_level: warning\n",
    )
    from_file = load_settings(config, environ={})
    assert (from_file.port, from_file.host, from_file.ping_interval) == (9000, "127.0.0.2", 5)

    env = {
        "TETHER_PORT": "9100",
        "TETHER_PING_INTERVAL": "2.5",
        "TETHER_DATA_DIR": str(tmp_path / "env-data"),
    }
    from_env = load_settings(config, environ=env)
    assert (from_env.port, from_env.ping_interval) == (9100, 2.5)
    assert from_env.host == "127.0.0.2"  # untouched by env: the file's value stands
    assert from_env.permission_timeout == 30
    assert from_env.data_dir == tmp_path / "env-data"

    flags = load_settings(
        config,
        environ=env,
        port=9200,
        data_dir=tmp_path / "flag-data",
        host=None,
        log_level="debug",
    )
    assert (flags.port, flags.log_level) == (9200, "debug")
    assert flags.data_dir == tmp_path / "flag-data"
    assert flags.host == "127.0.0.2"  # a flag left unset (None) does not override


def test_the_config_file_comes_from_tether_config_or_the_default_place(tmp_path: Path) -> None:
    explicit = _write(tmp_path, "port: 9300\n")
    assert load_settings(environ={"TETHER_CONFIG": str(explicit)}).port == 9300

    home = tmp_path / "xdg"
    (home / "tether").mkdir(parents=True)
    (home / "tether" / "config.yaml").write_text("port: 9400\n")
    assert load_settings(environ={"XDG_CONFIG_HOME": str(home)}).port == 9400
    # An explicit --config wins over TETHER_CONFIG.
    other = tmp_path / "other.yaml"
    other.write_text("port: 9500\n")
    assert load_settings(other, environ={"TETHER_CONFIG": str(explicit)}).port == 9500


def test_every_documented_env_var_is_read(tmp_path: Path) -> None:
    env = {
        "TETHER_HOST": "0.0.0.0",
        "TETHER_PORT": "1234",
        "TETHER_DATA_DIR": str(tmp_path),
        "TETHER_LOG_LEVEL": "error",
        "TETHER_ONLY": "relay",
        "TETHER_TOKEN": "secret",
        "TETHER_DATABASE_URL": "postgresql://x/y",
        "TETHER_PERMISSION_TIMEOUT": "7",
        "TETHER_PING_INTERVAL": "3",
        "TETHER_MAX_BODY_BYTES": "100",
        "TETHER_PUBLIC_URL": "https://tether.example/",
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    s = load_settings(environ=env)
    assert (s.host, s.port, s.data_dir, s.log_level, s.only) == (
        "0.0.0.0",
        1234,
        tmp_path,
        "error",
        "relay",
    )
    assert (s.token, s.database_url) == ("secret", "postgresql://x/y")
    assert (s.permission_timeout, s.ping_interval, s.max_body_bytes) == (7, 3, 100)
    assert s.url == "https://tether.example" and not s.is_loopback


def test_data_dir_expands_the_home_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = _write(tmp_path, "data_dir: ~/tether-data\n")
    assert load_settings(config, environ={}).data_dir == tmp_path / "tether-data"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("port: [1\n", "is not valid YAML"),
        ("- just\n- a list\n", "must hold a mapping"),
        ("port: eighty\n", "port"),
        ("port: 70000\n", "port"),
        ("permission_timeout: 0\n", "permission_timeout"),
        ("log_level: loud\n", "log_level"),
        ("colour: blue\n", "colour"),
    ],
)
def test_bad_config_files_are_clear_one_line_errors(tmp_path: Path, text: str, says: str) -> None:
    config = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    message = str(caught.value)
    assert says in message
    assert "Traceback" not in message


def test_bad_env_values_and_missing_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="port"):
        load_settings(environ={"TETHER_PORT": "abc", "XDG_CONFIG_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="ping_interval"):
        load_settings(environ={"TETHER_PING_INTERVAL": "-1", "XDG_CONFIG_HOME": str(tmp_path)})
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match=f"config file not found: {missing}"):
        load_settings(missing, environ={})
    # The default config file may be absent: that is not an error.
    assert isinstance(load_settings(environ={"XDG_CONFIG_HOME": str(tmp_path)}), Settings)


def test_an_empty_config_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(_write(tmp_path, ""), environ={}).port == 8787
