"""Serving a challenge: the conversation, the UCSPI environment, fds, cwd,
address families, pwntools, and the JSON log."""

import json
import os
import re
import time
import uuid

import pytest

from conftest import (children, forkers, jails, parse_env, prog, recv_all,
                      recv_line, zombie_children)

UCSPI = {"PROTO", "TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP",
         "TCPLOCALPORT", "PATH"}


def envdump(c, host="127.0.0.1", source=None):
    """Connects, returns (parsed envdump output, client socket name)."""
    with c.connect(host=host, source=source) as s:
        me = s.getsockname()
        out = recv_all(s).decode()
    assert out.endswith("END\n"), out
    return parse_env(out), me


def test_greeting_and_echo(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--", prog("echo"))
    with c.connect() as s:
        assert recv_line(s) == b"hello\n"
        s.sendall(b"ping 123\n")
        assert recv_line(s) == b"ping 123\n"
        assert recv_all(s) == b""
    m = c.wait_log(r"end service=echo pid=(\d+) ip=127\.0\.0\.1 port=\d+ "
                   r"status=exit:0 cause=exit secs=[\d.]+")
    assert c.count_log(rf"accept service=echo ip=127\.0\.0\.1 port=\d+ "
                       rf"pid={m.group(1)} conns=1/256") == 1


def test_ucspi_environment(chald, jail):
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--env", "FLAG=flag{x y}",
              "--env", "LEVEL=3", "--", prog("envdump"),
              env={"PATH": os.environ.get("PATH", "/bin"),
                   "CHALD_TEST_SECRET": "leak", "HOME": "/root"})
    (env, cwd, fds, ids), me = envdump(c)
    assert env["PROTO"] == "TCP"
    assert env["TCPREMOTEIP"] == "127.0.0.1"
    assert env["TCPREMOTEPORT"] == str(me[1])
    assert env["TCPLOCALIP"] == "127.0.0.1"
    assert env["TCPLOCALPORT"] == str(c.port)
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["FLAG"] == "flag{x y}"
    assert env["LEVEL"] == "3"
    # nothing of chald's own environment leaks through
    assert set(env) == UCSPI | {"FLAG", "LEVEL"}, env


def test_env_path_override(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--env", "PATH=/opt/bin", "--",
              prog("envdump"))
    (env, _, _, _), _ = envdump(c)
    assert env["PATH"] == "/opt/bin"
    assert set(env) == UCSPI


def test_only_std_fds_open(chald, tmp_path, jail):
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--pidfile",
              tmp_path / "pid", "--log", tmp_path / "log", "--",
              prog("envdump"), logfile=tmp_path / "log")
    (_, _, fds, _), _ = envdump(c)
    assert fds == [0, 1, 2]


def test_own_session_unjailed(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--sandbox", "off", "--",
              prog("envdump"))
    (_, _, _, ids), _ = envdump(c)
    assert ids["PID"] == ids["PGID"] == ids["SID"]
    acc = c.wait_log(r"accept service=envdump .* pid=(\d+) ")
    assert int(acc.group(1)) == ids["PID"]


def test_own_session_jailed(chald):
    """In the jail the session leader is the namespace's init (pid 1) and
    the challenge runs below it, in its session and process group."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--", prog("envdump"))
    (_, _, _, ids), _ = envdump(c)
    assert ids["PGID"] == ids["SID"] == 1
    assert ids["PID"] > 1


def test_jail_pool_ready_at_start(chald):
    """Jails are built ahead for the first players too, not only after the
    first connection (or the 10 s housekeeping tick) woke the loop up."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--pool", "2", "--",
              prog("echo"))
    deadline = time.monotonic() + 3
    while len(jails(c.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(jails(c.pid)) == 2, "no jail built ahead within 3 s"
    assert len(forkers(c.pid)) == 1, children(c.pid)


def test_cwd_defaults_to_program_dir(chald, tmp_path, jail):
    # started from somewhere else, with a relative program path
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--",
              os.path.relpath(prog("envdump"), tmp_path), cwd=tmp_path)
    (_, cwd, _, _), _ = envdump(c)
    assert cwd == os.path.realpath(os.path.dirname(prog("envdump")))


def test_workdir(chald, pubdir, jail):
    wd = pubdir / "work dir"
    wd.mkdir()
    wd.chmod(0o755)
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--workdir", wd, "--",
              prog("envdump"))
    (_, cwd, _, _), _ = envdump(c)
    assert cwd == os.path.realpath(wd)


