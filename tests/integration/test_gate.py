"""
The gate: PROXY protocol v1/v2 from trusted peers only (with Debian's
haproxy in front), the proof of work (solved by tests/integration/
powsolve.py, as a player would), and connections that never send.
"""

import base64
import os
import re
import resource
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import (REJECT_LINE, children, connect, fd_count,
                      haproxy_start, prog, recv_all, recv_line)

POWSOLVE = os.path.join(os.path.dirname(__file__), "powsolve.py")
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src, sport, dst="127.0.0.1", dport=1, local=False):
    """A PROXY v2 header for TCP over IPv4, as a balancer writes it."""
    if local:
        return V2SIG + bytes([0x20, 0x00]) + (0).to_bytes(2, "big")
    body = socket.inet_aton(src) + socket.inet_aton(dst) + \
        sport.to_bytes(2, "big") + dport.to_bytes(2, "big")
    return V2SIG + bytes([0x21, 0x11]) + len(body).to_bytes(2, "big") + body


def read_until(sock, marker, timeout=5.0):
    buf = b""
    deadline = time.monotonic() + timeout
    while marker not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {marker!r} within {timeout} s: {buf!r}")
        sock.settimeout(left)
        c = sock.recv(4096)
        if not c:
            raise EOFError(f"EOF before {marker!r}: {buf!r}")
        buf += c
    return buf


def solve(prompt):
    chal = re.search(rb"solve (s\.\S+)", prompt).group(1).decode()
    r = subprocess.run(["/usr/bin/python3", POWSOLVE, chal],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().encode()


# ---------------------------------------------------------------------------
# haproxy in front
# ---------------------------------------------------------------------------

@pytest.fixture
def haproxy(tmp_path):
    """haproxy(backend_port, mode) -> the port haproxy listens on."""
    procs = []

    def start(backend, mode):
        p, port = haproxy_start(tmp_path,
                                f"    server chald 127.0.0.1:{backend} {mode}")
        procs.append(p)
        return port

    yield start
    for p in procs:
        p.kill()
        p.wait(timeout=5)


@pytest.mark.parametrize("mode", ["send-proxy", "send-proxy-v2"])
def test_haproxy_clients_are_counted_as_themselves(chald, haproxy, mode):
    """Behind haproxy, per-ip counts each client by its own address:
    a third connection of one client is refused while another client is
    served; the challenge sees the client's address, the log names the
    client as ip= and haproxy as via=."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--per-ip", "2",
              "--proxy-from", "127.0.0.1", "--", prog("peer"))
    front = haproxy(c.port, mode)
    a1 = connect(front, source="127.0.0.2")
    a2 = connect(front, source="127.0.0.2")
    for s in (a1, a2):
        assert recv_line(s).startswith(b"PEER 127.0.0.2 ")
    a3 = connect(front, source="127.0.0.2")
    assert recv_all(a3) == REJECT_LINE
    c.wait_log(r"reject service=peer ip=127\.0\.0\.2 port=\d+ "
               r"via=127\.0\.0\.1 reason=per-ip")
    b1 = connect(front, source="127.0.0.3")
    assert recv_line(b1).startswith(b"PEER 127.0.0.3 ")
    b1.sendall(b"hi\n")
    assert recv_line(b1) == b"GOT hi\n"
    m = c.wait_log(r"accept service=peer ip=127\.0\.0\.3 port=\d+ "
                   r"via=127\.0\.0\.1 pid=\d+")
    assert m
    for s in (a1, a2, a3, b1):
        s.close()


def test_header_from_an_untrusted_peer_changes_nothing(chald):
    """Only peers in proxy-from may send a header: anyone else's header is
    the challenge's input, and their address stays their own."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--proxy-from", "127.0.0.9",
              "--", prog("peer"))
    with c.connect() as s:
        s.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 4444 1337\r\n")
        assert recv_line(s).startswith(b"PEER 127.0.0.1 ")
        assert recv_line(s) == \
            b"GOT PROXY TCP4 203.0.113.7 127.0.0.1 4444 1337\r\n"
    assert not re.search(r"accept .*ip=203\.0\.113\.7", c.log_text())


