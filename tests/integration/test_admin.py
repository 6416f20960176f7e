"""The admin listener (admin = ADDR:PORT): /metrics, /healthz and /status,
what they show as players come, are refused and time out, how the listener
holds up against stalled and oversized clients while players are served,
and the built-in health checks. A real Prometheus scraping chald is in
test_prometheus.py (make check-prometheus)."""

import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (REJECT_LINE, connect, prog, recv_all, recv_line,
                      run_chald, stable_fd_count)

ADMIN_RE = re.compile(r"admin addr=\S+ port=(\d+)")
DEADLINE = 5.0          # ADMIN_DEADLINE_MS
MAX_CONNS = 32          # admin-max-conns, default


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def admin_port(c):
    return int(c.wait_log(ADMIN_RE).group(1))


def request(port, raw, timeout=5.0):
    """Sends raw bytes, returns everything until EOF."""
    with connect(port, timeout=timeout) as s:
        s.sendall(raw)
        return recv_all(s, timeout=timeout)


def get(port, path, method="GET"):
    """(status, headers dict, body bytes) of one request."""
    raw = request(port, f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
                  "User-Agent: test\r\n\r\n".encode())
    return parse_response(raw)


def parse_response(raw):
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, raw
    lines = head.decode().split("\r\n")
    version, status, _ = lines[0].split(" ", 2)
    assert version == "HTTP/1.1", lines[0]
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    assert int(headers["content-length"]) == len(body), raw
    assert headers["connection"] == "close"
    return int(status), headers, body


def metrics(port):
    status, headers, body = get(port, "/metrics")
    assert status == 200
    assert headers["content-type"] == \
        "text/plain; version=0.0.4; charset=utf-8"
    return body.decode()


