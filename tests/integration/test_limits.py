"""Connection limits (per-ip, max-conns, rate) and the session timeout."""

import os
import re
import signal
import time

import pytest

from conftest import (REJECT_LINE, REJECT_LINES, descendants, prog, recv_all,
                      recv_line, wait_dead)


def hold(c, n, source=None):
    """n sleeper sessions, each confirmed running."""
    socks = []
    for _ in range(n):
        s = c.connect(source=source)
        socks.append(s)
        assert recv_line(s) == b"ready\n"
    return socks


def end_one(c, ip):
    """Kills one sleeper session from ip (sleepers never end by themselves)
    and waits for chald to log its end."""
    m = re.search(rf"accept service=\S+ ip={re.escape(ip)} port=\d+ "
                  rf"pid=(\d+)", c.log_text())
    assert m, c.log_text()
    os.kill(int(m.group(1)), signal.SIGKILL)
    c.wait_log(rf"end service=\S+ pid={m.group(1)} .*status=signal:9 "
               rf"cause=signal ")


def refused(c, source=None):
    with c.connect(source=source) as s:
        return recv_all(s)


def test_per_ip(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--per-ip", "4", "--",
              prog("sleeper"))
    held = hold(c, 4)
    try:
        assert refused(c) == REJECT_LINE
        c.wait_log(r"reject service=sleeper ip=127\.0\.0\.1 port=\d+ "
                   r"reason=per-ip conns=4/256")
        # another address is a different source
        other = hold(c, 1, source="127.0.0.2")
        c.wait_log(r"accept service=sleeper ip=127\.0\.0\.2 port=\d+ "
                   r"pid=\d+ conns=5/256")
        # once a session ends, its source may connect again
        end_one(c, "127.0.0.1")
        held += hold(c, 1)
        held += other
    finally:
        for s in held:
            s.close()


def test_per_ip_ipv6(chald, ipv6):
    c = chald("-b", "::1", "-p", "0", "--per-ip", "1", "--", prog("sleeper"))
    held = [c.connect6()]
    try:
        assert recv_line(held[0]) == b"ready\n"
        with c.connect6() as s:
            assert recv_all(s) == REJECT_LINE
        c.wait_log(r"reject service=sleeper ip=::1 port=\d+ reason=per-ip")
    finally:
        for s in held:
            s.close()


def test_ipv4_prefix_groups_sources(chald):
    """With --ipv4-prefix 24, 127.0.0.1 and 127.0.0.2 are one source."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--per-ip", "1", "--ipv4-prefix",
              "24", "--", prog("sleeper"))
    held = hold(c, 1, source="127.0.0.1")
    try:
        assert refused(c, source="127.0.0.2") == REJECT_LINE
        c.wait_log(r"reject service=sleeper ip=127\.0\.0\.2 port=\d+ "
                   r"reason=per-ip")
    finally:
        held[0].close()


def test_max_conns(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--max-conns", "2", "--per-ip",
              "0", "--", prog("sleeper"))
    held = hold(c, 1) + hold(c, 1, source="127.0.0.2")
    try:
        assert refused(c) == REJECT_LINES["max-conns"]
        assert refused(c, source="127.0.0.3") == REJECT_LINES["max-conns"]
        c.wait_log(r"reject service=sleeper ip=127\.0\.0\.1 port=\d+ "
                   r"reason=max-conns conns=2/2")
        c.wait_log(r"reject service=sleeper ip=127\.0\.0\.3 port=\d+ "
                   r"reason=max-conns conns=2/2")
        end_one(c, "127.0.0.2")
        held += hold(c, 1, source="127.0.0.3")
    finally:
        for s in held:
            s.close()


def test_custom_reject_message(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--max-conns", "1",
              "--reject-message", "go away, come back later", "--",
              prog("sleeper"))
    held = hold(c, 1)
    try:
        assert refused(c) == b"go away, come back later\n"
    finally:
        held[0].close()


def test_each_reason_its_own_message(chald):
    """A player refused by rate is not told about per-ip, nor one refused by
    max-conns: each reason has its own default line."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--max-conns", "2", "--per-ip",
              "1", "--rate", "1/h", "--burst", "2", "--",
              prog("sleeper"))
    held = hold(c, 1)                         # 127.0.0.1: token 1 of 2
    try:
        assert refused(c) == REJECT_LINES["per-ip"]   # token 2, per-ip
        assert refused(c) == REJECT_LINES["rate"]     # no token left
        held += hold(c, 1, source="127.0.0.2")
        assert refused(c, source="127.0.0.3") == REJECT_LINES["max-conns"]
        for reason in ("per-ip", "rate", "max-conns"):
            c.wait_log(rf"reject service=sleeper ip=\S+ port=\d+ "
                       rf"reason={reason} ")
        assert len(set(REJECT_LINES.values())) == 3
    finally:
        for s in held:
            s.close()


