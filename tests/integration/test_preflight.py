"""
What the jail needs of the host (preflight.c), each taken away on this
host: chald then refuses to start, and `chald -n` to pass, with exit status
1 and one line that names the missing thing and what grants it. Capabilities
go with setpriv's bounding set, cgroup mounts in a mount namespace of the
test's own (unshare -m: the host's stay as they are), system calls with
tests/progs/nsdeny's seccomp filter, and /proc's masks and user namespaces
with a child user namespace the test maps. `make check-image` takes the
same away from a container; `make check-v2` does the cgroup v2 cases.
"""

import ctypes
import os
import shutil
import subprocess
import sys

import pytest

from conftest import CHALD, Chald, connect, prog, recv_line

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the jail's checks run as root")

CAPS = ["SYS_ADMIN", "NET_ADMIN", "SETUID", "SETGID", "SETPCAP", "KILL"]
SERVE = ["-b", "127.0.0.1", "-p", "0", "--pool", "0", "--", "/bin/cat"]

# A child user namespace with every id mapped to itself, and a mount
# namespace it owns, in which the mounts of the one outside (some of /proc
# masked by a bind of /dev/null, as podman and docker do) are locked.
USERNS = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
mask, idmap, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
def unshare(flags):
    if libc.unshare(flags) != 0:
        sys.exit("unshare: " + os.strerror(ctypes.get_errno()))
unshare(0x20000)                                  # CLONE_NEWNS
assert os.system("mount --make-rprivate /") == 0
if mask != "-":
    assert os.system(f"mount --bind /dev/null {mask}") == 0
r, w = os.pipe()
r2, w2 = os.pipe()
pid = os.fork()
if pid == 0:
    unshare(0x10000000 | 0x20000)                 # CLONE_NEWUSER | NEWNS
    os.write(w, b"x")
    os.read(r2, 1)
    os.execvp(argv[0], argv)
os.read(r, 1)
for f in ("uid_map", "gid_map"):
    with open(f"/proc/{pid}/{f}", "w") as fp:
        fp.write(idmap + "\n")
os.write(w2, b"x")
_, st = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(st))
"""


def run(cmd, timeout=20):
    return subprocess.run([str(c) for c in cmd], capture_output=True,
                          text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def refused(r, *words):
    """Exit status 1 and one line on stderr, naming every word."""
    lines = r.stderr.splitlines()
    assert r.returncode == 1 and len(lines) == 1, (r.returncode, r.stderr)
    line = lines[0]
    assert line.startswith("chald: the jail "), line
    for w in words:
        assert w in line, (w, line)
    assert r.stdout == "", r.stdout
    return line


def in_mountns(script, args):
    """chald args in a private mount namespace after the shell script."""
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            script + ' && exec "$@"', "sh", CHALD, *args]


def in_userns(args, mask="-", idmap="0 0 4294967295"):
    return [sys.executable, "-c", USERNS, mask, idmap, CHALD, *args]


def masked_proc_path():
    for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list"):
        if os.path.exists(p):
            return p
    pytest.skip("none of the paths podman masks is in this /proc")


def test_all_there():
    """On this host (root, all of it granted) -n passes: no check is too
    strict."""
    r = run([CHALD, "-n", *SERVE])
    assert r.returncode == 0 and r.stderr == "chald: configuration OK\n", \
        r.stderr


@pytest.mark.parametrize("cap", CAPS)
def test_capability_missing(cap):
    r = run(["setpriv", f"--bounding-set=-{cap.lower()}", CHALD, "-n",
             *SERVE])
    refused(r, f"CAP_{cap}", f"--cap-add={cap}",
            "securityContext.capabilities.add", "CapabilityBoundingSet=")


def test_capability_missing_at_start(tmp_path):
    """Not only -n: a start is refused before anything is opened."""
    r = run(["setpriv", "--bounding-set=-sys_admin", CHALD, "-f", *SERVE])
    refused(r, "CAP_SYS_ADMIN", "--cap-add=SYS_ADMIN")
    r = run(["setpriv", "--bounding-set=-sys_admin", CHALD, *SERVE])
    refused(r, "CAP_SYS_ADMIN")


def test_net_admin_only_for_own_network():
    r = run(["setpriv", "--bounding-set=-net_admin", CHALD, "-n",
             "--network", "host", *SERVE])
    assert r.returncode == 0, r.stderr


def test_no_check_without_the_jail():
    r = run(["setpriv", "--bounding-set=-sys_admin", CHALD, "-n",
             "--sandbox", "off", *SERVE])
    assert r.returncode == 0, r.stderr


def v1():
    return not os.path.exists("/sys/fs/cgroup/cgroup.controllers")


@pytest.mark.skipif(not v1(), reason="cgroup v1 (v2: make check-v2)")
@pytest.mark.parametrize("start", [False, True])
def test_cgroupfs_read_only(start):
    r = run(in_mountns("mount -o remount,bind,ro /sys/fs/cgroup/pids",
                       ["-f" if start else "-n", *SERVE]))
    refused(r, "writable cgroup", "/sys/fs/cgroup/pids",
            "mounted read-only", "--jail-env", "ProtectControlGroups=")


@pytest.mark.skipif(not v1(), reason="cgroup v1 (v2: make check-v2)")
def test_cgroup_controller_not_mounted():
    r = run(in_mountns("umount -l /sys/fs/cgroup/memory", ["-n", *SERVE]))
    refused(r, "memory cgroup controller", "not mounted",
            "/sys/fs/cgroup/memory", "memory = 0")
    # without a memory limit, the controller is not needed
    r = run(in_mountns("umount -l /sys/fs/cgroup/memory",
                       ["-n", "--memory", "0", *SERVE]))
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(not v1(), reason="cgroup v1 (v2: make check-v2)")
def test_cgroup_not_delegated():
    """v1's delegation is the cgroup's owner: chald in a cgroup owned by
    another uid, without CAP_DAC_OVERRIDE (as in a container), may not make
    its sessions' below it."""
    d = f"/sys/fs/cgroup/pids/chald-test-nodeleg.{os.getpid()}"
    os.mkdir(d)
    try:
        os.chown(d, 65534, 65534)
        r = run(["sh", "-c", f'echo $$ > {d}/cgroup.procs && exec "$@"',
                 "sh", "setpriv",
                 "--bounding-set=-dac_override,-dac_read_search,-fowner",
                 CHALD, "-n", *SERVE])
        refused(r, "delegated", d, "owner uid 65534", "Delegate=yes")
    finally:
        os.rmdir(d)


