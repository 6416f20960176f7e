"""
Recycled network namespaces (netpool.c): a jail's namespace goes back to the
pool after its session only if nothing of that session is left in it, and a
namespace is never in two live sessions at once.

Each session runs a small Python probe in the jail. A namespace is named by
its cookie (SO_NETNS_COOKIE), which the kernel never gives twice, unlike the
inode of /proc/self/ns/net. Sessions run one after another with --pool 0, so
that each takes its namespace from the pool when it starts; a namespace that
was given back is checked and ready again after its cooling time (100 ms).

Each test that leaves something behind fails when the check is skipped (a
namespace given back whatever its state): the later sessions then get the
dirty namespace and see what was left.
"""

import ctypes
import resource
import os
import re
import signal
import socket
import time

import pytest

from conftest import kept_net_files, net_fds, recv_line

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the sandbox needs root")

PROBE = r'''
import os, socket, struct, subprocess, sys, time
keep = []

def cookie():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    v = struct.unpack("Q", s.getsockopt(socket.SOL_SOCKET, 71, 8))[0]
    s.close()
    return str(v)

def tw(port):
    # The client closes first and ends in TIME_WAIT (60 s); the data is
    # read whole, so that no close turns into a reset.
    l = socket.socket()
    l.bind(("127.0.0.1", port))
    l.listen()
    c = socket.create_connection(("127.0.0.1", port))
    x, _ = l.accept()
    c.sendall(b"x" * 1000)
    got = 0
    while got < 1000:
        got += len(x.recv(4096))
    c.close()
    time.sleep(0.05)
    x.close()
    l.close()
    time.sleep(0.05)
    return "ok"

def flowlabel():
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    req = (socket.inet_pton(socket.AF_INET6, "::1") +
           struct.pack("!I", 0x12345) + struct.pack("=BBHHHI", 0, 255, 1,
                                                    0, 60, 0))
    s.setsockopt(socket.IPPROTO_IPV6, 32, req)   # IPV6_FLOWLABEL_MGR
    s.close()
    return "ok"

print("ready", flush=True)
for line in sys.stdin:
    cmd, *a = line.split()
    try:
        if cmd == "cookie":
            r = cookie()
        elif cmd == "listen":
            s = socket.socket()
            s.bind(("127.0.0.1", int(a[0])))
            s.listen()
            keep.append(s)
            r = "ok %d" % s.fileno()
        elif cmd == "abstract":
            s = socket.socket(socket.AF_UNIX)
            s.bind("\0" + a[0])
            s.listen()
            keep.append(s)
            r = "ok %d" % s.fileno()
        elif cmd == "reach":
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect("\0" + a[0])
                r = "connected"
            except OSError as e:
                r = "err %d" % e.errno
            s.close()
        elif cmd == "tw":
            r = tw(int(a[0]))
        elif cmd == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.sendto(b"x", ("127.0.0.1", int(a[0])))
            s.close()
            r = "ok"
        elif cmd == "flowlabel":
            r = flowlabel()
        elif cmd == "file":
            with open(a[0]) as f:
                r = f.read().replace("\n", "|")
        elif cmd == "run":
            r = subprocess.run(a, capture_output=True,
                               text=True).stdout.replace("\n", "|")
        else:
            r = "?"
    except Exception as e:
        r = "exc " + repr(e)
    print(r, flush=True)
'''

COOL = 0.3      # > the pool's 100 ms, and an idle turn of the loop


@pytest.fixture
def probe_path(pubdir):
    p = pubdir / "nsprobe.py"
    p.write_text(PROBE)
    p.chmod(0o644)
    return p


def start(chald, probe_path, *opts):
    return chald("-b", "127.0.0.1", "-p", "0", "--per-ip", "0", "--pool",
                 "0", *opts, "--", "/usr/bin/python3", "-u",
                 str(probe_path))


