"""
Recycled session cgroups (src/cgspare.c, src/cgroup.c): a session that runs
in a cgroup another session used before reports its own figures only, in
its end line and in the metrics, and no two live sessions ever share a
cgroup. The session's cgroup is read from /proc/PID/cgroup of its init
while it runs. These need root and the cgroup controllers.
"""

import os
import re
import signal
import time

import pytest

from conftest import cgroup_fds, connect, fd_links, prog, recv_line
from test_admin import metrics, start, svc

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the sandbox needs root")

ACCEPT_RE = r"accept service={svc} .*?pid=(\d+) "
REST = 0.3           # a spare rests CG_REST_MS (120 ms) before it is taken
MiB = 2**20


def cgroups_of(pid):
    """{controller(s): path} of a process, as /proc/PID/cgroup says."""
    out, v2 = {}, None
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctl, path = line.rstrip("\n").split(":", 2)
            if ctl in ("pids", "memory", "cpu", "cpuacct", "cpu,cpuacct"):
                out[ctl] = path
            elif ctl == "":
                v2 = path
    # the unified hierarchy is chald's only where no v1 controller is
    if not out and v2 is not None:
        out["v2"] = v2
    assert out, f"/proc/{pid}/cgroup names no controller chald uses"
    return out


def session_dir(cg):
    """The session's own directory name (sN), the same in each hierarchy."""
    names = {os.path.basename(p) for p in cg.values()}
    assert len(names) == 1 and re.fullmatch(r"s\d+", names.pop()), cg
    return os.path.basename(next(iter(cg.values())))


def probe(sock, cmd, timeout=10.0):
    sock.sendall(cmd.encode() + b"\n")
    return recv_line(sock, timeout=timeout).decode().strip()


def end_line(c, pid, timeout=15.0):
    m = c.wait_log(rf"end service=\S+ pid={pid} .*", timeout=timeout)
    return dict(kv.split("=", 1) for kv in m.group(0).split()[1:])


def exit_session(c, s, pid):
    """Ends a session of jailprobe with status 0; its end line."""
    s.sendall(b"exit 0\n")
    end = end_line(c, pid)
    s.close()
    return end


def ended(text, service, cause):
    for line in text.splitlines():
        if (line.startswith("chald_sessions_ended_total{") and
                f'service="{service}"' in line and f'cause="{cause}"' in line):
            return float(line.split()[-1])
    raise AssertionError(f"no ended_total for {service} {cause}:\n{text}")


def session(c, n, name="probe"):
    """The n-th session: its socket, its init's pid and its cgroups."""
    s = connect(c.ports[name])
    assert recv_line(s, timeout=10) == b"ready\n"
    pid = int(c.wait_log(ACCEPT_RE.format(svc=name), count=n).group(1))
    return s, pid, cgroups_of(pid)


def refreshes(c):
    """chald's debug lines about spare cgroups, for a failure's message."""
    return [l for l in c.log_text().splitlines() if "cgroup-" in l]


def recycling(c):
    return c.wait_log(r"sandbox cgroup=.*recycle=(yes|no)").group(1) == "yes"


@pytest.mark.timeout(90)
def test_recycled_cgroup_reports_only_its_own_session(chald, tmp_path):
    """Three sessions in a row, each in the cgroup of the one before: a big
    one (48 MiB, forks refused at pids, 0.6 s of CPU, exit 3), one killed
    at the memory limit, then a small one that exits 3 too. The last one's
    end line and the metrics give its own peak, CPU time and cause; with
    the counters taken as they stand (a naive recycle), it would report
    the first one's peak and CPU time, and the cause pids or oom."""
    c, admin = start(chald, tmp_path, [svc(
        "probe", command=prog("jailprobe"), memory="96M", pids=24,
        pool=0, timeout="30s")], extra="per-ip = 0\n", verbose=True)
    recycled = recycling(c)
    # A first session reads the program into the page cache, charged to
    # its cgroup, which is then not passed on (see the next test).
    s, pid0, _ = session(c, 1)
    exit_session(c, s, pid0)
    time.sleep(REST)

    s, pid1, cg1 = session(c, 2)
    assert probe(s, "alloc 48") == "ok 48"
    made = int(probe(s, "forks 40").split()[1])
    assert made < 40, made           # refused at pids.max
    assert probe(s, "burn 600") == "ok 600"
    s.sendall(b"exit 3\n")
    e1 = end_line(c, pid1)
    s.close()
    assert e1["cause"] == "pids", e1
    assert int(e1["peak_mem"]) >= 48 * MiB, e1
    assert float(e1["cpu_secs"]) >= 0.5, e1

    time.sleep(REST)
    s, pid2, cg2 = session(c, 3)
    if recycled:
        assert cg2 == cg1, (cg1, cg2, refreshes(c))
    s.sendall(b"alloc 200\n")        # past the 96M limit: the OOM killer
    e2 = end_line(c, pid2)
    s.close()
    assert e2["cause"] == "oom", e2

    time.sleep(REST)
    s, pid3, cg3 = session(c, 4)
    if recycled:
        assert cg3 == cg1, (cg1, cg3, refreshes(c))
    # the pids of the first session are all gone: 20 forks fit in 24 again
    assert probe(s, "forks 20") == "ok 20"
    s.sendall(b"exit 3\n")
    e3 = end_line(c, pid3)
    s.close()
    assert e3["status"] == "exit:3", e3
    assert e3["cause"] == "exit", e3            # not pids, not oom
    assert int(e3["peak_mem"]) < 16 * MiB, e3   # not 48 MiB or 96 MiB
    assert float(e3["cpu_secs"]) < 0.3, e3      # not 0.6 s and more
    text = metrics(admin)
    assert ended(text, "probe", "pids") == 1, text
    assert ended(text, "probe", "oom") == 1, text
    assert ended(text, "probe", "exit") == 2, text
    assert c.alive()


