"""
Shared helpers for the chald integration tests.

Environment (set by "make check"; defaults work after a plain "make" plus
building tests/progs):
    CHALD   path of the chald binary        (default: build/chald)
    PROGS   directory of built tests/progs  (default: build/progs)

Every wait here is bounded, and every test runs under a wall-clock limit
(SIGALRM; default TEST_TIMEOUT seconds, or @pytest.mark.timeout(N)).

The pytest process makes itself a child subreaper, so that daemons (whose
launcher exits) and processes orphaned by a killed session come back to us:
the tests can wait for them, and nothing is left behind as a zombie of pid 1.
Whatever is still adopted at the end of a test is killed and reaped.
"""

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHALD = os.environ.get("CHALD") or str(ROOT / "build" / "chald")
PROGS = Path(os.environ.get("PROGS") or str(ROOT / "build" / "progs"))
CONFIGS = Path(__file__).resolve().parent / "configs"

TEST_TIMEOUT = 30  # seconds, per test unless marked otherwise
# the line a refused player gets, by reason, when nothing is configured
REJECT_LINES = {
    "per-ip": b"chald: too many connections from your address, "
              b"try again later\n",
    "max-conns": b"chald: the challenge is full, try again in a minute\n",
    "rate": b"chald: you are connecting too fast, wait a moment and "
            b"try again\n",
}
REJECT_LINE = REJECT_LINES["per-ip"]
# a listening line, text or JSON format: groups service, addr, port
LISTEN_RE = re.compile(
    r"listening service=(\S+) addr=(\S+) port=(\d+)"
    r'|"event":"listening","service":"([^"]+)","addr":"?([^",]*)"?,'
    r'"port":(\d+)')


def _listening(m):
    """(service, addr, port) of a LISTEN_RE match, whichever format."""
    g = m.groups()
    return (g[0], g[1], int(g[2])) if g[0] is not None else \
        (g[3], g[4], int(g[5]))

PR_SET_CHILD_SUBREAPER = 36

# pids of the subprocess.Popen objects we made: never reaped behind their back
_popen_pids = set()
_subreaper = False


# ---------------------------------------------------------------------------
# pytest plumbing: markers, per-test time limit, subreaper, leftovers
# ---------------------------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line(
        "markers", "timeout(seconds): wall-clock limit for one test")
    config.addinivalue_line(
        "markers", "prometheus: starts a real Prometheus (about 10 s; "
        "make check TESTS='-m prometheus' runs it alone)")


class TestTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _time_limit(request):
    marker = request.node.get_closest_marker("timeout")
    limit = marker.args[0] if marker else TEST_TIMEOUT

    def expired(signum, frame):
        raise TestTimeout(f"test exceeded its {limit} s limit")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="session", autouse=True)
def _binaries():
    missing = [p for p in (Path(CHALD), PROGS / "echo", PROGS / "sleeper",
                           PROGS / "envdump") if not p.exists()]
    if missing:
        pytest.exit("missing binaries (run `make check`, or `make` and "
                    "build tests/progs): " + ", ".join(map(str, missing)),
                    returncode=2)


@pytest.fixture(scope="session", autouse=True)
def _become_subreaper():
    global _subreaper
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        _subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except OSError:
        _subreaper = False
    yield


@pytest.fixture(autouse=True)
def _cleanup_adopted():
    yield
    reap_adopted(kill=True)


