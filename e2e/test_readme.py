"""README.rst's client examples, extracted from it and run as printed against real servers."""
import json
import subprocess
import sys

from readme import example

# Runs the README's t-test block with a `client` connected to LIAISON_URL, then prints what it got.
NODE_TTEST = """import {{ connect }} from "liaison-client";

const client = await connect(process.env.LIAISON_URL);
{example}
console.log(JSON.stringify({{
  statistic, pvalue, control: await client.get("control"), treated: await client.get("treated") }}));
await client.close();
"""


def test_python_example():
    output = subprocess.check_output([sys.executable, "-c", example("python", "spawn()")], timeout=60)
    assert output.decode() == "1.4142135623730951\n"


def test_node_startup_example(run_node):
    assert run_node(example("javascript", 'from "liaison-client"')) == "pong\n1.4142135623730951\n"


def test_node_ttest_example_equals_scipy(run_node, server, check_ttest):
    source = NODE_TTEST.format(example=example("javascript", "ttest_ind"))
    check_ttest(json.loads(run_node(source, LIAISON_URL=server.url)))
    assert server.get("test.df") > 0