@pytest.mark.parametrize("send,reason", [
    (b"hello\n", "proxy-missing"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n", "proxy-bad"),
    (V2SIG + b"\x21\x11\x00\x05abcde", "proxy-bad"),
])
def test_trusted_peer_without_a_good_header_is_refused(chald, send, reason):
    c = chald("-b", "127.0.0.1", "-p", "0", "--proxy-from", "127.0.0.1",
              "--", prog("peer"))
    with c.connect() as s:
        s.sendall(send)
        assert recv_all(s) == b""
    c.wait_log(rf"reject service=peer ip=127\.0\.0\.1 port=\d+ "
               rf"via=127\.0\.0\.1 reason={reason} ")
    assert "accept service=" not in c.log_text()


def test_trusted_peer_silent_until_the_proxy_timeout(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--proxy-from", "127.0.0.1",
              "--proxy-timeout", "1s", "--", prog("peer"))
    with c.connect() as s:
        t0 = time.monotonic()
        assert recv_all(s, timeout=5) == b""
        assert time.monotonic() - t0 >= 0.9
    c.wait_log(r"reject service=peer .*reason=proxy-timeout")


def test_header_and_first_line_in_one_write(chald):
    """v2 header and the challenge's input in one segment: the gate reads
    the header only, the challenge gets the rest, and the client's address
    comes from the header."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--proxy-from", "127.0.0.1",
              "--", prog("peer"))
    with c.connect() as s:
        s.sendall(v2_header("198.51.100.4", 4321) + b"first line\n")
        assert recv_line(s) == b"PEER 198.51.100.4 4321\n"
        assert recv_line(s) == b"GOT first line\n"
    c.wait_log(r"accept service=peer ip=198\.51\.100\.4 port=4321 "
               r"via=127\.0\.0\.1 ")


def test_v2_local_counts_as_the_balancer(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--proxy-from", "127.0.0.1",
              "--", prog("peer"))
    with c.connect() as s:
        s.sendall(v2_header(None, 0, local=True) + b"x\n")
        assert recv_line(s).startswith(b"PEER 127.0.0.1 ")
        assert recv_line(s) == b"GOT x\n"


# ---------------------------------------------------------------------------
# proof of work
# ---------------------------------------------------------------------------

def test_pow_solution_starts_the_challenge(chald):
    """kCTF's prompt; the independent solver's answer, followed by the
    challenge's first line in the same write, starts the challenge with
    that line intact."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--pow", "300", "--",
              prog("peer"))
    with c.connect(timeout=30) as s:
        prompt = read_until(s, b"Solution? ")
        assert prompt.startswith(b"== proof-of-work: enabled ==\n")
        s.sendall(solve(prompt) + b"\nafter the solution\n")
        assert recv_line(s, timeout=10) == b"Correct\n"
        assert recv_line(s).startswith(b"PEER 127.0.0.1 ")
        assert recv_line(s) == b"GOT after the solution\n"
    c.wait_log(r"accept service=peer ip=127\.0\.0\.1 ")


def test_pow_wrong_answer_makes_no_process(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--pow", "300", "--pool", "0",
              "--", prog("peer"))
    for bad in (b"s.AAAA\n", b"nonsense\n", b"s." + b"A" * 300 + b"\n"):
        with c.connect() as s:
            read_until(s, b"Solution? ")
            s.sendall(bad)
            assert recv_all(s) == b"Proof-of-work fail\n"
    c.wait_log(r"reason=pow-failed", count=3)
    assert "accept service=" not in c.log_text()
    assert children(c.pid) == []


def test_pow_silence_times_out(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--pow", "300",
              "--pow-timeout", "1s", "--", prog("peer"))
    with c.connect() as s:
        read_until(s, b"Solution? ")
        assert recv_all(s, timeout=5) == \
            b"chald: too slow with the proof of work, try again\n"
    c.wait_log(r"reject service=peer .*reason=pow-timeout")


