"""Every message a server sends in the tests, checked against schema/liaison.schema.json.

The test clients call :func:`check` on what they read: conftest's websocket-client connections
and liaison.client's channels through :func:`check_client_reads`, rawclient's and test_frames'
frames, test_stdio's lines. A message the schema refuses raises an AssertionError naming the
schema's complaint; one read on another thread than the test's (a client's reader) is recorded
in :data:`refused` instead, for conftest to fail the test with.
"""
import json
import os
import sys
import threading

import jsonschema

__all__ = ["SCHEMA_PATH", "validator", "check", "check_received", "refused", "check_client_reads"]

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schema",
                           "liaison.schema.json")

with open(SCHEMA_PATH, encoding="utf-8") as _file:
    validator = jsonschema.Draft7Validator(json.load(_file))

#: The complaints about messages read on other threads than the main one, oldest first.
refused = []


def check(data):
    """Check one message (UTF-8 bytes or text) a server sent; return it parsed."""
    message = json.loads(data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data)
    error = jsonschema.exceptions.best_match(validator.iter_errors(message))
    if error is None:
        return message
    shown = data if len(data) <= 500 else data[:500] + (b"..." if isinstance(data, bytes) else "...")
    raise AssertionError("the server sent a message that schema/liaison.schema.json refuses: {} (at {}); the "
                         "message: {!r}".format(error.message,
                                                "/".join(str(part) for part in error.absolute_path) or "its root",
                                                shown))


def check_received(data):
    """:func:`check` a message a reader got; on another thread than the main one, only record a refusal in
    :data:`refused`: raising would end a client's reader."""
    try:
        check(data)
    except AssertionError as complaint:
        if threading.current_thread() is threading.main_thread():
            raise
        refused.append(str(complaint))


def _checked_read(read, is_message, of_server=lambda channel: True):
    """*read* (a method returning what one read got), checking each message it returns with :func:`check_received`.

    ``is_message(result)`` gives the message's data or None for what is not one (a control frame);
    ``of_server(channel)``, whether the channel reads from a real server rather than a stand-in.
    """
    def checked(self, *args, **kwargs):
        result = read(self, *args, **kwargs)
        data = is_message(result)
        if data is not None and of_server(self):
            check_received(data)
        return result

    return checked


def check_client_reads():
    """Check every message that websocket-client connections (the tests' own, and liaison.client's) and
    liaison.client's stdio channels read from the servers the tests run."""
    import websocket

    from liaison import client

    data_opcodes = (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY)
    websocket.WebSocket.recv_data = _checked_read(
        websocket.WebSocket.recv_data, lambda result: result[1] if result[0] in data_opcodes else None)
    # Stand-in servers, which play liaison-py or an older liaison-backend to test the client, run another program.
    client._PipeChannel.receive = _checked_read(
        client._PipeChannel.receive, lambda line: line,
        lambda channel: channel.server.process.args[:3] == [sys.executable, "-m", "liaison.stdio"])