class Session:
    def __init__(self, c):
        self.c = c
        c.started = getattr(c, "started", 0) + 1
        self.n = c.started
        self.s = c.connect()
        assert recv_line(self.s, timeout=10) == b"ready\n"
        m = c.wait_log(r"accept service=\S+ .*?pid=(\d+)", count=self.n)
        self.pid = int(m.group(1))

    def __call__(self, cmd):
        self.s.sendall(cmd.encode() + b"\n")
        return recv_line(self.s, timeout=10).decode().strip()

    def end(self):
        """Closes the connection and waits for the session's end and for
        its namespace to cool (sessions end in the order they started)."""
        self.s.close()
        settle(self.c)

    def challenge_pid(self):
        """The probe: init's child, seen from the host."""
        with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
            return int(f.read().split()[0])


def settle(c):
    """Waits until every session started has ended, then the cooling."""
    c.wait_log(r"end service=", count=c.started, timeout=10)
    time.sleep(COOL)


def mib(snmp, proto):
    """The counters of one protocol in /proc/net/snmp (lines joined by
    |), as a dict."""
    rows = [x.split() for x in snmp.split("|") if x.startswith(proto + ": ")]
    return dict(zip(rows[0][1:], (int(v) for v in rows[1][1:])))


def one(c, *cmds):
    """A whole session: its replies to cmds, in order."""
    s = Session(c)
    out = [s(cmd) for cmd in cmds]
    s.end()
    return out


def later(c, *cmds, n=6):
    """n sessions one after another: [cookie, replies...] of each."""
    return [one(c, "cookie", *cmds) for _ in range(n)]