def reap_adopted(kill=False):
    """Reaps (and with kill=True first kills) processes that were adopted
    by this subreaper, i.e. children that no Popen object owns."""
    me = os.getpid()
    strays = [p for p in children(me) if p["pid"] not in _popen_pids]
    if kill:
        for p in strays:
            if p["state"] != "Z":
                try:
                    os.kill(p["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass
    deadline = time.monotonic() + 3
    for p in strays:
        while True:
            try:
                pid, _ = os.waitpid(p["pid"], os.WNOHANG)
            except ChildProcessError:
                break
            if pid != 0 or not kill or time.monotonic() > deadline:
                break
            time.sleep(0.01)


def popen(*args, **kw):
    """subprocess.Popen, remembered so reap_adopted leaves it alone."""
    p = subprocess.Popen(*args, **kw)
    _popen_pids.add(p.pid)
    return p


# ---------------------------------------------------------------------------
# /proc helpers
# ---------------------------------------------------------------------------

def proc_stat(pid):
    """{pid, comm, state, ppid, pgid, sid} of one process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rparen = data.rindex(")")
    fields = data[rparen + 2:].split()
    return {
        "pid": int(pid),
        "comm": data[data.index("(") + 1:rparen],
        "state": fields[0],
        "ppid": int(fields[1]),
        "pgid": int(fields[2]),
        "sid": int(fields[3]),
    }


def all_procs():
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(name)
            if st is not None:
                out.append(st)
    return out


def children(pid):
    """Direct children of pid, as proc_stat dicts."""
    return [p for p in all_procs() if p["ppid"] == pid]


def _is_forker(p, pid):
    # a jail just cloned by a forker has its name for a moment, but is in
    # a pid namespace of its own already
    try:
        return p["comm"] == "chald-forker" and \
            os.readlink(f"/proc/{p['pid']}/ns/pid") == \
            os.readlink(f"/proc/{pid}/ns/pid")
    except FileNotFoundError:
        return False


def forkers(pid):
    """The jail forkers among pid's children (forker.c)."""
    return [p for p in children(pid) if _is_forker(p, pid)]


def jails(pid):
    """pid's children but its jail forkers: its sessions and jails."""
    return [p for p in children(pid) if not _is_forker(p, pid)]


def descendants(pid):
    """Every process below pid (children, grandchildren...)."""
    procs = all_procs()
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for p in procs:
            if p["ppid"] == parent:
                out.append(p)
                todo.append(p["pid"])
    return out


def zombie_children(pid, grace=2.0):
    """Children of pid that have exited and stay unreaped (state Z) for
    grace seconds. A child the daemon is reaping at this very moment is a
    zombie for an instant (the namespace pool's probes, which the daemon
    waits for at once, run after a session's cooling time, so one can
    fall on any check); a leaked one stays a zombie."""
    deadline = time.monotonic() + grace
    lasting = {p["pid"]: p for p in children(pid) if p["state"] == "Z"}
    while lasting and time.monotonic() < deadline:
        time.sleep(0.02)
        now = {p["pid"] for p in children(pid) if p["state"] == "Z"}
        lasting = {k: v for k, v in lasting.items() if k in now}
    return list(lasting.values())


def is_dead(pid):
    """True once pid is gone or only a zombie."""
    st = proc_stat(pid)
    return st is None or st["state"] in ("Z", "X")


def wait_dead(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_dead(pid):
            return True
        time.sleep(0.01)
    return is_dead(pid)


def wait_child_exit(pid, timeout=5.0):
    """Waits for an (adopted) child of ours; returns its raw wait status,
    or None when it is not our child (no subreaper) but is dead."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            assert wait_dead(pid, max(0.0, deadline - time.monotonic())), \
                f"pid {pid} still running"
            return None
        if got == pid:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"pid {pid} did not exit within {timeout} s")
        time.sleep(0.01)


def fd_links(pid):
    """{fd: what it links to} of pid's fds, but those closed meanwhile."""
    out = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            pass
    return out


def net_fds(pid):
    """The fds of pid that are network namespaces of jails: chald keeps
    some (netpool.c), ready or cooling after a session, at most 256 spare
    ones plus one per live jail. (Its fd of its own namespace, which it
    goes back to after looking into one, is not counted.)"""
    own = os.readlink(f"/proc/{pid}/ns/net")
    return [fd for fd, link in fd_links(pid).items()
            if link.startswith("net:[") and link != own]


def kept_net_files(pid):
    """The fds of pid that are /proc/net files it keeps open for the
    checks of its pooled namespaces (netpool.c)."""
    return [fd for fd, link in fd_links(pid).items()
            if re.match(r"/proc/\d+/task/\d+/net/", link)]


SESSION_CGROUP_FILE = re.compile(
    r"^(/sys/fs/cgroup/.*/chald(?:\.|-sessions\.)[0-9]+/s[0-9]+)(?:/[^/]+)?$")


def cgroup_fds(pid):
    """The fds of pid on a session cgroup that is still there, or on its
    files: {fd: its directory}. A cgroup keeps a few open, spare or in use
    (cgroup.c: CGF_N files, and on v2 the directory), and closes them when
    it is removed; how many cgroups are spare depends on timing, not on a
    leak. An fd on a file of a removed cgroup is not one of these."""
    out = {}
    for fd, link in fd_links(pid).items():
        m = SESSION_CGROUP_FILE.match(link)
        if m and os.path.isdir(m.group(1)):
            out[fd] = m.group(1)
    return out


def fd_count(pid):
    """The fds of pid, without the network namespaces (net_fds) with
    their /proc/net files (kept_net_files) and the session cgroups' files
    (cgroup_fds) it keeps: how many there are depends on the pool's and
    the spares' timing, not on a leak."""
    return (len(os.listdir(f"/proc/{pid}/fd")) - len(net_fds(pid)) -
            len(kept_net_files(pid)) - len(cgroup_fds(pid)))


def stable_fd_count(pid, quiet=0.3, timeout=5.0):
    """fd_count once it has not changed for `quiet` seconds (chald builds
    jails ahead in the background, each holding fds while it waits)."""
    deadline = time.monotonic() + timeout
    last, since = fd_count(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.02)
        n = fd_count(pid)
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return last


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


# ---------------------------------------------------------------------------
# sockets
# ---------------------------------------------------------------------------

def ipv6_available():
    """None if ::1 works, else the reason it does not."""
    if not socket.has_ipv6:
        return "Python built without IPv6"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError as e:
        return f"cannot bind ::1: {e}"
    return None


@pytest.fixture
def ipv6():
    reason = ipv6_available()
    if reason:
        pytest.skip(f"IPv6 unavailable: {reason}")


def connect(port, host="127.0.0.1", source=None, timeout=5.0):
    """A connected TCP socket with a timeout on every operation.
    source: local address to bind first (e.g. "127.0.0.2")."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if source is not None:
            s.bind((source, 0))
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def connect6(port, timeout=5.0):
    return connect(port, host="::1", timeout=timeout)


def recv_line(sock, timeout=5.0):
    """One line, newline included; b"" at EOF; raises on timeout."""
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no full line within {timeout} s: {buf!r}")
        sock.settimeout(left)
        c = sock.recv(1)
        if not c:
            break
        buf += c
    return buf


def recv_all(sock, timeout=5.0):
    """Everything until EOF; raises on timeout."""
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no EOF within {timeout} s: "
                               f"{b''.join(chunks)!r}")
        sock.settimeout(left)
        try:
            c = sock.recv(65536)
        except ConnectionResetError:
            break
        if not c:
            break
        chunks.append(c)
    return b"".join(chunks)


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (for tests that need a fixed one)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def prog(name):
    return str(PROGS / name)


@pytest.fixture(params=["jail", "nojail"])
def jail(request):
    """Runs a test twice: with chald's default (each session jailed by the
    sandbox) and with --sandbox off. Returns the extra chald options."""
    return [] if request.param == "jail" else ["--sandbox", "off"]


@pytest.fixture
def pubdir(tmp_path):
    """A directory for challenge files that a jailed session (another uid)
    may enter: pytest's own tmp_path is mode 0700."""
    d = tmp_path / "pub"
    d.mkdir()
    d.chmod(0o755)
    return d


@pytest.fixture
def notmp():
    """A directory a jailed session may enter and whose path is not under
    /tmp, so that a program in it gets its service's mount-namespace
    template (sandbox.c: a bind at or below the jail's /tmp is built per
    session), wherever the checkout is: build/, or /var/tmp when the
    checkout itself lies under /tmp."""
    import tempfile
    base = ROOT / "build"
    if str(base.resolve()).startswith("/tmp/"):
        base = Path("/var/tmp")
    d = Path(tempfile.mkdtemp(prefix="notmp-", dir=base))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def outside_tmp_prog(notmp, name):
    """A copy of build/progs/NAME in notmp (see there)."""
    dst = notmp / name
    shutil.copy2(prog(name), dst)
    dst.chmod(0o755)
    return dst


def parse_env(text):
    """envdump output -> (env dict, cwd, [fds], {"PGID":..,"SID":..})."""
    env, cwd, fds, ids = {}, None, None, {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            k, _, v = line[4:].partition("=")
            env[k] = v
        elif line.startswith("CWD "):
            cwd = line[4:]
        elif line.startswith("FDS"):
            fds = [int(x) for x in line[3:].split()]
        elif line.startswith("PGID "):
            w = line.split()
            ids = {w[i]: int(w[i + 1]) for i in range(0, len(w), 2)}
    return env, cwd, fds, ids


# ---------------------------------------------------------------------------
# running chald
# ---------------------------------------------------------------------------

class Chald:
    """One foreground chald: stderr goes to a log file, its own process
    group, killed (with every session it started) at teardown."""

    def __init__(self, args, workdir, env=None, cwd=None, name="chald",
                 logfile=None):
        self.args = [CHALD, "-f"] + [str(a) for a in args]
        self.errpath = Path(workdir) / f"{name}.log"
        # where the log is read from: stderr, or the file given with --log
        self.logpath = Path(logfile) if logfile else self.errpath
        self.outpath = Path(workdir) / f"{name}.out"
        self.env = env
        self.cwd = cwd
        self.proc = None
        self.session_pgids = set()

    # -- lifecycle --

    def start(self, services=1, timeout=5.0):
        """Starts chald and waits for `services` listening lines."""
        with open(self.errpath, "wb") as log, open(self.outpath, "wb") as out:
            self.proc = popen(self.args, stdin=subprocess.DEVNULL,
                              stdout=out, stderr=log, env=self.env,
                              cwd=self.cwd, start_new_session=True)
        if services:
            self.wait_log(LISTEN_RE, timeout=timeout, count=services)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=10.0):
        return self.proc.wait(timeout=timeout)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig and returns the exit status (bounded)."""
        self._remember_sessions()
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def _remember_sessions(self):
        if self.alive():
            for c in children(self.pid):
                self.session_pgids.add(c["pgid"])

    def kill(self):
        """Teardown: SIGKILL chald's group and every session's group."""
        if self.proc is None:
            return
        self._remember_sessions()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pg in self.session_pgids:
            if pg > 1 and pg != os.getpgrp():
                try:
                    os.killpg(pg, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    # -- the log --

    def log_text(self):
        try:
            return self.logpath.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def out_text(self):
        try:
            return self.outpath.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_lines(self):
        return self.log_text().splitlines()

    def wait_log(self, regex, timeout=5.0, count=1):
        """Waits until regex has matched `count` times in the log; returns
        the last match. Fails early, with the log, if chald exits."""
        rx = re.compile(regex) if isinstance(regex, str) else regex
        deadline = time.monotonic() + timeout
        while True:
            matches = list(rx.finditer(self.log_text()))
            if len(matches) >= count:
                return matches[count - 1]
            exited = self.proc is not None and self.proc.poll() is not None
            if exited or time.monotonic() > deadline:
                # the log may have grown just before the exit
                matches = list(rx.finditer(self.log_text()))
                if len(matches) >= count:
                    return matches[count - 1]
                why = (f"chald exited with {self.proc.returncode}" if exited
                       else f"not within {timeout} s")
                raise AssertionError(
                    f"log: /{rx.pattern}/ x{count}: {why} "
                    f"(found {len(matches)})\n--- log ---\n"
                    + self.log_text()[-4000:])
            time.sleep(0.01)

    def count_log(self, regex):
        return len(re.findall(regex, self.log_text()))

    @property
    def ports(self):
        """service name -> port, from the latest listening lines."""
        out = {}
        for m in LISTEN_RE.finditer(self.log_text()):
            name, _, port = _listening(m)
            out[name] = port
        return out

    @property
    def port(self):
        m = LISTEN_RE.search(self.log_text())
        assert m, "no listening line in the log:\n" + self.log_text()
        return _listening(m)[2]

    # -- clients --

    def connect(self, host="127.0.0.1", port=None, source=None, timeout=5.0):
        return connect(self.port if port is None else port, host=host,
                       source=source, timeout=timeout)

    def connect6(self, port=None, timeout=5.0):
        return self.connect(host="::1", port=port, timeout=timeout)


@pytest.fixture
def chald(tmp_path):
    """Factory: chald(args..., services=1, env=None, cwd=None,
    logfile=None) -> a started Chald (waits for `services` listening lines;
    pass logfile when args contain --log FILE). Every instance is killed,
    with its sessions, at teardown."""
    made = []

    def start(*args, services=1, env=None, cwd=None, name=None,
              start=True, logfile=None):
        c = Chald(args, tmp_path, env=env, cwd=cwd,
                  name=name or f"chald{len(made)}", logfile=logfile)
        made.append(c)
        if start:
            c.start(services=services)
        return c

    yield start
    for c in made:
        c.kill()


def run_chald(args, timeout=10.0, **kw):
    """Runs chald to completion (e.g. -n, or a launcher); bounded."""
    return subprocess.run([CHALD] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


def haproxy_start(tmp_path, backend, defaults=""):
    """Debian's haproxy on a free 127.0.0.1 port, in TCP mode, sending
    everything to the `backend` section lines given; `defaults` adds lines
    to its defaults. Returns (Popen, port) once it accepts connections."""
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed (scripts/deps.sh test)")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = tmp_path / f"haproxy-{port}.cfg"
    log = tmp_path / "haproxy.log"
    cfg.write_text(f"""
global
    maxconn 256
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
{defaults}
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
{backend}
""")
    p = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)],
                         stdout=subprocess.DEVNULL, stderr=open(log, "ab"))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    p.kill()
    p.wait(timeout=5)
    pytest.fail("haproxy did not start: " + log.read_text())
