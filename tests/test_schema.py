"""schema/liaison.schema.json: a valid draft-07 schema that takes the messages the protocol describes and
refuses what it does not (the test clients check every message a server sends them against it)."""
import json

import jsonschema
import pytest

import message_schema

RUN = {"command": {"command": "run", "args": ["math:sqrt", 2], "kwargs": {}}, "id": 1}
STREAMED = dict(RUN, stream={"window": 4}, output={"log_level": "info"}, progress=True, timeout=30)
HELLO = {"command": {"command": "hello", "kwargs": {"features": ["interleave", "output"], "log_level": "DEBUG"}},
         "id": 2}
LIMITS = {"max_size": 67108864, "max_depth": 100, "max_int_digits": 4300, "send_timeout": 10.0, "stream_window": 16,
          "max_stream_window": 1024, "output_batch_bytes": 65536, "output_batch_seconds": 0.05,
          "progress_seconds": 0.05}
ANSWER = {"protocol": 2, "server": "liaison-backend", "version": "1.1.0", "features": ["interleave", "output"],
          "available": ["interleave", "output", "progress", "stream"], "limits": LIMITS}

VALID = {
    "response": {"response": 1.4142135623730951, "tag": "response", "evt": RUN},
    "error": {"error": ["Traceback (most recent call last):\n", '  File "x.py", line 1, in f\n    g()\n',
                        "ValueError: no\n"], "exception": {"type": "ValueError", "message": "no"}, "tag": "error",
              "evt": RUN},
    "error of an unreadable request": {"error": ["ProtocolError: message is not valid JSON\n"],
                                       "exception": {"type": "ProtocolError", "message": "message is not valid JSON"},
                                       "tag": "error", "evt": None},
    "error echoing a malformed request": {"error": ["ProtocolError: a request must be a JSON object, not an array\n"],
                                          "exception": {"type": "ProtocolError", "message": "..."}, "tag": "error",
                                          "evt": [1, 2]},
    "hello": {"response": ANSWER, "tag": "response", "evt": HELLO},
    "end of a stream": {"response": {"items": 3}, "tag": "response", "evt": STREAMED},
    "more": {"response": 8, "tag": "response", "evt": {"command": {"command": "more", "args": [1, 8]}, "id": 5}},
    "cancel": {"response": "interrupted", "tag": "response",
               "evt": {"command": {"command": "cancel", "args": [1]}, "id": 6}},
    "output": {"tag": "stream", "id": 1, "name": "log", "text": "WARNING streamed: a warning record\n"},
    "progress": {"tag": "progress", "id": 1, "done": 0.5, "total": None, "message": None},
    "item": {"tag": "item", "id": 1, "index": 0, "item": {"any": ["value"]}},
    "pushed alert": {"tag": "alert", "message": {"msg": "frame rate dropped"}},
    "pushed progress without an id": {"tag": "progress", "done": 0.5},
    "pushed string": "just text",
    "pushed list": [1, 2],
}

REFUSED = {
    "reply with a member too many": (dict(VALID["response"], extra=1), "('extra' was unexpected)"),
    "error without exception": ({"error": ["E\n"], "tag": "error", "evt": None}, "'exception' is a required property"),
    "error line without its newline": (dict(VALID["error"], error=["ValueError: no"]), "does not match"),
    "hello without limits": (dict(VALID["hello"], response=dict(ANSWER, limits={})),
                             "'max_size' is a required property (at response/limits)"),
    "unknown feature": (dict(VALID["hello"], response=dict(ANSWER, features=["teleport"])), "is not one of"),
    "ping not answered pong": ({"response": "ping", "tag": "response",
                                "evt": {"command": {"command": "ping"}, "id": 1}}, "'pong' was expected"),
    "more answered with a negative count": (dict(VALID["more"], response=-1), "less than the minimum"),
    "output of an unknown stream": (dict(VALID["output"], name="stdin"), "is not one of"),
    "empty output": (dict(VALID["output"], text=""), "(at text)"),
    "progress without total": ({"tag": "progress", "id": 1, "done": 1, "message": None}, "'total' is a required"),
    "item without index": ({"tag": "item", "id": 1, "item": 3}, "'index' is a required property"),
    "response to a window too large": (dict(VALID["end of a stream"], evt=dict(RUN, stream={"window": 2000})),
                                       "greater than the maximum"),
    "response to an unknown log level": (dict(VALID["end of a stream"], evt=dict(RUN, output={"log_level": "LOUD"})),
                                         "(at evt/output"),
}


def test_the_schema_is_a_valid_draft_7_schema():
    with open(message_schema.SCHEMA_PATH, encoding="utf-8") as file:
        jsonschema.Draft7Validator.check_schema(json.load(file))


@pytest.mark.parametrize("message", list(VALID.values()), ids=list(VALID))
def test_it_takes_every_kind_of_message(message):
    assert message_schema.check(json.dumps(message)) == message


@pytest.mark.parametrize("message, complaint", list(REFUSED.values()), ids=list(REFUSED))
def test_it_refuses_malformed_messages_saying_why(message, complaint):
    with pytest.raises(AssertionError) as refused:
        message_schema.check(json.dumps(message).encode())
    assert str(refused.value).startswith("the server sent a message that schema/liaison.schema.json refuses: ")
    assert complaint in str(refused.value)


@pytest.mark.parametrize("request_", [RUN, STREAMED, HELLO, {"command": {"command": "ping"}},
                                      {"command": {"command": "run", "args": None, "kwargs": None}, "id": "x"}])
def test_definitions_request_takes_the_requests_clients_send(request_):
    schema = dict(message_schema.validator.schema, allOf=[{"$ref": "#/definitions/request"}])
    jsonschema.Draft7Validator(schema).validate(request_)
