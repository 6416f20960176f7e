"""kill-on-disconnect: a session whose player has gone (reset, or both
directions closed) ends within a second with cause=disconnect; a player who
only half-closes (shutdown of writing, as `nc -N` and pwntools do) keeps the
session and gets all of its output. Jailed (init watches the socket) and
unjailed (the daemon does), in both stdio modes."""

import socket
import struct
import time

import pytest

from conftest import prog, recv_all, recv_line

END_RE = (r"end service={svc} pid=\d+ ip=127\.0\.0\.1 port={port} "
          r"status=(\S+) cause=(\S+) secs=([\d.]+)")


@pytest.fixture(params=["socket", "pty"])
def stdio(request):
    return ["--stdio", request.param]


def rst_close(s):
    """Closes with a reset (SO_LINGER 0), as a killed client may."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def abandon(c, how):
    """Connects, waits for the sleeper's greeting, goes away; returns
    (client port, monotonic time of leaving)."""
    s = c.connect()
    me = s.getsockname()[1]
    if how == "unread":
        # close() with unread data sends a reset: wait until it is there
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if s.recv(1, socket.MSG_PEEK):
                break
        t = time.monotonic()
        s.close()
    else:
        assert recv_line(s) == b"ready\n"
        t = time.monotonic()
        rst_close(s)
    return me, t


@pytest.mark.parametrize("how", ["reset", "unread"])
def test_abandoned_session_ends_within_a_second(chald, jail, stdio, how):
    c = chald("-b", "127.0.0.1", "-p", "0", "--timeout", "20s", *jail,
              *stdio, "--", prog("sleeper"))
    port, left = abandon(c, how)
    m = c.wait_log(END_RE.format(svc="sleeper", port=port), timeout=3)
    waited = time.monotonic() - left
    assert m.group(2) == "disconnect", m.group(0)
    assert m.group(1) == "signal:9", m.group(0)
    assert waited < 1.0, f"ended {waited:.2f} s after the player left"


def test_kill_on_disconnect_off(chald, jail):
    """Switched off, an abandoned session runs until its timeout."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--timeout", "1500ms", *jail,
              "--kill-on-disconnect", "off", "--", prog("sleeper"))
    port, left = abandon(c, "reset")
    m = c.wait_log(END_RE.format(svc="sleeper", port=port), timeout=5)
    assert m.group(2) == "timeout", m.group(0)
    assert time.monotonic() - left > 1.2


def late_reply(pubdir):
    """Greets, ignores its input, answers after 1.5 s: past the second a
    gone player's session would have."""
    p = pubdir / "late.sh"
    p.write_text("#!/bin/sh\necho ready\nsleep 1.5\necho done\n")
    p.chmod(0o755)
    return p


def test_half_closed_player_keeps_the_session(chald, jail, stdio, pubdir):
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, *stdio, "--",
              late_reply(pubdir))
    with c.connect() as s:
        port = s.getsockname()[1]
        assert recv_line(s) == b"ready\n"
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s, timeout=5) == b"done\n"
    m = c.wait_log(END_RE.format(svc=r"late\.sh", port=port))
    assert (m.group(1), m.group(2)) == ("exit:0", "exit"), m.group(0)
    assert float(m.group(3)) >= 1.4


def test_half_closed_pwntools(chald, jail, stdio, pubdir):
    from pwn import context, remote
    context.log_level = "error"
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, *stdio, "--",
              late_reply(pubdir))
    r = remote("127.0.0.1", c.port, timeout=5)
    try:
        assert r.recvline(timeout=5) == b"ready\n"
        r.shutdown("send")
        assert r.recvall(timeout=5) == b"done\n"
    finally:
        r.close()
    assert "cause=disconnect" not in c.log_text()


def test_both_directions_closed(chald, jail, pubdir):
    """The challenge shut down its writing and so did the player: nothing
    can flow either way, so the session ends."""
    p = pubdir / "shut.py"
    p.write_text("#!/usr/bin/python3\nimport socket, sys, time\n"
                 "s = socket.socket(fileno=0)\ns.sendall(b'bye\\n')\n"
                 "s.shutdown(socket.SHUT_WR)\ntime.sleep(20)\n")
    p.chmod(0o755)
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--", p)
    with c.connect() as s:
        port = s.getsockname()[1]
        assert recv_all(s) == b"bye\n"
        t = time.monotonic()
        s.shutdown(socket.SHUT_WR)
        m = c.wait_log(END_RE.format(svc=r"shut\.py", port=port), timeout=3)
    assert m.group(2) == "disconnect", m.group(0)
    assert time.monotonic() - t < 1.0
