"""The official openai Node SDK cases (tests/acceptance/node/openai.test.mjs), run as part of pytest.

The Node test file starts its own gemini-sim and gemini-gateway (same binaries as conftest.py) on
free loopback ports and stops them. Here we only make sure its dependencies are installed (`npm ci`
from the committed package-lock.json when node_modules is missing) and that `node --test` passes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, _binary

NODE_DIR = Path(__file__).resolve().parent / "node"
TEST_FILE = NODE_DIR / "openai.test.mjs"
NPM_CI_TIMEOUT_S = 180
NODE_TEST_TIMEOUT_S = 180


def _ensure_node_modules() -> None:
    if (NODE_DIR / "node_modules" / "openai" / "package.json").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"{NODE_DIR}/node_modules is missing and npm is not installed (run `npm ci` there)")
    try:
        r = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"`npm ci` in {NODE_DIR} did not finish within {NPM_CI_TIMEOUT_S}s (registry unreachable?)")
    if r.returncode != 0:
        pytest.skip(f"`npm ci` in {NODE_DIR} failed (exit {r.returncode}); node_modules unavailable:\n{r.stderr[-2000:]}")


def test_openai_node_sdk():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the openai Node SDK cases cannot run")
    _ensure_node_modules()
    # Same binaries as the Python suite (fails with the build hint if they are missing).
    env = dict(os.environ)
    env["GATEWAY_BIN"] = str(_binary("GATEWAY_BIN", "gemini-gateway"))
    env["SIM_BIN"] = str(_binary("SIM_BIN", "gemini-sim"))

    # Own session, so a hung run can be stopped together with the gateway and simulator it spawned.
    proc = subprocess.Popen(
        [node, "--test", "--test-reporter=spec", str(TEST_FILE)],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=NODE_TEST_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"`node --test` did not finish within {NODE_TEST_TIMEOUT_S}s:\n{out[-6000:]}\n{err[-2000:]}", pytrace=False)
    assert proc.returncode == 0, f"node --test {TEST_FILE.name} exited {proc.returncode}:\n{out[-8000:]}\n{err[-4000:]}"
