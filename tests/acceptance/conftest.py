"""Acceptance-test harness: the real `gemini-gateway` binary in front of the `gemini-sim` binary.

Both run as subprocesses on free loopback ports. The tests drive the gateway the way users do (the
official SDKs, or raw HTTP) and then read what the simulator -- the stand-in for Google -- received
through its `/_sim/*` control API. Nothing here talks to anything but 127.0.0.1.

Binaries: `$GATEWAY_BIN` / `$SIM_BIN`, else `<repo>/target/debug/{gemini-gateway,gemini-sim}`
(build them with `cargo build --bins`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEBUG_DIR = REPO_ROOT / "target" / "debug"

#: The client credential every test client presents to the gateway.
PASSWORD = "acceptance-client-password-7f3a"
#: The gateway's admin credential.
ADMIN_KEY = "acceptance-admin-key-91c2"
#: Upstream (Google) keys of the shared gateway.
UPSTREAM_KEYS = ("upstream-key-alpha", "upstream-key-bravo")

#: Bound on process start-up (TCP readiness).
READY_TIMEOUT_S = 20.0
#: Bound on every control-API call to the simulator.
CONTROL_TIMEOUT_S = 5.0
#: Bound on every SDK / raw call to the gateway, in seconds.
CALL_TIMEOUT_S = 15.0

# Variables the gateway reads that must not leak in from the caller's environment.
_GATEWAY_ENV = (
    "GEMINI_GATEWAY_CONFIG",
    "GEMINI_API_KEYS",
    "PASSWORD",
    "ADMIN_API_KEY",
    "SECRET_KEY",
    "GEMINI_BASE_URL",
    "AUTH",
    "HOST",
    "PORT",
    "ADMIN_PORT",
    "MAX_REQUESTS_PER_MINUTE",
    "MAX_REQUESTS_PER_DAY_PER_IP",
    "MAX_BODY_BYTES",
    "LOG_LEVEL",
    "RUST_LOG",
    "ENFORCE_MODEL_LIMITS",
    "MODEL_LIMITS_PATH",
    "ENABLE_CONTEXT_COMPLETION",
    "CONTEXT_DB_PATH",
)


def _binary(env_name: str, default_name: str) -> Path:
    path = Path(os.environ.get(env_name) or DEBUG_DIR / default_name)
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"{default_name} binary not found at {path}: run `cargo build --bins` in {REPO_ROOT} "
            f"or set ${env_name}",
            pytrace=False,
        )
    return path


def free_port() -> int:
    """A port the kernel just handed out on 127.0.0.1 (bind to port 0, then release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


#: Every child process started, so a failing test's report can show their log tails.
_PROCESSES: list["Process"] = []


class Process:
    """A child process whose output goes to a log file; stopped by `stop()`."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        _PROCESSES.append(self)
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=str(log_dir),
        )

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_ready(self, ports: Iterable[int], timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        pending = list(ports)
        while pending:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before listening; log:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"{self.name} did not open port(s) {pending} within {timeout}s; log:\n{self.log_tail()}"
                )
            if _port_open(pending[0]):
                pending.pop(0)
            else:
                time.sleep(0.02)

    def signal_stop(self) -> None:
        """Ask for a fast shutdown: Pingora treats SIGINT as "stop now" (SIGTERM waits out a grace period)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def stop(self) -> None:
        self.signal_stop()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._log.close()


# --------------------------------------------------------------------------------------------
# The simulator and its control API
# --------------------------------------------------------------------------------------------


class Sim:
    """Client for gemini-sim's `/_sim/*` control API (standard library only)."""

    def __init__(self, port: int, process: Optional[Process] = None):
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.process = process

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=CONTROL_TIMEOUT_S) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise AssertionError(
                f"gemini-sim control {method} {path} -> {e.code}: {e.read()[:500]!r}"
            ) from None
        return json.loads(raw) if raw else None

    def add_fault(
        self,
        action: dict | None = None,
        *,
        key: str | None = None,
        model: str | None = None,
        times: int | None = None,
        rules: list[dict] | None = None,
    ) -> Any:
        """Add one rule (`action` plus matchers) or a list of complete rules."""
        if rules is None:
            assert action is not None, "give an action or rules"
            rule: dict[str, Any] = {"action": action}
            if key is not None:
                rule["key"] = key
            if model is not None:
                rule["model"] = model
            if times is not None:
                rule["times"] = times
            rules = [rule]
        return self._call("POST", "/_sim/faults", rules)

    def clear_faults(self) -> Any:
        return self._call("DELETE", "/_sim/faults")

    def reset(self) -> Any:
        """Forget recorded requests, counters, faults and quota windows."""
        return self._call("POST", "/_sim/reset")

    def requests(self) -> list[dict]:
        """Every Gemini API request received since the last reset, in arrival order."""
        return self._call("GET", "/_sim/requests")

    def api_requests(self) -> list[dict]:
        """Recorded requests on Gemini API paths (the control API is never recorded, but be safe)."""
        return [r for r in self.requests() if not r["path"].startswith("/_sim")]

    def stats(self) -> dict:
        return self._call("GET", "/_sim/stats")

    def calls(self) -> int:
        return int(self.stats()["calls"])