@pytest.mark.parametrize("mode,words", [
    ("ns", ["mount namespaces", "CAP_SYS_ADMIN", "seccomp=unconfined",
            "seccompProfile: Unconfined"]),
    ("clone3", ["clone3()", "ENOSYS", "seccomp=unconfined"]),
    ("mount", ["cannot make its mounts private", "Permission denied",
               "AppArmor", "apparmor=unconfined", "label=disable"]),
    ("hostname", ["cannot set its hostname", "ProtectHostname="]),
    ("pivot", ["cannot pivot_root", "Operation not permitted",
               "seccomp profile", "seccomp=unconfined",
               "seccompProfile: Unconfined"]),
])
def test_refused_by_a_filter(mode, words):
    """What a container's seccomp profile or an LSM refuses: the start-up
    probe makes a jail's namespaces and mounts as the jail does."""
    r = run([prog("nsdeny"), mode, CHALD, "-n", *SERVE])
    refused(r, *words)


@pytest.mark.timeout(30)
def test_user_namespaces_blocked(tmp_path):
    """chald makes no user namespace: with them refused (as Ubuntu's
    AppArmor restriction and docker's profile do), a jailed session is
    served."""
    c = Chald([], tmp_path)
    c.args = [prog("nsdeny"), "userns", CHALD, "-f", "-b", "127.0.0.1", "-p",
              "0", "--pool", "0", "--", prog("echo")]
    try:
        c.start()
        s = connect(c.port)
        assert recv_line(s) == b"hello\n"
        s.sendall(b"ping\n")
        assert recv_line(s) == b"ping\n"
        s.close()
        c.wait_log(r"end service=echo .*status=exit:0")
        assert c.stop() == 0
    finally:
        c.kill()


def test_proc_masked_in_a_user_namespace():
    """In a user namespace a fresh /proc may only be mounted where the
    container's is fully visible: podman's and docker's masks forbid it.
    (Outside one, as in a rootful container, they do not: make
    check-image runs with them.)"""
    r = run(in_userns(["-n", *SERVE], mask=masked_proc_path()))
    refused(r, "mount its /proc", "user namespace", "unmask=/proc/*",
            "systempaths=unconfined", "procMount: Unmasked")


def test_user_namespace_refused():
    """With /proc unmasked, chald in a user namespace is still refused:
    the kernel refuses the sessions' socket filter there."""
    r = run(in_userns(["-n", *SERVE]))
    refused(r, "host's user namespace", "hostUsers: true")


def test_uids_not_mapped():
    """A user namespace that maps few uids (rootless podman's 65536) has
    none of uid-range's."""
    r = run(in_userns(["-n", *SERVE], idmap="0 0 65536"))
    refused(r, "uid-range 1900000000-1999999999", "/proc/self/uid_map",
            "0-65535")
