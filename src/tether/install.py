"""A new install: the first `tether serve`, `tether run` or `tether pair` on a machine
writes a config file that turns end-to-end encryption on (docs/encryption.md).

The defaults in `Settings` never change under anyone: `encryption` stays `off` there, so
an existing install (a config file, even one without the key, or a data dir that holds
anything) keeps what it has. Only a machine where tether has kept nothing yet gets the
new default, and it gets it written down, with a comment that says how to turn it off,
so the file (not the version of tether) is what decides from then on.
"""

from __future__ import annotations

import os
from pathlib import Path

from tether.config import default_config_path, default_data_dir

NEW_INSTALL_CONFIG = """\
# tether's settings (README: Settings). Written by the first tether command on this machine.
#
# End-to-end encryption (docs/encryption.md): `tether run` encrypts what its agents say and
# do; only this machine and the devices paired with `tether pair` can read it, the relay
# cannot. `encryption: off` keeps sessions in the clear (a browser signed in with a plain
# token link reads them); `required` also makes the relay refuse plaintext sessions.
encryption: on
"""


def _holds_nothing(path: Path) -> bool:
    """A data dir tether never used: missing, or an empty directory someone made for it."""
    try:
        return not any(path.iterdir())
    except FileNotFoundError:
        return True
    except NotADirectoryError:
        return False


def settle_new_install(
    config: Path | str | None = None,
    data_dir: Path | str | None = None,
    environ: dict[str, str] | None = None,
) -> Path | None:
    """Write the new-install config file when this is the first tether command here; the
    path written, or None when the install already exists (nothing is touched).

    `config` and `data_dir` are the command's own flags. A config file named on the command
    line or in TETHER_CONFIG is the person's: it is read as it is (or is an error when
    missing), never written. New means: no config file where tether looks by default, and
    neither the data dir this command uses nor the default one holds anything (another
    data dir's install would otherwise find its settings changed through the shared file).
    """
    env = os.environ if environ is None else environ
    if config or env.get("TETHER_CONFIG"):
        return None
    path = default_config_path(env)
    if path.exists():
        return None
    dirs = {default_data_dir(env)}
    chosen = data_dir or env.get("TETHER_DATA_DIR")
    if chosen:
        dirs.add(Path(chosen).expanduser())
    if not all(_holds_nothing(d) for d in dirs):
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Exclusive (two first commands at once write it once, and an existing file or a
        # symlink there is never followed or clobbered), and private: the same file may
        # later hold provider keys (docs/gateway.md).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w") as f:
        f.write(NEW_INSTALL_CONFIG)
    return path