def sample(text, series):
    """The value of one series ('name{labels}' exactly as chald prints
    it), or None."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def wait_sample(port, series, want, timeout=5.0):
    """Polls /metrics until series == want; returns the last text."""
    deadline = time.monotonic() + timeout
    while True:
        text = metrics(port)
        if sample(text, series) == want:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{series} is {sample(text, series)}, "
                                 f"not {want}, after {timeout} s:\n{text}")
        time.sleep(0.05)


def promtool_check(text):
    promtool = shutil.which("promtool")
    assert promtool, "promtool not installed (scripts/deps.sh test)"
    r = subprocess.run([promtool, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def svc(name, **keys):
    lines = [f"[service {name}]", "listen = 127.0.0.1", "port = 0"]
    lines += [f"{k.replace('_', '-')} = {v}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def write_conf(path, services, admin="127.0.0.1:0", extra=""):
    path.write_text(f"[global]\nadmin = {admin}\ngrace = 1s\n{extra}\n" +
                    "\n".join(services))
    return path


def start(chald, tmp_path, services, extra="", verbose=False, **kw):
    conf = write_conf(tmp_path / "chald.conf", services, extra=extra)
    args = ["-c", conf] + (["-v"] if verbose else [])
    c = chald(*args, services=len(services), **kw)
    return c, admin_port(c)


# ---------------------------------------------------------------------------
# the pages
# ---------------------------------------------------------------------------

def test_admin_is_off_by_default(chald):
    c = chald("-b", "127.0.0.1", "-p", "0", "--sandbox", "off", "--",
              prog("echo"))
    assert c.count_log(r"admin addr=") == 0
    out = run_chald(["-n", "-b", "127.0.0.1", "--", prog("echo")])
    assert "admin = off\n" in out.stdout


def test_admin_config_errors(tmp_path):
    for value, want in [("9100", "expected ADDR:PORT"),
                        ("::1:9100", "expected ADDR:PORT"),
                        ("localhost:9100", "expected ADDR:PORT"),
                        ("127.0.0.1:70000", "expected ADDR:PORT"),
                        ("127.0.0.1:", "expected ADDR:PORT")]:
        conf = write_conf(tmp_path / "bad.conf",
                          [svc("e", command=prog("echo"))], admin=value)
        r = run_chald(["-n", "-c", conf])
        assert r.returncode == 1
        assert f"bad.conf:2: admin: {want}" in r.stderr, r.stderr
    conf = write_conf(tmp_path / "ok.conf", [svc("e", command=prog("echo"))],
                      admin="[::1]:9100", extra="admin-max-conns = 5")
    r = run_chald(["-n", "-c", conf])
    assert r.returncode == 0, r.stderr
    assert "admin = [::1]:9100\nadmin-max-conns = 5\n" in r.stdout
    conf.write_text(conf.read_text().replace("= 5", "= 0"))
    r = run_chald(["-n", "-c", conf])
    assert "admin-max-conns: not a count (1-4096)" in r.stderr


def test_admin_port_taken_fails_at_start(chald, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        conf = write_conf(tmp_path / "c.conf",
                          [svc("e", command=prog("echo"), sandbox="off")],
                          admin=f"127.0.0.1:{port}")
        r = run_chald(["-f", "-c", conf])
        assert r.returncode == 1
        assert f"admin: bind 127.0.0.1:{port}: Address already in use" in \
            r.stderr


def test_pages(chald, tmp_path):
    c, port = start(chald, tmp_path, [svc("echo", command=prog("echo"),
                                          sandbox="off")])
    status, headers, body = get(port, "/healthz")
    assert (status, body) == (200, b"ok\n")
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["cache-control"] == "no-store"

    text = metrics(port)
    promtool_check(text)
    assert f'chald_build_info{{version="' in text
    assert sample(text, 'chald_service_listening{service="echo"}') == 1
    assert sample(text, "process_open_fds") > 3
    assert sample(text, "process_resident_memory_bytes") > 100000
    assert sample(text, "chald_admin_connections") == 1
    for reason in ("rate", "per-ip", "max-conns", "no-memory", "no-fds"):
        assert sample(text, f'chald_refused_total{{service="echo",'
                      f'reason="{reason}"}}') == 0

    status, headers, body = get(port, "/status")
    assert status == 200 and headers["content-type"] == "application/json"
    st = json.loads(body)
    assert st["pid"] == c.pid
    assert [s["name"] for s in st["services"]] == ["echo"]
    assert st["services"][0]["port"] == c.port
    assert st["services"][0]["listening"] is True
    assert st["services"][0]["health"] == {"result": "none"}
    assert st["sessions"] == [] and st["sessions_total"] == 0

    assert get(port, "/healthz?x=1")[0] == 200
    assert get(port, "/")[0] == 404
    assert get(port, "/metricsx")[0] == 404
    status, headers, _ = get(port, "/metrics", method="POST")
    assert status == 405 and headers["allow"] == "GET"
    assert get(port, "/metrics", method="HEAD")[0] == 405
    # the request count moved with every page served (this one is counted
    # once it is answered)
    assert sample(metrics(port), "chald_admin_requests_total") == 8


@pytest.mark.parametrize("raw,status", [
    (b"GET /metrics\r\n\r\n", 400),                    # HTTP/0.9
    (b"GET metrics HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400),
    (b"GET /\x00 HTTP/1.1\r\n\r\n", 400),
    (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"b" * 5000 + b"\r\n\r\n", 431),
])
def test_bad_requests(chald, tmp_path, raw, status):
    c, port = start(chald, tmp_path, [svc("echo", command=prog("echo"),
                                          sandbox="off")])
    got, _, body = parse_response(request(port, raw))
    assert got == status, body
    # and the listener still serves
    assert get(port, "/healthz")[0] == 200
    assert c.alive()


def test_counters_move(chald, tmp_path, jail):
    jailed = "false" if jail else "true"    # jail: [] for the jailed run
    sandbox = "on" if jailed == "true" else "off"
    c, port = start(chald, tmp_path, [
        svc("echo", command=prog("echo"), sandbox=sandbox),
        svc("hold", command=prog("sleeper"), sandbox=sandbox, per_ip=1,
            timeout="1s", pool=1)])
    ports = c.ports

    for _ in range(3):
        with connect(ports["echo"]) as s:
            assert recv_line(s) == b"hello\n"
            s.sendall(b"x\n")
            assert recv_line(s) == b"x\n"
    text = wait_sample(port, 'chald_sessions_ended_total{service="echo",'
                       'cause="exit"}', 3)
    assert sample(text, 'chald_accepted_total{service="echo"}') == 3
    assert sample(text, 'chald_sessions_started_total{service="echo"}') == 3
    assert sample(text, 'chald_session_duration_seconds_count'
                  '{service="echo"}') == 3
    assert sample(text, f'chald_accept_to_exec_seconds_count'
                  f'{{service="echo",jailed="{jailed}"}}') == 3
    assert sample(text, f'chald_accept_to_exec_seconds_bucket'
                  f'{{service="echo",jailed="{jailed}",le="+Inf"}}') == 3
    other = "true" if jailed == "false" else "false"
    assert sample(text, f'chald_accept_to_exec_seconds_count'
                  f'{{service="echo",jailed="{other}"}}') == 0

    # one session held, the next one refused by per-ip, then the held one
    # times out
    held = connect(ports["hold"])
    try:
        assert recv_line(held) == b"ready\n"
        text = wait_sample(port, 'chald_sessions{service="hold"}', 1)
        st = json.loads(get(port, "/status")[2])
        sess = [s for s in st["sessions"] if s["service"] == "hold"]
        assert len(sess) == 1 and sess[0]["jailed"] is (jailed == "true")
        assert sess[0]["port"] == held.getsockname()[1]
        with connect(ports["hold"]) as s:
            assert recv_all(s) == REJECT_LINE
        text = wait_sample(port, 'chald_refused_total{service="hold",'
                           'reason="per-ip"}', 1)
        assert sample(text, 'chald_accepted_total{service="hold"}') == 2
        text = wait_sample(port, 'chald_sessions_ended_total{service="hold",'
                           'cause="timeout"}', 1)
        assert sample(text, 'chald_sessions{service="hold"}') == 0
        assert sample(text, 'chald_session_duration_seconds_bucket'
                      '{service="hold",le="0.5"}') == 0
        assert sample(text, 'chald_session_duration_seconds_bucket'
                      '{service="hold",le="5"}') == 1
    finally:
        held.close()
    if jailed == "true":
        wait_sample(port, 'chald_pool_ready_jails{service="hold"}', 1)
    promtool_check(metrics(port))


# ---------------------------------------------------------------------------
# the listener cannot hurt the players
# ---------------------------------------------------------------------------

def test_stalled_admin_conns_do_not_stall_players(chald, tmp_path):
    """200 admin connections send half a request and stall: 32 (the cap)
    are held until their deadline and then answered 408, the others are
    answered 503 and closed at once; players are served all the while."""
    c, port = start(chald, tmp_path, [svc("echo", command=prog("echo"),
                                          sandbox="off", per_ip=0)])
    stalled = {}
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()
    got = {}
    players = 0
    try:
        for _ in range(200):
            s = connect(port, timeout=10)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-")
            s.setblocking(False)
            stalled[s] = b""
            sel.register(s, selectors.EVENT_READ)
        # until every admin connection is closed: players meanwhile
        while len(got) < 200 and time.monotonic() - t0 < DEADLINE + 5:
            with connect(c.port) as p:
                assert recv_line(p) == b"hello\n"
                p.sendall(b"player %d\n" % players)
                assert recv_line(p) == b"player %d\n" % players
            players += 1
            for key, _ in sel.select(timeout=0.05):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except ConnectionResetError:
                    data = b""
                stalled[s] += data
                if not data:
                    got[s] = (time.monotonic() - t0, stalled[s])
                    sel.unregister(s)
    finally:
        for s in stalled:
            s.close()
    assert len(got) == 200, f"{200 - len(got)} admin connections still open"
    busy = [t for t, data in got.values() if data.startswith(b"HTTP/1.1 503 ")
            and data.endswith(b"too many admin connections\n")]
    late = [t for t, data in got.values() if data.startswith(b"HTTP/1.1 408 ")]
    assert len(busy) == 200 - MAX_CONNS and len(late) == MAX_CONNS, \
        sorted(got.values())[:3]
    # the refused ones at once, the held ones at their deadline
    assert max(busy) < DEADLINE - 1, max(busy)
    assert min(late) > DEADLINE - 1, min(late)
    assert players >= 10
    text = metrics(port)
    assert sample(text, "chald_admin_refused_total") == 200 - MAX_CONNS
    assert sample(text, "chald_admin_timeouts_total") == MAX_CONNS
    assert sample(text, "chald_admin_connections") == 1
    assert sample(text, 'chald_accepted_total{service="echo"}') == players


def test_slow_client_is_cut_at_the_deadline(chald, tmp_path):
    """A client that trickles a byte every 0.3 s never finishes: it is
    closed 5 s after its accept, and players are served meanwhile."""
    c, port = start(chald, tmp_path, [svc("echo", command=prog("echo"),
                                          sandbox="off")])
    s = connect(port, timeout=10)
    t0 = time.monotonic()
    got = b""
    try:
        for ch in b"GET /metrics HTTP/1.1\r\nX-Slow: " + b"a" * 100:
            try:
                s.send(bytes([ch]))
            except (BrokenPipeError, ConnectionResetError):
                break
            s.settimeout(0.3)
            try:
                chunk = s.recv(4096)
                got += chunk
                if not chunk:
                    break
            except socket.timeout:
                pass
            if time.monotonic() - t0 > DEADLINE + 3:
                break
            with connect(c.port) as p:
                assert recv_line(p) == b"hello\n"
    finally:
        s.close()
    elapsed = time.monotonic() - t0
    assert got.startswith(b"HTTP/1.1 408 "), got
    assert DEADLINE - 0.5 < elapsed < DEADLINE + 3, elapsed


def test_big_response_to_a_slow_reader(chald, tmp_path):
    """/metrics of 60 services is larger than the sockets' buffers: it is
    written as the client reads, players are served while the client
    does not read, and all of it arrives."""
    c, port = start(chald, tmp_path, [
        svc(f"echo{i}", command=prog("echo"), sandbox="off")
        for i in range(60)])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
        first = s.recv(1024)
        assert first.startswith(b"HTTP/1.1 200 ")
        # not reading: the rest waits in the daemon, not the daemon on it
        for i in range(10):
            with connect(c.ports[f"echo{i}"]) as player:
                assert recv_line(player) == b"hello\n"
        raw = first + recv_all(s, timeout=4)
    finally:
        s.close()
    status, _, body = parse_response(raw)
    assert status == 200 and len(body) > 200000, len(body)
    text = body.decode()
    promtool_check(text)
    # the page was made when it was asked for, before the players came
    assert sample(text, 'chald_accepted_total{service="echo3"}') == 0
    assert sample(metrics(port), 'chald_accepted_total{service="echo3"}') \
        == 1


# ---------------------------------------------------------------------------
# health checks
# ---------------------------------------------------------------------------

CHECKER = """#!/usr/bin/python3
# A solver for the echo challenge: exit 0 when it answers as it should.
import os, socket, sys
host, port = os.environ["CHALD_HOST"], int(os.environ["CHALD_PORT"])
print("uid=%d service=%s host=%s port=%d" % (os.getuid(),
      os.environ["CHALD_SERVICE"], host, port), flush=True)
