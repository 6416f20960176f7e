"""
Containment: hostile challenge programs (tests/progs) against the jail.
Each test asserts what the player sees and what the host looks like after.
These need root, namespaces and the cgroup controllers; they skip with the
reason when this machine lacks them, and never pass silently.
"""

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (CHALD, children, connect, fd_count, fd_links, forkers,
                      jails, proc_stat, prog, recv_all, recv_line, run_chald,
                      zombie_children)

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the sandbox needs root")

ACCEPT_RE = re.compile(r"accept service=(\S+) .*?pid=(\d+) .*?uid=(\d+)")
END_RE = r"end service={svc} pid={pid} .*"


def uid_procs(uid):
    """pids of every process on the host whose real uid is uid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            out.append(int(name))
                        break
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def wait_no_procs(uid, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not uid_procs(uid):
            return True
        time.sleep(0.02)
    return not uid_procs(uid)


def accepted(c, n=1, timeout=5.0):
    """(pid, uid) of the n-th accept line."""
    m = c.wait_log(ACCEPT_RE, timeout=timeout, count=n)
    return int(m.group(2)), int(m.group(3))


def ended(c, pid, timeout=10.0):
    """The end line of session pid, as a dict of its keys."""
    m = c.wait_log(rf"end service=\S+ pid={pid} .*", timeout=timeout)
    return dict(kv.split("=", 1) for kv in m.group(0).split()[1:])


def probe(sock, cmd, timeout=5.0):
    sock.sendall(cmd.encode() + b"\n")
    return recv_line(sock, timeout=timeout).decode().strip()


def jail(chald, *opts, program="jailprobe", args=()):
    path = program if program.startswith("/") else prog(program)
    return chald("-b", "127.0.0.1", "-p", "0", "--per-ip", "0", *opts,
                 "--", path, *args)


def config(tmp_path, text):
    p = tmp_path / "c.conf"
    p.write_text(text)
    return p


@pytest.mark.timeout(40)
def test_forkbomb_held_to_pids_and_others_served(chald, tmp_path):
    conf = config(tmp_path, f"""