def test_pow_exempt_skips_it(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--pow", "300",
              "--pow-exempt", "127.0.0.5/32", "--", prog("peer"))
    s = connect(c.port, source="127.0.0.5")
    assert recv_line(s).startswith(b"PEER 127.0.0.5 ")
    s.close()
    s = connect(c.port, source="127.0.0.6")
    assert read_until(s, b"Solution? ").startswith(b"== proof-of-work")
    s.close()


def test_pow_behind_haproxy_exempts_the_real_client(chald, haproxy):
    c = chald("-b", "127.0.0.1", "-p", "0", "--pow", "300",
              "--proxy-from", "127.0.0.1", "--pow-exempt", "127.0.0.7",
              "--", prog("peer"))
    front = haproxy(c.port, "send-proxy-v2")
    s = connect(front, source="127.0.0.7")
    assert recv_line(s).startswith(b"PEER 127.0.0.7 ")
    s.close()
    s = connect(front, source="127.0.0.8")
    prompt = read_until(s, b"Solution? ")
    s.sendall(solve(prompt) + b"\n")
    assert recv_line(s, timeout=10) == b"Correct\n"
    assert recv_line(s).startswith(b"PEER 127.0.0.8 ")
    s.close()


# ---------------------------------------------------------------------------
# connections that never send
# ---------------------------------------------------------------------------

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.timeout(60)
def test_silent_connections_are_bounded_and_closed(chald):
    """1,000 connections from 50 sources that get the prompt and never
    answer: the daemon's fds and memory stay bounded, another player is
    served meanwhile, every one is closed at its deadline, and no process
    is made for any of them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    c = chald("-b", "127.0.0.1", "-p", "0", "--pow", "300",
              "--pow-timeout", "4s", "--pending-per-ip", "20",
              "--pow-exempt", "127.0.1.1", "--per-ip", "0", "--pool", "0",
              "--",
              prog("peer"))
    fds0, rss0 = fd_count(c.pid), rss_kib(c.pid)
    socks = []
    try:
        for i in range(1000):
            s = socket.socket()
            s.setblocking(True)
            s.settimeout(5)
            s.bind((f"127.0.0.{1 + i % 50}", 0))
            s.connect(("127.0.0.1", c.port))
            socks.append(s)
        deadline = time.monotonic() + 5
        while fd_count(c.pid) < fds0 + 1000 and time.monotonic() < deadline:
            time.sleep(0.05)
        fds, rss = fd_count(c.pid), rss_kib(c.pid)
        assert fds <= fds0 + 1000 + 8, (fds0, fds)
        # KiB: a pending connection is a record of about 1 KiB
        assert rss - rss0 < 16 * 1024, (rss0, rss)
        assert children(c.pid) == []
        # another player, exempt, is served at once
        t0 = time.monotonic()
        p = connect(c.port, source="127.0.1.1")
        assert recv_line(p).startswith(b"PEER 127.0.1.1 ")
        served = time.monotonic() - t0
        p.close()
        assert served < 1.0, served
        # everything closed at its deadline, without a session
        for s in socks:
            s.settimeout(10)
            # the refusal may come in the same read as the prompt
            got = read_until(s, b"Solution? ") + recv_all(s, timeout=10)
            assert got.endswith(b"Solution? chald: too slow with the proof "
                                b"of work, try again\n"), got[-80:]
        assert len(re.findall(r"reason=pow-timeout", c.log_text())) == 1000
        assert len(re.findall(r"accept service=", c.log_text())) == 1
    finally:
        for s in socks:
            s.close()
    deadline = time.monotonic() + 5
    while fd_count(c.pid) > fds0 + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fd_count(c.pid) <= fds0 + 2


def wrong_solution():
    """Well formed, below 2^1279 as a real one is: it costs a whole check."""
    y = bytearray(os.urandom(160))
    y[0] &= 0x7f
    return b"s." + base64.b64encode(bytes(y)) + b"\n"


def send_wrong(port, source):
    with connect(port, source=source) as s:
        read_until(s, b"Solution? ")
        s.sendall(wrong_solution())
        return recv_all(s, timeout=20)


def test_pow_wrong_answers_count_strikes(chald):
    """Each wrong solution from a source is a strike in its reject line; a
    right one wipes them, and another source has its own."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--pow", "300", "--pool", "0",
              "--", prog("peer"))
    for n in (1, 2, 3):
        assert send_wrong(c.port, "127.0.0.21") == b"Proof-of-work fail\n"
        c.wait_log(rf"(?m)reject service=peer ip=127\.0\.0\.21 .*"
                   rf"reason=pow-failed pending=\d+ strikes={n}$")
    assert send_wrong(c.port, "127.0.0.22") == b"Proof-of-work fail\n"
    c.wait_log(r"(?m)ip=127\.0\.0\.22 .*reason=pow-failed .*strikes=1$")
    # not below 2^1279: refused before any squaring, and no strike
    with connect(c.port, source="127.0.0.21") as s:
        read_until(s, b"Solution? ")
        s.sendall(b"s." + base64.b64encode(b"\xff" * 160) + b"\n")
        assert recv_all(s) == b"Proof-of-work fail\n"
    c.wait_log(r"(?m)ip=127\.0\.0\.21 .*reason=pow-failed pending=\d+$")
    with connect(c.port, source="127.0.0.21", timeout=30) as s:
        s.sendall(solve(read_until(s, b"Solution? ")) + b"\n")
        assert recv_line(s, timeout=10) == b"Correct\n"
        assert recv_line(s).startswith(b"PEER 127.0.0.21 ")
    assert send_wrong(c.port, "127.0.0.21") == b"Proof-of-work fail\n"
    c.wait_log(r"(?m)ip=127\.0\.0\.21 .*reason=pow-failed .*strikes=1$",
               count=2)


