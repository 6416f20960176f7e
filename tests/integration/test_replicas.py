"""
Two replicas of chald behind one haproxy (Debian's), as a deployment with
more than one replica runs them: send-proxy-v2 so that every replica sees
the players' own addresses, and `balance source` so that one player always
lands on the same replica, which keeps per-ip global. Then a rolling stop:
SIGTERM with drain on one replica sends new players to the other, and
nobody is refused meanwhile.
"""

import signal
import time

import pytest

from conftest import (REJECT_LINE, connect, haproxy_start, prog, recv_all,
                      recv_line)


@pytest.fixture
def front(tmp_path):
    """front(backend_ports) -> the port of a haproxy balancing them."""
    procs = []

    def start(backends):
        servers = "\n".join(
            f"    server r{i} 127.0.0.1:{p} send-proxy-v2"
            for i, p in enumerate(backends))
        # a stopped replica refuses the connection: haproxy tries again,
        # and its last try goes to another server
        p, port = haproxy_start(
            tmp_path, "    balance source\n    hash-type consistent\n" +
            servers, defaults="    retries 2\n    option redispatch 1")
        procs.append(p)
        return port

    yield start
    for p in procs:
        p.kill()
        p.wait(timeout=5)


def replica(chald, name):
    return chald("-b", "127.0.0.1", "-p", "0", "--per-ip", "2",
                 "--proxy-from", "127.0.0.1", "--drain", "20s",
                 "--grace", "1s", "--", prog("peer"), name=name)


def which(replicas, ip, port):
    """The replica whose log accepted ip:port."""
    pat = f"accept service=peer ip={ip} port={port} "
    return [r for r in replicas if pat in r.log_text()]


@pytest.mark.timeout(60)
def test_per_ip_holds_across_replicas(chald, front):
    a, b = replica(chald, "a"), replica(chald, "b")
    port = front([a.port, b.port])
    held = []
    for _ in range(2):
        s = connect(port, source="127.0.0.2")
        assert recv_line(s).startswith(b"PEER 127.0.0.2 ")
        held.append(s)
    # the same player lands on the same replica, so the third is refused
    third = connect(port, source="127.0.0.2")
    assert recv_all(third) == REJECT_LINE
    third.close()
    served = [r for r in (a, b) if "accept service=peer ip=127.0.0.2 "
              in r.log_text()]
    assert len(served) == 1, "one player, one replica"
    assert served[0].count_log(r"reject service=peer ip=127\.0\.0\.2 "
                               r".*reason=per-ip") == 1
    # another player is served meanwhile, wherever it lands
    other = connect(port, source="127.0.0.3")
    assert recv_line(other).startswith(b"PEER 127.0.0.3 ")
    other.sendall(b"x\n")
    assert recv_line(other) == b"GOT x\n"
    for s in held + [other]:
        s.close()


@pytest.mark.timeout(60)
def test_drain_on_one_replica_refuses_nobody(chald, front):
    a, b = replica(chald, "a"), replica(chald, "b")
    port = front([a.port, b.port])
    # a player on each replica, from sources that hash to each
    on = {}
    for i in range(2, 60):
        src = f"127.0.1.{i}"
        s = connect(port, source=src)
        line = recv_line(s)
        assert line.startswith(f"PEER {src} ".encode()), line
        r = [x for x in (a, b) if f"ip={src} " in x.log_text()]
        if r and r[0] not in on.values():
            on[src] = r[0]
            s.sendall(b"before\n")
            assert recv_line(s) == b"GOT before\n"
        s.close()
        if len(on) == 2:
            break
    assert len(on) == 2, "no source landed on each replica"
    a_src = [src for src, r in on.items() if r is a][0]
    # a live session on a, then a rolling stop of a
    live = connect(port, source="127.0.0.9")
    assert recv_line(live).startswith(b"PEER 127.0.0.9 ")
    # the players above hung up, and their sessions end on their own
    # (a jail's teardown takes a few ms); only the live one is left then
    deadline = time.monotonic() + 10
    while (a.count_log(r"end service=peer ") <
           a.count_log(r"accept service=peer ") - 1 and
           time.monotonic() < deadline):
        time.sleep(0.05)
    a.send(signal.SIGTERM)
    a.wait_log(r"shutdown signal=TERM sessions=1 ")
    # every new player is served, including the one that hashed to a
    deadline = time.monotonic() + 4
    n = 0
    while time.monotonic() < deadline:
        s = connect(port, source=a_src)
        assert recv_line(s).startswith(f"PEER {a_src} ".encode())
        s.sendall(b"after\n")
        assert recv_line(s) == b"GOT after\n"
        s.close()
        n += 1
        time.sleep(0.1)
    assert n > 5
    assert b.count_log(f"accept service=peer ip={a_src} ") >= n
    # and the live session was not cut by the drain
    live.sendall(b"still here\n")
    assert recv_line(live) == b"GOT still here\n"
    live.close()
    assert a.wait(timeout=25) == 0
    for r in (a, b):
        assert r.count_log(r"reject ") == 0, r.log_text()[-1500:]