@pytest.mark.parametrize("mode", ["socket", "null", "log"])
def test_stderr_modes(chald, pubdir, mode, jail):
    script = pubdir / "err.sh"
    script.write_text("#!/bin/sh\necho to-stdout; echo to-stderr-$1 >&2\n")
    script.chmod(0o755)
    token = uuid.uuid4().hex
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--stderr", mode, "--",
              script, token)
    with c.connect() as s:
        got = recv_all(s)
    c.wait_log(r"end service=err\.sh pid=(\d+) ")
    marker = f"to-stderr-{token}"
    if mode == "socket":
        assert got == f"to-stdout\n{marker}\n".encode()
    else:
        assert got == b"to-stdout\n"
    assert (marker in c.log_text()) == (mode == "log")


def test_pwntools_remote(chald):
    from pwn import context, remote
    context.log_level = "error"
    c = chald("-b", "127.0.0.1", "-p", "0", "--", prog("echo"))
    r = remote("127.0.0.1", c.port, timeout=5)
    try:
        assert r.recvline(timeout=5) == b"hello\n"
        r.sendline(b"pwned")
        assert r.recvline(timeout=5) == b"pwned\n"
        assert r.recvall(timeout=5) == b""
    finally:
        r.close()


def test_ipv6_listener(chald, ipv6):
    c = chald("-b", "::1", "-p", "0", "--", prog("envdump"))
    c.wait_log(r"listening service=envdump addr=::1 port=\d+")
    (env, _, _, _), me = envdump(c, host="::1")
    assert env["TCPREMOTEIP"] == "::1"
    assert env["TCPREMOTEPORT"] == str(me[1])
    assert env["TCPLOCALIP"] == "::1"
    assert env["TCPLOCALPORT"] == str(c.port)


def test_default_bind_is_dual_stack(chald, ipv6):
    c = chald("-p", "0", "--", prog("envdump"))
    c.wait_log(r"listening service=envdump addr=:: port=\d+")
    (env4, _, _, _), me4 = envdump(c, host="127.0.0.1")
    assert env4["TCPREMOTEIP"] == "127.0.0.1"   # not ::ffff:127.0.0.1
    assert env4["TCPREMOTEPORT"] == str(me4[1])
    assert env4["TCPLOCALIP"] == "127.0.0.1"
    (env6, _, _, _), me6 = envdump(c, host="::1")
    assert env6["TCPREMOTEIP"] == "::1"
    assert env6["TCPREMOTEPORT"] == str(me6[1])
    assert env6["TCPLOCALPORT"] == str(c.port)
    c.wait_log(r"accept service=envdump ip=127\.0\.0\.1 ")
    c.wait_log(r"accept service=envdump ip=::1 ")


def test_name_option(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--name", "pwn101", "--",
              prog("echo"))
    c.wait_log(r"listening service=pwn101 addr=127\.0\.0\.1 ")
    with c.connect() as s:
        assert recv_line(s) == b"hello\n"
    c.wait_log(r"end service=pwn101 ")


def test_program_arguments(chald, pubdir):
    script = pubdir / "args.sh"
    script.write_text('#!/bin/sh\nprintf "<%s>" "$@"; echo\n')
    script.chmod(0o755)
    c = chald("-b", "127.0.0.1", "-p", "0", "--", script, "a b", "--c")
    with c.connect() as s:
        assert recv_all(s) == b"<a b><--c>\n"