def evict(path):
    """Drops a file's pages from the page cache (written back first: a
    dirty page, as a freshly built program has, is not dropped)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@pytest.mark.timeout(60)
def test_page_cache_left_is_not_passed_on(chald, tmp_path):
    """A session that reads a file first has its page cache charged to its
    cgroup, which outlives the session. Such a cgroup is not passed on as
    it is: on v1 (no memory.reclaim) it is removed, on v2 its page cache
    is reclaimed first; either way the next session's cgroup holds no page
    of the last one when it starts."""
    c, _ = start(chald, tmp_path, [svc(
        "probe", command=prog("jailprobe"), memory="64M", pids=16,
        pool=0, timeout="30s")], extra="per-ip = 0\n", verbose=True)
    recycled = recycling(c)
    s, pid, cg = session(c, 1)
    exit_session(c, s, pid)
    time.sleep(REST)
    evict(prog("jailprobe"))
    s, pid, cg1 = session(c, 2)     # reads jailprobe from the disk again
    exit_session(c, s, pid)
    time.sleep(REST)
    s, pid, cg2 = session(c, 3)
    first = session_dir(cg1)
    # the look at that cgroup after the second session, the last one
    c.wait_log(rf"cgroup-refresh id={first} ")
    m = list(re.finditer(rf"cgroup-refresh id={first} uses=\d+ "
                         r"pages=(\d+) ", c.log_text()))[-1]
    if "v2" in cg1:
        # reclaimed, then passed on with nothing of the last session
        assert m.group(1) == "0", m.group(0)
        assert not recycled or session_dir(cg2) == first, (cg1, cg2)
    else:
        assert int(m.group(1)) > 0, m.group(0)
        c.wait_log(rf"cgroup-stale id={first} ")
        assert session_dir(cg2) != first, (cg1, cg2)
    exit_session(c, s, pid)


@pytest.mark.timeout(60)
def test_live_sessions_never_share_a_cgroup(chald, tmp_path):
    """After a few sessions have ended (their cgroups spare), six at once,
    with a pool: each runs in a cgroup of its own, some of them recycled,
    and the spare ones hold no process."""
    c, _ = start(chald, tmp_path, [svc(
        "probe", command=prog("jailprobe"), memory="64M", pids=16,
        pool=2, timeout="30s")], extra="per-ip = 0\n")
    recycled = recycling(c)
    before = set()
    for n in range(1, 5):
        s, pid, cg = session(c, n)
        before.add(session_dir(cg))
        exit_session(c, s, pid)
    time.sleep(REST)
    socks, live = [], {}
    for n in range(5, 11):
        s, pid, cg = session(c, n)
        assert probe(s, "id").startswith("ok ")
        socks.append(s)
        live[pid] = cg
    dirs = [session_dir(cg) for cg in live.values()]
    assert len(set(dirs)) == len(dirs), live
    for ctl in next(iter(live.values())):
        paths = [cg[ctl] for cg in live.values()]
        assert len(set(paths)) == len(paths), (ctl, paths)
    if recycled:
        assert set(dirs) & before, (dirs, before)
    # In every hierarchy, each of this chald's session cgroups holds the
    # processes of one jail (one pid namespace) or none (a spare), and no
    # jail, served or waiting in the pool, has processes in two of them.
    for ctl, path in next(iter(live.values())).items():
        root = ("/sys/fs/cgroup" if ctl == "v2" else
                f"/sys/fs/cgroup/{ctl.split(',')[0]}") + os.path.dirname(path)
        owner, spare = {}, 0
        for name in os.listdir(root):
            if not re.fullmatch(r"s\d+", name):
                continue
            with open(f"{root}/{name}/cgroup.procs") as f:
                pids = f.read().split()
            nss = set()
            for p in pids:
                try:
                    nss.add(os.readlink(f"/proc/{p}/ns/pid"))
                except FileNotFoundError:
                    pass
            assert len(nss) <= 1, (ctl, name, pids)
            spare += not pids
            for ns in nss:
                assert ns not in owner, (ctl, ns, name, owner[ns])
                owner[ns] = name
        for pid, cg in live.items():
            ns = os.readlink(f"/proc/{pid}/ns/pid")
            assert owner.get(ns) == os.path.basename(cg[ctl]), (ctl, pid)
    for s in socks:
        s.close()
    assert c.alive()


@pytest.mark.timeout(60)
def test_reload_new_limits_new_cgroup(chald, tmp_path):
    """A reload that changes a limit: the next session does not get the
    spare cgroup made with the old one, and its own has the new limit."""
    conf_svc = dict(command=prog("jailprobe"), memory="64M", pool=0,
                    timeout="30s")
    c, _ = start(chald, tmp_path, [svc("probe", pids=16, **conf_svc)],
                 extra="per-ip = 0\n")
    s, pid, cg1 = session(c, 1)
    exit_session(c, s, pid)
    conf = tmp_path / "chald.conf"
    conf.write_text(conf.read_text().replace("pids = 16", "pids = 24"))
    c.send(signal.SIGHUP)
    c.wait_log(r"reload services=", timeout=10)
    time.sleep(REST)
    s, pid, cg2 = session(c, 2)
    assert session_dir(cg2) != session_dir(cg1), (cg1, cg2)
    pids = cg2.get("pids", cg2.get("v2"))
    base = "/sys/fs/cgroup" + ("" if "v2" in cg2 else "/pids")
    with open(f"{base}{pids}/pids.max") as f:
        assert f.read().strip() == "24"
    assert probe(s, "forks 20") == "ok 20"
    exit_session(c, s, pid)


def fds_naming(pid, name):
    """The fds of pid on cgroup `name` (sN) or on its files, in any
    hierarchy, whether the cgroup is still there or not."""
    return [fd for fd, target in fd_links(pid).items()
            if f"/{name}/" in target or target.endswith(f"/{name}")]


@pytest.mark.timeout(60)
def test_kept_cgroup_files_bounded_and_closed_with_their_cgroup(chald,
                                                                tmp_path):
    """A session cgroup keeps the files chald reads at each session's end
    and refresh open (cgroup.c) from its first return to the spares on: a
    cgroup made for a session that has not ended keeps none of them (on v2
    only its directory, for CLONE_INTO_CGROUP, and memory.peak, whose reset
    is per fd), so that sessions that never end cannot take the budget from
    the cgroups that circulate. Once spare, the same few fds while spare
    and while its next session runs, close-on-exec; and none is left once
    the cgroup is removed (a reload that changes a limit removes the
    spare)."""
    conf_svc = dict(command=prog("jailprobe"), memory="64M", pool=0,
                    timeout="30s")
    c, _ = start(chald, tmp_path, [svc("probe", pids=16, **conf_svc)],
                 extra="per-ip = 0\n")
    recycled = recycling(c)
    s, pid, cg = session(c, 1)
    name = session_dir(cg)
    first = cgroup_fds(c.pid)
    assert {os.path.basename(d) for d in first.values()} <= {name}, first
    assert len(first) <= (2 if "v2" in cg else 0), first
    exit_session(c, s, pid)
    if not recycled:
        assert cgroup_fds(c.pid) == {}
        return
    spare = cgroup_fds(c.pid)
    assert spare and {os.path.basename(d) for d in spare.values()} == \
        {name}, spare
    # 7 files it reads at most, and v1's tasks file of each hierarchy
    # (write-only, for init to join through: CGF_N) or v2's directory for
    # CLONE_INTO_CGROUP
    assert len(spare) <= 11, spare
    assert set(first) <= set(spare), (first, spare)
    for fd in spare:
        with open(f"/proc/{c.pid}/fdinfo/{fd}") as f:
            flags = int(f.read().split("flags:")[1].split()[0], 8)
        assert flags & 0o2000000, (fd, oct(flags))      # O_CLOEXEC
    time.sleep(REST)
    s, pid, cg = session(c, 2)
    assert session_dir(cg) == name, (cg, refreshes(c))
    assert cgroup_fds(c.pid) == spare
    exit_session(c, s, pid)
    assert cgroup_fds(c.pid) == spare
    conf = tmp_path / "chald.conf"
    conf.write_text(conf.read_text().replace("pids = 16", "pids = 24"))
    c.send(signal.SIGHUP)
    c.wait_log(r"reload services=", timeout=10)
    deadline = time.monotonic() + 5
    while fds_naming(c.pid, name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fds_naming(c.pid, name) == [], refreshes(c)
    assert cgroup_fds(c.pid) == {}
    assert c.alive()
