"""setuid = on: a set-user-ID root /readflag of the jail's root gives the
player the flag that only root may read, and the euid 0 it runs as has no
capability and reaches nothing beyond its own session
(docs/threat-model.md, "setuid = on"). The root is a challenge's own tree,
as an image would be: the host's /usr bound in, a root-only /flag, and the
helpers, built here, owned by root and set-user-ID."""

import ctypes
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import Chald, all_procs, prog, recv_line, run_chald

FLAG = "flag{setuid_root_only}"
PIDS = 16

READFLAG_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(void)
{
	char buf[256];
	ssize_t n;
	int fd = open("/flag", O_RDONLY);

	if (fd == -1) {
		perror("/readflag: /flag");
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		write(1, buf, (size_t)n);
	return 0;
}
"""

PYJAIL = r"""import sys
print("pyjail: the flag is in /flag, readable by root only", flush=True)
while True:
    sys.stdout.write(">>> ")
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        break
    try:
        exec(line)
    except Exception as e:
        print("error:", type(e).__name__, e, flush=True)
"""


def _suid(path):
    os.chown(path, 0, 0)
    os.chmod(path, 0o4755)


@pytest.fixture
def suid_root(pubdir):
    """The challenge's root: /usr from the host (bind-ro), /flag 0400 root,
    /readflag and /rootprobe set-user-ID root, /probe a plain copy."""
    root = pubdir / "root"
    for sub in ("usr", "proc", "dev", "tmp"):
        (root / sub).mkdir(parents=True)
    for link in ("bin", "sbin", "lib", "lib64"):
        if os.path.islink("/" + link):
            (root / link).symlink_to(os.readlink("/" + link).lstrip("/"))
    src = pubdir / "readflag.c"
    src.write_text(READFLAG_C)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(root / "readflag"),
                    str(src)], check=True, timeout=60)
    _suid(root / "readflag")
    (root / "flag").write_text(FLAG + "\n")
    os.chown(root / "flag", 0, 0)
    os.chmod(root / "flag", 0o400)
    (root / "jail.py").write_text(PYJAIL)
    os.chmod(root / "jail.py", 0o644)
    shutil.copy(prog("rootprobe"), root / "probe")
    os.chmod(root / "probe", 0o755)
    shutil.copy(prog("rootprobe"), root / "rootprobe")
    _suid(root / "rootprobe")
    for p in (root, root / "usr", root / "proc", root / "dev", root / "tmp"):
        os.chmod(p, 0o755)
    return root


def _conf(tmp_path, root, command, setuid="on", extra="", name="chal"):
    conf = tmp_path / f"{name}.conf"
    conf.write_text(f"""[service {name}]
listen = 127.0.0.1
port = 0
root = {root}
bind-ro = /usr
setuid = {setuid}
pids = {PIDS}
pool = 0
command = {command}
{extra}""")
    return conf


# ---------------------------------------------------------------------------
# the challenge
# ---------------------------------------------------------------------------

def _pyjail(c):
    from pwn import context, remote
    context.log_level = "error"
    r = remote("127.0.0.1", c.port, timeout=5)
    r.recvuntil(b">>> ", timeout=5)
    return r


def test_pyjail_flag_through_setuid_readflag(chald, tmp_path, suid_root):
    """The player escapes into a shell command: /readflag prints the flag;
    reading /flag directly stays refused, as it must."""
    c = chald("-c", _conf(tmp_path, suid_root, "/usr/bin/python3 /jail.py"))
    r = _pyjail(c)
    try:
        r.sendline(b"print(open('/flag').read())")
        got = r.recvuntil(b">>> ", timeout=5)
        assert b"error: PermissionError" in got and FLAG.encode() not in got
        r.sendline(b"__import__('os').system('/readflag')")
        got = r.recvuntil(b">>> ", timeout=5)
        assert FLAG.encode() in got, got
        r.sendline(b"import os; print('ids', os.getresuid(), "
                   b"os.stat('/flag').st_mode & 0o777)")
        got = r.recvuntil(b">>> ", timeout=5)
        uid = int(re.search(rb"ids \((\d+), (\d+), (\d+)\) 256", got)[1])
        assert uid >= 1000, got      # the session itself: not root
    finally:
        r.close()
    c.wait_log(r"end service=chal .* status=exit:0 cause=exit")
    assert c.count_log(r"setuid-warning") == 0


def test_pyjail_setuid_off_readflag_refused_and_named(chald, tmp_path,
                                                     suid_root):
    """setuid = off: no_new_privs makes the bit do nothing. The player sees
    Permission denied, and the log names the file and the key at start."""
    conf = _conf(tmp_path, suid_root, "/usr/bin/python3 /jail.py",
                 setuid="off")
    c = chald("-c", conf)
    c.wait_log(r'setuid-warning service=chal file=/readflag problem="is '
               r'set-user-ID \(owner 0, mode 4755\), which does nothing in '
               r'the jail while setuid = off" fix="setuid = on"')
    r = _pyjail(c)
    try:
        r.sendline(b"__import__('os').system('/readflag')")
        got = r.recvuntil(b">>> ", timeout=5)
        assert b"/readflag: /flag: Permission denied" in got, got
        assert FLAG.encode() not in got
    finally:
        r.close()
    r = run_chald(["-n", "-c", conf])
    assert r.returncode == 0, r.stderr
    assert (f"chald: {conf}:4: warning: service chal: /readflag is "
            f"set-user-ID (owner 0, mode 4755), which does nothing in the "
            f"jail while setuid = off; add setuid = on\n") in r.stderr
    assert "/rootprobe is set-user-ID" in r.stderr
    assert "/probe " not in r.stderr
    on = run_chald(["-n", "-c", _conf(tmp_path, suid_root, "/bin/true",
                                      name="on")])
    assert on.returncode == 0 and "warning" not in on.stderr, on.stderr


# ---------------------------------------------------------------------------
# euid 0 without capabilities
# ---------------------------------------------------------------------------

class Probe:
    """A rootprobe session: one command, one answer line."""

    def __init__(self, c):
        self.s = c.connect()
        assert recv_line(self.s).startswith(b"ready euid="), "no banner"

    def __call__(self, cmd):
        self.s.sendall(cmd.encode() + b"\n")
        line = recv_line(self.s)
        assert line.endswith(b"\n"), f"{cmd}: no answer ({line!r})"
        return line.decode().rstrip("\n")

    def become_root(self):
        self.s.sendall(b"exec /rootprobe\n")
        assert recv_line(self.s) == b"ready euid=0\n"

    def close(self):
        self.s.close()


def _creds(line):
    return dict(kv.split("=", 1) for kv in line.split()[1:])


# The filter alone stops mount, ptrace and chroot; lifting those calls
# shows that the missing capabilities stop them too.
FILTERS = {"default": "",
           "lifted": "seccomp-allow = ptrace mount umount2 chroot\n"}


@pytest.mark.parametrize("flt", sorted(FILTERS))
def test_euid0_has_no_capability_and_reaches_nothing(chald, tmp_path,
                                                     suid_root, flt):
    c = chald("-c", _conf(tmp_path, suid_root, "/probe",
                          extra=FILTERS[flt]))
    before = sorted(os.listdir(suid_root))
    p = Probe(c)
    cr = _creds(p("creds"))
    assert cr["euid"] == cr["ruid"] != "0" and cr["CapEff"] == "0" * 16
    assert cr["NoNewPrivs"] == "0" and cr["Seccomp"] == "2"
    p.become_root()
    cr = _creds(p("creds"))
    assert cr["euid"] == "0" and cr["ruid"] != "0", cr
    for s in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert cr[s] == "0" * 16, cr
    assert int(cr["secbits"], 16) & 0x3 == 0x3, cr   # NOROOT, locked
    # sysctls: read-only whatever the file's mode says
    for path in ("/proc/sys/vm/swappiness", "/proc/sys/kernel/core_pattern"):
        assert p(f"sysctl {path}") == "err EROFS", path
    if os.path.exists("/proc/sysrq-trigger"):
        assert p("openw /proc/sysrq-trigger") == "err EROFS"
    else:      # this kernel has no CONFIG_MAGIC_SYSRQ; the VM's has
        assert p("openw /proc/sysrq-trigger") == "err ENOENT"
    # root-only files of /proc are masked, /proc/keys too
    for name in ("kpageflags", "slabinfo", "timer_list", "keys"):
        if os.path.exists(f"/proc/{name}"):
            assert p(f"cat /proc/{name}").startswith("err "), name
    if os.path.exists("/proc/mtrr"):          # 0644 root: read-only now
        assert p("openw /proc/mtrr") == "err EROFS"
    # the jail's init: invisible, unkillable, not traceable
    assert p("cat /proc/1/status") == "err ENOENT"
    for sig in (9, 19, 11, 10):
        p(f"kill 1 {sig}")
    assert p("ptrace 1") == "err EPERM"
    # mounts, chroot
    assert p("mount /tmp") == "err EPERM"
    assert p("umount /proc") == "err EPERM"
    assert p("chroot /tmp") == "err EPERM"
    # nothing writable but the session's own /tmp
    for path in ("/x", "/usr/x", "/dev/x", "/proc/x"):
        assert p(f"create {path}").startswith("err E"), path
    assert p("chmod /dev/null") == "err EROFS"
    assert p("chmod /flag") == "err EROFS"
    assert p("create /tmp/x") == "ok"
    assert p("linger") == "ok"
    # the grandchild names itself after its parent has exited: wait for it
    deadline = time.monotonic() + 3
    while not any(pr["comm"] == "lingerer" for pr in all_procs()):
        assert time.monotonic() < deadline, "no lingerer started"
        time.sleep(0.02)
    # pids: root's RLIMIT_NPROC does not hold for uid 0, the cgroup does
    assert p("setroot") == "ok"
    assert _creds(p("creds"))["ruid"] == "0"
    got = int(p(f"fork {PIDS + 8}").split()[1])
    assert 0 < got < PIDS, got
    assert p("creds").startswith("ok ")      # init still serves the session
    p.close()
    c.wait_log(r"end service=chal .* status=\S+ cause=\S+")
    assert c.count_log(r"end service=chal .* cause=(timeout|signal)") == 0
    # no process and no file outlives the session
    deadline = time.monotonic() + 3
    while any(pr["comm"] == "lingerer" for pr in all_procs()):
        assert time.monotonic() < deadline, "a uid 0 process survived"
        time.sleep(0.05)
    assert sorted(os.listdir(suid_root)) == before
    assert not os.path.exists("/x") and not os.path.exists("/usr/x")


def test_file_capabilities_grant_nothing(chald, tmp_path, suid_root):
    """Without no_new_privs a file's capabilities would count: with the
    bounding set empty, an effective one cannot be exec'd at all, and a
    permitted-only or inheritable one runs with none."""
    if shutil.which("setcap") is None:
        pytest.skip("setcap (libcap2-bin) is not installed")
    for name, caps in (("fcap_e", "cap_dac_override,cap_sys_admin+ep"),
                       ("fcap_p", "cap_dac_override,cap_sys_admin+ip")):
        shutil.copy(prog("rootprobe"), suid_root / name)
        os.chmod(suid_root / name, 0o755)
        r = subprocess.run(["setcap", caps, str(suid_root / name)],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            pytest.skip(f"setcap failed here: {r.stderr.strip()}")
    c = chald("-c", _conf(tmp_path, suid_root, "/probe"))
    p = Probe(c)
    assert p("exec /fcap_e") == "err EPERM"
    p.s.sendall(b"exec /fcap_p\n")
    assert recv_line(p.s).startswith(b"ready euid=")
    cr = _creds(p("creds"))
    for s in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert cr[s] == "0" * 16, cr
    assert p("cat /flag").startswith("err EACCES")
    p.close()


def test_euid0_cannot_reach_another_session(chald, tmp_path, suid_root):
    """Two live sessions, both made uid 0: one can neither see, signal nor
    read the other's /tmp, and killing all it can leaves the other alone."""
    c = chald("-c", _conf(tmp_path, suid_root, "/probe"))
    a = Probe(c)
    a.become_root()
    assert a("create /tmp/secret-a") == "ok"
    a_pid = int(c.wait_log(r"accept service=chal .* pid=(\d+)")[1])
    b = Probe(c)
    b.become_root()
    assert b("setroot") == "ok"
    seen = b("procs").split()[1:]
    assert "1" not in seen and str(a_pid) not in seen and len(seen) <= 3, seen
    assert b("scan secret-a") == "ok found:"
    assert b(f"kill {a_pid} 9") == "err ESRCH"
    assert b(f"ptrace {a_pid}") == "err EPERM"
    assert b("fork 2") == "ok 2"
    assert b("killall") == "ok"     # all it may signal: its own session
    b.close()
    c.wait_log(r"end service=chal ", count=1)
    assert a("cat /tmp/secret-a") == "ok x"
    assert _creds(a("creds"))["euid"] == "0"
    a.close()


# ---------------------------------------------------------------------------
# keyrings: uid 0's user keyring is the host root's
# ---------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
SYS_add_key, SYS_keyctl = 248, 250
KEY_SPEC_USER_KEYRING = -4
KEYCTL_UNLINK = 9


def test_host_root_user_keyring_unreachable(chald, tmp_path, suid_root):
    desc = f"chald-test-{os.getpid()}-{time.monotonic_ns()}"
    payload = b"host root's secret"
    kid = _libc.syscall(SYS_add_key, b"user", desc.encode(), payload,
                        len(payload), KEY_SPEC_USER_KEYRING)
    if kid == -1:
        pytest.skip(f"add_key: {os.strerror(ctypes.get_errno())} "
                    f"(no keyrings in this kernel?)")
    try:
        assert desc in open("/proc/keys").read()    # the host sees it
        c = chald("-c", _conf(tmp_path, suid_root, "/probe"))
        p = Probe(c)
        p.become_root()
        assert p("setroot") == "ok"
        got = p(f"keys {desc}")
        assert got == "ok getid=EPERM search=EPERM prockeys=EACCES", got
        assert p("cat /proc/key-users").startswith("err ")
        p.close()
    finally:
        _libc.syscall(SYS_keyctl, KEYCTL_UNLINK, kid, KEY_SPEC_USER_KEYRING)


# chald started in a session keyring of its own holding a key: what every
# jail, setuid = on or not, would possess without one of its own
WITH_SESSION_KEY = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
assert libc.syscall(250, 1, b"chald-test") > 0         # JOIN_SESSION_KEYRING
key = sys.argv[1].encode()
assert libc.syscall(248, b"user", key, b"daemon's", 8, -3) > 0
os.execv(sys.argv[2], sys.argv[2:])
"""


def test_jail_session_keyring_is_its_own(tmp_path):
    """Every jail joins a fresh session keyring: the daemon's (one for all
    jails) is out of reach even with keyctl allowed."""
    desc = f"chald-ses-{os.getpid()}-{time.monotonic_ns()}"
    c = Chald(["-b", "127.0.0.1", "-p", "0", "--pool", "0",
               "--seccomp-allow", "keyctl", "--", prog("rootprobe")],
              tmp_path)
    c.args = ["/usr/bin/python3", "-c", WITH_SESSION_KEY, desc] + c.args
    try:
        c.start()
        p = Probe(c)
        assert p("skey " + desc) == "err ENOKEY"
        p.close()
    finally:
        c.kill()


# ---------------------------------------------------------------------------
# what setuid = on refuses
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("extra,want", [
    ("sandbox = off\n", "setuid = on needs sandbox = on"),
    ("network = host\n", "setuid = on needs network = none"),
    ("seccomp = off\n", "setuid = on needs seccomp = on"),
    ("seccomp-allow = keyctl\n",
     "seccomp-allow = keyctl: not with setuid = on: uid 0 shares the "
     "keyrings with the host's root"),
    ("seccomp-allow = inotify_init1\n",
     "seccomp-allow = inotify_init1: not with setuid = on"),
    ("bind-rw = {rw}\n", "bind-rw {rw}: not with setuid = on: uid 0 could "
     "rewrite root's files there"),
])
def test_setuid_refused_where_uid0_would_reach_the_host(tmp_path, suid_root,
                                                        extra, want):
    rw = tmp_path / "rw"
    rw.mkdir()
    (suid_root / str(rw).lstrip("/")).mkdir(parents=True)
    conf = _conf(tmp_path, suid_root, "/bin/true", extra=extra.format(rw=rw))
    r = run_chald(["-n", "-c", conf])
    assert r.returncode == 1, r.stderr
    assert want.format(rw=rw) in r.stderr, r.stderr


def test_setuid_needs_a_root(tmp_path, pubdir):
    r = run_chald(["-n", "--setuid", "on", "--", prog("echo")])
    assert r.returncode == 1
    assert "setuid = on needs root = DIR" in r.stderr, r.stderr


def test_check_names_setuid_files_next_to_the_program(pubdir):
    """Without a root: a set-user-ID file in the program's directory is
    named too, with what setuid = on needs."""
    d = pubdir / "chal"
    d.mkdir(mode=0o755)
    shutil.copy(prog("echo"), d / "echo")
    shutil.copy(prog("echo"), d / "helper")
    _suid(d / "helper")
    r = run_chald(["-n", "--", d / "echo"])
    assert r.returncode == 0, r.stderr
    assert (f"warning: service echo: {d}/helper is set-user-ID (owner 0, "
            f"mode 4755), which does nothing in the jail while setuid = "
            f"off; add setuid = on and root = DIR") in r.stderr, r.stderr


def test_setuid_refused_when_chald_has_no_new_privs(tmp_path, suid_root):
    """no_new_privs on the daemon (systemd's NoNewPrivileges=yes, docker's
    no-new-privileges) is inherited by every jail and voids the setuid bit
    of /readflag: chald refuses to start and names it, rather than serve a
    challenge whose players all get "Permission denied"."""
    from conftest import CHALD
    conf = _conf(tmp_path, suid_root, "/bin/true")
    for args in (["-n", "-c", conf], ["-f", "-c", conf]):
        r = subprocess.run(["setpriv", "--no-new-privs", CHALD, *args],
                           capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 1, (args, r.stderr)
        assert "has setuid = on, but chald itself runs with no_new_privs" \
            in r.stderr, r.stderr
    off = _conf(tmp_path, suid_root, "/bin/true", setuid="off")
    r = subprocess.run(["setpriv", "--no-new-privs", CHALD, "-n", "-c", off],
                       capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
