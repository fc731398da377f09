"""Running the real Codex CLI (npm `@openai/codex`, pinned) offline against a local base URL.

`scripts/test` installs it into `.cache/npm`; `codex_binary()` installs it there too when
it is missing (so a plain `pytest` run works), and says why when that cannot be done.
Codex is configured through a throw-away CODEX_HOME whose `config.toml` declares one custom
provider speaking the Responses API.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

CODEX_VERSION = "0.171.0"
ROOT = Path(__file__).resolve().parents[2]
PREFIX = ROOT / ".cache" / "npm"
BINARY = PREFIX / "node_modules" / ".bin" / "codex"
KEY_ENV = "TETHER_GATEWAY_KEY"


def _installed_version() -> str | None:
    package = PREFIX / "node_modules" / "@openai" / "codex" / "package.json"
    if not package.exists():
        return None
    return json.loads(package.read_text()).get("version")


def codex_binary() -> tuple[Path | None, str]:
    """(path, "") when Codex is ready, else (None, why not)."""
    if BINARY.exists() and _installed_version() == CODEX_VERSION:
        return BINARY, ""
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed"
    try:
        result = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(PREFIX),
                "--no-audit",
                "--no-fund",
                f"@openai/codex@{CODEX_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        return None, "npm install @openai/codex timed out (is the npm registry reachable?)"
    if result.returncode != 0 or not BINARY.exists():
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, f"npm install @openai/codex@{CODEX_VERSION} failed: {tail[0]}"
    return BINARY, ""


def codex_home(home: Path, base_url: str, model: str, effort: str | None = None) -> Path:
    """A CODEX_HOME whose config points Codex at `base_url` (ending in /v1)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "{model}"\n'
        + (f'model_reasoning_effort = "{effort}"\n' if effort else "")
        + 'model_provider = "tether"\n'
        "[model_providers.tether]\n"
        'name = "tether"\n'
        f'base_url = "{base_url}"\n'
        f'env_key = "{KEY_ENV}"\n'
        'wire_api = "responses"\n'
    )
    return home


def run_codex(
    binary: Path, home: Path, cwd: Path, key: str, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`codex exec` non-interactively, tools allowed without asking, no network but ours."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "CODEX_")) and k not in ("HTTP_PROXY", "HTTPS_PROXY")
    }
    env.update({"CODEX_HOME": str(home), KEY_ENV: key, "NO_COLOR": "1"})
    return subprocess.run(
        [
            str(binary),
            "exec",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            *args,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