def test_reject_message_per_reason_and_default(chald):
    """reject-message-REASON for one reason; reject-message for every reason
    without its own."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--max-conns", "2", "--per-ip",
              "1", "--rate", "1/h", "--burst", "2",
              "--reject-message", "busy, come back later",
              "--reject-message-rate", "slow down: one try an hour", "--",
              prog("sleeper"))
    held = hold(c, 1)
    try:
        assert refused(c) == b"busy, come back later\n"        # per-ip
        assert refused(c) == b"slow down: one try an hour\n"   # rate
        held += hold(c, 1, source="127.0.0.2")
        assert refused(c, source="127.0.0.3") == \
            b"busy, come back later\n"                         # max-conns
    finally:
        for s in held:
            s.close()


def test_reject_message_keys_in_a_file(chald, tmp_path):
    conf = tmp_path / "r.conf"
    conf.write_text(f"""[global]
reject-message-max-conns = full for now

[service s]
listen = 127.0.0.1
port = 0
command = {prog("sleeper")}
max-conns = 2
per-ip = 1
reject-message-per-ip = one at a time, please
""")
    c = chald("-c", conf)
    held = hold(c, 1)
    try:
        assert refused(c) == b"one at a time, please\n"
        held += hold(c, 1, source="127.0.0.2")
        assert refused(c, source="127.0.0.3") == b"full for now\n"
    finally:
        for s in held:
            s.close()


def test_rate(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--rate", "2/s", "--burst", "2",
              "--", prog("echo"))
    socks = [c.connect() for _ in range(3)]
    try:
        assert recv_line(socks[0]) == b"hello\n"
        assert recv_line(socks[1]) == b"hello\n"
        assert recv_all(socks[2]) == REJECT_LINES["rate"]
        c.wait_log(r"reject service=echo ip=127\.0\.0\.1 port=\d+ "
                   r"reason=rate ")
        assert c.count_log(r"accept service=echo ") == 2
        # another source has its own bucket
        with c.connect(source="127.0.0.2") as s:
            assert recv_line(s) == b"hello\n"
        # one token comes back every 0.5 s
        time.sleep(0.6)
        with c.connect() as s:
            assert recv_line(s) == b"hello\n"
    finally:
        for s in socks:
            s.close()


def test_timeout_kills_session_and_group(chald, jail):
    c = chald("-b", "127.0.0.1", "-p", "0", *jail, "--timeout", "1s", "--",
              prog("family"))
    t0 = time.monotonic()
    with c.connect() as s:
        first = recv_line(s)
        assert re.fullmatch(rb"child (\d+)\n", first), first
        assert recv_line(s) == b"ready\n"
        acc = c.wait_log(r"accept service=family .* pid=(\d+) ")
        # every process of the session, as host pids: family and its child
        # (and the jail's init when sandboxed)
        procs = [int(acc.group(1))] + [
            p["pid"] for p in descendants(int(acc.group(1)))]
        assert len(procs) >= 2, procs
        assert recv_all(s, timeout=5) == b""
        took = time.monotonic() - t0
    assert 0.9 <= took <= 1.5, took
    end = c.wait_log(r"end service=family pid=(\d+) ip=127\.0\.0\.1 "
                     r"port=\d+ status=signal:9 cause=timeout secs=([\d.]+)")
    assert 0.9 <= float(end.group(2)) <= 1.5, end.group(0)
    # the child left in the challenge's process group is gone too
    for pid in procs:
        assert wait_dead(pid, timeout=2), f"pid {pid} survived the timeout"


def test_timeout_zero_means_none(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--timeout", "0", "--",
              prog("sleeper"))
    with c.connect() as s:
        assert recv_line(s) == b"ready\n"
        s.settimeout(1.2)
        with pytest.raises(TimeoutError):
            s.recv(1)
    assert c.count_log(r"cause=timeout") == 0


@pytest.mark.timeout(20)
def test_timeout_many_sessions(chald):
    """Deadlines of many sessions fire, none forgotten. The clock starts at
    accept, jail building included, so it leaves room for 20 jails."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--timeout", "3s",
              "--per-ip", "0", "--", prog("sleeper"))
    socks = []
    try:
        for _ in range(20):
            socks.append(c.connect())
            time.sleep(0.02)
        for s in socks:
            assert recv_line(s) == b"ready\n"
        for s in socks:
            assert recv_all(s, timeout=8) == b""
        c.wait_log(r"cause=timeout", count=20)
    finally:
        for s in socks:
            s.close()