def grab(pid, fd):
    """The host holds the session's socket fd (pidfd_getfd), as a process
    outside the jail would that got it passed: the socket outlives the
    session."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        got = libc.syscall(438, pidfd, fd, 0)       # pidfd_getfd
        assert got >= 0, os.strerror(ctypes.get_errno())
        return socket.socket(fileno=got)
    finally:
        os.close(pidfd)


@pytest.mark.timeout(60)
def test_clean_namespace_is_recycled_with_lo_up(chald, probe_path):
    """The pool works at all: a session that left nothing gives its
    namespace to a later one, which finds it as fresh: lo up, MTU 1500,
    127.0.0.1 and ::1 only, no socket, no counter moved."""
    c = start(chald, probe_path)
    first, = one(c, "cookie")
    runs = later(c, "run ip -o addr show", "run ip -o link show",
                 "file /proc/net/snmp")
    again = [r for r in runs if r[0] == first]
    assert again, (first, [r[0] for r in runs])
    _, addrs, link, snmp = again[0]
    assert re.findall(r"inet6? (\S+)", addrs) == ["127.0.0.1/8", "::1/128"]
    assert addrs.count("|") == 2, addrs     # one line each, lo only
    assert "<LOOPBACK,UP,LOWER_UP> mtu 1500" in link, link
    assert link.count("|") == 1, link
    assert [mib(snmp, "Ip")[k] for k in ("InReceives", "OutRequests")] == \
        [0, 0], snmp
    assert [mib(snmp, "Tcp")[k] for k in ("ActiveOpens", "PassiveOpens",
                                          "InSegs", "OutSegs")] == \
        [0, 0, 0, 0], snmp
    assert [mib(snmp, "Udp")[k] for k in ("InDatagrams", "NoPorts",
                                          "OutDatagrams")] == [0, 0, 0], snmp
    c.stop()
    assert c.wait_log(r"netpool made=\d+ reused=[1-9]")


@pytest.mark.timeout(60)
def test_daemon_stays_in_its_own_namespace(chald, probe_path):
    """The daemon looks into the pool's namespaces itself (setns in and
    back): after making, checking and recycling some, every thread of it
    is in the namespace it started in, and it still accepts."""
    c = start(chald, probe_path)
    cookies = [r[0] for r in later(c, n=8)]
    assert len(set(cookies)) < len(cookies), cookies    # some were checked
    mine = os.readlink("/proc/self/ns/net")
    tasks = os.listdir(f"/proc/{c.pid}/task")
    assert [os.readlink(f"/proc/{c.pid}/task/{t}/ns/net")
            for t in tasks] == [mine] * len(tasks)
    assert one(c, "cookie")[0].isdigit()


@pytest.mark.timeout(60)
def test_live_sessions_never_share_a_namespace(chald, probe_path):
    c = start(chald, probe_path)
    one(c, "cookie")        # one namespace back in the pool
    live = [Session(c) for _ in range(4)]
    cookies = [s("cookie") for s in live]
    assert len(set(cookies)) == 4, cookies
    assert all(x.isdigit() for x in cookies), cookies
    for s in live:
        s.s.close()
    settle(c)
    # ... and once they ended, their namespaces are taken again, still
    # one per session
    live = [Session(c) for _ in range(4)]
    again = [s("cookie") for s in live]
    assert len(set(again)) == 4, again
    assert set(again) & set(cookies), (cookies, again)
    for s in live:
        s.s.close()
    settle(c)


@pytest.mark.timeout(60)
def test_time_wait_connection_not_handed_on(chald, probe_path):
    c = start(chald, probe_path)
    dirty, tw = one(c, "cookie", "tw 5000")
    assert tw == "ok"
    for cookie, tcp, metrics in later(c, "file /proc/net/tcp",
                                      "run ip tcp_metrics show"):
        assert cookie != dirty
        assert ":1388 " not in tcp, tcp          # port 5000
        assert "127.0.0.1" not in metrics, metrics


@pytest.mark.timeout(60)
def test_held_listening_socket_not_handed_on(chald, probe_path):
    c = start(chald, probe_path)
    s = Session(c)
    dirty = s("cookie")
    ok, fd = s("listen 5001").split()
    held = grab(s.challenge_pid(), int(fd))
    s.end()
    try:
        for cookie, tcp in later(c, "file /proc/net/tcp"):
            assert cookie != dirty
            assert ":1389 " not in tcp, tcp      # port 5001
    finally:
        held.close()


@pytest.mark.timeout(60)
def test_held_abstract_socket_not_handed_on(chald, probe_path):
    c = start(chald, probe_path)
    s = Session(c)
    dirty = s("cookie")
    assert s("reach chald-left") == f"err {111}"     # nothing there yet
    ok, fd = s("abstract chald-left").split()
    assert s("reach chald-left") == "connected"
    held = grab(s.challenge_pid(), int(fd))
    s.end()
    try:
        for cookie, reach, unix in later(c, "reach chald-left",
                                         "file /proc/net/unix"):
            assert cookie != dirty
            assert reach == f"err {111}", reach     # ECONNREFUSED
            assert "@chald-left" not in unix, unix
    finally:
        held.close()


@pytest.mark.timeout(60)
def test_traffic_without_sockets_not_handed_on(chald, probe_path):
    """One datagram to a closed port leaves no socket, only counters (and an
    ICMP error): still not handed on."""
    c = start(chald, probe_path)
    dirty, ok = one(c, "cookie", "udp 9")
    assert ok == "ok"
    for cookie, snmp in later(c, "file /proc/net/snmp"):
        assert cookie != dirty
        assert mib(snmp, "Udp")["NoPorts"] == 0, snmp


@pytest.mark.timeout(60)
def test_flow_label_not_handed_on(chald, probe_path, ipv6):
    """An IPv6 flow label lingers after its socket, with no socket and no
    packet: the namespace's tables are compared too."""
    c = start(chald, probe_path)
    dirty, ok = one(c, "cookie", "flowlabel")
    assert ok == "ok", ok
    for cookie, labels in later(c, "file /proc/net/ip6_flowlabel"):
        assert cookie != dirty
        assert "12345" not in labels, labels


@pytest.mark.timeout(60)
def test_bind_rw_namespaces_never_recycled(chald, probe_path, tmp_path):
    """A bind-rw directory is shared with other live sessions, which could
    keep a file of the namespace (a socket, /proc/self/net/...) past the
    session: such a session's namespace is dropped, clean or not."""
    box = tmp_path / "box"
    box.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(box, 0o777)
    c = start(chald, probe_path, "--bind-rw", str(box))
    cookies = [r[0] for r in later(c, n=5)]
    assert len(set(cookies)) == 5, cookies


