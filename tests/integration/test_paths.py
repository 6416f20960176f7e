"""Paths a jailed service's command names: the program of a service with a
root of its own is looked up in the jail (the root plus its binds), not on
the host; an interpreter and its script run in the script's directory,
which the jail then has; `chald -n` and the startup log warn about each
absolute path in the command's arguments that the jail cannot see, naming
the key that fixes it (golden files in configs/paths/)."""

import os
import re
import shutil

import pytest

from conftest import CONFIGS, recv_all, recv_line, run_chald

PATHS = CONFIGS / "paths"


def golden(name, tmp_path):
    """(config written with {DIR} filled in, expected stderr of -n). In a
    checkout below /tmp, what the goldens call "on the host but not in the
    jail" is below the jail's own /tmp, and chald says that instead."""
    d = os.path.realpath(CONFIGS)
    conf = tmp_path / f"{name}.conf"
    conf.write_text((PATHS / f"{name}.conf").read_text().replace("{DIR}", d))
    want = []
    for line in (PATHS / f"{name}.warn").read_text().splitlines(True):
        if d.startswith("/tmp/") and "argument {DIR}/" in line:
            line = re.sub(r"is on the host but not in (the jail|root \S+);",
                          "is under the jail's own /tmp, which starts empty;",
                          line)
        want.append(line.replace("{DIR}", d))
    return conf, "".join(want).replace("{CONF}", str(conf))


@pytest.mark.parametrize("name,workdir", [("script", "{DIR}/paths/x"),
                                          ("root", "/chal")])
def test_check_warns_about_paths(tmp_path, name, workdir):
    conf, want = golden(name, tmp_path)
    r = run_chald(["-n", "-c", conf])
    assert r.returncode == 0, r.stderr
    assert r.stderr == want
    wd = workdir.replace("{DIR}", os.path.realpath(CONFIGS))
    assert f"\nworkdir = {wd}\n" in r.stdout


def test_startup_logs_the_path_warnings(chald, tmp_path):
    conf, _ = golden("script", tmp_path)
    c = chald("-c", conf, "-b", "127.0.0.1")
    c.wait_log(r'path-warning service=script arg=/etc/debian_version '
               r'problem="is on the host but not in the jail" '
               r'fix="bind-ro = /etc/debian_version"')
    assert c.count_log(r"path-warning service=script ") == 4


SERVER_PY = """import sys
secret = open("secret.txt").read().strip()
print("password?", flush=True)
if sys.stdin.readline().strip() == secret:
    print(open("flag.txt").read().strip(), flush=True)
else:
    print("no", flush=True)
"""


def test_interpreter_and_script_solved_by_pwntools(chald, pubdir, jail):
    """command = /usr/bin/python3 /abs/x/server.py: the script opens files
    next to it, so it runs in its own directory, which the jail binds."""
    from pwn import context, remote
    context.log_level = "error"
    x = pubdir / "x"
    x.mkdir()
    (x / "server.py").write_text(SERVER_PY)
    (x / "secret.txt").write_text("hunter2\n")
    (x / "flag.txt").write_text("flag{script_dir}\n")
    for p in x.iterdir():
        p.chmod(0o644)
    x.chmod(0o755)
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--name", "script", "--",
              "/usr/bin/python3", x / "server.py")
    r = remote("127.0.0.1", c.port, timeout=5)
    try:
        assert r.recvline(timeout=5) == b"password?\n"
        r.sendline(b"hunter2")
        assert r.recvall(timeout=5) == b"flag{script_dir}\n"
    finally:
        r.close()
    c.wait_log(r"end service=script .* status=exit:0 cause=exit")


def busybox_root(d):
    """A root of its own: a static busybox as /bin/sh (an absolute symlink,
    to be followed inside the root), and the jail's mount points."""
    busybox = shutil.which("busybox")
    assert busybox, "busybox-static is a test dependency (scripts/deps.sh)"
    root = d / "root"
    for sub in ("bin", "proc", "dev", "tmp", "chal"):
        (root / sub).mkdir(parents=True)
    shutil.copy(busybox, root / "bin" / "busybox")
    for applet in ("sh", "ls", "echo"):
        (root / "bin" / applet).symlink_to("/bin/busybox")
    run = root / "chal" / "run"
    run.write_text('#!/bin/sh\necho in the root: $(ls /)\n')
    run.chmod(0o755)
    for p in [root] + list(root.rglob("*")):
        if not p.is_symlink():
            p.chmod(0o755)
    return root


def test_root_program_looked_up_in_the_jail(chald, pubdir):
    """A program that only the root has (the host has no /chal), and one
    found through PATH in the root (the host's /bin/sh is another file):
    both are the jail's, and a multi-call binary keeps its name."""
    root = busybox_root(pubdir)
    assert not os.path.exists("/chal/run")
    c = chald("-b", "127.0.0.1", "-p", "0", "--root", root, "--name", "run",
              "--", "/chal/run")
    with c.connect() as s:
        assert recv_all(s) == b"in the root: bin chal dev proc tmp\n"
    c2 = chald("-b", "127.0.0.1", "-p", "0", "--root", root, "--name", "sh",
               "--", "sh", "-c", "echo hello from $0")
    with c2.connect() as s:
        assert recv_all(s) == b"hello from /bin/sh\n"
    r = run_chald(["-n", "--root", root, "--", "sh", "-c", "true"])
    assert "\ncommand = /bin/sh -c true\n" in r.stdout, r.stderr


def test_root_program_in_a_bind(chald, pubdir):
    """The root check counts the binds: the program may come from one."""
    root = busybox_root(pubdir)
    app = pubdir / "app"
    app.mkdir(mode=0o755)
    (app / "run.sh").write_text("#!/bin/sh\necho from the bind\n")
    (app / "run.sh").chmod(0o755)
    (root / str(app).lstrip("/")).mkdir(parents=True)   # its mount point
    c = chald("-b", "127.0.0.1", "-p", "0", "--root", root, "--bind-ro", app,
              "--", app / "run.sh")
    with c.connect() as s:
        assert recv_line(s) == b"from the bind\n"


def test_root_program_missing(pubdir):
    root = busybox_root(pubdir)
    r = run_chald(["-n", "--root", root, "--", "/chal/nope"])
    assert r.returncode == 1
    assert r.stderr == (f"chald: command line: command: program /chal/nope: "
                        f"No such file or directory in the jail (root "
                        f"{root}, plus its binds)\n")
