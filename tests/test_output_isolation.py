"""Whose output a capture takes: the command's own thread's only, never another thread's or another client's,
and the process-wide streams back as they were after each command; iterator results without a stream."""
import json

import websocket

#: Prints from the command, and from a thread it starts and waits for.
TWO_THREADS = "\n".join([
    "import threading",
    "print('from the command')",
    "helper = threading.Thread(target=print, args=('from a thread of its own',))",
    "helper.start()",
    "helper.join()",
    "print('the command again')",
])


def connect(port):
    return websocket.create_connection("ws://127.0.0.1:{}".format(port), timeout=20)


def run(ws, code, ident, **fields):
    """Send a request that runs *code*; return the messages up to its reply, the reply last."""
    ws.send(json.dumps(dict({"command": {"command": "run", "args": ["builtins:exec", code, {}]}, "id": ident}, **fields)))
    messages = []
    while not messages or messages[-1].get("tag") not in ("response", "error"):
        messages.append(json.loads(ws.recv()))
    return messages


def texts(messages):
    return [(message["name"], message["text"]) for message in messages if message.get("tag") == "stream"]


def read_until(server, text):
    """Read the CLI server's stdout until it holds *text*; return all of it so far."""
    while text not in "".join(server.chunks):
        assert server.read_chunk(), "stdout ended before {!r}: {!r}".format(text, "".join(server.chunks))
    return "".join(server.chunks)


def test_only_the_commands_own_thread_is_captured_and_the_rest_reaches_stdout(cli):
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    ws = connect(port)
    messages = run(ws, TWO_THREADS, "two", output=True)
    assert messages[-1]["tag"] == "response"
    assert texts(messages) == [("stdout", "from the command\nthe command again\n")]
    assert "from a thread of its own\n" in read_until(server, "from a thread of its own")
    assert "from the command" not in "".join(server.chunks)


def test_another_clients_output_never_reaches_a_capturing_client(cli):
    server = cli("127.0.0.1:0")
    _, port = server.wait_started()
    capturing, other = connect(port), connect(port)
    assert texts(run(capturing, "print('mine')", "mine", output=True)) == [("stdout", "mine\n")]
    assert texts(run(other, "print('not yours')", "theirs")) == []
    assert texts(run(capturing, "print('mine again')", "again", output=True)) == [("stdout", "mine again\n")]
    assert "not yours\n" in read_until(server, "not yours")


def test_the_process_wide_streams_are_put_back_after_a_captured_command(server, client):
    before = client.call("run", "builtins:eval", "[type(s).__name__ for s in (__import__('sys').stdout, "
                                                  "__import__('sys').stderr)]")
    ws = client.ws
    assert texts(run(ws, "print('caught')", "caught", output=True)) == [("stdout", "caught\n")]
    assert client.call("run", "builtins:eval", "[type(s).__name__ for s in (__import__('sys').stdout, "
                                                "__import__('sys').stderr)]") == before


def test_an_iterator_result_comes_back_as_the_list_of_its_items(client):
    assert client.call("run", "builtins:range", 3) == [0, 1, 2]
    assert client.call("run", "builtins:iter", [4, 5]) == [4, 5]
    assert client.call("register", "absolute", "builtins:abs") == "absolute"
    assert client.call("run", "builtins:map", "$absolute", [-1, -2]) == [1, 2]
    assert client.call("run", "builtins:zip", [1, 2], "ab") == [[1, "a"], [2, "b"]]


def test_an_iterator_of_too_many_items_is_an_error_saying_what_to_do_and_a_generator_is_closed(client):
    error = client.error("run", "itertools:count")
    assert error["type"] == "CommandError"
    assert "more than 10000 items" in error["message"]
    assert '"stream": true' in error["message"] and "itertools.islice" in error["message"]
    code = "\n".join([
        "def numbers():",
        "    try:",
        "        while True:",
        "            yield 1",
        "    finally:",
        "        closed.append(True)",
        "closed = []",
    ])
    assert client.call("store", "scope", {}) == "scope"
    client.call("run", "builtins:exec", code, "$scope")
    assert client.error("run", "$scope['numbers']")["type"] == "CommandError"
    assert client.call("get", "$scope['closed']") == [True]


def test_progress_outside_a_command_and_for_a_client_that_did_not_ask_does_nothing(client):
    import liaison
    assert liaison.progress(1, 2, "outside any command") is None
    code = "import liaison\nliaison.progress(1, 2)\nliaison.progress(2, 2)"
    messages = run(client.ws, code, "quiet")  # asked for neither output nor progress
    assert [message.get("tag") for message in messages] == ["response"]
    messages = run(client.ws, code, "told", progress=True)
    assert [message.get("tag") for message in messages] == ["progress", "progress", "response"]
    assert [message["done"] for message in messages[:2]] == [1, 2]
