"""Many connections: every one served, and nothing left behind (zombies,
fds, memory)."""

import re
import signal
import threading
import time

import pytest

from conftest import (connect, prog, recv_all, recv_line, rss_kb,
                      stable_fd_count, zombie_children)

# The full run goes through chald's own accept/spawn/reap loop unjailed;
# jails cost tens of ms each to build, so the jailed run is shorter and
# looks for leaks of what the sandbox adds (pidfds, control sockets, jails).
SEQUENTIAL = {"nojail": 2000, "jail": 400}
CONCURRENT = 200
RSS_SLACK_KB = 2048


def converse(port, i):
    with connect(port) as s:
        assert recv_line(s) == b"hello\n"
        s.sendall(b"msg %d\n" % i)
        assert recv_all(s) == b"msg %d\n" % i


def problems(c):
    """Log lines that should not appear under plain load."""
    return re.findall(r"(?m)^\S+ (?:reject|spawn-failed|warning) .*$",
                      c.log_text())


def serve_range(c, port, first, last):
    for i in range(first, last):
        try:
            converse(port, i)
        except (AssertionError, OSError) as e:
            raise AssertionError(
                f"connection {i} not served: {e!r}\n--- log problems ---\n"
                + "\n".join(problems(c)[-5:])) from e


def settle(c, ends, timeout=10.0):
    """Waits until chald has logged `ends` end lines and reaped them all."""
    c.wait_log(r"end service=echo ", count=ends, timeout=timeout)
    zombie_children(c.pid)      # returns once the last ones are reaped


@pytest.mark.timeout(80)
def test_sequential_then_concurrent(chald, jail, request):
    seq = SEQUENTIAL[request.node.callspec.params["jail"]]
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--per-ip", "0",
              "--max-conns", "0", "--timeout", "20s", "--", prog("echo"))
    port, pid = c.port, c.pid

    serve_range(c, port, 0, CONCURRENT)
    settle(c, CONCURRENT)
    # The baseline is taken once warm: with the sandbox, chald keeps a pool
    # of jails built ahead (a pidfd and a control socket each), and fills
    # it only once the first player came.
    fds_start = stable_fd_count(pid)
    rss_early = rss_kb(pid)
    serve_range(c, port, CONCURRENT, seq)
    settle(c, seq)
    assert zombie_children(pid) == []
    assert stable_fd_count(pid) == fds_start

    # CONCURRENT sessions alive at once: every client connects and reads
    # its greeting, and only then do they all answer.
    barrier = threading.Barrier(CONCURRENT + 1, timeout=30)
    errors = []

    def client(i):
        try:
            with connect(port, timeout=20) as s:
                assert recv_line(s, timeout=20) == b"hello\n"
                barrier.wait()
                s.sendall(b"burst %d\n" % i)
                assert recv_all(s, timeout=20) == b"burst %d\n" % i
        except BaseException as e:          # reported below
            errors.append(f"client {i}: {e!r}")
            barrier.abort()

    threads = [threading.Thread(target=client, args=(i,), daemon=True)
               for i in range(CONCURRENT)]
    for t in threads:
        t.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors[:5]
    assert not any(t.is_alive() for t in threads)
    c.wait_log(rf"accept service=echo .* conns={CONCURRENT}/0")
    settle(c, seq + CONCURRENT)

    assert c.count_log(r"accept service=echo ") == seq + CONCURRENT
    assert c.count_log(r"status=exit:0 cause=exit") == seq + CONCURRENT
    assert problems(c) == []
    assert zombie_children(pid) == []
    assert stable_fd_count(pid) == fds_start
    rss_end = rss_kb(pid)
    assert rss_end - rss_early <= RSS_SLACK_KB, (rss_early, rss_end)
    assert c.alive()


@pytest.mark.timeout(40)
def test_reloads_under_load(chald, tmp_path):
    """SIGHUP ten times while players connect to a jailed and an unjailed
    service: nobody is refused or dropped, nothing leaks, exit is clean."""
    conf = tmp_path / "c.conf"
    conf.write_text(f"""
[global]
listen = 127.0.0.1
port = 0
per-ip = 0
timeout = 10s
[service jailed]
command = {prog('echo')}
[service plain]
command = {prog('echo')}
sandbox = off
""")
    c = chald("-c", conf, services=2)
    ports = c.ports
    before = stable_fd_count(c.pid)
    done = threading.Event()
    results = []

    def player(port):
        ok = bad = 0
        while not done.is_set():
            try:
                with connect(port, timeout=10) as s:
                    assert recv_line(s, timeout=10) == b"hello\n"
                    s.sendall(b"ping\n")
                    assert recv_line(s, timeout=10) == b"ping\n"
                ok += 1
            except (OSError, AssertionError, TimeoutError):
                bad += 1
        results.append((port, ok, bad))

    threads = [threading.Thread(target=player, args=(p,))
               for p in (ports["jailed"], ports["plain"]) for _ in range(3)]
    for t in threads:
        t.start()
    # each SIGHUP once the last reload is done: two signals that arrive
    # before the loop looks are one reload, which a loaded machine shows
    for n in range(1, 11):
        time.sleep(0.35)
        c.send(signal.SIGHUP)
        c.wait_log(r"reload services=2", count=n, timeout=10)
    time.sleep(0.35)
    done.set()
    for t in threads:
        t.join(timeout=20)
    assert all(bad == 0 for _, _, bad in results), results
    assert all(ok > 0 for _, ok, _ in results), results
    assert c.alive()
    # the players' last sessions end just after they hang up: each is
    # reaped (its end line is logged then) ...
    c.wait_log(r"end service=", count=c.count_log(r"accept service="),
               timeout=10)
    # ... and so are the jails flushed by the last reload, as they die,
    # each with a cgroup to remove (slow on v1 under the sanitizers): none
    # may stay.
    assert zombie_children(c.pid, grace=10) == []
    assert stable_fd_count(c.pid) == before
    assert c.stop() == 0