@pytest.mark.timeout(90)
def test_pow_flood_of_wrong_answers_still_serves_a_solver(chald):
    """16 clients flood wrong solutions; a player from another source who
    solves is answered and served all along, and every flooder is told."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--pow", "1000", "--per-ip", "0",
              "--pending-per-ip", "0", "--pool", "0", "--", prog("peer"))
    stop = threading.Event()
    answers = []

    def flood(i):
        while not stop.is_set():
            try:
                answers.append(send_wrong(c.port, f"127.0.1.{1 + i}"))
            except (OSError, TimeoutError, EOFError) as e:
                answers.append(repr(e).encode())

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    try:
        c.wait_log(r"(?m)reason=pow-failed .*strikes=2$", timeout=20)
        for k in range(3):
            with connect(c.port, source="127.0.0.31", timeout=30) as s:
                s.sendall(solve(read_until(s, b"Solution? ")) +
                          b"\nhello\n")
                assert recv_line(s, timeout=20) == b"Correct\n"
                assert recv_line(s).startswith(b"PEER 127.0.0.31 ")
                assert recv_line(s) == b"GOT hello\n"
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert answers and set(answers) == {b"Proof-of-work fail\n"}
    assert c.count_log(r"accept service=peer ip=127\.0\.0\.31 ") == 3
    assert c.count_log(r"accept service=peer ip=127\.0\.1\.") == 0
    assert c.alive()


def test_pow_shutdown_with_checks_queued(chald):
    """Slow checks queued for a flooder's source, and players who leave
    before their answer: SIGTERM ends the daemon at once, each queued
    connection logged reason=shutdown."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--pow", "300000", "--pool", "0",
              "--pending-per-ip", "0", "--", prog("peer"))
    assert send_wrong(c.port, "127.0.0.41") == b"Proof-of-work fail\n"
    c.wait_log(r"(?m)ip=127\.0\.0\.41 .*strikes=1$", timeout=20)
    socks = []
    for i in range(6):
        s = connect(c.port, source="127.0.0.41")
        read_until(s, b"Solution? ")
        s.sendall(wrong_solution())
        socks.append(s)
    for s in socks[:2]:
        s.close()      # gone while queued or being checked
    time.sleep(0.5)
    t0 = time.monotonic()
    assert c.stop(timeout=10) == 0
    assert time.monotonic() - t0 < 5
    for s in socks[2:]:
        assert b"Proof-of-work" not in recv_all(s)
        s.close()
    assert c.count_log(r"ip=127\.0\.0\.41 .*reason=shutdown") >= 3