@pytest.mark.timeout(60)
def test_pool_fds_bounded_close_on_exec_and_closed_at_reload(
        chald, probe_path, tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text(f"""[global]
listen = 127.0.0.1
port = 0
per-ip = 0
[service svc]
pool = 0
command = /usr/bin/python3 -u {probe_path}
""")
    c = chald("-c", str(conf))
    later(c, n=3)
    fds = net_fds(c.pid)
    assert 1 <= len(fds) <= 256 + 4, fds
    # the /proc/net files of the namespaces it checks without a setns:
    # eleven a namespace, for at most 256 of them, within an eighth of its
    # fd limit
    files = kept_net_files(c.pid)
    soft = int(open(f"/proc/{c.pid}/limits").read().split(
        "Max open files")[1].split()[0])
    assert 0 < len(files) <= min(256 * 11, soft // 8), (len(files), soft)
    assert len(files) % 11 == 0, files
    for fd in fds + files:
        with open(f"/proc/{c.pid}/fdinfo/{fd}") as f:
            flags = int(f.read().split("flags:")[1].split()[0], 8)
        assert flags & 0o2000000, (fd, oct(flags))      # O_CLOEXEC
    # a configuration without jails needs none: the pool is closed
    conf.write_text(f"""[global]
listen = 127.0.0.1
port = 0
per-ip = 0
[service svc]
sandbox = off
command = /usr/bin/python3 -u {probe_path}
""")
    c.send(signal.SIGHUP)
    c.wait_log(r"netpool made=\d+ reused=\d+ dropped=\d+")
    deadline = time.monotonic() + 5
    while (net_fds(c.pid) or kept_net_files(c.pid)) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert net_fds(c.pid) == []
    assert kept_net_files(c.pid) == []


@pytest.mark.timeout(60)
def test_kept_files_go_to_namespaces_that_circulate(chald, probe_path):
    """A namespace's /proc/net files are kept from its first check on, not
    from when it is made: sessions that have not ended hold none. And once
    the budget is spent, a namespace that a session has held for more than
    NETPOOL_HELD_MS (2 s) gives its files up to one that comes back to be
    checked. With the budget at two namespaces (an fd limit of 263: an
    eighth is 32, eleven files each)."""
    c = start(chald, probe_path)
    _, hard = resource.prlimit(c.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(c.pid, resource.RLIMIT_NOFILE, (263, hard))
    held = [Session(c) for _ in range(6)]
    assert [s("cookie").isdigit() for s in held] == [True] * 6
    time.sleep(COOL)
    assert kept_net_files(c.pid) == []
    for s in held:
        s.s.close()
    settle(c)
    # the six were checked: two of them keep their files
    assert len(kept_net_files(c.pid)) == 2 * 11
    # six more sessions take the checked ones (the last checked first)
    held = [Session(c) for _ in range(6)]
    time.sleep(2.3)
    for _ in range(3):      # while those are held
        s = Session(c)
        assert s("cookie").isdigit()
        s.s.close()
        c.wait_log(rf"end service=\S+ pid={s.pid} ", timeout=10)
        time.sleep(COOL)
    assert len(kept_net_files(c.pid)) == 2 * 11
    for s in held:
        assert s("cookie").isdigit()
        s.s.close()
    settle(c)
    assert len(kept_net_files(c.pid)) == 2 * 11
    cookies = [r[0] for r in later(c, n=4)]
    assert all(x.isdigit() for x in cookies), cookies
    c.stop()
    m = c.wait_log(r"netpool made=\d+ reused=(\d+) dropped=(\d+) "
                   r"evicted=(\d+)")
    assert int(m.group(1)) >= 6 and m.group(2) == "0", m.group(0)
    assert int(m.group(3)) >= 1, m.group(0)
