"""README.rst's browser examples in headless Chromium: pages on http://127.0.0.1 run them against a real
``python -m liaison.websocket`` and show what they got.

* the t-test with a client: the page imports clients/js/liaison.js and connects;
* the example without a client: its websocket half, given the server's address, exactly as printed;

and what README.rst says of refusals in browsers: a page learns nothing of why (the server's stderr says it),
and a page opened from disk sends ``Origin: null``, refused unless the server is started with
``--allow-origin null``.
"""
import http.server
import json
import os
import tempfile
import threading
import time
import urllib.parse

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import CLIENT_JS
from liaison.client import spawn
from readme import TTEST, example

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# From ../shared/README.md: headless, and no attempt to reach hosts outside this machine.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Runs *body* with `server` (the ?server= URL) and `printed` (what console.log got), then shows
# what the body returns as JSON, or the error.
PAGE = """<!doctype html>
<meta charset="utf-8">
<title>liaison example</title>
<pre id="result"></pre>
<script type="module">
import {{ connect }} from "./liaison.js";

const shown = document.getElementById("result");
const server = new URLSearchParams(location.search).get("server");
const printed = [];
console.log = (...values) => printed.push(values.join(" ") + "\\n");
try {{
shown.textContent = JSON.stringify(await (async () => {{
{body}
}})());
shown.dataset.state = "done";
}} catch (error) {{
  shown.textContent = `${{error.name}}: ${{error.message}}`;
  shown.dataset.state = "failed";
}}
</script>
"""

TTEST_BODY = """const client = await connect(server);
{example}
return {{ statistic, pvalue, control: await client.get("control"), treated: await client.get("treated") }};
"""

WITHOUT_CLIENT_BODY = """const address = new URL(server).host;
{example}
socket.close();
return printed.join("");
"""


REFUSED_BODY = """await connect(server);
return "connected";
"""

# A page opened from disk: it shows in its title whether a websocket to ?server= opened, or how it closed.
FROM_DISK = """<!doctype html>
<title>waiting</title>
<script>
const socket = new WebSocket(new URLSearchParams(location.search).get("server"));
socket.onopen = () => { document.title = "open"; socket.close(); };
socket.onclose = (event) => { if (document.title !== "open") document.title = "closed " + event.code; };
</script>
"""


@pytest.fixture
def site():
    """An HTTP server on 127.0.0.1 serving the pages and the client module; yields its base URL."""
    with open(os.path.join(CLIENT_JS, "liaison.js"), "rb") as module:
        files = {
            "/ttest.html": PAGE.format(body=TTEST_BODY.format(example=example("javascript", TTEST))),
            "/without-client.html": PAGE.format(
                body=WITHOUT_CLIENT_BODY.format(example=example("javascript", "crypto.randomUUID"))),
            "/refused.html": PAGE.format(body=REFUSED_BODY),
            "/liaison.js": module.read(),
        }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path
            body = files.get(path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/javascript" if path.endswith(".js") else "text/html")
            body = body.encode() if isinstance(body, str) else body or b""
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:{}".format(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


@pytest.fixture
def browser():
    """Debian's headless Chromium under chromedriver, with a fresh profile."""
    for path in (CHROMIUM, CHROMEDRIVER):
        assert os.path.exists(path), "{} is missing; .ci/run installs it (apt-get install chromium chromium-driver)".format(path)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument("--user-data-dir=" + profile)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        yield driver
        driver.quit()


def outcome(browser, site, page, server):
    """The state *page* ended in ("done" or "failed") and what it showed."""
    browser.get("{}/{}?{}".format(site, page, urllib.parse.urlencode({"server": server.url})))
    result = browser.find_element(By.ID, "result")
    WebDriverWait(browser, 30).until(lambda _: result.get_attribute("data-state"))
    return result.get_attribute("data-state"), result.text


def shown(browser, site, page, server):
    """What *page* showed once done, parsed; fails with what it showed if it failed."""
    state, text = outcome(browser, site, page, server)
    assert state == "done", text
    return json.loads(text)


def logged(capfd, text, timeout=10):
    """Wait for *text* on stderr, where a spawned server's log is passed through; return all of stderr so far."""
    deadline = time.monotonic() + timeout
    seen = ""
    while text not in seen:
        assert time.monotonic() < deadline, "not logged within {} s: {!r}; stderr: {}".format(timeout, text, seen)
        time.sleep(0.05)
        seen += capfd.readouterr().err
    return seen


def test_page_runs_the_ttest_example_and_shows_scipys_result(browser, site, server, check_ttest):
    got = shown(browser, site, "ttest.html", server)
    check_ttest(got)
    assert server.get("test.pvalue") == got["pvalue"]


def test_page_runs_the_example_without_a_client(browser, site, server, check_seed_ttest):
    check_seed_ttest(example("javascript", "crypto.randomUUID"), shown(browser, site, "without-client.html", server))


def test_a_refused_page_is_told_the_browser_hides_why_and_the_server_logs_it(browser, site, capfd):
    with spawn(token="right") as guarded:
        state, text = outcome(browser, site, "refused.html", guarded)
        assert (state, text) == ("failed", (
            "Error: could not connect to {}/: the browser does not tell pages why. Nothing may be listening there, or "
            "the server refused the token (HTTP 401), the page's origin or host (403), or was full (503): a server "
            "that refused says why on its stderr".format(guarded.url)))
        logged(capfd, "liaison WARNING: refused a connection from 127.0.0.1: 401 missing or wrong token")


@pytest.mark.parametrize("allow_origin, title", [(None, "closed 1006"), (["null"], "open")])
def test_a_page_opened_from_disk_sends_origin_null_refused_unless_allowed(browser, tmp_path, capfd, allow_origin, title):
    page = tmp_path / "page.html"
    page.write_text(FROM_DISK)
    with spawn(allow_origin=allow_origin) as server:
        browser.get("{}?{}".format(page.as_uri(), urllib.parse.urlencode({"server": server.url})))
        WebDriverWait(browser, 30).until(lambda _: browser.title != "waiting")
        assert browser.title == title
        if allow_origin is None:
            logged(capfd, "refused a connection from 127.0.0.1: 403 Origin 'null' is not allowed; start the server "
                          "with --allow-origin ORIGIN to allow that page")