def test_pow_full_gate_drops_a_flooders_waiting_check(chald):
    """With the gate full, a flooder's solution that waits for the slow
    checker makes room for a new player; with none waiting, the new player
    is refused as before."""
    c = chald("-b", "127.0.0.1", "-p", "0", "--pow", "3000000", "--pool",
              "0", "--pending-max", "3", "--pending-per-ip", "0", "--",
              prog("peer"))
    with connect(c.port, source="127.0.0.51") as s:
        read_until(s, b"Solution? ")
        s.sendall(b"s." + base64.b64encode(b"\x01" * 100) + b"\n")
        assert recv_all(s, timeout=30) == b"Proof-of-work fail\n"
    socks = []
    for i in range(3):    # two in the checker's slots, one waiting
        s = connect(c.port, source="127.0.0.51")
        read_until(s, b"Solution? ")
        s.sendall(wrong_solution())
        socks.append(s)
    time.sleep(0.3)
    new = connect(c.port, source="127.0.0.52")
    assert read_until(new, b"Solution? ")
    c.wait_log(r"reject service=peer ip=127\.0\.0\.51 .*reason=pending ")
    assert recv_all(socks[2]) != b""     # the newest waiting one went
    late = connect(c.port, source="127.0.0.53")
    refused = recv_all(late)
    assert refused and b"Solution?" not in refused
    c.wait_log(r"reject service=peer ip=127\.0\.0\.53 .*reason=pending ")
    for s in socks + [new, late]:
        s.close()


def test_pending_per_ip_caps_one_source(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--pow", "300",
              "--pending-per-ip", "3", "--", prog("peer"))
    socks = [connect(c.port, source="127.0.0.4") for _ in range(3)]
    for s in socks:
        read_until(s, b"Solution? ")
    extra = connect(c.port, source="127.0.0.4")
    assert recv_all(extra) == b"chald: too many connections waiting from " \
        b"your address, try again later\n"
    c.wait_log(r"reject service=peer ip=127\.0\.0\.4 .*reason=pending-per-ip")
    other = connect(c.port, source="127.0.0.5")
    assert read_until(other, b"Solution? ")
    for s in socks + [extra, other]:
        s.close()


def test_reload_drops_a_service_with_players_in_its_gate(chald, tmp_path):
    """A connection waiting in the gate of a service that a reload removes
    is refused when it speaks, and the daemon goes on."""
    conf = tmp_path / "c.conf"
    body = f"[service peer]\nlisten = 127.0.0.1\nport = 0\npool = 0\n" \
           f"pow = 300\ncommand = {prog('peer')}\n"
    other = f"[service other]\nlisten = 127.0.0.1\nport = 0\npool = 0\n" \
            f"command = {prog('peer')}\n"
    conf.write_text(body + other)
    c = chald("-c", conf, services=2)
    s = connect(c.ports["peer"])
    read_until(s, b"Solution? ")
    conf.write_text(other)
    c.send(signal.SIGHUP)
    c.wait_log(r"reload services=1")
    s.sendall(b"s.AAAA\n")
    assert recv_all(s) == b""
    c.wait_log(r"reject service=peer .*reason=shutdown")
    assert c.alive()
    with connect(c.ports["other"]) as o:
        assert recv_line(o).startswith(b"PEER 127.0.0.1 ")
