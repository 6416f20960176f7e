"""SIGHUP reloads, SIGTERM shutdown, and spawn failures at run time."""

import os
import re
import shutil
import signal
import socket
import time

import pytest

from conftest import (connect, descendants, free_port, parse_env, prog,
                      recv_all, recv_line, wait_dead, zombie_children)


def service(name, port, command, **keys):
    lines = [f"[service {name}]", "listen = 127.0.0.1", f"port = {port}",
             f"command = {command}"]
    for k, v in keys.items():
        for one in (v if isinstance(v, list) else [v]):
            lines.append(f"{k.replace('_', '-')} = {one}")
    return "\n".join(lines) + "\n\n"


def dump(port, **kw):
    with connect(port, **kw) as s:
        env, cwd, fds, _ = parse_env(recv_all(s).decode())
    return env


def echo_ok(port):
    with connect(port) as s:
        assert recv_line(s) == b"hello\n"
        s.sendall(b"still here\n")
        assert recv_all(s) == b"still here\n"


# ---------------------------------------------------------------------------
# reload
# ---------------------------------------------------------------------------

def test_reload_adds_service_and_changes_values(chald, tmp_path):
    pa, pb, ph = free_port(), free_port(), free_port()
    conf = tmp_path / "chald.conf"
    hold = service("hold", ph, prog("sleeper"))
    conf.write_text("[global]\ngrace = 1s\n\n" + hold
                    + service("a", pa, prog("envdump"), env="LEVEL=1"))
    c = chald("-c", conf, services=2)
    assert c.ports == {"a": pa, "hold": ph}
    assert dump(pa)["LEVEL"] == "1"
    # a session that lives across the reloads
    with connect(ph) as held:
        assert recv_line(held) == b"ready\n"
        conf.write_text("[global]\ngrace = 1s\n\n" + hold
                        + service("a", pa, prog("envdump"), env="LEVEL=2")
                        + service("b", pb, prog("echo")))
        c.send(signal.SIGHUP)
        c.wait_log(r"reload services=3")
        c.wait_log(rf"listening service=b addr=127\.0\.0\.1 port={pb}")
        echo_ok(pb)
        assert dump(pa)["LEVEL"] == "2"
        # removing a service closes its port
        conf.write_text("[global]\ngrace = 1s\n\n" + hold
                        + service("b", pb, prog("echo")))
        c.send(signal.SIGHUP)
        c.wait_log(r"reload services=2")
        with pytest.raises(ConnectionRefusedError):
            connect(pa).close()
        echo_ok(pb)
        # the held session was not touched
        held.settimeout(0.3)
        with pytest.raises(TimeoutError):
            held.recv(1)
        assert c.count_log(r"end service=hold ") == 0
    assert c.alive()


def test_reload_broken_config_keeps_old(chald, tmp_path):
    pa, pb = free_port(), free_port()
    conf = tmp_path / "chald.conf"
    good = service("a", pa, prog("echo")) + service("b", pb, prog("echo"))
    conf.write_text(good)
    c = chald("-c", conf, services=2)
    echo_ok(pa)
    echo_ok(pb)
    conf.write_text(good + "[service c]\nport = 1\ncommand = /bin/cat\n"
                    "colour = red\n")
    c.send(signal.SIGHUP)
    m = c.wait_log(r'reload-failed error="([^"]*)"')
    assert m.group(1) == f"{os.path.realpath(conf)}:14: colour: unknown key"
    assert c.alive()
    echo_ok(pa)
    echo_ok(pb)
    # a config that parses but whose new port cannot be opened
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        conf.write_text(good + service("c", taken, prog("echo")))
        c.send(signal.SIGHUP)
        c.wait_log(r"reload-failed error=.*Address already in use", count=1)
    assert c.count_log(r"reload services=") == 0
    echo_ok(pa)
    echo_ok(pb)
    # and a good config afterwards is taken
    conf.write_text(service("a", pa, prog("echo")))
    c.send(signal.SIGHUP)
    c.wait_log(r"reload services=1")
    echo_ok(pa)


def test_reload_moves_port(chald, tmp_path):
    p1, p2 = free_port(), free_port()
    conf = tmp_path / "chald.conf"
    conf.write_text(service("a", p1, prog("echo")))
    c = chald("-c", conf)
    conf.write_text(service("a", p2, prog("echo")))
    c.send(signal.SIGHUP)
    c.wait_log(rf"listening service=a addr=127\.0\.0\.1 port={p2}")
    echo_ok(p2)
    with pytest.raises(ConnectionRefusedError):
        connect(p1).close()


# ---------------------------------------------------------------------------
# shutdown
# ---------------------------------------------------------------------------

def shutdown_conf(tmp_path):
    conf = tmp_path / "chald.conf"
    conf.write_text(
        f"[global]\ngrace = 1s\npidfile = {tmp_path / 'chald.pid'}\n\n"
        + service("sleep", 0, prog("sleeper"), per_ip=0)
        + service("stubborn", 0, prog("stubborn"), per_ip=0)
        + service("family", 0, prog("family"), per_ip=0))
    return conf


