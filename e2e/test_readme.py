"""README.rst's client examples, extracted from it and run as printed against real servers, each to its exit.

Node 22 runs the examples written for Node 22 and browsers unchanged; the Node on the PATH
(Debian's Node 20) runs the ones written for it unchanged, and the client start-up example
with the ws package's WebSocket made global, as Node 22 has it. Each runs as a .mjs file in an
app that depends on liaison-client as README.rst says.
"""
import json
import os
import re
import subprocess
import sys

from conftest import CLIENT_JS, PATH
from readme import TTEST, code_blocks, example, languages, markers_of_tests

# Runs a README block that uses a `client` connected to LIAISON_URL.
WITH_CLIENT = """import {{ connect }} from "liaison-client";

const client = await connect(process.env.LIAISON_URL);
{example}
await client.close();
"""

# Runs the README's t-test block with a `client` connected to LIAISON_URL, then prints what it got.
NODE_TTEST = """import {{ connect }} from "liaison-client";

const client = await connect(process.env.LIAISON_URL);
{example}
console.log(JSON.stringify({{
  statistic, pvalue, control: await client.get("control"), treated: await client.get("treated") }}));
await client.close();
"""

def run_python(source):
    return subprocess.check_output([sys.executable, "-c", source], timeout=60).decode()


def test_python_example():
    assert run_python(example("python", "spawn()")) == "1.4142135623730951\n"


def test_python_stdio_example():
    assert run_python(example("python", 'spawn(transport="stdio")')) == "progress: 0.5\n1.4142135623730951\n"


def test_node_startup_example_on_node_22(run_node, node22):
    output = run_node(example("javascript", 'spawn({ python: "python3" })'), node=node22, shim=False)
    assert output == "pong\n1.4142135623730951\n"


def test_node_startup_example_on_node_20_with_a_websocket_given(run_node):
    assert run_node(example("javascript", 'spawn({ python: "python3" })')) == "pong\n1.4142135623730951\n"


def test_node_20_websocket_example(run_node):
    assert run_node(example("javascript", "spawn({ WebSocket })"), shim=False) == "1.4142135623730951\n"


def test_node_stdio_example_needs_no_websocket(run_node):
    assert run_node(example("javascript", 'transport: "stdio"'), shim=False) == "alert: frame rate dropped\n"


def test_cancel_and_deadline_example(run_node, node22, server):
    source = WITH_CLIENT.format(example=example("javascript", "AbortController"))
    assert run_node(source, node=node22, shim=False, env={"LIAISON_URL": server.url}) == "Cancelled\n2\n"
    # The loop was interrupted: the server answers at once.
    assert server.call("ping", timeout=5) == "pong"


def test_describe_example(run_node, node22, server):
    source = WITH_CLIENT.format(example=example("javascript", "describe("))
    output = run_node(source, node=node22, shim=False, env={"LIAISON_URL": server.url})
    assert output == "(a, b, *, rel_tol=1e-09, abs_tol=0.0)\na (required)\nb (required)\nrel_tol = 1e-9\nabs_tol = 0\n"


def test_example_without_a_client_on_node_22_ends(run_node, node22, check_seed_ttest):
    start, requests = example("javascript", "START_MARKER"), example("javascript", "crypto.randomUUID")
    end = example("javascript", "backend.kill()")
    check_seed_ttest(requests, run_node(start + requests + end, node=node22, shim=False))


def test_node_ttest_example_equals_scipy(run_node, node22, server, check_ttest):
    source = NODE_TTEST.format(example=example("javascript", TTEST))
    check_ttest(json.loads(run_node(source, node=node22, shim=False, env={"LIAISON_URL": server.url})))
    assert server.get("test.df") > 0


def test_the_app_depends_on_a_tarball_it_holds_not_on_a_path_of_this_machine(app):
    with open(os.path.join(CLIENT_JS, "package.json")) as package:
        version = json.load(package)["version"]
    tarball = "liaison-client-{}.tgz".format(version)
    with open(os.path.join(app, "package.json")) as package:
        assert json.load(package)["dependencies"] == {"liaison-client": "file:" + tarball}
    assert os.path.isfile(os.path.join(app, tarball))
    assert sorted(os.listdir(os.path.join(app, "node_modules", "liaison-client"))) == [
        "LICENSE", "README.md", "liaison.d.ts", "liaison.js", "package.json"]


def test_every_readme_code_block_is_run_by_a_test():
    markers = markers_of_tests()
    for language in languages():
        for block in code_blocks(language):
            found = [marker for marker in markers.get(language, ()) if marker in block]
            assert len(found) == 1, "no e2e test runs, or several claim, this {} block:\n{}".format(language, block)


def test_the_javascript_clients_own_readme_runs_as_printed(node, tmp_path):
    """clients/js/README.md, which npm shows: its shell block makes an app, whose example.mjs is its JavaScript."""
    with open(os.path.join(CLIENT_JS, "README.md"), encoding="utf-8") as readme:
        text = readme.read()
    shell, = re.findall(r"```sh\n(.*?)```", text, re.S)
    script, = re.findall(r"```js\n(.*?)```", text, re.S)
    environment = dict(os.environ, PATH=PATH)
    subprocess.run(["bash", "-euc", shell], cwd=str(tmp_path), env=environment, check=True, stdout=subprocess.DEVNULL,
                   timeout=300)
    (tmp_path / "example.mjs").write_text(script)
    done = subprocess.run([node, "example.mjs"], cwd=str(tmp_path), env=environment, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)
    assert (done.returncode, done.stdout.decode()) == (0, "1.4142135623730951\n"), done.stderr.decode()
