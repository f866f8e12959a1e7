"""README.rst's examples of a call's output and progress and of streamed results, run as printed."""
import subprocess
import sys

from readme import example

# Runs a README block that uses a `client` connected to LIAISON_URL, then shows that the server is free.
WITH_CLIENT = """import {{ connect }} from "liaison-client";

const client = await connect(process.env.LIAISON_URL);
{example}
console.log(await client.ping());
await client.close();
"""


def test_python_output_progress_and_stream_example():
    source = example("python", "on_progress=report")
    printed = subprocess.check_output([sys.executable, "-c", source], timeout=60).decode()
    assert printed == "stdout: hello\n1 of 4\n0\n1\n2\n"


def test_node_output_and_stream_example(run_node, server):
    source = WITH_CLIENT.format(example=example("javascript", "client.stream("))
    assert run_node(source, env={"LIAISON_URL": server.url}) == "stdout: hello\n0\n1\n2\npong\n"