def json_run(chald):
    """A chald with --log-format json that served one session and stopped."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--log-format", "json", "--",
              prog("echo"))
    with c.connect() as s:
        assert recv_line(s) == b"hello\n"
        s.sendall(b"x\n")
        assert recv_all(s) == b"x\n"
    c.wait_log(r'"event":"end"')
    assert c.stop() == 0
    return c


def test_json_log_lines_parse(chald):
    c = json_run(chald)
    bad = []
    for line in c.log_lines():
        try:
            assert isinstance(json.loads(line), dict)
        except (ValueError, AssertionError) as e:
            bad.append(f"{e}: {line}")
    assert not bad, "invalid JSON log lines:\n" + "\n".join(bad)


def test_json_log_events(chald):
    c = json_run(chald)
    events = {}
    for line in c.log_lines():
        # Lines that are not JSON at all, or JSON with dotted numbers left
        # bare (a version, an IPv4 address), are test_json_log_lines_parse's
        # business; the content of the others is checked here.
        if not line.startswith("{"):
            continue
        fixed = re.sub(r':(\d+(?:\.\d+){2,})([,}])', r':"\1"\2', line)
        obj = json.loads(fixed)
        assert "ts" in obj and "event" in obj, line
        events.setdefault(obj["event"], []).append(obj)
    for name in ("start", "listening", "accept", "end", "shutdown", "exit"):
        assert name in events, (name, events.keys())
    assert events["listening"][0]["port"] == c.port
    assert events["listening"][0]["addr"] == "127.0.0.1"
    assert events["start"][0]["pid"] == c.pid
    acc, end = events["accept"][0], events["end"][0]
    for ev in (acc, end):
        assert ev["service"] == "echo"
        assert isinstance(ev["pid"], int) and ev["pid"] > 0
        assert ev["ip"] == "127.0.0.1"
    assert acc["pid"] == end["pid"]
    assert end["status"] == "exit:0" and end["cause"] == "exit"
    assert isinstance(end["secs"], float)


def test_text_log_format(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--", prog("echo"))
    start = c.wait_log(r"(?m)^(\S+) start version=\S+ pid=(\d+) "
                       r"services=1 config=command-line$")
    assert int(start.group(2)) == c.pid
    assert start.group(1).endswith("Z")
    m = c.wait_log(r"(?m)^\S+ listening service=echo addr=127\.0\.0\.1 "
                   r"port=(\d+)$")
    assert int(m.group(1)) == c.port


def test_stderr_log_is_a_pipe_not_the_log(chald, pubdir, jail):
    """With stderr = log the challenge gets a pipe the daemon reads, never
    the daemon's log (which it could truncate, or a terminal)."""
    script = pubdir / "fd2.sh"
    script.write_text("#!/bin/sh\nreadlink /proc/self/fd/2\n")
    script.chmod(0o755)
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--stderr", "log", "--",
              script)
    with c.connect() as s:
        got = recv_all(s).decode().strip()
    assert got.startswith("pipe:"), got


def pidfds(pid):
    """The fds of process pid that are pidfds."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[pidfd]":
                out.append(int(fd))
        except FileNotFoundError:
            pass
    return out


def epoll_targets(pid):
    """Every fd that some epoll instance of process pid watches."""
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("tfd:"):
                        out.add(int(line.split()[1]))
        except FileNotFoundError:
            pass
    return out


def test_exits_are_watched_by_pidfd(chald):
    """Each live session's exit is watched through its own pidfd in the
    event loop, so the session that ended is reaped by its pid at once,
    however many others are live; the SIGCHLD sweep, which walks every
    child with waitid(P_ALL), runs only every 2 s while every session has
    a pidfd. No pidfd outlives its session."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--sandbox", "off", "--",
              prog("echo"))
    socks = [c.connect() for _ in range(4)]
    for s in socks:
        assert recv_line(s) == b"hello\n"
    # a greeting can arrive before the daemon has registered the session
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        fds = pidfds(c.pid)
        if len(fds) == 4 and set(fds) <= epoll_targets(c.pid):
            break
        time.sleep(0.02)
    assert len(fds) == 4, fds
    assert set(fds) <= epoll_targets(c.pid)
    # The first exit may be swept; the next ones, 0.3 s apart, fall in
    # the sweep's 2 s rest and are seen through their pidfds.
    for n, s in enumerate(socks, 1):
        s.sendall(b"bye\n")
        assert recv_line(s) == b"bye\n"
        t = time.monotonic()
        c.wait_log(r"end service=echo ", count=n)
        if n > 1:
            assert time.monotonic() - t < 1.0, n
        s.close()
        time.sleep(0.3)
    assert pidfds(c.pid) == []
    assert zombie_children(c.pid) == []


@pytest.mark.timeout(60)
def test_stderr_flood_is_cut_at_the_cap(chald, jail):
    """A challenge flooding one-byte stderr lines with stderr = log: the
    daemon logs no more than the cap, counted in the bytes of the events
    it writes (not of the lines it read), then closes the pipe, so the
    challenge's next write fails with EPIPE and the daemon reads no more."""
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--stderr", "log",
              "--timeout", "25s", "--", prog("stderrflood"))
    with c.connect(timeout=25) as s:
        got = recv_all(s, timeout=25).decode()
    assert got.startswith("cut "), got
    m = c.wait_log(r"end service=\S+ .*status=(\S+)", timeout=10)
    assert m.group(1) == "exit:42", c.log_text()[-2000:]
    log = c.log_text()
    events = [ln for ln in log.splitlines() if " stderr service=" in ln]
    assert events, log[-2000:]
    assert sum(len(ln) + 1 for ln in events) <= 65536 + 8192, \
        sum(len(ln) + 1 for ln in events)
    assert re.search(r"stderr-capped service=\S+ pid=\d+ bytes=\d+", log)
