"""The admin web UI in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`)
driven by Selenium, against the real gateway binary in front of the simulator.

An administrator logs in, sees the dashboard with the pool, creates a proxy key (shown once), uses
it with curl, changes its expiry, holds a two-turn conversation with it and finds it under
Contexts, deletes the key and logs out; a user logs in and is refused every admin page. Every page
is loaded without a console error and without a request to any other host than the admin address.
Screenshots of each page go to `target/ui-screenshots/`; with `GG_UPDATE_DOCS_SCREENSHOTS=1` the
dashboard's and the keys page's also replace those in `docs/`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest

from conftest import PASSWORD, REPO_ROOT

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ADMIN = "browser-admin-key-5f0c2a9e41b7d3c86e1f0a2b4c6d8e0f"
SECRET = "browser-secret-key-9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
SHOTS = REPO_ROOT / "target" / "ui-screenshots"
PAGE_TIMEOUT_S = 15


@pytest.fixture(scope="module")
def ui_gateway(gateway_factory):
    return gateway_factory(("browser-upstream-a", "browser-upstream-b", "browser-upstream-c"), context=True,
                           env={"ADMIN_API_KEY": ADMIN, "SECRET_KEY": SECRET})


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and chromium-driver are required (apt-get install chromium chromium-driver)", pytrace=False)
    profile = tempfile.mkdtemp(prefix="gg-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1360,1000", "--no-first-run", "--no-default-browser-check",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


class Checked:
    """Page visits that assert no console error and no request to another host."""

    def __init__(self, driver, origin: str):
        self.d = driver
        self.origin = origin
        self.seen: list[str] = []

    def check(self, name: str, refused: bool = False) -> None:
        """`refused`: the page is a 403 answer, which the browser logs as a failed load of itself."""
        self.d.save_screenshot(str(SHOTS / f"{name}.png"))
        errors = [e for e in self.d.get_log("browser") if e.get("level") == "SEVERE"
                  and not (refused and e.get("source") == "network" and "status of 403" in e.get("message", ""))]
        assert not errors, f"console errors on {name}: {errors}"
        for entry in self.d.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg.get("method") == "Network.requestWillBeSent":
                url = msg["params"]["request"]["url"]
                if url.startswith(("chrome://", "chrome-untrusted://", "about:", "data:")):
                    continue  # the browser's own pages, not a request to a host
                self.seen.append(url)
                assert url.startswith(self.origin + "/"), f"{name} requested {url}"

    def go(self, path: str, name: str, refused: bool = False) -> None:
        self.d.get(self.origin + path)
        self.check(name, refused)

    def text(self) -> str:
        return self.d.find_element(By.TAG_NAME, "body").text

    def login(self, credential: str) -> None:
        self.go("/", "login")
        assert self.d.current_url.endswith("/login")
        self.d.find_element(By.ID, "credential").send_keys(credential)
        self.d.find_element(By.ID, "login").click()


def curl(*args: str) -> tuple[int, str]:
    out = subprocess.run(["curl", "-s", "-m", "15", "-w", "\n%{http_code}", *args], capture_output=True, text=True,
                         timeout=20, check=True).stdout
    body, _, code = out.rpartition("\n")
    return int(code), body


def native(gw, key: str, text: str, *extra: str) -> tuple[int, str]:
    return curl(f"{gw.base_url}/v1beta/models/gemini-2.5-flash:generateContent", "-H", f"x-goog-api-key: {key}", *extra,
                "-H", "content-type: application/json",
                "-d", json.dumps({"contents": [{"role": "user", "parts": [{"text": text}]}]}))


def admin_api(gw, path: str) -> dict:
    req = urllib.request.Request(gw.admin_url + path, headers={"authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_an_administrator_runs_the_gateway_from_the_browser(ui_gateway, browser):
    gw = ui_gateway
    for i in range(6):  # some traffic for the dashboard
        assert native(gw, PASSWORD, f"warm-up {i}")[0] == 200
    b = Checked(browser, gw.admin_url)
    b.login(ADMIN)
    b.check("dashboard")
    assert browser.current_url == gw.admin_url + "/"
    page = b.text()
    assert "Dashboard" in page and "3 / 3" in page and "gemini-2.5-flash" in page
    rows = browser.find_elements(By.CSS_SELECTOR, "#key-states tbody tr")
    assert len(rows) == 3 and all(r.text.split()[0].startswith("fp-") for r in rows)
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert "browser-upstream" not in browser.page_source, "upstream keys appear as fingerprints only"

    b.go("/keys", "keys")
    assert "Re-check now" in b.text() and "Disable" in b.text()

    b.go("/proxy-keys", "proxy-keys")
    browser.find_element(By.ID, "name").send_keys("browser-test")
    browser.find_element(By.ID, "create").click()
    b.check("proxy-key-created")
    key = browser.find_element(By.ID, "new-key").text
    assert key.startswith("gk-") and len(key) == 35
    browser.find_element(By.CSS_SELECTOR, "button.copy").click()

    code, _ = curl(f"{gw.base_url}/v1/chat/completions", "-H", f"authorization: Bearer {key}",
                   "-H", "content-type: application/json",
                   "-d", json.dumps({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}))
    assert code == 200

    b.go("/proxy-keys", "proxy-keys-list")
    assert key not in browser.page_source, "the key is shown once"
    row = browser.find_element(By.XPATH, "//tr[td[1][text()='browser-test']]")
    pk_id = row.get_attribute("id").removeprefix("pk-")
    row.find_element(By.LINK_TEXT, "Edit").click()
    b.check("proxy-key-edit")
    field = browser.find_element(By.ID, "expires")
    field.clear()
    field.send_keys("30d")
    browser.find_element(By.ID, "save").click()
    b.check("proxy-key-saved")
    assert "Saved." in b.text()
    expires = admin_api(gw, f"/api/proxy-keys/{pk_id}")["expires_at"]
    assert expires and expires > "2026", expires
    assert browser.find_element(By.ID, "expires").get_attribute("value") == expires

    first = "My favourite colour is teal."
    named = ("-H", "x-gateway-conversation: two-turn")
    assert native(gw, key, first, *named)[0] == 200
    code, body = native(gw, key, "What did I say first?", *named)
    assert code == 200 and first in body, body

    b.go("/contexts", "contexts")
    assert "browser-test" in b.text()
    browser.find_element(By.XPATH, f"//section[@id='owner-{pk_id}']//a[text()='two-turn']").click()
    b.check("context")
    turns = browser.find_elements(By.CSS_SELECTOR, "article.turn")
    assert len(turns) == 4 and first in turns[0].text and first in turns[3].text

    b.go(f"/proxy-keys/{pk_id}", "proxy-key-delete")
    browser.find_element(By.ID, "delete").click()
    b.check("proxy-key-deleted")
    assert "browser-test" not in b.text()
    assert native(gw, key, "still there?")[0] == 401

    b.go("/usage", "usage")
    assert "gemini-2.5-flash" in b.text()

    browser.find_element(By.ID, "logout").click()
    b.check("logged-out")
    assert browser.current_url.endswith("/login")
    b.go("/keys", "after-logout")
    assert browser.current_url.endswith("/login")
    assert b.seen, "the performance log recorded the page loads"

    if os.environ.get("GG_UPDATE_DOCS_SCREENSHOTS") == "1":
        for name in ("dashboard", "keys"):
            shutil.copy(SHOTS / f"{name}.png", REPO_ROOT / "docs" / f"ui-{name}.png")


def test_a_user_sees_only_their_own_standing(ui_gateway, browser):
    gw = ui_gateway
    browser.delete_all_cookies()
    b = Checked(browser, gw.admin_url)
    b.login(PASSWORD)
    b.check("user-home")
    assert "My key" in b.text() and "Upstream keys" not in b.text()
    for path in ("/keys", "/proxy-keys", "/usage"):
        b.go(path, "user-refused" + path.replace("/", "-"), refused=True)
        assert "This page is for administrators." in b.text(), path
    b.go("/contexts", "user-contexts")
    assert "My conversations" in b.text()