[global]
listen = 127.0.0.1
port = 0
per-ip = 0
[service bomb]
command = {prog('forkbomb')}
pids = 16
timeout = 4s
[service echo]
command = {prog('echo')}
""")
    c = chald("-c", conf, services=2)
    s = connect(c.ports["bomb"])
    assert recv_line(s) == b"ready\n"
    pid, uid = accepted(c)
    most = 0
    for _ in range(15):
        most = max(most, len(uid_procs(uid)))
        time.sleep(0.1)
    # the bomb is running and held at its limit (init runs as root)
    assert 8 <= most <= 16, most
    # another player is served during the bomb
    t = time.monotonic()
    e = connect(c.ports["echo"])
    assert recv_line(e) == b"hello\n"
    e.sendall(b"still here\n")
    assert recv_line(e) == b"still here\n"
    assert time.monotonic() - t < 2.0
    end = ended(c, pid)
    assert end["cause"] == "timeout", end
    assert wait_no_procs(uid), uid_procs(uid)


@pytest.mark.timeout(30)
def test_membomb_killed_at_memory(chald):
    c = jail(chald, "--memory", "48M", "--timeout", "20s", program="membomb")
    s = connect(c.port)
    assert recv_line(s) == b"ready\n"
    out = recv_all(s, timeout=15)
    pid, uid = accepted(c)
    end = ended(c, pid)
    assert end["cause"] == "oom", end
    assert int(end["peak_mem"]) <= 48 * 2**20 + 2**20, end
    assert b"32 MiB" in out and b"64 MiB" not in out, out[-200:]
    assert wait_no_procs(uid)
    # the daemon is untouched and serves the next player
    assert c.alive()
    s2 = connect(c.port)
    assert recv_line(s2) == b"ready\n"


@pytest.mark.timeout(30)
def test_cpu_share_held(chald):
    c = jail(chald, "--cpu", "0.25", "--cpu-time", "0", "--timeout", "3s",
             program="cpuburn", args=("2",))
    s = connect(c.port)
    assert recv_line(s) == b"ready\n"
    pid, _ = accepted(c)
    end = ended(c, pid)
    assert end["cause"] == "timeout", end
    share = float(end["cpu_secs"]) / float(end["secs"])
    # two burners, a quarter of one core between them
    assert 0.1 <= share <= 0.35, end


@pytest.mark.timeout(30)
def test_cpu_time_kills(chald):
    c = jail(chald, "--cpu", "1", "--cpu-time", "1s", "--timeout", "15s",
             program="cpuburn")
    s = connect(c.port)
    assert recv_line(s) == b"ready\n"
    t = time.monotonic()
    pid, _ = accepted(c)
    end = ended(c, pid, timeout=10)
    assert end["cause"] == "cpu-time", end
    assert time.monotonic() - t < 5
    assert 0.7 <= float(end["cpu_secs"]) <= 2.5, end


@pytest.mark.timeout(30)
def test_escapee_gone_at_timeout(chald):
    c = jail(chald, "--timeout", "2s", program="escapee")
    s = connect(c.port)
    assert recv_line(s).startswith(b"escaped ")
    pid, uid = accepted(c)
    # the first process and the escaped grandchild both run as the uid
    # (the middle one stays a zombie when it exits before its parent ignores
    # SIGCHLD: its parent never waits for it)
    def live():
        return [p for p in uid_procs(uid)
                if (proc_stat(p) or {}).get("state") not in ("Z", "X")]
    deadline = time.monotonic() + 2
    while len(live()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(live()) == 2, uid_procs(uid)
    end = ended(c, pid)
    assert end["cause"] == "timeout", end
    assert wait_no_procs(uid, timeout=1.0), uid_procs(uid)
    assert recv_all(s, timeout=2) == b""


@pytest.mark.timeout(20)
def test_fd_hog_stops_at_open_files(chald):
    c = jail(chald, "--open-files", "32", "--pool", "0")
    before = fd_count(c.pid)
    s = connect(c.port)
    assert recv_line(s) == b"ready\n"
    got = probe(s, "fds").split()
    assert got[0] == "ok" and got[2] == "EMFILE", got
    assert int(got[1]) <= 32 - 3, got
    s.close()
    pid, _ = accepted(c)
    ended(c, pid)
    # and the forker's pidfd and socket, kept from the first jail on
    assert fd_count(c.pid) == before + 2
    s = connect(c.port)
    assert recv_line(s) == b"ready\n"


@pytest.mark.timeout(20)
def test_disk_filler_and_private_tmp(chald):
    c = jail(chald, "--tmp-size", "1M", "--file-size", "16M")
    a = connect(c.port)
    b = connect(c.port)
    assert recv_line(a) == b"ready\n" and recv_line(b) == b"ready\n"
    assert probe(a, "write /tmp/secret-a") == "ok 0"
    got = probe(a, "fill /tmp/filler").split()
    assert got[0] == "ok" and got[2] == "ENOSPC", got
    assert 512 * 1024 <= int(got[1]) <= 1024 * 1024, got
    # nothing outside /tmp is writable
    for path in ("/etc/chald-test", "/chald-test", "/usr/chald-test",
                 prog("chald-test")):
        assert probe(a, f"write {path}").startswith("err E"), path
        assert not os.path.exists(path)
    assert not os.path.exists("/tmp/filler")
    # and one session cannot see another's files
    listing = probe(b, "ls /tmp").split()
    assert listing[0] == "ok" and "secret-a" not in listing
    assert "filler" not in listing


@pytest.mark.timeout(20)
def test_neighbours_unreachable(chald):
    c = jail(chald)
    a = connect(c.port)
    b = connect(c.port)
    assert recv_line(a) == b"ready\n" and recv_line(b) == b"ready\n"
    (pid_a, uid_a), (pid_b, uid_b) = accepted(c, 1), accepted(c, 2)
    # kill and ptrace of the daemon and of the other session's processes
    for target in (c.pid, pid_b, pid_a):
        assert probe(a, f"kill {target}").startswith("err E")
        assert probe(a, f"ptrace {target}").startswith("err E")
    assert probe(a, "kill 1").startswith("err E")
    assert c.alive()
    assert probe(b, "id").startswith("ok ")
    # /proc shows only the session's own processes (init is hidden)
    ok, *pids = probe(a, "procs").split()
    own = sorted(int(p) for p in pids if p.isdigit())
    assert ok == "ok" and own and max(own) < 10, own
    # no network but the jail's own loopback
    got = probe(a, f"connect 127.0.0.1 {c.port}")
    assert got in ("err ECONNREFUSED", "err ENETUNREACH"), got


@pytest.mark.timeout(20)
def test_setuid_gives_nothing_and_uids_differ(chald, tmp_path):
    suid = tmp_path / "suid"
    suid.mkdir()
    os.chmod(tmp_path, 0o755)
    shutil.copy(prog("showid"), suid / "showid")
    os.chown(suid / "showid", 0, 0)
    os.chmod(suid / "showid", 0o4755)
    c = jail(chald, "--bind-ro", str(suid))
    socks = [connect(c.port) for _ in range(3)]
    uids = set()
    for s in socks:
        assert recv_line(s) == b"ready\n"
        ok, ruid, euid, _ = probe(s, "id").split()
        assert ok == "ok" and ruid == euid and int(ruid) != 0
        uids.add(ruid)
    assert len(uids) == 3, uids
    got = probe(socks[0], f"exec {suid / 'showid'}").split()
    assert got[0] == "ok" and got[1] == got[2] and got[2] != "0", got
    # bind-ro is read-only, whatever the file modes say
    os.chmod(suid, 0o777)
    assert probe(socks[0], f"write {suid}/planted") == "err EROFS"
    assert not (suid / "planted").exists()


@pytest.mark.timeout(20)
def test_bind_rw_is_writable_and_shared(chald, tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(box, 0o777)
    c = jail(chald, "--bind-rw", str(box))
    s = connect(c.port)
    assert recv_line(s) == b"ready\n"
    assert probe(s, f"write {box}/note") == "ok 0"
    assert (box / "note").read_text() == "x\n"


def test_sandbox_refuses_bad_layers(tmp_path):
    r = run_chald(["-n", "--root", str(tmp_path / "nowhere"), "--",
                   prog("echo")])
    assert r.returncode == 1
    assert "root: " in r.stderr and "No such file" in r.stderr
    # with root = DIR, the jail's fresh /tmp would hide a program there
    # (unless a bind brings it in: test_paths.py)
    root = tmp_path / "r"
    for d in ("proc", "dev", "tmp"):
        (root / d).mkdir(parents=True)
    shutil.copy(prog("echo"), tmp_path / "echo")
    r = run_chald(["-n", "--root", str(root), "--", str(tmp_path / "echo")])
    assert r.returncode == 1
    assert "/tmp is the jail's own, mounted afresh" in r.stderr, r.stderr
    r = run_chald(["-n", "--uid-range", "0-10", "--", prog("echo")])
    assert r.returncode == 1 and "--uid-range" in r.stderr
    r = run_chald(["-n", "--seccomp-allow", "notasyscall", "--",
                   prog("echo")])
    assert r.returncode == 1 and "notasyscall" in r.stderr


def test_sandbox_refuses_binds_that_reach_a_cgroup_fs(tmp_path):
    """A bind (recursive) or root with a cgroup file system in it, or a
    bind inside one, would let a setuid-root helper write the session's
    tasks files (v1 checks the writer's euid) and leave its limits."""
    box = tmp_path / "box"
    (box / "cg").mkdir(parents=True)
    (tmp_path / "plain").mkdir()
    name = f"chaldtest{os.getpid()}"
    fs = ["-t", "cgroup", "-o", f"none,name={name}"]
    if subprocess.run(["mount", *fs, "cgroup", str(box / "cg")]).returncode:
        fs = ["-t", "cgroup2"]
        assert subprocess.run(["mount", *fs, "cgroup2",
                               str(box / "cg")]).returncode == 0
    try:
        for key, path in (("--bind-ro", box), ("--bind-rw", box / "cg"),
                          ("--root", box)):
            r = run_chald(["-n", key, str(path), "--", prog("echo")])
            assert r.returncode == 1, (key, r.stdout)
            assert "a cgroup file system is mounted there" in r.stderr, \
                r.stderr
        r = run_chald(["-n", "--bind-ro", str(tmp_path / "plain"), "--",
                       prog("echo")])
        assert r.returncode == 0, r.stderr
    finally:
        subprocess.run(["umount", str(box / "cg")])


def test_cgroup_v2_here():
    """The v2 path is only exercised where the host runs cgroup v2."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        r = run_chald(["-n", "--", prog("echo")])
        assert r.returncode == 0
    else:
        pytest.skip("this machine mounts cgroup v1 controllers, so the "
                    "cgroup v2 path is not exercised here; `make check-v2` "
                    "runs the hostile checks on cgroup v2 in qemu")


@pytest.mark.timeout(30)
def test_own_root_directory(chald, tmp_path):
    """root = DIR: the jail is that tree, read-only, never written to."""
    os.chmod(tmp_path, 0o755)
    # the program runs at the same path inside the root, and the jail's
    # /tmp is its own: so the program lives outside /tmp (and outside the
    # checkout, which may be under /tmp)
    pub = Path(tempfile.mkdtemp(prefix="chald-rootchal-", dir="/var/tmp"))
    pub.chmod(0o755)
    try:
        chal = pub / "chal"
        src = Path(__file__).resolve().parents[1] / "progs" / "jailprobe.c"
        r = subprocess.run(["cc", "-static", "-O2", "-o", str(chal),
                            str(src)], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            pytest.skip(f"no static build here: {r.stderr.strip()[:200]}")
        root = tmp_path / "rootfs"
        for d in ("proc", "dev", "tmp", str(pub).lstrip("/")):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(chal, root / str(chal).lstrip("/"))
        before = sorted(str(p) for p in root.rglob("*"))
        c = jail(chald, "--root", str(root), "-v", program=str(chal))
        s = connect(c.port)
        assert recv_line(s) == b"ready\n"
        # copied from the service's template (sandbox.c)
        assert c.count_log(r"sandbox-template service=\S+ state=built") == 1
        mounts = sorted(line.split()[4] for line in probe(
            s, "cat /proc/self/mountinfo")[3:].split("|") if line)
        assert mounts == sorted(["/", "/dev", "/tmp", "/proc", "/dev/pts"] +
                                [f"/dev/{d}" for d in ("null", "zero", "full",
                                 "random", "urandom", "tty")]), mounts
        # the jail's root is the organizer's tree: no /usr, no /etc
        listing = probe(s, "ls /").split()
        assert listing[0] == "ok", listing
        assert "usr" not in listing and "etc" not in listing, listing
        assert probe(s, f"write {chal}.new").startswith("err E")
        assert probe(s, "write /tmp/ok") == "ok 0"
        s.close()
        assert sorted(str(p) for p in root.rglob("*")) == before
    finally:
        shutil.rmtree(pub, ignore_errors=True)


@pytest.mark.timeout(20)
def test_bind_ro_covers_mounts_below(chald, tmp_path):
    """A host mount under a bind-ro path is read-only in the jail too."""
    os.chmod(tmp_path, 0o755)
    top = tmp_path / "ro"
    sub = top / "sub"
    sub.mkdir(parents=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=777",
                        "tmpfs", str(sub)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        c = jail(chald, "--bind-ro", str(top))
        s = connect(c.port)
        assert recv_line(s) == b"ready\n"
        assert probe(s, f"write {sub}/planted") == "err EROFS"
        s.close()
        assert not (sub / "planted").exists()
    finally:
        subprocess.run(["umount", "-l", str(sub)], capture_output=True)


@pytest.mark.timeout(20)
def test_sessions_die_with_the_daemon(chald):
    """SIGKILL to the daemon takes its jailed sessions with it."""
    c = jail(chald, "--timeout", "60s")
    s = connect(c.port)
    assert recv_line(s) == b"ready\n"
    _, uid = accepted(c)
    assert uid_procs(uid)
    c.proc.kill()
    c.proc.wait(timeout=5)
    assert wait_no_procs(uid, timeout=3), uid_procs(uid)
    assert recv_all(s, timeout=3) == b""


def test_jail_init_is_a_fresh_program(chald):
    """Every jail's pid 1 is chald-init, exec'd from chald's embedded copy
    in a memfd rather than a fork of the daemon: none of the daemon's
    libraries are mapped in it, and it is static (no libc.so either)."""
    c = jail(chald, "--timeout", "60s")
    s = connect(c.port)
    assert recv_line(s) == b"ready\n"
    accepted(c)
    with open(f"/proc/{c.proc.pid}/maps") as f:
        assert "libseccomp" in f.read()
    # the pool refills after a pause; wait until its jails have exec'd
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        inits = [p["pid"] for p in jails(c.proc.pid)]
        comms = set()
        for p in inits:
            with open(f"/proc/{p}/comm") as f:
                comms.add(f.read())
        if len(inits) >= 3 and comms == {"chald-init\n"}:
            break
        time.sleep(0.05)
    assert len(inits) >= 3, inits      # the player's jail, and the pool's
    for p in inits:
        with open(f"/proc/{p}/comm") as f:
            assert f.read() == "chald-init\n"
        with open(f"/proc/{p}/cmdline", "rb") as f:
            assert f.read() == b"chald-init\0"
        with open(f"/proc/{p}/maps") as f:
            maps = f.read()
        assert "libseccomp" not in maps and "libc.so" not in maps, maps
        assert "memfd:chald-init" in maps, maps
    # the jails came from the service's forker, chald-init as well
    f, = forkers(c.proc.pid)
    with open(f"/proc/{f['pid']}/cmdline", "rb") as fp:
        assert fp.read() == b"chald-init\0"
    with open(f"/proc/{f['pid']}/maps") as fp:
        assert "memfd:chald-init" in fp.read()
    s.close()


def status_of(sock):
    """The challenge's /proc/self/status, as a dict."""
    got = probe(sock, "cat /proc/self/status")
    assert got.startswith("ok "), got
    # jailprobe's cat shows tabs as "?"
    return {k: v.strip("? ") for k, v in (line.split(":", 1) for line in
            got[3:].split("|") if ":" in line)}


def socket_inodes(pid):
    """The inodes of the sockets among pid's fds, by fd."""
    return {fd: target for fd, target in fd_links(pid).items()
            if target.startswith("socket:[")}


@pytest.mark.timeout(30)
def test_forked_jail_keeps_nothing_of_its_forker(chald):
    """A jail cloned by the service's forker, without an exec, holds none
    of the forker's fds: its init has fds 0-3 only, and its fd 3 is the
    jail's own control socket, not the forker's (which would let the jail
    order jails). Its challenge runs under both parts of the filter, the
    forker's and its own, and they refuse what the whole filter does; the
    forker's capability bounding set is empty, and so the challenge's."""
    c = jail(chald, "--pool", "2", "--timeout", "30s")
    deadline = time.monotonic() + 5
    while len(jails(c.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    f, = forkers(c.pid)
    fsocks = set(socket_inodes(f["pid"]).values())
    with open(f"/proc/{f['pid']}/status") as fp:
        fstatus = fp.read()
    assert "CapBnd:\t0000000000000000" in fstatus, fstatus
    assert "Seccomp_filters:\t1" in fstatus, fstatus
    pooled = jails(c.pid)
    assert len(pooled) == 2, children(c.pid)
    for p in pooled:
        fds = sorted(int(x) for x in os.listdir(f"/proc/{p['pid']}/fd"))
        assert fds == [0, 1, 2, 3], fds
        assert socket_inodes(p["pid"])[3] not in fsocks
    with connect(c.port) as s:
        assert recv_line(s) == b"ready\n"
        st = status_of(s)
        assert st["Seccomp"] == "2" and st["Seccomp_filters"] == "2", st
        assert st["CapBnd"] == "0000000000000000", st
        assert st["CapEff"] == "0000000000000000", st
        # one denial of each part: a mount-family call (the inner part)
        # and an address family (the outer part)
        assert probe(s, "unshare") == "err EPERM"
        assert probe(s, "socket 40 1 0") == "err EAFNOSUPPORT"
        assert probe(s, "ldt") == "err EPERM"


@pytest.mark.timeout(40)
def test_jails_outlive_a_dead_forker(chald):
    """A forker that dies (killed here) is noticed at the next jail, which
    is cloned the old way with the whole filter instead; no player is
    refused, and a new forker takes over a second later. Jails it had
    forked go on."""
    c = jail(chald, "--pool", "0", "--timeout", "30s")
    with connect(c.port) as s1:
        assert recv_line(s1) == b"ready\n"
        f, = forkers(c.pid)
        os.kill(f["pid"], signal.SIGKILL)
        with connect(c.port) as s2:
            assert recv_line(s2) == b"ready\n"
            st = status_of(s2)
            assert st["Seccomp_filters"] == "1", st   # the whole filter
            assert probe(s2, "unshare") == "err EPERM"
            assert probe(s2, "socket 40 1 0") == "err EAFNOSUPPORT"
        assert probe(s1, "id").startswith("ok ")      # still served
    # Noticed by its pidfd, or, when the kill lands between that look
    # and the request (its socket closes before its pidfd turns
    # readable), by the request's EPIPE.
    c.wait_log(r"forker-failed pid=%d step=(?:exited|request)" % f["pid"])
    time.sleep(1.2)
    with connect(c.port) as s3:
        assert recv_line(s3) == b"ready\n"
        assert status_of(s3)["Seccomp_filters"] == "2"
    g, = forkers(c.pid)
    assert g["pid"] != f["pid"]
    assert zombie_children(c.pid) == []


@pytest.mark.timeout(40)
def test_forkers_follow_the_seccomp_settings(chald, tmp_path):
    """Services with the same seccomp settings share a forker, others get
    their own (it holds their outer part), and a reload stops the ones no
    service needs any more; seccomp = off has one without a filter."""
    probe_path = prog("jailprobe")
    conf = config(tmp_path, f"""[global]
listen = 127.0.0.1
per-ip = 0
pool = 1
[service a]
port = 0
command = {probe_path}
[service b]
port = 0
command = {probe_path}
[service c]
port = 0
command = {probe_path}
seccomp-allow = modify_ldt
""")
    c = chald("-c", conf)
    deadline = time.monotonic() + 5
    while (len(jails(c.pid)) < 3 or len(forkers(c.pid)) < 2) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(jails(c.pid)) == 3 and len(forkers(c.pid)) == 2, \
        children(c.pid)
    before = {f["pid"] for f in forkers(c.pid)}
    conf.write_text(conf.read_text().replace("seccomp-allow = modify_ldt\n",
                                             ""))
    os.kill(c.pid, signal.SIGHUP)
    c.wait_log(r"reload services=3")
    deadline = time.monotonic() + 5
    while len(forkers(c.pid)) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    after = {f["pid"] for f in forkers(c.pid)}
    assert len(after) == 1 and after <= before, (before, after)

    init = Path(CHALD).parent / "chald-init"
    r = subprocess.run([str(init)], capture_output=True, text=True,
                       timeout=5)
    assert r.returncode == 2
    assert "chald runs it, with its control socket on fd 3" in r.stderr


def skels(pid):
    """The jail skeletons of the chald with this pid, by name."""
    return sorted(n for n in os.listdir("/run/chald")
                  if n.startswith(f"skel.{pid}."))


@pytest.mark.timeout(30)
def test_skeleton_outlives_a_reload_until_its_jails_end(chald, tmp_path):
    """Jails are built on a read-only skeleton of the service's tree. A
    reload builds a new one; the old one stays while a jail of the old
    load runs (deleting it would unmount the jail's /usr under the
    challenge) and goes with that jail's end, and the last goes at exit."""
    conf = config(tmp_path, f"""
[global]
listen = 127.0.0.1
port = 0
per-ip = 0
[service probe]
command = {prog('jailprobe')}
""")
    c = chald("-c", conf)
    first = skels(c.pid)
    assert len(first) == 1, first
    skel = Path("/run/chald") / first[0]
    assert (skel / "etc" / "nsswitch.conf").read_bytes() == \
        Path("/etc/nsswitch.conf").read_bytes()
    s = connect(c.port)
    assert recv_line(s) == b"ready\n"
    assert probe(s, "write /skeleton-test") == "err EROFS"
    c.send(signal.SIGHUP)
    c.wait_log(r"reload services=1")
    now = skels(c.pid)
    assert len(now) == 2 and first[0] in now, now
    # the old load's jail still has its tree
    assert probe(s, "ls /usr/bin").startswith("ok ")
    assert probe(s, "exec /usr/bin/id").startswith("ok uid=")
    s.close()
    deadline = time.monotonic() + 10
    while first[0] in skels(c.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert skels(c.pid) == [n for n in now if n != first[0]]
    assert c.stop() == 0
    assert skels(c.pid) == []


def test_stale_skeletons_are_removed_at_start(chald, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    Path("/run/chald").mkdir(mode=0o700, exist_ok=True)
    stale = Path(f"/run/chald/skel.{dead.pid}.7")
    (stale / "etc").mkdir(parents=True)
    (stale / "etc" / "passwd").write_text("x\n")
    c = jail(chald)
    assert not stale.exists()
    assert len(skels(c.pid)) == 1


@pytest.mark.parametrize("where", ["progs", "tmp"])
def test_jails_work_under_a_strict_umask(chald, pubdir, where):
    """The skeleton, and the mount points init makes under the jail's own
    /tmp (for a program that lives below the host's /tmp), are 0755
    whatever umask chald was started with: the jail's uid must be able to
    walk its root, /dev and the way to its program."""
    program = prog("echo")
    if where == "tmp":
        shutil.copy(program, pubdir / "echo")
        program = str(pubdir / "echo")
    old = os.umask(0o077)
    try:
        c = jail(chald, program=program)
    finally:
        os.umask(old)
    s = connect(c.port)
    assert recv_line(s) == b"hello\n"
    s.sendall(b"x\n")
    assert recv_line(s) == b"x\n"
    skel = Path("/run/chald") / skels(c.pid)[0]
    assert (skel.stat().st_mode & 0o777) == 0o755
    assert ((skel / "dev").stat().st_mode & 0o777) == 0o755


MEMFD_NOEXEC = Path("/proc/sys/vm/memfd_noexec")


@pytest.mark.skipif(not MEMFD_NOEXEC.exists(),
                    reason="vm.memfd_noexec needs Linux 6.3 or later")
def test_init_runs_where_memfds_may_not_exec(chald):
    """On a host that forbids executing memfds, chald-init runs from an
    unlinked file in /run/chald instead, and says so at start."""
    old = MEMFD_NOEXEC.read_text()
    MEMFD_NOEXEC.write_text("2")
    try:
        c = jail(chald, program="echo")
    finally:
        try:        # some kernels refuse to lower it again
            MEMFD_NOEXEC.write_text(old)
        except OSError:
            pass
    c.wait_log(r'sandbox-init from=file reason="Permission denied"')
    s = connect(c.port)
    assert recv_line(s) == b"hello\n"
    s.sendall(b"x\n")
    assert recv_line(s) == b"x\n"
    assert not any(n.startswith("chald-init.")
                   for n in os.listdir("/run/chald"))


def stack_canary(pid):
    """The stack canary of a process (x86-64: at %fs:0x28), read with
    ptrace: attach, read its fs base and the word there, detach."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                            ctypes.c_void_p]
    regs = (ctypes.c_ulong * 27)()
    assert libc.ptrace(16, pid, None, None) == 0, ctypes.get_errno()
    try:
        os.waitpid(pid, getattr(os, "__WALL", 0x40000000))
        assert libc.ptrace(12, pid, None, ctypes.byref(regs)) == 0
        fs_base = regs[21]
        ctypes.set_errno(0)
        word = libc.ptrace(2, pid, ctypes.c_void_p(fs_base + 0x28), None)
        assert ctypes.get_errno() == 0
        return word & 0xffffffffffffffff
    finally:
        libc.ptrace(17, pid, None, None)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86-64 only")
@pytest.mark.timeout(30)
def test_forked_jails_have_their_own_stack_canary(chald):
    """A forked jail's init is a copy of its forker, canary included, which
    would let a memory bug in init be brute-forced across sessions; each
    one gets a new canary before it runs as init."""
    c = jail(chald, "--pool", "3", "--timeout", "30s")
    deadline = time.monotonic() + 5
    while len(jails(c.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    f, = forkers(c.pid)
    canaries = [stack_canary(p["pid"]) for p in jails(c.pid)]
    canaries.append(stack_canary(f["pid"]))
    assert len(set(canaries)) == 4, [hex(x) for x in canaries]
