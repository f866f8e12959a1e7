"""README.rst's t-test example in headless Chromium: a page on http://127.0.0.1 imports clients/js/liaison.js,
runs the example against a real ``python -m liaison.websocket``, and shows what it got."""
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
from readme import example

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# From ../shared/README.md: headless, and no attempt to reach hosts outside this machine.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Runs the README's t-test block with a `client` connected to the page's ?server=, then shows what it got.
PAGE = """<!doctype html>
<meta charset="utf-8">
<title>liaison t-test</title>
<pre id="result"></pre>
<script type="module">
import {{ connect }} from "./liaison.js";

const shown = document.getElementById("result");
try {{
const client = await connect(new URLSearchParams(location.search).get("server"));
{example}
shown.textContent = JSON.stringify({{
  statistic, pvalue, control: await client.get("control"), treated: await client.get("treated") }});
shown.dataset.state = "done";
}} catch (error) {{
  shown.textContent = `${{error.name}}: ${{error.message}}`;
  shown.dataset.state = "failed";
}}
</script>
"""


@pytest.fixture
def site():
    """An HTTP server on 127.0.0.1 serving the page and the client module; yields its base URL."""
    with open(os.path.join(CLIENT_JS, "liaison.js"), "rb") as module:
        files = {"/index.html": ("text/html", PAGE.format(example=example("javascript", "ttest_ind")).encode()),
                 "/liaison.js": ("text/javascript", module.read())}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            content_type, body = files.get(urllib.parse.urlsplit(self.path).path, ("text/plain", None))
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

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


def test_page_runs_the_ttest_example_and_shows_scipys_result(browser, site, server, check_ttest):
    browser.get("{}/index.html?{}".format(site, urllib.parse.urlencode({"server": server.url})))
    result = browser.find_element(By.ID, "result")
    WebDriverWait(browser, 30).until(lambda _: result.get_attribute("data-state"))
    assert result.get_attribute("data-state") == "done", result.text
    check_ttest(json.loads(result.text))
    assert server.get("test.pvalue") == json.loads(result.text)["pvalue"]
