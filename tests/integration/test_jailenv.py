"""
--jail-env: chald as the image's entrypoint, serving /srv/app/run from
pwn.red/jail's JAIL_* variables. /srv is a directory of the test's, bound
in a mount namespace of the test's own (unshare -m), so the host's /srv is
never touched. `make check-image` runs the real image under podman.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import (CHALD, Chald, connect, free_port, parse_env, recv_all,
                      run_chald)

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="--jail-env binds /srv/app on /app: "
                                "it needs root")

SRC = Path(__file__).resolve().parents[1] / "progs"


@pytest.fixture
def srv():
    """A /srv tree as a pwn.red/jail image has it, with a static envdump as
    /srv/app/run; outside pytest's 0700 tmp_path (a session's uid must
    enter it) and outside /tmp (the jail's own /tmp would hide it)."""
    d = Path(tempfile.mkdtemp(prefix="chald-srv-", dir="/var/tmp"))
    d.chmod(0o755)
    try:
        for sub in ("proc", "dev", "tmp", "app"):
            (d / sub).mkdir()
            (d / sub).chmod(0o755)
        r = subprocess.run(["cc", "-static", "-O2", "-o", str(d / "app/run"),
                            str(SRC / "envdump.c")], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            pytest.skip(f"no static build here: {r.stderr.strip()[:200]}")
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def in_srv(srv, args):
    """The command line that runs chald with srv bound on /srv."""
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /srv && exec "$@"', str(srv), CHALD, *args]


def jail_env(extra=()):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAIL_")}
    env.update(extra)
    return env


@pytest.mark.timeout(30)
def test_serves_srv_app_run(srv, tmp_path):
    port = free_port()
    c = Chald([], tmp_path, env=jail_env({
        "JAIL_PORT": str(port), "JAIL_ENV_FLAG": "flag{jail_env}",
        "JAIL_TIME": "3", "JAIL_CONNS_PER_IP": "1"}))
    c.args = in_srv(srv, ["-f", "--jail-env", "-b", "127.0.0.1"])
    try:
        c.start()
        assert c.port == port
        s = connect(port)
        out = recv_all(s).decode()
        env, cwd, _, _ = parse_env(out)
        s.close()
        # /app is the working directory, /srv the root, the variable set,
        # and app the hostname, as in pwn.red/jail
        assert cwd == "/app"
        assert "HOST app" in out.splitlines(), out
        assert env.get("FLAG") == "flag{jail_env}"
        c.wait_log(r"end service=app .*status=exit:0")
        assert c.stop() == 0
    finally:
        c.kill()


@pytest.mark.timeout(30)
def test_settings_printed(srv):
    """-n prints the settings the variables became, defaults included."""
    r = subprocess.run(in_srv(srv, ["-n", "--jail-env", "--pool", "0"]),
                       capture_output=True, text=True, timeout=20,
                       stdin=subprocess.DEVNULL,
                       env=jail_env({"JAIL_MEM": "10M", "JAIL_CPU": "250",
                                     "JAIL_SYSCALLS": "ptrace"}))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for line in ("[service app]", "port = 5000", "command = /app/run",
                 "workdir = /app", "root = /srv", "timeout = 20s",
                 "max-conns = 0", "per-ip = 0", "ipv6-prefix = 128",
                 "memory = 10M", "pids = 6", "cpu = 25%",
                 "cpu-time = 0s", "file-size = 0", "open-files = 0",
                 "tmp-size = 4K", "hostname = app",
                 "seccomp-allow = ptrace",
                 # the command line wins over the variables
                 "pool = 0"):
        assert line in out.splitlines(), f"{line!r} not in:\n{out}"


@pytest.mark.parametrize("var,value,words", [
    ("JAIL_MEM", "5X", "not a size"),
    ("JAIL_TIME", "20s", "not a number of wall seconds"),
    ("JAIL_PORT", "tcp://10.0.0.1:5000", "not a TCP port"),
    ("JAIL_POW", "lots", "not a proof-of-work difficulty"),
    ("JAIL_POW", "9999999", "not a difficulty"),
    ("JAIL_MEMORY", "5M", "unknown variable"),
    ("JAIL_SYSCALLS", "no_such_call", "unknown syscall"),
])
def test_bad_value_names_the_variable(var, value, words):
    r = run_chald(["-f", "--jail-env"], env=jail_env({var: value}))
    assert r.returncode == 1
    assert r.stderr.startswith(f"chald: {var}: ") and words in r.stderr, \
        r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.timeout(30)
def test_no_challenge(tmp_path):
    empty = tmp_path / "srv"
    empty.mkdir()
    r = subprocess.run(in_srv(empty, ["-f", "--jail-env"]),
                       capture_output=True, text=True, timeout=20,
                       stdin=subprocess.DEVNULL, env=jail_env())
    assert r.returncode == 1
    assert "/srv/app/run" in r.stderr and "COPY" in r.stderr, r.stderr


def test_not_with_a_config_or_program():
    r = run_chald(["--jail-env", "--", "/bin/true"], env=jail_env())
    assert r.returncode == 2 and "--jail-env" in r.stderr
    r = run_chald(["--jail-env", "-c", "/dev/null"], env=jail_env())
    assert r.returncode == 2 and "--jail-env" in r.stderr
