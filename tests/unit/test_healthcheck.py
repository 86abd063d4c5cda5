"""house_price.healthcheck without a server: the address it asks for each HOST the server can
listen on, and its one-line refusals. tests/integration/test_server_fleet.py runs it, as the
image's HEALTHCHECK, against real servers on 127.0.0.2, 127.1.2.3, ::1 and the default."""

from __future__ import annotations

import socket
import threading

import pytest

from house_price import healthcheck


@pytest.mark.parametrize(
    ("host", "asked"),
    [
        ("0.0.0.0", "127.0.0.1"),  # every IPv4 address (the image's HOST): its loopback
        (" 0.0.0.0 ", "127.0.0.1"),
        ("::", "::1"),  # every IPv6 address
        ("0:0::0", "::1"),
        ("[::]", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.2", "127.0.0.2"),
        ("127.1.2.3", "127.1.2.3"),
        ("10.1.2.3", "10.1.2.3"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("fd00::5", "fd00::5"),
        ("::ffff:127.0.0.2", "::ffff:127.0.0.2"),
        ("localhost", "localhost"),
        ("api.internal", "api.internal"),
    ],
)
def test_asks_the_address_the_server_listens_on(host: str, asked: str) -> None:
    assert healthcheck.connect_host(host) == asked


@pytest.mark.parametrize(
    ("host", "written"),
    [("127.0.0.2", "127.0.0.2"), ("::1", "[::1]"), ("localhost", "localhost")],
)
def test_urls_bracket_ipv6(host: str, written: str) -> None:
    assert healthcheck.url_host(host) == written


def closed_port() -> int:
    """A loopback port nothing listens on (bound, never listening, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_nothing_listening_is_one_line_naming_the_url() -> None:
    port = closed_port()
    problem = healthcheck.check("0.0.0.0", port)
    assert problem is not None
    assert problem.startswith(f"http://127.0.0.1:{port}/readyz: ")
    assert "refused" in problem
    assert "\n" not in problem


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"\r\n", "BadStatusLine"),  # a blank status line: an exception whose message is blank
        (b"  \r\n", "BadStatusLine"),
        (b"junk\r\nmore\r\n", "junk"),  # the status line's text, on the one line
        (b"", "Remote end closed connection without response"),
    ],
)
def test_a_peer_that_answers_no_http_is_one_line_with_a_reason(reply: bytes, reason: str) -> None:
    """A one-shot peer on a loopback socket in this process answers `reply` and closes."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(5)
        port = int(listener.getsockname()[1])

        def answer() -> None:
            peer, _ = listener.accept()
            with peer:
                peer.settimeout(5)
                peer.recv(4096)
                peer.sendall(reply)

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        problem = healthcheck.check("127.0.0.1", port)
        thread.join(timeout=5)
    assert problem == f"http://127.0.0.1:{port}/readyz: {reason}"


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["readyz"], {}, "usage: python -m house_price.healthcheck [/PATH]"),
        (["/readyz", "/livez"], {}, "usage: python -m house_price.healthcheck [/PATH]"),
        ([], {"PORT": "0"}, "PORT=0: the server took a free port, unknown here"),
        ([], {"PORT": "80000"}, "PORT='80000': expected an integer from 0 to 65535"),
        ([], {"PORT": "http"}, "PORT='http': expected an integer from 0 to 65535"),
    ],
)
def test_refusals_are_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    says: str,
) -> None:
    """Exit 1 (Docker: unhealthy) for every failure: Docker reserves 2."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert healthcheck.main(args) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"healthcheck: {says}\n"


def test_unreachable_server_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    monkeypatch.setenv("HOST", "127.0.0.1")
    monkeypatch.setenv("PORT", str(port))
    assert healthcheck.main(["/livez"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"healthcheck: http://127.0.0.1:{port}/livez: ")
    assert err.count("\n") == 1