if os.path.exists(os.path.join(os.path.dirname(__file__), "broken")):
    sys.exit(3)
with socket.create_connection((host, port), timeout=5) as s:
    f = s.makefile("rwb")
    assert f.readline() == b"hello\\n"
    f.write(b"health\\n"); f.flush()
    sys.exit(0 if f.readline() == b"health\\n" else 1)
"""


@pytest.fixture
def hostdir():
    """A directory every user can enter, for the checks' programs: they run
    on the host as nobody, and pytest's tmp_path is below a 0700 one."""
    d = tempfile.mkdtemp(prefix="chald-hc-", dir="/tmp")
    os.chmod(d, 0o755)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def script(d, name, text):
    path = d / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def healthz(port):
    status, _, body = get(port, "/healthz")
    return status, body.decode()


def wait_healthz(port, want_status, timeout=10.0, line=None):
    """Polls /healthz until it answers want_status (and has `line`)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = healthz(port)
        if status == want_status and (line is None or line in body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"/healthz {status} {body!r}, not "
                                 f"{want_status}")
        time.sleep(0.05)


def test_healthcheck_pass_and_fail(chald, tmp_path, hostdir):
    check = script(hostdir, "check.py", CHECKER)
    # "bad" runs a copy of the same solver that finds a "broken" file next
    # to it
    broken = hostdir / "broken-dir"
    broken.mkdir()
    broken.chmod(0o755)
    (broken / "broken").write_text("")
    shutil.copy(check, broken / "check.py")
    c, port = start(chald, tmp_path, [
        svc("good", command=prog("echo"), sandbox="off",
            healthcheck=check, healthcheck_interval="300ms"),
        svc("bad", command=prog("echo"), sandbox="off",
            healthcheck=f"{broken / 'check.py'} --against bad",
            healthcheck_interval="1s"),
        svc("plain", command=prog("echo"), sandbox="off")])
    ports = c.ports

    m = c.wait_log(r"healthcheck service=good ok=1 secs=([\d.]+)", timeout=10)
    assert float(m.group(1)) < 10
    m = c.wait_log(r"healthcheck service=bad ok=0 secs=[\d.]+ status=exit:3 "
                   r'output="uid=(\d+) service=bad host=127\.0\.0\.1 '
                   r'port=(\d+)\\n"', timeout=10)
    assert int(m.group(1)) == 65534          # nobody, not root
    assert int(m.group(2)) == ports["bad"]
    body = wait_healthz(port, 503)
    assert body == "bad: health check failed: exit:3\n", body

    text = wait_sample(port, 'chald_healthcheck_up{service="good"}', 1)
    assert sample(text, 'chald_healthcheck_up{service="bad"}') == 0
    assert sample(text, 'chald_healthcheck_up{service="plain"}') is None
    assert sample(text, 'chald_healthcheck_runs_total{service="bad",'
                  'result="fail"}') >= 1
    assert sample(text, 'chald_healthcheck_duration_seconds'
                  '{service="good"}') > 0
    promtool_check(text)
    st = json.loads(get(port, "/status")[2])
    health = {s["name"]: s["health"] for s in st["services"]}
    assert health["good"]["result"] == "passed"
    assert health["bad"]["result"] == "failed"
    assert health["bad"]["why"] == "exit:3"
    assert health["plain"] == {"result": "none"}

    # the checks are re-run: "good" every 300 ms, and its sessions are
    # real sessions of the service
    wait_sample(port, 'chald_healthcheck_runs_total{service="good",'
                'result="pass"}', 4, timeout=10)
    assert sample(metrics(port), 'chald_accepted_total{service="good"}') >= 4

    # the service breaks: the next check says so, then it recovers
    (hostdir / "broken").write_text("")
    wait_healthz(port, 503, line="good: health check failed: exit:3\n")
    (hostdir / "broken").unlink()
    (broken / "broken").unlink()
    assert wait_healthz(port, 200) == "ok\n"


def test_healthcheck_timeout_kills_its_group(chald, tmp_path, hostdir):
    hang = script(hostdir, "hang.sh",
                  "#!/bin/sh\nsleep 300 &\necho started\nsleep 301\n")
    c, port = start(chald, tmp_path, [
        svc("echo", command=prog("echo"), sandbox="off", healthcheck=hang,
            healthcheck_timeout="1s", healthcheck_interval="1h")])
    body = wait_healthz(port, 503)
    assert body == "echo: health check pending\n"
    m = c.wait_log(r"healthcheck service=echo ok=0 secs=([\d.]+) "
                   r'status=timeout output="started\\n"', timeout=10)
    assert 0.9 < float(m.group(1)) < 3
    assert healthz(port) == (503, "echo: health check failed: timeout\n")
    # the check and what it left in the background are gone
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        left = subprocess.run(["pgrep", "-f", "sleep 30[01]"],
                              capture_output=True, text=True).stdout.split()
        left = [p for p in left if _ppid_chain_has(int(p), c.pid)]
        if not left:
            break
        time.sleep(0.05)
    assert not left


def _ppid_chain_has(pid, ancestor):
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except FileNotFoundError:
        return False
    # reparented to us (the subreaper) or still under chald: both count
    ppid = int(data[data.rindex(")") + 2:].split()[1])
    return ppid in (ancestor, os.getpid()) or (ppid > 1 and
                                               _ppid_chain_has(ppid, ancestor))


def test_healthchecks_are_not_reaped_as_sessions(chald, tmp_path, hostdir):
    """Checks every 100 ms while players come and go: every check gets its
    own verdict, no child is reaped as an unknown one, and the sessions'
    counts stay right."""
    ok = script(hostdir, "ok.sh", "#!/bin/sh\nexit 0\n")
    c, port = start(chald, tmp_path, [
        svc("echo", command=prog("echo"), sandbox="off", per_ip=0,
            healthcheck=ok, healthcheck_interval="100ms")],
        verbose=True)
    n, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < 2:
        with connect(c.port) as s:
            assert recv_line(s) == b"hello\n"
            s.sendall(b"%d\n" % n)
            assert recv_line(s) == b"%d\n" % n
        n += 1
    wait_sample(port, 'chald_sessions_ended_total{service="echo",'
                'cause="exit"}', n)
    c.stop()
    log = c.log_text()
    started = len(re.findall(r"healthcheck-start service=echo", log))
    done = len(re.findall(r"healthcheck service=echo ok=1", log))
    assert started >= 10, log[-3000:]
    assert done in (started, started - 1), (started, done)
    assert "ok=0" not in log
    assert re.search(r"reap pid=\d+ status=\S+ session=no", log) is None
    assert len(re.findall(r"end service=echo .* cause=exit", log)) == n


def test_healthcheck_config(tmp_path, pubdir):
    ok = script(pubdir, "ok.sh", "#!/bin/sh\nexit 0\n")
    conf = write_conf(tmp_path / "c.conf", [
        svc("e", command=prog("echo"), healthcheck=f"{ok} a 'b c'")])
    r = run_chald(["-n", "-c", conf])
    assert r.returncode == 0, r.stderr
    assert (f"healthcheck = {ok} a 'b c'\nhealthcheck-interval = 30s\n"
            "healthcheck-timeout = 20s\nhealthcheck-user = nobody\n") in \
        r.stdout
    for key, value, want in [
            ("healthcheck", str(pubdir / "missing"),
             f"healthcheck: program {pubdir / 'missing'}: No such file"),
            ("healthcheck-user", "root", "healthcheck-user: root is root"),
            ("healthcheck-user", "no-such-user",
             'healthcheck-user: no user "no-such-user"'),
            ("healthcheck-interval", "0", "not a duration above 0"),
            ("healthcheck-timeout", "soon", "not a duration above 0")]:
        keys = {"command": prog("echo"), "healthcheck": ok}
        keys[key.replace("-", "_")] = value
        conf = write_conf(tmp_path / "c.conf", [svc("e", **keys)])
        r = run_chald(["-n", "-c", conf])
        assert r.returncode == 1 and want in r.stderr, (key, r.stderr)


def test_healthcheck_without_pidfd_is_reaped_by_the_sweep(chald, tmp_path,
                                                          hostdir):
    """With no fd left for a pidfd, a check is cloned without one and only
    the SIGCHLD sweep sees it exit: the sweep must hand it to the health
    checks rather than reap it as an unknown child (which would leave the
    check pending for ever)."""
    ok = script(hostdir, "ok.sh", "#!/bin/sh\nsleep 0.2\nexit 0\n")
    services = [svc("echo", command=prog("echo"), sandbox="off",
                    healthcheck=ok, healthcheck_interval="1h")]
    # how many fds the daemon holds once idle, its check done
    c, port = start(chald, tmp_path, services)
    c.wait_log(r"healthcheck service=echo ok=1")
    base = stable_fd_count(c.pid)
    c.stop()
    # again, with room for the check's pipe but not for its pidfd
    conf = write_conf(tmp_path / "chald.conf", services)
    c = chald("-c", conf, "-v", start=False, name="limited")
    c.args = ["prlimit", f"--nofile={base + 2}", "--"] + c.args
    c.start()
    m = c.wait_log(r"healthcheck-start service=echo pid=(\d+) pidfd=no")
    pid = m.group(1)
    c.wait_log(r"healthcheck service=echo ok=1 secs=", timeout=10)
    assert re.search(rf"reap pid={pid} status=\S+ session=no",
                     c.log_text()) is None
    # and the fds it used are back: the admin listener answers
    port = admin_port(c)
    assert wait_healthz(port, 200) == "ok\n"


def test_healthz_during_shutdown(chald, tmp_path):
    """From the SIGTERM to the exit, /healthz is 503: a load balancer sends
    new players elsewhere while sessions end."""
    c, port = start(chald, tmp_path, [
        svc("hold", command=prog("stubborn"), sandbox="off")],
        extra="grace = 2s")
    with connect(c.port) as s:
        assert recv_line(s) == b"ready\n"
        assert healthz(port) == (200, "ok\n")
        c.send(signal.SIGTERM)
        c.wait_log(r"shutdown signal=TERM sessions=1")
        status, body = healthz(port)
        assert status == 503
        assert body == "shutting down\nhold: not listening\n", body
        assert sample(metrics(port), "chald_shutting_down") == 1
        assert c.wait(timeout=10) == 0


def test_healthcheck_that_cannot_start(chald, tmp_path, pubdir):
    """A check that nobody may reach (below pytest's 0700 tmp_path) fails
    at its chdir, and says so, instead of passing or hanging."""
    ok = script(pubdir, "ok.sh", "#!/bin/sh\nexit 0\n")
    c, port = start(chald, tmp_path, [
        svc("echo", command=prog("echo"), sandbox="off", healthcheck=ok,
            healthcheck_interval="1h")])
    c.wait_log(r"healthcheck service=echo ok=0 secs=0\.000 step=chdir "
               r'error="Permission denied"')
    assert healthz(port) == (503, "echo: health check failed: chdir: "
                             "Permission denied\n")
    assert c.alive()


POW_CHECKER = """#!/usr/bin/python3
# Behind a balancer and a proof of work: the PROXY header, the bypass
# solution and the challenge's first line all in one write; each must go
# where it belongs (the header to the gate, the solution to the gate, the
# line to the challenge).
import os, socket, sys
host, port = os.environ["CHALD_HOST"], int(os.environ["CHALD_PORT"])
secret = os.environ["CHALD_POW_BYPASS"].encode()
hdr = b"PROXY TCP4 198.51.100.9 127.0.0.1 4567 %d\\r\\n" % port
with socket.create_connection((host, port), timeout=5) as s:
    s.sendall(hdr + secret + b"\\nfirst line\\n")
    f = s.makefile("rb")
    data = b""
    while b"GOT" not in data:
        line = f.readline()
        if not line:
            break
        data += line
    print(data.decode(errors="replace").replace("\\n", "|"), flush=True)
    ok = b"Solution? PEER 198.51.100.9 4567\\nGOT first line\\n" in data
    sys.exit(0 if ok else 1)
"""


def test_healthcheck_bypasses_the_pow_in_one_write(chald, tmp_path, hostdir):
    """The health check of a service behind a balancer with a proof of
    work gets a secret that the gate takes as the solution; sent with the
    header and the first input line in one write, each arrives where it
    belongs. A player who sends a wrong secret is refused."""
    check = script(hostdir, "powcheck.py", POW_CHECKER)
    c, port = start(chald, tmp_path, [
        svc("peer", command=prog("peer"), sandbox="off", pow=3000,
            proxy_from="127.0.0.1", healthcheck=check,
            healthcheck_interval="300ms")])
    c.wait_log(r"healthcheck service=peer ok=1 ", timeout=15)
    assert re.search(r"accept service=peer ip=198\.51\.100\.9 port=4567 "
                     r"via=127\.0\.0\.1 ", c.log_text())
    # the secret is the checker's alone: a guess is a wrong solution
    with socket.create_connection(("127.0.0.1", c.ports["peer"]), 5) as s:
        s.sendall(b"PROXY TCP4 198.51.100.10 127.0.0.1 4568 1\r\n" +
                  b"0" * 64 + b"\n")
        s.settimeout(5)
        got = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    assert got.endswith(b"Proof-of-work fail\n"), got
    status, _, body = get(port, "/metrics")
    text = body.decode()
    assert re.search(r'chald_pow_failed_total\{service="peer"\} 1\b', text)
    assert re.search(r'chald_refused_total\{service="peer",'
                     r'reason="pow-failed"\} 1\b', text), text[-2000:]