# --------------------------------------------------------------------------------------------
# The gateway
# --------------------------------------------------------------------------------------------


class Gateway:
    """One running gateway process."""

    def __init__(self, port: int, admin_port: int, keys: tuple[str, ...], process: Process):
        self.port = port
        self.admin_port = admin_port
        self.keys = keys
        self.process = process
        self.base_url = f"http://127.0.0.1:{port}"
        self.admin_url = f"http://127.0.0.1:{admin_port}"
        self.password = PASSWORD
        self.admin_key = ADMIN_KEY


def _start_gateway(
    bin_path: Path, sim: Sim, keys: tuple[str, ...], log_dir: Path, name: str, config: Optional[str] = None,
    context: str = "false", extra_env: Optional[dict[str, str]] = None,
) -> Gateway:
    last_err: Optional[Exception] = None
    for _ in range(3):  # a freed port can be taken by someone else before the child binds it
        port, admin_port = free_port(), free_port()
        if port == admin_port:
            continue
        env = {k: v for k, v in os.environ.items() if k not in _GATEWAY_ENV}
        env.update(
            {
                "GEMINI_API_KEYS": ",".join(keys),
                "PASSWORD": PASSWORD,
                "ADMIN_API_KEY": ADMIN_KEY,
                "GEMINI_BASE_URL": sim.base_url,
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "ADMIN_PORT": str(admin_port),
                "LOG_LEVEL": "info",
                # The suite is not about quotas (faults script the 429s it needs): the built-in
                # free-tier table (5 requests a minute per key for gemini-2.5-flash) would refuse
                # the shared gateway's traffic part-way through.
                "ENFORCE_MODEL_LIMITS": "false",
                # Every test runs from 127.0.0.1: the per-IP defaults (30 a minute, 600 a day)
                # would refuse the suite part-way through.
                "MAX_REQUESTS_PER_MINUTE": "0",
                "MAX_REQUESTS_PER_DAY_PER_IP": "0",
                # The suites share one gateway and one password: server-side context would put
                # one test's conversation in front of the next. Context has its own tests, on
                # gateways of their own (test_context_sdk.py).
                "ENABLE_CONTEXT_COMPLETION": context,
            }
        )
        env.update(extra_env or {})
        if config is not None:
            conf = log_dir / f"{name}.yaml"
            conf.write_text(config)
            env["GEMINI_GATEWAY_CONFIG"] = str(conf)
        proc = Process(name, [str(bin_path)], env, log_dir)
        try:
            proc.wait_ready([port, admin_port])
            return Gateway(port, admin_port, keys, proc)
        except RuntimeError as e:
            proc.stop()
            last_err = e
    raise RuntimeError(f"could not start {name}: {last_err}")


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("acceptance-logs")


@pytest.fixture(scope="session")
def sim_server(log_dir: Path):
    bin_path = _binary("SIM_BIN", "gemini-sim")
    last_err: Optional[Exception] = None
    for _ in range(3):
        port = free_port()
        proc = Process("gemini-sim", [str(bin_path), "--listen", f"127.0.0.1:{port}"], dict(os.environ), log_dir)
        try:
            proc.wait_ready([port])
            break
        except RuntimeError as e:
            proc.stop()
            last_err = e
    else:
        raise RuntimeError(f"could not start gemini-sim: {last_err}")
    sim = Sim(port, proc)
    yield sim
    proc.stop()


#: Bound on waiting for a new gateway's startup key check.
STARTUP_CHECK_TIMEOUT_S = 5.0


def _is_startup_probe(record: dict) -> bool:
    return record["path"] == "/v1beta/models" and record.get("query") == "pageSize=1"


