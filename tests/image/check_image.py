#!/usr/bin/python3
"""check_image.py: `make check-image`, the chald image end to end.

Builds the image (deploy/image/build.sh), a Debian 12 root with debootstrap
(cached in build/image-cache), and the pwn.red/jail-style challenge of
examples/jail-pwn FROM the image. Runs it with podman and the privileges of
deploy/image/podman-privileges, which docs/deploy.md must quote, and checks
through the published port on 127.0.0.1 that:
- the pwntools exploit (examples/jail-pwn/solve.py) gets the flag;
- JAIL_CONNS_PER_IP refuses a third connection from one address;
- JAIL_TIME ends an idle session;
- `podman stop` ends the container within chald's grace, exit status 0;
- it also runs with a read-only root file system and a tmpfs /run;
- each privilege taken away makes chald refuse to start with one line
  that names it: each capability, the private cgroup namespace, the
  namespaces (a seccomp profile), a writable cgroup (chald without
  --jail-env's remount), no user namespace (--uidmap);
- the jail's hostname is app.
Every wait is bounded. Ends with "N passed, N failed".
"""
import os
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PODMAN_DIR = os.path.join(ROOT, "build", "podman")
CACHE = os.path.join(ROOT, "build", "image-cache")
IMAGE = "chald:latest"
DEBIAN = "localhost/debian:bookworm"
CHAL = "chald-example-jail-pwn:latest"
NAME = "chald-check-image"
EXAMPLE = os.path.join(ROOT, "examples", "jail-pwn")

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok: {what}", flush=True)
    else:
        failed += 1
        print(f"FAIL: {what}", flush=True)


def podman_env():
    """The environment podman-env.sh sets up: one source of truth."""
    out = subprocess.run(
        ["sh", "-c", '. "$1/deploy/image/podman-env.sh" && env -0', "sh",
         ROOT], env=dict(os.environ, PODMAN_DIR=PODMAN_DIR),
        check=True, capture_output=True, timeout=30).stdout
    return dict(kv.split("=", 1) for kv in out.decode().split("\0") if kv)


ENV = podman_env()


def run(args, timeout=120, check_rc=True, **kw):
    r = subprocess.run(args, env=ENV, capture_output=True, text=True,
                       timeout=timeout, **kw)
    if check_rc and r.returncode != 0:
        sys.exit(f"check_image: {' '.join(args)}: exit {r.returncode}\n"
                 f"{r.stdout}{r.stderr}")
    return r


def podman(*args, **kw):
    return run(["podman", *args], **kw)


def privileges():
    path = os.path.join(ROOT, "deploy", "image", "podman-privileges")
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def image_exists(name):
    return podman("image", "exists", name, check_rc=False).returncode == 0


def debian_root():
    """localhost/debian:bookworm, from a debootstrap root cached as a tar."""
    if image_exists(DEBIAN):
        return
    tar = os.path.join(CACHE, "debian-bookworm.tar")
    if not os.path.exists(tar):
        os.makedirs(CACHE, exist_ok=True)
        tmp = os.path.join(CACHE, "debian-root.tmp")
        run(["rm", "-rf", tmp])
        mirror = apt_mirror()
        print(f"debootstrap bookworm (minbase) into {tmp}", flush=True)
        run(["debootstrap", "--variant=minbase", "bookworm", tmp, mirror],
            timeout=900)
        run(["tar", "-C", tmp, "-cf", tar + ".tmp", "."], timeout=300)
        os.rename(tar + ".tmp", tar)
        run(["rm", "-rf", tmp])
    with open(tar, "rb") as f:
        podman("import", "-", DEBIAN, stdin=f, timeout=300)


def apt_mirror():
    """The Debian mirror apt already uses on this machine."""
    for path in ("/etc/apt/sources.list.d/debian.sources",):
        if os.path.exists(path):
            for line in open(path):
                if line.startswith("URIs:") and "security" not in line:
                    return line.split()[1]
    if os.path.exists("/etc/apt/sources.list"):
        for line in open("/etc/apt/sources.list"):
            w = line.split()
            if len(w) >= 3 and w[0] == "deb" and "security" not in w[1]:
                return w[2] if w[1].startswith("[") else w[1]
    sys.exit("check_image: no Debian mirror in apt's sources")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(port, extra=(), env=(), privs=None):
    podman("rm", "-f", NAME, check_rc=False)
    args = ["run", "-d", "--name", NAME,
            *(privileges() if privs is None else privs),
            "--network", "slirp4netns:port_handler=slirp4netns",
            "-p", f"127.0.0.1:{port}:5000", *extra]
    for e in env:
        args += ["-e", e]
    podman(*args, CHAL)


