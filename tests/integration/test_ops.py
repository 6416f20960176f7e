"""Operations: the service manager's notify socket, socket activation,
chald as pid 1 of a container, and the drain at shutdown."""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import (CHALD, LISTEN_RE, _listening, children, connect,
                      free_port, popen, prog, recv_all, recv_line)


# ---------------------------------------------------------------------------
# sd_notify
# ---------------------------------------------------------------------------

class Notify:
    """A NOTIFY_SOCKET the test listens on: a path, or an abstract name."""

    def __init__(self, tmp_path, abstract):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            self.name = f"@chald-test-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + self.name[1:])
        else:
            self.name = str(tmp_path / "notify")
            self.sock.bind(self.name)
        self.got = []
        self.pos = 0            # messages wait() has gone past

    def env(self):
        return dict(os.environ, NOTIFY_SOCKET=self.name)

    def poll(self, timeout=0.0):
        """Collects what came within timeout; returns the new messages."""
        new = []
        deadline = time.monotonic() + timeout
        while True:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, socket.timeout, BlockingIOError):
                break
            msg = dict(l.split("=", 1) for l in data.decode().split("\n"))
            self.got.append(msg)
            new.append(msg)
            if time.monotonic() >= deadline:
                break
        return new

    def wait(self, key, timeout=5.0):
        """The next message with key after the last one wait() returned,
        polling for it."""
        deadline = time.monotonic() + timeout
        while True:
            while self.pos < len(self.got):
                m = self.got[self.pos]
                self.pos += 1
                if key in m:
                    return m
            left = deadline - time.monotonic()
            assert left > 0, f"no {key} within {timeout} s: {self.got}"
            self.poll(min(left, 0.1))

    def events(self):
        return [k for m in self.got for k in m
                if k in ("READY", "RELOADING", "STOPPING")]


def _config(tmp_path, body, name="c.conf"):
    conf = tmp_path / name
    conf.write_text(body)
    return conf


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_notify_in_order(chald, tmp_path, abstract):
    """READY=1 once listening (with MAINPID), RELOADING=1 with
    MONOTONIC_USEC then READY=1 around SIGHUP, STATUS= with the sessions,
    STOPPING=1 at SIGTERM; in that order."""
    n = Notify(tmp_path, abstract)
    conf = _config(tmp_path, f"""[service s]
listen = 127.0.0.1
port = 0
command = {prog("sleeper")}
""")
    c = chald("-c", conf, env=n.env())
    ready = n.wait("READY")
    assert ready["READY"] == "1"
    assert ready["MAINPID"] == str(c.pid)
    assert ready["STATUS"].startswith("serving")
    with c.connect() as s:
        assert recv_line(s) == b"ready\n"
        st = n.wait("STATUS", timeout=3)
        while "1 session," not in st["STATUS"]:
            st = n.wait("STATUS", timeout=3)
        assert st["STATUS"].startswith("serving: 1 session,"), st
        before = time.clock_gettime(time.CLOCK_MONOTONIC)
        c.send(signal.SIGHUP)
        rel = n.wait("RELOADING")
        after = time.clock_gettime(time.CLOCK_MONOTONIC)
        assert rel["RELOADING"] == "1"
        usec = int(rel["MONOTONIC_USEC"])
        assert before * 1e6 - 1000 <= usec <= after * 1e6 + 1000, \
            (before, usec, after)
        again = n.wait("READY")
        assert again["READY"] == "1"
        c.wait_log(r"reload services=1")
        c.send(signal.SIGTERM)
        assert n.wait("STOPPING")["STOPPING"] == "1"
        assert c.wait(timeout=10) == 0
    n.poll(0.2)
    assert n.events() == ["READY", "RELOADING", "READY", "STOPPING"], n.got


def test_notify_status_rate_is_bounded(chald, tmp_path):
    """STATUS= follows the sessions at most once a second, not per accept."""
    n = Notify(tmp_path, abstract=False)
    c = chald("-b", "127.0.0.1", "-p", "0", "--per-ip", "0", "--sandbox",
              "off", "--", prog("echo"), env=n.env())
    n.wait("READY")
    n.poll(1.2)                       # the first STATUS after READY
    t0 = time.monotonic()
    count = 0
    while time.monotonic() - t0 < 2.0:
        with c.connect() as s:
            assert recv_line(s) == b"hello\n"
            s.sendall(b"x\n")
            assert recv_all(s) == b"x\n"
        count += 1
    n.poll(1.2)
    statuses = [m for m in n.got if "STATUS" in m and "READY" not in m]
    assert count >= 10, count
    # each connection changed the count twice, for 3.4 s: without the bound
    # that would be 2 * count datagrams, with it at most one a second
    assert 1 <= len(statuses) <= 5, (count, statuses)


