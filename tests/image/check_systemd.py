#!/usr/bin/python3
"""check_systemd.py: `make check-systemd-run`, deploy/systemd/chald.service
run by a real systemd (Debian 12's, as pid 1 of a podman container, since
this machine's own pid 1 is not systemd).

The unit as shipped, with all its hardening, serves examples/jail-pwn
jailed: the exploit gets the flag and `systemctl stop` ends chald cleanly.
Then each directive that the unit's comments say the jail cannot have is
added, and must indeed break it, as they say. Type=notify is kept when
chald speaks the notify protocol, else run as Type=exec. Bounded; ends with
"N passed, N failed".
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_image as ci  # noqa: E402  (podman setup, helpers, counters)

ROOT = ci.ROOT
IMAGE = "localhost/debian-systemd:bookworm"
TEST = "chald-check-systemd:latest"
NAME = "chald-check-systemd"
CTX = os.path.join(ROOT, "build", "systemd-run")
UNIT = os.path.join(ROOT, "deploy", "systemd", "chald.service")

# directive -> what the unit's comments say happens, and what chald's
# journal says then ("" for nothing in particular: chald is killed)
BROKEN = [
    ("RestrictNamespaces=yes", "start", "chald: the jail "),
    ("ProtectControlGroups=yes", "start", "mounted read-only"),
    ("SystemCallFilter=@system-service", "start", ""),
    ("PrivateUsers=yes", "start", ""),
    ("ProtectHostname=yes", "start", "cannot set its hostname"),
]


def systemd_root():
    if ci.image_exists(IMAGE):
        return
    tar = os.path.join(ci.CACHE, "debian-bookworm-systemd.tar")
    if not os.path.exists(tar):
        os.makedirs(ci.CACHE, exist_ok=True)
        tmp = os.path.join(ci.CACHE, "systemd-root.tmp")
        ci.run(["rm", "-rf", tmp])
        print(f"debootstrap bookworm (minbase + systemd) into {tmp}",
              flush=True)
        ci.run(["debootstrap", "--variant=minbase",
                "--include=systemd,systemd-sysv", "bookworm", tmp,
                ci.apt_mirror()], timeout=900)
        ci.run(["tar", "-C", tmp, "-cf", tar + ".tmp", "."], timeout=300)
        os.rename(tar + ".tmp", tar)
        ci.run(["rm", "-rf", tmp])
    with open(tar, "rb") as f:
        ci.podman("import", "-", IMAGE, stdin=f, timeout=300)


def build_image(chald):
    """The systemd root, chald and the libraries the root lacks, the unit,
    and a configuration serving the example challenge."""
    ci.run(["rm", "-rf", CTX])
    os.makedirs(os.path.join(CTX, "libs"))
    os.makedirs(os.path.join(CTX, "chal"))
    ci.run(["cp", chald, os.path.join(CTX, "chald")])
    ldd = ci.run(["ldd", chald]).stdout.split()
    for lib in [w for w in ldd if w.startswith("/lib/x86_64-linux-gnu/")]:
        if os.path.basename(lib).startswith(("libinih", "libseccomp")):
            ci.run(["cp", "-L", lib, os.path.join(CTX, "libs")])
    for f in ("chal", "flag.txt"):
        ci.run(["cp", os.path.join(ci.EXAMPLE, f),
                os.path.join(CTX, "chal", f)])
    with open(os.path.join(CTX, "chald.conf"), "w") as f:
        f.write("[service pwn]\nport = 5000\ncommand = /srv/pwn/chal\n"
                "timeout = 20s\n")
    with open(os.path.join(CTX, "Containerfile"), "w") as f:
        f.write(f"FROM {IMAGE}\n"
                "COPY chald /usr/local/sbin/chald\n"
                "COPY libs/ /usr/lib/x86_64-linux-gnu/\n"
                "COPY chald.conf /etc/chald.conf\n"
                "COPY chal/ /srv/pwn/\n")
    ci.podman("build", "--pull=never", "--network=none", "-q", "-t", TEST,
              CTX, timeout=300)


def unit_text(chald, extra=None):
    text = open(UNIT).read()
    if b"NOTIFY_SOCKET" not in open(chald, "rb").read():
        text = text.replace("\nType=notify\n", "\nType=exec\n")
    if extra:
        text = text.replace("\n[Install]", f"\n{extra}\n\n[Install]")
    return text


def run_unit(port, text):
    """Starts the container, installs the unit, starts it, runs the
    exploit, stops it. Returns (flag seen, stop clean, journal)."""
    ci.podman("rm", "-f", NAME, check_rc=False)
    ci.podman("run", "-d", "--name", NAME, "--privileged",
              "--cgroupns=private", "--systemd=always",
              "--network", "slirp4netns:port_handler=slirp4netns",
              "-p", f"127.0.0.1:{port}:5000", TEST, "/sbin/init")
    ci.podman("exec", NAME, "systemctl", "is-system-running", "--wait",
              timeout=60, check_rc=False)
    path = os.path.join(CTX, "chald.service")
    with open(path, "w") as f:
        f.write(text)
    ci.podman("cp", path, f"{NAME}:/etc/systemd/system/chald.service")
    ci.podman("exec", NAME, "systemctl", "daemon-reload")
    ci.podman("exec", NAME, "systemctl", "start", "chald", timeout=60,
              check_rc=False)
    time.sleep(1.5)
    flag = open(os.path.join(ci.EXAMPLE, "flag.txt")).read().strip()
    r = ci.run([sys.executable, os.path.join(ci.EXAMPLE, "solve.py"),
                "127.0.0.1", str(port)], timeout=60, check_rc=False)
    got = flag in r.stdout
    stop = ci.podman("exec", NAME, "systemctl", "stop", "chald",
                     timeout=60, check_rc=False)
    journal = ci.podman("exec", NAME, "journalctl", "-u", "chald",
                        "--no-pager", timeout=30, check_rc=False).stdout
    ci.podman("rm", "-f", NAME, check_rc=False)
    return got, stop.returncode == 0 and "exit sessions=0" in journal, \
        journal


def main():
    chald = os.path.join(ROOT, "build", "chald")
    ci.run(["make", "-s", "-C", ci.EXAMPLE], timeout=60)
    systemd_root()
    build_image(chald)
    port = ci.free_port()
    try:
        got, clean, journal = run_unit(port, unit_text(chald))
        ci.check(got, "the unit as shipped: the exploit gets the flag")
        ci.check(clean, "systemctl stop: chald exits with sessions=0")
        if not (got and clean):
            print(journal[-3000:])
        for directive, breaks, says in BROKEN:
            got, _, journal = run_unit(port, unit_text(chald, directive))
            if breaks == "start":
                ok = not got and "Failed with result" in journal
            else:
                ok = not got and breaks in journal
            line = [l for l in journal.splitlines() if "chald: " in l]
            ok = ok and says in journal
            ci.check(ok, f"{directive} breaks it ({breaks}), as the unit "
                     f"says: {line[-1:] if says else ''}")
    finally:
        ci.podman("rm", "-f", NAME, check_rc=False)
    print(f"check-systemd-run: {ci.passed} passed, {ci.failed} failed")
    return 1 if ci.failed else 0


if __name__ == "__main__":
    sys.exit(main())
