"""Detached mode: the launcher's exit status, the daemon's process state,
the pidfile lock, signals to a detached daemon."""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

import conftest
from conftest import (CHALD, LISTEN_RE, _listening, connect, is_dead, prog,
                      recv_all, recv_line, run_chald, wait_child_exit)


class Daemon:
    """A detached chald started through its launcher; killed at teardown."""

    def __init__(self, tmp_path, extra=(), name="d"):
        self.pidfile = tmp_path / f"{name}.pid"
        self.logfile = tmp_path / f"{name}.log"
        self.args = ["-b", "127.0.0.1", "-p", "0", "--pidfile", self.pidfile,
                     "--log", self.logfile, *extra, "--", prog("echo")]
        self.pid = None

    def launch(self):
        t0 = time.monotonic()
        r = run_chald(self.args, timeout=10)
        self.launch_secs = time.monotonic() - t0
        self.result = r
        if r.returncode == 0:
            self.pid = int(self.pidfile.read_text().strip())
        return r

    def log_text(self):
        return self.logfile.read_text() if self.logfile.exists() else ""

    @property
    def port(self):
        m = LISTEN_RE.search(self.log_text())
        assert m, self.log_text()
        return _listening(m)[2]

    def wait_log(self, regex, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(regex, self.log_text())
            if m:
                return m
            time.sleep(0.01)
        raise AssertionError(f"/{regex}/ not in the daemon log:\n"
                             + self.log_text())

    def kill(self):
        if self.pid is not None and not is_dead(self.pid):
            for c in conftest.children(self.pid):
                try:
                    os.killpg(c["pgid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass
            os.kill(self.pid, signal.SIGKILL)


@pytest.fixture
def daemon(tmp_path):
    made = []

    def make(*extra, name="d"):
        d = Daemon(tmp_path, extra, name=name)
        made.append(d)
        return d

    yield make
    for d in made:
        d.kill()


def test_launcher_returns_once_listening(daemon):
    d = daemon()
    r = d.launch()
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    # No retry, no sleep: the service must be up when the launcher exits.
    with connect(d.port) as s:
        assert recv_line(s) == b"hello\n"
        s.sendall(b"up\n")
        assert recv_all(s) == b"up\n"
    assert d.launch_secs < 5


def test_daemon_process_state(daemon):
    d = daemon()
    assert d.launch().returncode == 0, d.result.stderr
    pid = d.pid
    assert re.search(rf"start version=\S+ pid={pid} ", d.log_text())
    out = subprocess.run(["ps", "-o", "pid=,ppid=,pgid=,sid=,tty=", "-p",
                          str(pid)], capture_output=True, text=True,
                         timeout=5).stdout.split()
    assert len(out) == 5, out
    p, ppid, pgid, sid, tty = out
    assert int(p) == int(pgid) == int(sid) == pid
    assert tty == "?"
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    for fd in (0, 1, 2):
        assert os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null", fd


def test_pidfile_is_locked(daemon):
    d1 = daemon(name="d1")
    assert d1.launch().returncode == 0, d1.result.stderr
    d2 = daemon(name="d2")
    d2.pidfile = d1.pidfile            # same pidfile, another port (0)
    d2.args[d2.args.index("--pidfile") + 1] = d1.pidfile
    r = d2.launch()
    assert r.returncode != 0
    assert str(d1.pidfile) in r.stderr, r.stderr
    assert "locked" in r.stderr, r.stderr
    assert str(d1.pid) in r.stderr, r.stderr
    # the first daemon is untouched and still serving
    assert int(d1.pidfile.read_text()) == d1.pid
    with connect(d1.port) as s:
        assert recv_line(s) == b"hello\n"


def test_sigterm_removes_pidfile(daemon):
    d = daemon()
    assert d.launch().returncode == 0, d.result.stderr
    with connect(d.port) as s:
        assert recv_line(s) == b"hello\n"
        d.wait_log(r"accept service=echo ")
        os.kill(d.pid, signal.SIGTERM)
        # the live session is ended by the shutdown
        assert recv_all(s) == b""
    status = wait_child_exit(d.pid, timeout=8)
    if status is not None:
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert not d.pidfile.exists()
    d.wait_log(r"end service=echo .*cause=shutdown")
    d.wait_log(r"exit sessions=0")


def test_sighup_without_config_keeps_serving(daemon):
    d = daemon()
    assert d.launch().returncode == 0, d.result.stderr
    os.kill(d.pid, signal.SIGHUP)
    d.wait_log(r"reload-skipped reason=")
    assert not is_dead(d.pid)
    with connect(d.port) as s:
        assert recv_line(s) == b"hello\n"


def test_launcher_reports_startup_failure(tmp_path):
    # a log file that cannot be opened: the launcher must say so, exit 1
    r = run_chald(["-b", "127.0.0.1", "-p", "0", "--log",
                   tmp_path / "no" / "such" / "dir.log", "--", prog("echo")])
    assert r.returncode == 1
    assert "dir.log" in r.stderr, r.stderr


def test_detached_refuses_stderr_log(tmp_path):
    r = run_chald(["-b", "127.0.0.1", "-p", "0", "--log", "stderr", "--",
                   prog("echo")])
    assert r.returncode == 1
    assert "log stderr: a detached daemon has no stderr" in r.stderr, \
        r.stderr


def test_daemon_relative_log_path(tmp_path):
    """A relative --log path names a file in the launcher's directory; it
    must stay that file after the daemon has chdir'ed to /, and after a
    SIGHUP reload reopens the log."""
    port = conftest.free_port()
    name = f"chald-test-{os.getpid()}-{port}.log"
    stray = os.path.join("/", name)
    assert not os.path.exists(stray)
    conf = tmp_path / "d.conf"
    conf.write_text(f"[service echo]\nlisten = 127.0.0.1\nport = {port}\n"
                    f"command = {prog('echo')}\n")
    r = subprocess.run([CHALD, "-c", "d.conf", "--pidfile", "d.pid",
                        "--log", name], cwd=tmp_path, capture_output=True,
                       text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    pid = int((tmp_path / "d.pid").read_text())
    log = tmp_path / name

    def expect(line):
        deadline = time.monotonic() + 3
        while line not in log.read_text():
            if time.monotonic() > deadline:
                where = open(stray).read() if os.path.exists(stray) else ""
                raise AssertionError(
                    f"{line!r} not logged to {log} (holds "
                    f"{log.read_text()!r}); {stray} holds {where!r}")
            time.sleep(0.02)

    try:
        expect(f"listening service=echo addr=127.0.0.1 port={port}")
        os.kill(pid, signal.SIGHUP)
        expect("reload services=1")
        with connect(port) as s:
            assert recv_line(s) == b"hello\n"
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_child_exit(pid, timeout=8)
        if os.path.exists(stray):
            os.unlink(stray)
    assert not (tmp_path / "d.pid").exists()


def test_failed_start_leaves_no_pidfile(tmp_path):
    """A start that fails (the port is taken) must not leave an empty
    pidfile behind, neither detached nor in the foreground."""
    pidfile = tmp_path / "chald.pid"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for fg in ([], ["-f"]):
            r = run_chald([*fg, "-b", "127.0.0.1", "-p", port, "--pidfile",
                           pidfile, "--log", tmp_path / "d.log", "--",
                           prog("echo")])
            assert r.returncode == 1, (fg, r.stderr)
            assert "Address already in use" in r.stderr, r.stderr
            assert not pidfile.exists(), (fg, pidfile.read_bytes())


def test_failed_start_after_detach_leaves_no_pidfile(tmp_path, daemon):
    """The daemon itself fails after the fork (its explicit uid-range
    overlaps a running chald's): its pidfile goes too."""
    if os.geteuid() != 0:
        pytest.skip("the jail needs root")
    first = daemon("--uid-range", "910000-910099", name="first")
    assert first.launch().returncode == 0, first.result.stderr
    second = daemon("--uid-range", "910050-910149", name="second")
    r = second.launch()
    assert r.returncode == 1, r.stderr
    assert "overlaps" in r.stderr, r.stderr
    assert not second.pidfile.exists()
    assert first.pidfile.exists()


def _without_syslog(tmp_path, args, varlog=None):
    """Runs the chald launcher in a mount namespace of its own where nothing
    listens on /dev/log and /var/log is varlog (an empty tmpfs mounted
    read-only when None). Returns the CompletedProcess; a daemon it starts
    stays in that namespace."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a private mount namespace")
    hide = ("mount --make-rprivate / && "
            "{ [ ! -e /dev/log ] || mount --bind /dev/null /dev/log; } && ")
    if varlog is None:
        hide += "mount -t tmpfs -o ro,size=64k tmpfs /var/log && "
    else:
        hide += f"mount --bind {varlog} /var/log && "
    cmd = hide + 'exec "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", cmd, "sh", CHALD,
                           *[str(a) for a in args]], capture_output=True,
                          text=True, timeout=10, stdin=subprocess.DEVNULL)


def test_detached_without_syslog_logs_to_a_file(tmp_path):
    """Detached, with no log setting, on a host without /dev/log: the lines
    must land in a file the organizer can find, and the launcher says
    where."""
    varlog = tmp_path / "varlog"
    varlog.mkdir()
    pidfile = tmp_path / "chald.pid"
    r = _without_syslog(tmp_path, ["-b", "127.0.0.1", "-p", "0",
                                   "--pidfile", pidfile, "--",
                                   prog("echo")], varlog=varlog)
    assert r.returncode == 0, r.stderr
    assert "logging to /var/log/chald.log" in r.stderr, r.stderr
    pid = int(pidfile.read_text())
    log = varlog / "chald.log"
    try:
        text = log.read_text()
        assert re.search(r"log-fallback file=/var/log/chald\.log "
                         r"reason=\"nothing listens on /dev/log: ", text), text
        assert re.search(rf"start version=\S+ pid={pid} ", text), text
        m = LISTEN_RE.search(text)
        assert m, text
        with connect(_listening(m)[2]) as s:
            assert recv_line(s) == b"hello\n"
            s.sendall(b"logged\n")
            assert recv_all(s) == b"logged\n"
        deadline = time.monotonic() + 5
        while "end service=echo" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        assert log.read_text().count("log-fallback") == 1
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_child_exit(pid, timeout=8)
    assert "exit sessions=0" in log.read_text()


def test_without_syslog_nor_fallback_refuses(tmp_path):
    r = _without_syslog(tmp_path, ["-b", "127.0.0.1", "-p", "0", "--",
                                   prog("echo")])
    assert r.returncode == 1
    assert "no syslog (nothing listens on /dev/log" in r.stderr, r.stderr
    assert "/var/log/chald.log: Read-only file system; set log = FILE" in \
        r.stderr, r.stderr


def test_explicit_syslog_without_dev_log_refuses(tmp_path):
    r = _without_syslog(tmp_path, ["-f", "--log", "syslog", "-b",
                                   "127.0.0.1", "-p", "0", "--",
                                   prog("echo")], varlog=tmp_path)
    assert r.returncode == 1
    assert "log syslog: nothing listens on /dev/log" in r.stderr, r.stderr


def test_idle_daemon_sleeps(chald):
    """With nothing to do, the daemon sleeps in epoll_wait: it once woke at
    once, forever, for a status no service manager was there to take, and
    spun at a whole core."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--sandbox", "off", "--",
              "/bin/cat")
    time.sleep(0.5)

    def ticks():
        with open(f"/proc/{c.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])   # utime + stime

    t0 = ticks()
    time.sleep(2)
    used = (ticks() - t0) / os.sysconf("SC_CLK_TCK")
    assert used < 0.2, f"{used:.2f} s of CPU in 2 s idle"