def test_sigterm_with_live_sessions(chald, tmp_path, jail):
    c = chald("-c", shutdown_conf(tmp_path), *jail, services=3)
    ports = c.ports
    pidfile = tmp_path / "chald.pid"
    assert int(pidfile.read_text()) == c.pid
    socks = [connect(ports["sleep"]) for _ in range(3)]
    socks.append(connect(ports["stubborn"]))
    socks.append(connect(ports["family"]))
    for s in socks[:4]:
        assert recv_line(s) == b"ready\n"
    assert re.fullmatch(rb"child (\d+)\n", recv_line(socks[4]))
    assert recv_line(socks[4]) == b"ready\n"
    c.wait_log(r"accept service=", count=5)
    fam = int(c.wait_log(r"accept service=family .* pid=(\d+) ").group(1))
    family_procs = [fam] + [p["pid"] for p in descendants(fam)]
    assert len(family_procs) >= 2

    t0 = time.monotonic()
    c.send(signal.SIGTERM)
    c.wait_log(r"shutdown signal=TERM sessions=5 grace=1\.0")
    for p in ports.values():
        with pytest.raises(ConnectionRefusedError):
            connect(p).close()
    # sleepers die of the SIGTERM at once, stubborn after the grace
    for s in socks[:3]:
        assert recv_all(s, timeout=1) == b""
    assert recv_all(socks[3], timeout=3) == b""
    rc = c.wait(timeout=5)
    took = time.monotonic() - t0
    for s in socks:
        s.close()
    assert rc == 0
    assert 0.9 <= took <= 2.0, took
    text = c.log_text()
    ends = re.findall(r"end service=(\S+) pid=\d+ .*status=(\S+) "
                      r"cause=(\S+) ", text)
    assert sorted(ends) == sorted(
        [("sleep", "signal:15", "shutdown")] * 3
        + [("stubborn", "signal:9", "shutdown"),
           ("family", "signal:15", "shutdown")]), ends
    assert re.search(r"exit sessions=0\n\Z", text), text
    assert not pidfile.exists()
    for pid in family_procs:
        assert wait_dead(pid, timeout=2), f"pid {pid} survived shutdown"


def test_sigterm_idle(chald, tmp_path):
    pidfile = tmp_path / "p"
    c = chald("-b", "127.0.0.1", "-p", "0", "--pidfile", pidfile, "--",
              prog("echo"))
    t0 = time.monotonic()
    assert c.stop(signal.SIGTERM, timeout=5) == 0
    assert time.monotonic() - t0 < 1
    c.wait_log(r"shutdown signal=TERM sessions=0 grace=5\.0")
    c.wait_log(r"exit sessions=0")
    assert not pidfile.exists()


def test_sigint_also_shuts_down(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--", prog("echo"))
    assert c.stop(signal.SIGINT, timeout=5) == 0
    c.wait_log(r"shutdown signal=INT sessions=0")


def test_second_sigterm_skips_grace(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--grace", "30s", "--",
              prog("stubborn"))
    with c.connect() as s:
        assert recv_line(s) == b"ready\n"
        t0 = time.monotonic()
        c.send(signal.SIGTERM)
        c.wait_log(r"shutdown signal=TERM sessions=1 grace=30\.0")
        c.send(signal.SIGTERM)
        assert c.wait(timeout=5) == 0
        assert time.monotonic() - t0 < 3
        assert recv_all(s, timeout=1) == b""
    c.wait_log(r"end service=stubborn .*status=signal:9 cause=shutdown")


# ---------------------------------------------------------------------------
# spawn failures
# ---------------------------------------------------------------------------

def test_program_deleted_after_start(chald, pubdir, jail):
    chal = pubdir / "bin" / "chal"
    chal.parent.mkdir()
    chal.parent.chmod(0o755)
    shutil.copy2(prog("echo"), chal)
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--", chal)
    echo_ok(c.port)
    chal.unlink()
    with c.connect() as s:
        assert recv_all(s) == b""
    c.wait_log(r'spawn-failed service=chal ip=127\.0\.0\.1 port=\d+ '
               r'(pid=\d+ )?step=exec error="No such file or directory"')
    assert c.alive()
    shutil.copy2(prog("echo"), chal)
    echo_ok(c.port)
    # a jail is handed its player before the exec that fails, so there the
    # failed attempt is a session of its own: accept, spawn-failed, end
    jailed = 1 if jail == [] else 0
    c.wait_log(r"end service=chal ", count=2 + jailed)
    assert c.count_log(r"accept service=chal ") == 2 + jailed
    # the failed child was reaped
    assert zombie_children(c.pid) == []


def test_workdir_removed_after_start(chald, pubdir, jail):
    wd = pubdir / "wd"
    wd.mkdir()
    wd.chmod(0o755)
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--workdir", wd, "--",
              prog("echo"))
    echo_ok(c.port)
    wd.rmdir()
    # Jails built ahead (before the rmdir) may still serve a player; after
    # them, the player is disconnected without a word.
    outcomes = []
    for _ in range(6):
        with c.connect() as s:
            first = recv_line(s)
            if first == b"":
                outcomes.append("closed")
                continue
            assert first == b"hello\n"
            s.sendall(b"x\n")
            assert recv_all(s) == b"x\n"
            outcomes.append("served")
    assert outcomes[-3:] == ["closed"] * 3, outcomes
    # the step is chdir unjailed, mounts (binding the workdir) in the jail
    c.wait_log(r'spawn-failed service=echo ip=127\.0\.0\.1 port=\d+ '
               r'(pid=\d+ )?step=(chdir|mounts) '
               r'error="No such file or directory"', count=3)
    assert c.alive()
    wd.mkdir()
    wd.chmod(0o755)
    echo_ok(c.port)
    # a failed spawn holds no per-ip slot: more than 8 (the default) failed
    # and then good connections all went through
    assert c.count_log(r"reject ") == 0


def test_program_not_executable_after_start(chald, pubdir, jail):
    chal = pubdir / "chal"
    shutil.copy2(prog("echo"), chal)
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--", chal)
    chal.chmod(0o644)
    with c.connect() as s:
        assert recv_all(s) == b""
    c.wait_log(r'spawn-failed service=chal .*step=exec '
               r'error="Permission denied"')
    chal.chmod(0o755)
    echo_ok(c.port)
