"""README.rst's browser examples in headless Chromium: pages on http://127.0.0.1 run them against a real
``python -m liaison.websocket`` and show what they got.

* the t-test with a client: the page imports clients/js/liaison.js and connects;
* the example without a client: its websocket half, given the server's address, exactly as printed.
"""
import http.server
import json
import os
import tempfile
import threading
import urllib.parse

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import CLIENT_JS
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


@pytest.fixture
def site():
    """An HTTP server on 127.0.0.1 serving the pages and the client module; yields its base URL."""
    with open(os.path.join(CLIENT_JS, "liaison.js"), "rb") as module:
        files = {
            "/ttest.html": PAGE.format(body=TTEST_BODY.format(example=example("javascript", TTEST))),
            "/without-client.html": PAGE.format(
                body=WITHOUT_CLIENT_BODY.format(example=example("javascript", "crypto.randomUUID"))),
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


def shown(browser, site, page, server):
    """What *page* showed once done, parsed; fails with what it showed if it failed."""
    browser.get("{}/{}?{}".format(site, page, urllib.parse.urlencode({"server": server.url})))
    result = browser.find_element(By.ID, "result")
    WebDriverWait(browser, 30).until(lambda _: result.get_attribute("data-state"))
    assert result.get_attribute("data-state") == "done", result.text
    return json.loads(result.text)


def test_page_runs_the_ttest_example_and_shows_scipys_result(browser, site, server, check_ttest):
    got = shown(browser, site, "ttest.html", server)
    check_ttest(got)
    assert server.get("test.pvalue") == got["pvalue"]


def test_page_runs_the_example_without_a_client(browser, site, server, check_seed_ttest):
    check_seed_ttest(example("javascript", "crypto.randomUUID"), shown(browser, site, "without-client.html", server))
