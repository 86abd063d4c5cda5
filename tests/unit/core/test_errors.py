"""house_price.core.errors.first_line: the reason a one-line message gives for an exception."""

from __future__ import annotations

import http.client

import pytest

from house_price.core.errors import first_line


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (OSError(), "OSError"),  # no message: its type, never an empty reason
        (ConnectionResetError(), "ConnectionResetError"),
        (ValueError(""), "ValueError"),
        (ValueError("  \n\t "), "ValueError"),
        (http.client.BadStatusLine("\r\n"), "BadStatusLine"),
        (http.client.RemoteDisconnected(), "RemoteDisconnected"),
        (ConnectionRefusedError(111, "Connection refused"), "[Errno 111] Connection refused"),
        (ValueError("first\nsecond\nthird"), "first"),
        (ValueError("\n  first  \r\nsecond"), "first"),
        (OSError("disk full"), "disk full"),
    ],
)
def test_first_line_of_the_message_else_the_type(exc: BaseException, line: str) -> None:
    assert first_line(exc) == line
