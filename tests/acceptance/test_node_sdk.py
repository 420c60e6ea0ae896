"""The official Node SDK cases — openai (tests/acceptance/node/openai.test.mjs) and @google/genai
with its default options (genai.test.mjs) — run as part of pytest.

Each Node test file starts its own gemini-sim and gemini-gateway (same binaries as conftest.py) on
free loopback ports and stops them (tests/acceptance/node/harness.mjs). Here we only make sure its dependencies are installed (`npm ci`
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
TEST_FILES = ("openai.test.mjs", "genai.test.mjs")
NPM_CI_TIMEOUT_S = 180
NODE_TEST_TIMEOUT_S = 180


def _ensure_node_modules() -> None:
    modules = NODE_DIR / "node_modules"
    if all((modules / p / "package.json").is_file() for p in ("openai", "@google/genai")):
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


@pytest.mark.parametrize("test_file", TEST_FILES)
def test_node_sdk(test_file):
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
        [node, "--test", "--test-reporter=spec", str(NODE_DIR / test_file)],
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
    assert proc.returncode == 0, f"node --test {test_file} exited {proc.returncode}:\n{out[-8000:]}\n{err[-4000:]}"
