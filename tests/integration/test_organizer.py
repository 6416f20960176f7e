"""What an organizer trips over: a redeploy by rename-and-copy under a full
pool, and the first connection after `make run`."""

import os
import re
import shutil
import subprocess
import threading
import time

import pytest

from conftest import (CHALD, ROOT, fd_count, free_port, popen, prog,
                      recv_all, recv_line)


def _challenge(pubdir, name="chal"):
    """pubdir/name/echo: a copy of the echo program in a directory of its
    own, as an organizer deploys it."""
    d = pubdir / name
    d.mkdir()
    d.chmod(0o755)
    shutil.copy2(prog("echo"), d / "echo")
    (d / "echo").chmod(0o755)
    return d


def _redeploy(pubdir, name="chal"):
    subprocess.run(f"mv {name} {name}.old && cp -a {name}.old {name} && "
                   f"rm -rf {name}.old", shell=True, cwd=pubdir, check=True,
                   timeout=10)


def _play(c, line=b"x"):
    with c.connect() as s:
        got = recv_line(s)
        if got != b"hello\n":
            return got
        s.sendall(line + b"\n")
        return recv_all(s)


def test_redeploy_rebuilds_the_pool(chald, pubdir):
    """After `mv dir dir.old; cp -a dir.old dir; rm -rf dir.old` the pool's
    jails hold the old, deleted directory: none of them may be handed to a
    player."""
    d = _challenge(pubdir)
    c = chald("-b", "127.0.0.1", "-p", "0", "--pool", "3", "--", d / "echo")
    assert _play(c, b"before") == b"before\n"
    time.sleep(0.5)                      # the pool is full again
    _redeploy(pubdir)
    for i in range(4):
        assert _play(c, b"after%d" % i) == b"after%d\n" % i
    c.wait_log(rf"redeploy service=echo path={re.escape(str(d))} jails=\d")
    assert c.count_log(r"spawn-failed") == 0, c.log_text()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("pool", ["0", "3"])
def test_redeploy_makes_a_new_template(chald, notmp, pool):
    """A service outside /tmp has a template of its jails' mounts (sandbox.c),
    which binds the challenge's directory once per load. After a redeploy
    by rename-and-copy it would hold the old, deleted directory: every
    session after it must run the new challenge, pool or no pool."""
    base = notmp
    try:
        base.chmod(0o755)
        d = base / "chal"
        d.mkdir()
        d.chmod(0o755)
        script = d / "run"
        script.write_text("#!/bin/sh\necho v1\n")
        script.chmod(0o755)
        c = chald("-b", "127.0.0.1", "-p", "0", "--pool", pool, "-v",
                  "--", script)
        c.wait_log(r"sandbox-template service=run state=built")
        with c.connect() as s:
            assert recv_all(s) == b"v1\n"
        time.sleep(0.5)                  # the pool is full again
        subprocess.run("mv chal chal.old && mkdir chal && "
                       "printf '#!/bin/sh\\necho v2\\n' > chal/run && "
                       "chmod 755 chal chal/run && rm -rf chal.old",
                       shell=True, cwd=base, check=True, timeout=10)
        for _ in range(4):
            with c.connect() as s:
                assert recv_all(s) == b"v2\n", c.log_text()[-3000:]
        c.wait_log(r"sandbox-template service=run path=\S+ reason=")
        assert c.count_log(r"spawn-failed") == 0, c.log_text()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.timeout(60)
def test_redeploy_under_load_refuses_no_player(chald, pubdir):
    """Players keep coming while the challenge is redeployed three times:
    every one of them is served."""
    d = _challenge(pubdir)
    c = chald("-b", "127.0.0.1", "-p", "0", "--pool", "4", "--per-ip", "0",
              "--", d / "echo")
    assert _play(c) == b"x\n"
    stop = threading.Event()
    served, failed = [], []

    def player(k):
        n = 0
        while not stop.is_set():
            line = b"p%d-%d" % (k, n)
            try:
                got = _play(c, line)
            except OSError as e:
                got = repr(e).encode()
            (served if got == line + b"\n" else failed).append((line, got))
            n += 1

    threads = [threading.Thread(target=player, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(3):
            time.sleep(0.7)
            _redeploy(pubdir)
        time.sleep(0.7)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=20)
    assert failed == [], (failed, c.log_text()[-3000:])
    assert len(served) >= 20, len(served)
    assert c.count_log(r"redeploy service=echo ") >= 1, c.log_text()
    assert c.count_log(r"spawn-failed") == 0, c.log_text()


def test_failed_jail_retried_once_and_accounted(chald, pubdir):
    """A player's jail that fails before its challenge runs (here: the
    working directory is gone, so every jail fails) is retried three times
    on a fresh jail; then the player is closed, and every count is given
    back."""
    d = _challenge(pubdir)
    wd = pubdir / "wd"
    wd.mkdir()
    wd.chmod(0o755)
    c = chald("-b", "127.0.0.1", "-p", "0", "--pool", "0", "--max-conns", "1",
              "--workdir", wd, "--", d / "echo")
    assert _play(c) == b"x\n"
    c.wait_log(r"end service=echo ")        # max-conns 1: wait for it
    wd.rmdir()
    base = None
    for i in range(6):
        with c.connect() as s:
            assert recv_all(s) == b""
        c.wait_log(r"end service=echo .*cause=", count=2 + i)
        if i == 1:
            base = fd_count(c.pid)
    # the lines of the last player may come a moment after its end line
    c.wait_log(r"respawn service=echo ip=127\.0\.0\.1 port=\d+ "
               r"pid=\d+ failed_pid=\d+ step=mounts ", count=18)
    c.wait_log(r"spawn-failed service=echo .*step=mounts", count=6)
    assert c.count_log(r"respawn service=echo ") == 18
    assert c.count_log(r"spawn-failed service=echo .*step=mounts") == 6
    assert c.count_log(r"reject ") == 0      # max-conns 1: conns went back
    assert fd_count(c.pid) <= base + 2
    # and the service works again once the directory is back
    wd.mkdir()
    wd.chmod(0o755)
    assert _play(c, b"back") == b"back\n"


def test_make_run_installs_netcat_and_says_how_to_connect(tmp_path):
    """README: `make run`, then `nc 127.0.0.1 1337`. The packages of `make
    run` include netcat, it prints the command, and that command plays."""
    out = subprocess.run(["sh", ROOT / "scripts" / "deps.sh", "--list",
                          "run"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert "netcat-openbsd" in out.stdout.split()
    dry = subprocess.run(["make", "-n", "-s", "run"], cwd=ROOT,
                         capture_output=True, text=True, timeout=30)
    assert "scripts/run.sh" in dry.stdout, dry.stdout
    nc = shutil.which("nc")
    assert nc, "nc is not installed: scripts/deps.sh run installs it"
    port = free_port()
    log = tmp_path / "run.log"
    guess = ROOT / "examples" / "guess" / "guess"
    with open(log, "wb") as f:
        p = popen(["sh", ROOT / "scripts" / "run.sh", CHALD, "127.0.0.1",
                   str(port), "--sandbox", "off", "--", guess],
                  stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                  start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while f"nc 127.0.0.1 {port}" not in log.read_text():
            assert p.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        while "listening service=guess" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        played = subprocess.run([nc, "-q", "1", "127.0.0.1", str(port)],
                                input=b"50\n", capture_output=True,
                                timeout=10)
        assert played.stdout, (played.stdout, played.stderr)
        assert b"guess" in played.stdout.lower(), played.stdout
    finally:
        os.killpg(p.pid, 9)
        p.wait(timeout=5)