def test_bad_notify_socket_is_reported(chald, tmp_path):
    c = chald("-b", "127.0.0.1", "-p", "0", "--", prog("echo"),
              env=dict(os.environ, NOTIFY_SOCKET="vsock:2:99"))
    assert "NOTIFY_SOCKET=vsock:2:99: not a socket path or @name" in \
        c.log_text()
    with c.connect() as s:
        assert recv_line(s) == b"hello\n"


def test_sessions_do_not_inherit_notify_socket(chald, tmp_path, jail):
    n = Notify(tmp_path, abstract=False)
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--", prog("envdump"),
              env=n.env())
    with c.connect() as s:
        out = recv_all(s).decode()
    assert "ENV PROTO=TCP" in out
    assert "NOTIFY_SOCKET" not in out


# ---------------------------------------------------------------------------
# socket activation
# ---------------------------------------------------------------------------

def test_socket_activation(chald, tmp_path):
    """Sockets passed by the manager (LISTEN_FDS) are taken by the service
    of the same address and port; one no service wants is closed."""
    port, spare = free_port(), free_port()
    conf = _config(tmp_path, f"""[service s]
listen = 127.0.0.1
port = {port}
command = {prog("echo")}
""")
    c = chald(start=False)
    c.args = ["systemd-socket-activate", "-l", f"127.0.0.1:{port}",
              "-l", f"127.0.0.1:{spare}", CHALD, "-f", "-c", str(conf)]
    c.start(services=0)
    # systemd-socket-activate starts chald on the first connection, which
    # waits in the listen queue meanwhile; it listens once it has started
    deadline = time.monotonic() + 5
    while True:
        try:
            s = connect(port)
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, c.log_text()
            time.sleep(0.02)
    with s:
        assert recv_line(s, timeout=10) == b"hello\n"
        s.sendall(b"activated\n")
        assert recv_all(s) == b"activated\n"
    c.wait_log(rf"socket-activation service=s addr=127\.0\.0\.1 "
               rf"port={port} fd=3")
    c.wait_log(rf"listening service=s addr=127\.0\.0\.1 port={port}")
    assert "1 socket matched no service's listen and port, closed" in \
        c.log_text()
    with pytest.raises(ConnectionRefusedError):
        connect(spare).close()
    # the variables are not passed on
    assert c.wait_log(r"start version=\S+ pid=(\d+) ").group(1) == \
        str(c.pid)


