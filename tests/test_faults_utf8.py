"""Issue 12, rule 7: invalid UTF-8 fails fast, fragment by fragment, not when the message ends."""
import pytest

from rawclient import CLOSE, CONTINUATION, TEXT, Raw, close_code


@pytest.mark.parametrize("invalid", [b"\xff", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80"],
                         ids=["never-valid byte", "surrogate", "overlong", "past U+10FFFF"])
def test_invalid_utf8_in_a_middle_fragment_closes_with_1007_before_the_last_one(server, invalid):
    client = Raw(server.server_address[1])
    client.send_frame(TEXT, b'{"command": {"command": "run", "args": ["builtins:len", "', fin=False)
    client.send_frame(CONTINUATION, b"valid \xc3", fin=False)
    client.send_frame(CONTINUATION, b"\xa9 then " + invalid + b" more", fin=False)
    fin, opcode, payload = client.next_message(timeout=5)  # the last fragment is never sent
    assert opcode == CLOSE and close_code(payload) == 1007