def logs():
    r = podman("logs", NAME, check_rc=False)
    return r.stdout + r.stderr


def wait_exit(limit):
    """The container's exit status once it has stopped, or None."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        r = podman("inspect", "--format", "{{.State.Status}} "
                   "{{.State.ExitCode}}", NAME, check_rc=False)
        w = r.stdout.split()
        if len(w) == 2 and w[0] in ("exited", "stopped"):
            return int(w[1])
        time.sleep(0.2)
    return None


def wait_listening(limit=30):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if "listening service=app" in logs():
            return True
        if wait_exit(0.01) is not None:
            return False
        time.sleep(0.2)
    return False


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


def recv_until(s, token, limit=10):
    data = b""
    end = time.monotonic() + limit
    while token not in data and time.monotonic() < end:
        s.settimeout(max(0.1, end - time.monotonic()))
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def eof_after(s, limit):
    """Seconds until the peer closes s, or None within limit."""
    t0 = time.monotonic()
    s.settimeout(limit)
    try:
        while s.recv(4096):
            pass
    except (socket.timeout, ConnectionResetError):
        return None if time.monotonic() - t0 >= limit else \
            time.monotonic() - t0
    return time.monotonic() - t0


def test_served(port):
    flag = open(os.path.join(EXAMPLE, "flag.txt")).read().strip()
    r = run([sys.executable, os.path.join(EXAMPLE, "solve.py"),
             "127.0.0.1", str(port)], timeout=60, check_rc=False)
    check(flag in r.stdout, f"the exploit gets the flag: {r.stdout!r}")


def test_per_ip(port):
    a, b = connect(port), connect(port)
    ok = b"name? " in recv_until(a, b"name? ") and \
        b"name? " in recv_until(b, b"name? ")
    check(ok, "JAIL_CONNS_PER_IP=2: two sessions from one address")
    c = connect(port)
    got = recv_until(c, b"\n", 5)
    check(b"too many connections" in got and eof_after(c, 5) is not None,
          f"JAIL_CONNS_PER_IP=2: the third is refused: {got!r}")
    c.close()
    a.close()
    time.sleep(1)
    d = connect(port)
    check(b"name? " in recv_until(d, b"name? "),
          "JAIL_CONNS_PER_IP=2: served again once one has left")
    for s in (b, d):
        s.close()
    time.sleep(0.5)


def test_time(port, jail_time):
    s = connect(port)
    recv_until(s, b"name? ")
    t = eof_after(s, jail_time + 10)
    check(t is not None and jail_time - 0.5 <= t <= jail_time + 3,
          f"JAIL_TIME={jail_time}: an idle session ends after "
          f"{t if t is None else round(t, 2)} s")
    s.close()
    check("cause=timeout" in logs(), "the log says cause=timeout")


def test_stop(port):
    s = connect(port)
    recv_until(s, b"name? ")
    t0 = time.monotonic()
    podman("stop", "-t", "30", NAME, timeout=60)
    took = time.monotonic() - t0
    status = wait_exit(10)
    check(took < 5.0 and status == 0,
          f"podman stop with a live session: {took:.2f} s (grace 5 s), "
          f"exit status {status}")
    check(eof_after(s, 5) is not None, "the live session is closed")
    s.close()
    lg = logs()
    check("shutdown signal=TERM" in lg and "exit sessions=0" in lg,
          "the log has shutdown and exit")


def test_read_only(port):
    """A read-only root, as Kubernetes' readOnlyRootFilesystem: only /run
    is writable, a tmpfs."""
    start(port, extra=["--read-only", "--read-only-tmpfs=false",
                       "--tmpfs", "/run:size=1m,mode=755"])
    up = wait_listening()
    flag = open(os.path.join(EXAMPLE, "flag.txt")).read().strip()
    r = run([sys.executable, os.path.join(EXAMPLE, "solve.py"),
             "127.0.0.1", str(port)], timeout=60, check_rc=False) if up \
        else None
    check(up and flag in r.stdout, "with a read-only root and a tmpfs "
          "/run: the exploit gets the flag")
    podman("rm", "-f", NAME, check_rc=False)


def test_hostname(port):
    """The jail's hostname is app, as in pwn.red/jail: tests/progs/envdump
    (Debian 12's libc, as the image's /srv) bound over /srv/app/run says
    it."""
    envdump = os.path.join(ROOT, "build", "progs", "envdump")
    run(["make", "-s", "-C", ROOT, "build/progs/envdump"], timeout=60)
    start(port, extra=["-v", f"{envdump}:/srv/app/run:ro"])
    up = wait_listening()
    got = b""
    if up:
        s = connect(port)
        got = recv_until(s, b"END\n")
        s.close()
    host = [l for l in got.splitlines() if l.startswith(b"HOST")]
    check(host == [b"HOST app"], f"the jail's hostname is app: {host}")
    podman("rm", "-f", NAME, check_rc=False)


# Granted for speed, not needed: without it chald says so and goes on.
OPTIONAL_CAPS = ("SYS_CHROOT",)


def without_cap(base, cap):
    caps = next(p for p in base if p.startswith("--cap-add="))
    rest = ",".join(c for c in caps.split("=", 1)[1].split(",") if c != cap)
    return [p if p != caps else f"--cap-add={rest}" for p in base]


def test_without_sys_chroot(port):
    """SYS_CHROOT lets each jail join its service's mount-namespace
    template (setns). Without it chald logs that once, builds its jails
    whole, and the challenge is still solved."""
    start(port, privs=without_cap(privileges(), "SYS_CHROOT"))
    up = wait_listening()
    if up:
        test_served(port)
    said = [l for l in logs().splitlines() if "sandbox-template" in l]
    check(up and len(said) == 1 and "CAP_SYS_CHROOT" in said[0],
          f"without SYS_CHROOT: served, and said once: {said!r}")
    podman("rm", "-f", NAME, check_rc=False)


def test_missing(port):
    """Each privilege taken away: chald refuses with one line naming it."""
    base = privileges()
    caps = next(p for p in base if p.startswith("--cap-add="))
    need = [c for c in caps.split("=", 1)[1].split(",")
            if c not in OPTIONAL_CAPS]
    cases = []
    for cap in need:
        cases.append((f"without {cap}", without_cap(base, cap), f"CAP_{cap}"))
    cases.append(("with the host's cgroup namespace",
                  [p if p != "--cgroupns=private" else "--cgroupns=host"
                   for p in base], "--cgroupns=private"))
    # A seccomp profile that refuses the jail's namespaces.
    profile = os.path.join(PODMAN_DIR, "no-namespaces.json")
    with open(profile, "w") as f:
        f.write('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names":'
                ' ["unshare", "clone3"], "action": "SCMP_ACT_ERRNO",'
                ' "errnoRet": 1}]}\n')
    cases.append(("with a seccomp profile refusing namespaces",
                  base + ["--security-opt", f"seccomp={profile}"],
                  "--security-opt seccomp=unconfined"))
    # chald run with its own options instead of --jail-env: nothing
    # remounts the container's read-only cgroup.
    cases.append(("without --jail-env's cgroup remount", base + [
        "--entrypoint", '["/usr/sbin/chald","-f","-p","5000","--root",'
        '"/srv","--workdir","/","--","/app/run"]'],
        "mounted read-only"))
    # A user namespace of 65536 ids, as rootless podman has.
    cases.append(("in a user namespace", base + [
        "--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"],
        "uid-range 1900000000-1999999999"))
    for what, privs, want in cases:
        podman("rm", "-f", NAME, check_rc=False)
        podman("run", "-d", "--name", NAME, *privs, "--network", "none",
               CHAL)
        status = wait_exit(20)
        lines = [l for l in logs().splitlines() if l.strip()]
        check(status == 1 and len(lines) == 1 and want in lines[0],
              f"{what}: exit {status}, {lines!r}")


def main():
    privs = " ".join(privileges())
    doc = open(os.path.join(ROOT, "docs", "deploy.md")).read()
    check(privs in doc, f"docs/deploy.md gives the privileges: {privs}")

    r = run(["sh", os.path.join(ROOT, "deploy", "image", "build.sh"),
             os.path.join(ROOT, "build", "chald"), IMAGE], timeout=300)
    print(r.stdout, end="", flush=True)
    debian_root()
    run(["make", "-s", "-C", EXAMPLE], timeout=60)
    # As a challenge author would: its own directory as the context.
    podman("build", "--pull=never", "--network=none", "-q", "-t", CHAL,
           EXAMPLE, timeout=600)
    size = podman("image", "inspect", "--format", "{{.Size}}", CHAL).stdout
    print(f"challenge image {CHAL}: {size.strip()} bytes", flush=True)

    port = free_port()
    jail_time = 5
    try:
        # -e overrides the Dockerfile's JAIL_TIME=10, to keep this short.
        start(port, env=[f"JAIL_TIME={jail_time}"])
        up = wait_listening()
        check(up, "chald starts with the documented privileges")
        if not up:
            print(logs())
        else:
            test_served(port)
            test_per_ip(port)
            test_time(port, jail_time)
            test_stop(port)
        test_read_only(port)
        test_hostname(port)
        test_without_sys_chroot(port)
        test_missing(port)
    finally:
        podman("rm", "-f", NAME, check_rc=False)
    print(f"check-image: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