def upstream_calls(sim: "Sim") -> list[dict]:
    """What the simulated Google received, minus any startup key probe (`GET models?pageSize=1`) of
    a fresh gateway (gateway_factory already waits for them; this is belt and braces)."""
    return [r for r in sim.api_requests() if not _is_startup_probe(r)]


def only(records: list[dict]) -> dict:
    """The one upstream request a test expects."""
    assert len(records) == 1, f"expected exactly one upstream request, got {len(records)}: {[r['path'] for r in records]}"
    return records[0]


def _settle_startup_probes(sim: Sim, gw: Gateway) -> None:
    """Wait (bounded) for the gateway's startup key check -- one background `GET models?pageSize=1`
    per key, then one model-list fetch with a valid key -- to finish, then clear the simulator, so
    tests see only the requests they caused.

    Note: this resets the simulator (records, counters, faults): add faults after starting a gateway.
    """
    deadline = time.monotonic() + STARTUP_CHECK_TIMEOUT_S
    while time.monotonic() < deadline:
        log = gw.process.log_tail(20000)
        if "model list fetched" in log or "model list not fetched" in log:
            break
        time.sleep(0.02)
    sim.reset()


@pytest.fixture(scope="session")
def gateway_factory(sim_server: Sim, log_dir: Path):
    """Start extra gateways (own key pool, same simulator) for tests that leave keys cooling.

    Returns once the new gateway's startup key check is over, with the simulator reset (see
    `_settle_startup_probes`)."""
    bin_path = _binary("GATEWAY_BIN", "gemini-gateway")
    started: list[Gateway] = []
    counter = [0]

    def start(keys: Optional[Iterable[str]] = None, startup_check: bool = True, context: bool = False,
              env: Optional[dict[str, str]] = None) -> Gateway:
        """`startup_check=False`: no startup key check, so no model list either (a cold
        `/v1/models` cache, as after a start while Google was unreachable). `context=True`: with
        server-side conversation context (the gateway's default; off for the shared gateway).
        `env`: more environment for the gateway (it wins over the defaults above)."""
        counter[0] += 1
        n = counter[0]
        ks = tuple(keys) if keys is not None else (f"iso{n}-key-a", f"iso{n}-key-b")
        config = None if startup_check else "key_health:\n  startup_check: false\n"
        gw = _start_gateway(bin_path, sim_server, ks, log_dir, f"gemini-gateway-{n}", config,
                            "true" if context else "false", env)
        started.append(gw)
        if startup_check:
            _settle_startup_probes(sim_server, gw)
        else:
            sim_server.reset()
        return gw

    yield start
    for gw in started:  # signal all first, so they shut down in parallel
        gw.process.signal_stop()
    for gw in started:
        gw.process.stop()


@pytest.fixture(scope="session")
def gateway(gateway_factory: Callable[..., Gateway]) -> Gateway:
    """The shared gateway. Tests that put its keys in cooldown must use `gateway_factory` instead."""
    return gateway_factory(UPSTREAM_KEYS)


@pytest.fixture(scope="session")
def gateway_url(gateway: Gateway) -> str:
    return gateway.base_url


@pytest.fixture(scope="session")
def password() -> str:
    return PASSWORD


@pytest.fixture
def sim(sim_server: Sim) -> Sim:
    """The simulator (reset before every test by `_reset_sim`)."""
    return sim_server


@pytest.fixture(autouse=True)
def _reset_sim(sim_server: Sim):
    """Every test starts against a clean simulator: no records, counters, faults or quota use."""
    sim_server.reset()
    yield


def assert_secret_absent(records: list[dict], secret: str) -> None:
    """`secret` appears in no recorded header (name or value), path, query or body."""
    for r in records:
        where = f"{r['method']} {r['path']}"
        assert secret not in r["path"], f"client secret in upstream path of {where}"
        assert secret not in (r.get("query") or ""), f"client secret in upstream query of {where}"
        for name, value in r["headers"]:
            assert secret not in name and secret not in value, f"client secret in upstream header {name!r} of {where}"
        assert secret not in json.dumps(r.get("body")), f"client secret in upstream body of {where}"
        assert r.get("api_key") != secret, f"client secret used as upstream key on {where}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """On a failure, attach the tail of each child's log (gateway and simulator) to the report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for p in _PROCESSES:
            tail = p.log_tail(3000)
            if tail:
                report.sections.append((f"{p.name} log (tail)", tail))
