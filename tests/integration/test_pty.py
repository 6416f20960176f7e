"""stdio = pty: the challenge's fds 0-2 are a raw pty that is its
controlling terminal, relayed inside the session (the jail's init, or the
unjailed relay); every byte value passes both ways; the jail has its own
devpts for the challenge's own ptys; terminal-only challenges (bash's
read -e, Python's block-buffered stdout) work with pty and stall with the
socket; the player's end of input and the challenge's last output."""

import socket
import struct
import time

import pytest

from conftest import prog, recv_all, recv_line

PTY = ["--stdio", "pty"]
RAW_LINE = (b"tty=1,1,1 ctty=1 echo=0 icanon=0 isig=0 ixon=0 opost=0 "
            b"icrnl=0 ownpty=ok\n")


def script(d, name, text):
    p = d / name
    p.write_text(text)
    p.chmod(0o755)
    return p


def recv_exact(s, n, timeout=5.0):
    buf = b""
    deadline = time.monotonic() + timeout
    while len(buf) < n:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        c = s.recv(n - len(buf))
        if not c:
            break
        buf += c
    return buf


def test_pty_is_a_raw_controlling_terminal(chald, jail):
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, *PTY, "--",
              prog("ttyprobe"))
    with c.connect() as s:
        assert recv_all(s) == RAW_LINE
    c.wait_log(r"end service=ttyprobe .* status=exit:0 cause=exit")


def test_socket_is_no_terminal(chald, jail):
    """The default stays the socket itself (and a program in the jail can
    still open a pty of its own)."""
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--", prog("ttyprobe"))
    with c.connect() as s:
        assert recv_all(s) == (b"tty=0,0,0 ctty=0 echo=0 icanon=0 isig=0 "
                               b"ixon=0 opost=0 icrnl=0 ownpty=ok\n")


def test_all_byte_values_both_ways(chald, jail):
    every = bytes(range(256))
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, *PTY, "--",
              prog("ttyprobe"), "bytes")
    with c.connect() as s:
        assert recv_line(s) == RAW_LINE
        assert recv_exact(s, 256) == every          # challenge -> player
        s.sendall(every)                            # player -> challenge
        assert recv_exact(s, 256) == every          # and back unchanged
        assert recv_all(s) == b""
    c.wait_log(r"end service=ttyprobe .* status=exit:0 cause=exit")


def test_jail_has_its_own_devpts(chald, pubdir):
    """Only the session's own ptys are in its /dev/pts, and `script` can
    make one inside the jail."""
    p = script(pubdir, "pts.sh", "#!/bin/sh\nls /dev/pts | tr '\\n' ' '; "
               "echo\nscript -qc 'tty' /dev/null </dev/null\n")
    c = chald("-b", "127.0.0.1", "-p", "0", *PTY, "--", p)
    with c.connect() as s:
        out = recv_all(s).decode()
    first, second = out.split("\n", 1)
    assert first.split() == ["0", "ptmx"], out
    assert second.strip().startswith("/dev/pts/"), out


BASH_CHAL = """#!/bin/bash
read -e -p 'prompt> ' answer
if [ "$answer" = "open sesame" ]; then
    echo "flag{pty_readline}"
else
    echo "wrong: $answer"
fi
"""


def test_bash_read_e_solved_by_pwntools(chald, pubdir, jail):
    from pwn import context, remote
    context.log_level = "error"
    p = script(pubdir, "readline.sh", BASH_CHAL)
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, *PTY, "--", p)
    r = remote("127.0.0.1", c.port, timeout=5)
    try:
        assert r.recvuntil(b"prompt> ", timeout=5).endswith(b"prompt> ")
        r.sendline(b"open sesame")
        assert b"flag{pty_readline}" in r.recvall(timeout=5)
    finally:
        r.close()
    c.wait_log(r"end service=readline\.sh .* status=exit:0 cause=exit")


def test_bash_read_e_stalls_on_the_socket(chald, pubdir, jail):
    """The same challenge without a terminal never shows its prompt."""
    p = script(pubdir, "readline.sh", BASH_CHAL)
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--", p)
    with c.connect() as s:
        s.settimeout(1.5)
        with pytest.raises(socket.timeout):
            s.recv(100)