def test_activation_for_another_pid_is_ignored(chald, tmp_path):
    """LISTEN_PID of another process: the variables are not for chald."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--", prog("echo"),
              env=dict(os.environ, LISTEN_PID="1", LISTEN_FDS="1"))
    assert "socket-activation" not in c.log_text()
    with c.connect() as s:
        assert recv_line(s) == b"hello\n"


# ---------------------------------------------------------------------------
# pid 1 of a container
# ---------------------------------------------------------------------------

class Pid1:
    """chald as pid 1 of a fresh pid namespace (unshare -fp --mount-proc),
    with a /run/chald of its own, as a container has: the pids that other
    instances on this host register there mean nothing in that namespace
    (see chald(8), CAVEATS)."""

    def __init__(self, tmp_path, args):
        if os.geteuid() != 0:
            pytest.skip("a pid namespace needs root")
        self.logpath = tmp_path / "pid1.log"
        os.makedirs("/run/chald", mode=0o700, exist_ok=True)
        own_run = ("mount --make-rprivate / && "
                   "mount -t tmpfs -o mode=0700 tmpfs /run/chald && "
                   'exec "$@"')
        with open(self.logpath, "wb") as log:
            self.proc = popen(["unshare", "-fp", "--mount-proc", "sh", "-c",
                               own_run, "sh", CHALD, "-f", "-v",
                               *[str(a) for a in args]],
                              stdin=subprocess.DEVNULL, stdout=log,
                              stderr=log, start_new_session=True)
        deadline = time.monotonic() + 5
        while not LISTEN_RE.search(self.log()):
            assert self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.01)
        self.port = _listening(LISTEN_RE.search(self.log()))[2]
        kids = children(self.proc.pid)
        assert len(kids) == 1, kids
        self.pid = kids[0]["pid"]           # chald, as the host sees it
        with open(f"/proc/{self.pid}/status") as f:
            nspid = [l for l in f if l.startswith("NSpid:")][0].split()
        assert nspid[-1] == "1", nspid      # pid 1 in its namespace

    def log(self):
        return self.logpath.read_text(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


@pytest.fixture
def pid1(tmp_path):
    made = []

    def start(*args):
        p = Pid1(tmp_path, args)
        made.append(p)
        return p

    yield start
    for p in made:
        p.kill()


def test_pid1_reaps_orphans(pid1):
    """Unjailed sessions leave double-forked orphans that leave their
    group: reparented to chald, pid 1, which reaps every one of them
    without taking them for sessions."""
    p = pid1("-b", "127.0.0.1", "-p", "0", "--sandbox", "off", "--",
             prog("orphans"), "4", "800")
    for _ in range(3):
        with connect(p.port) as s:
            assert recv_all(s) == b"orphans 4\n"
    # the orphans are chald's children now, and not sessions
    deadline = time.monotonic() + 3
    while len(children(p.pid)) < 12 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(children(p.pid)) >= 12, children(p.pid)
    # ... until they exit, and chald reaps them: no zombie stays
    deadline = time.monotonic() + 6
    while children(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children(p.pid) == [], children(p.pid)
    log = p.log()
    assert len(re.findall(r"reap pid=\d+ status=0x0 session=no", log)) >= 12
    assert len(re.findall(r"end service=orphans .*cause=exit", log)) == 3
    # still serving, and a SIGTERM stops it at once
    with connect(p.port) as s:
        assert recv_all(s) == b"orphans 4\n"
    time.sleep(0.1)
    t0 = time.monotonic()
    os.kill(p.pid, signal.SIGTERM)
    assert p.proc.wait(timeout=5) == 0
    assert time.monotonic() - t0 < 1.5
    assert "exit sessions=0" in p.log()


# ---------------------------------------------------------------------------
# drain
# ---------------------------------------------------------------------------

def test_drain_lets_sessions_finish(chald, jail):
    """After SIGTERM no new connection is accepted, a live session finishes
    its work undisturbed within drain, and chald then exits 0."""
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--drain", "20s",
              "--grace", "1s", "--", prog("worker"), "1500")
    port = c.port
    s = c.connect()
    try:
        assert recv_line(s) == b"ready\n"
        s.sendall(b"job\n")
        c.wait_log(r"accept service=worker ")
        t0 = time.monotonic()
        c.send(signal.SIGTERM)
        c.wait_log(r"shutdown signal=TERM sessions=1 grace=1\.0 "
                   r"drain=20\.0")
        # the listener is gone at once
        with pytest.raises(ConnectionRefusedError):
            connect(port).close()
        assert recv_all(s, timeout=10) == b"done job\n"
        worked = time.monotonic() - t0
    finally:
        s.close()
    assert c.wait(timeout=5) == 0
    took = time.monotonic() - t0
    assert worked < 3 and took - worked < 1.0, (worked, took)
    c.wait_log(r"end service=worker .*status=exit:0 cause=exit ")
    c.wait_log(r"drain-end sessions=0 cause=done")
    assert c.count_log(r"cause=shutdown") == 0


def test_drain_times_out_then_grace(chald):
    """A session still running when drain ends gets SIGTERM and grace."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--drain", "1s", "--grace", "5s",
              "--", prog("sleeper"))
    with c.connect() as s:
        assert recv_line(s) == b"ready\n"
        t0 = time.monotonic()
        c.send(signal.SIGTERM)
        assert recv_all(s, timeout=5) == b""
        ended = time.monotonic() - t0
    assert 0.9 <= ended <= 2.0, ended
    assert c.wait(timeout=5) == 0
    c.wait_log(r"drain-end sessions=1 cause=timeout")
    c.wait_log(r"end service=sleeper .*status=signal:15 cause=shutdown ")


def test_second_sigterm_skips_the_drain(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--drain", "60s", "--grace", "5s",
              "--", prog("sleeper"))
    with c.connect() as s:
        assert recv_line(s) == b"ready\n"
        c.send(signal.SIGTERM)
        c.wait_log(r"shutdown signal=TERM sessions=1 ")
        s.settimeout(0.5)
        with pytest.raises((TimeoutError, socket.timeout)):
            s.recv(1)                     # still running: draining
        t0 = time.monotonic()
        c.send(signal.SIGTERM)
        assert recv_all(s, timeout=5) == b""
        assert time.monotonic() - t0 < 1.5
    assert c.wait(timeout=5) == 0
    c.wait_log(r"drain-end sessions=1 cause=signal")
    c.wait_log(r"end service=sleeper .*cause=shutdown ")


def test_drain_without_sessions_exits_at_once(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--drain", "60s", "--",
              prog("echo"))
    t0 = time.monotonic()
    c.send(signal.SIGTERM)
    assert c.wait(timeout=5) == 0
    assert time.monotonic() - t0 < 1.0