PY_CHAL = """#!/usr/bin/python3
import sys
print("What is 6*7?")
line = sys.stdin.readline()
print("flag{line_buffered}" if line.strip() == "42" else "no")
"""


def test_python_unflushed_prompt(chald, pubdir, jail):
    """print() without flush: block-buffered on a socket, so the player
    waits for a prompt that never comes; line-buffered on the pty."""
    p = script(pubdir, "unflushed.py", PY_CHAL)
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--name", "sock", "--",
              p)
    with c.connect() as s:
        s.settimeout(1.5)
        with pytest.raises(socket.timeout):
            s.recv(100)
    c2 = chald("-b", "127.0.0.1", "-p", "0", *jail, *PTY, "--name", "pty",
               "--", p)
    with c2.connect() as s:
        assert recv_line(s, timeout=5) == b"What is 6*7?\n"
        s.sendall(b"42\n")
        assert recv_all(s) == b"flag{line_buffered}\n"


def test_all_output_before_the_close(chald, pubdir, jail):
    """A challenge that writes a lot and exits at once: every byte reaches
    the player before the connection closes."""
    p = script(pubdir, "flood.py", "#!/usr/bin/python3\nimport os\n"
               "data = bytes(range(256)) * 1024\n"
               "os.write(1, b'start\\n')\nn = 0\n"
               "while n < len(data):\n    n += os.write(1, data[n:])\n")
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, *PTY, "--", p)
    with c.connect() as s:
        assert recv_line(s) == b"start\n"
        got = recv_all(s, timeout=10)
    assert got == bytes(range(256)) * 1024


def test_eof_after_the_input_was_read(chald, pubdir, jail):
    """The player half-closes while the challenge is busy: once it has read
    all the input, its next read returns 0 (end of file), and its answer
    still reaches the player."""
    p = script(pubdir, "count.py", "#!/usr/bin/python3\nimport sys, time\n"
               "print('ready', flush=True)\ntime.sleep(1)\n"
               "data = sys.stdin.buffer.read()\n"
               "print('got', len(data), flush=True)\n")
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, *PTY, "--", p)
    with c.connect() as s:
        assert recv_line(s) == b"ready\n"
        s.sendall(b"x" * 1000 + b"\x04\x03\x1a\r\n" + b"y" * 999)
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s, timeout=5) == b"got 2004\n"
    c.wait_log(r"end service=count\.py .* status=exit:0 cause=exit")


def test_eof_while_the_challenge_waits_in_read(chald, pubdir, jail):
    """A read already waiting in raw mode cannot be given an end of file;
    that challenge gets a hangup instead, after everything it was sent, and
    its output up to then reaches the player."""
    p = script(pubdir, "echoer.py", "#!/usr/bin/python3\nimport os\n"
               "os.write(1, b'ready\\n')\n"
               "while True:\n    b = os.read(0, 100)\n    if not b:\n"
               "        os.write(1, b'eof\\n')\n        break\n"
               "    os.write(1, b'<' + b + b'>')\n")
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, *PTY, "--", p)
    with c.connect() as s:
        assert recv_line(s) == b"ready\n"
        s.sendall(b"abc")
        assert recv_exact(s, 5) == b"<abc>"
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s, timeout=5) == b""
    m = c.wait_log(r"end service=echoer\.py .* status=(\S+) cause=(\S+)")
    assert m.group(1, 2) == ("signal:1", "signal"), m.group(0)


def test_gone_player_hangs_up_without_kill_on_disconnect(chald, jail):
    """kill-on-disconnect off: a reset hangs the terminal up (SIGHUP)."""
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, *PTY,
              "--kill-on-disconnect", "off", "--", prog("sleeper"))
    s = c.connect()
    assert recv_line(s) == b"ready\n"
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    m = c.wait_log(r"end service=sleeper .* status=(\S+) cause=(\S+)",
                   timeout=3)
    assert m.group(1, 2) == ("signal:1", "signal"), m.group(0)
