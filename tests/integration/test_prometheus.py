"""A real Prometheus (Debian's prometheus) on loopback, from a generated
config, scrapes chald's admin listener; the test asks its HTTP API until
chald's samples are there, then sees the counters move as the test's
players connect, are refused and time out. About 10 s here, most of it
Prometheus starting; "make check TESTS='-m prometheus'" runs it alone."""

import json
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import (REJECT_LINE, connect, free_port, popen, prog, recv_all,
                      recv_line)
from test_admin import metrics, promtool_check, start, svc

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(120)]

PROMETHEUS = shutil.which("prometheus")


@pytest.fixture
def prometheus(tmp_path):
    """Factory: prometheus(admin_port) -> the API's base URL, with a
    Prometheus scraping chald every 500 ms; stopped at teardown."""
    assert PROMETHEUS, "prometheus not installed (scripts/deps.sh test)"
    procs = []

    def run(target):
        web = free_port()
        conf = tmp_path / "prometheus.yml"
        conf.write_text(f"""global:
  scrape_interval: 500ms
  scrape_timeout: 500ms
  evaluation_interval: 1m
scrape_configs:
  - job_name: chald
    static_configs:
      - targets: ['127.0.0.1:{target}']
""")
        log = open(tmp_path / "prometheus.log", "wb")
        procs.append(popen([PROMETHEUS, f"--config.file={conf}",
                            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                            f"--web.listen-address=127.0.0.1:{web}",
                            "--log.level=warn"],
                           stdout=log, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL))
        log.close()
        return f"http://127.0.0.1:{web}"

    yield run
    for p in procs:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def api(base, path, **params):
    url = f"{base}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as r:
        out = json.load(r)
    assert out["status"] == "success", out
    return out["data"]


def query(base, expr):
    """{frozenset(labels): value} of an instant query; {} while Prometheus
    is not up yet or has no sample."""
    try:
        data = api(base, "query", query=expr)
    except OSError:
        return {}
    return {frozenset((k, v) for k, v in r["metric"].items()
                      if k not in ("instance", "job")): float(r["value"][1])
            for r in data["result"]}


def wait_value(base, expr, want, timeout=30.0):
    """Polls until the query's single result is `want`."""
    deadline = time.monotonic() + timeout
    got = {}
    while time.monotonic() < deadline:
        got = query(base, expr)
        if len(got) == 1 and list(got.values())[0] == want:
            return
        time.sleep(0.2)
    raise AssertionError(f"{expr}: {got}, not {want}")


def test_prometheus_scrapes_chald(chald, tmp_path, prometheus):
    c, port = start(chald, tmp_path, [
        svc("echo", command=prog("echo"), sandbox="off"),
        svc("hold", command=prog("sleeper"), sandbox="off", per_ip=1,
            timeout="1s")])
    promtool_check(metrics(port))
    base = prometheus(port)

    # chald's samples appear once Prometheus is up and has scraped it
    wait_value(base, 'chald_build_info', 1, timeout=60)
    info = query(base, "chald_build_info")
    assert frozenset({("__name__", "chald_build_info"),
                      ("version", "0.1.0")}) in info
    wait_value(base, 'up{job="chald"}', 1)
    wait_value(base, 'chald_accepted_total{service="echo"}', 0)
    targets = api(base, "targets")["activeTargets"]
    assert [(t["health"], t["lastError"]) for t in targets] == [("up", "")]

    # players: three served, one held and one refused, the held one
    # timing out
    ports = c.ports
    for i in range(3):
        with connect(ports["echo"]) as s:
            assert recv_line(s) == b"hello\n"
            s.sendall(b"%d\n" % i)
            assert recv_line(s) == b"%d\n" % i
    held = connect(ports["hold"])
    try:
        assert recv_line(held) == b"ready\n"
        with connect(ports["hold"]) as s:
            assert recv_all(s) == REJECT_LINE
        wait_value(base, 'chald_refused_total{service="hold",'
                   'reason="per-ip"}', 1)
        wait_value(base, 'chald_sessions_ended_total{service="hold",'
                   'cause="timeout"}', 1)
    finally:
        held.close()
    wait_value(base, 'chald_accepted_total{service="echo"}', 3)
    wait_value(base, 'chald_sessions_ended_total{service="echo",'
               'cause="exit"}', 3)
    wait_value(base, 'chald_accepted_total{service="hold"}', 2)
    wait_value(base, 'chald_sessions{service="hold"}', 0)
    wait_value(base, 'chald_session_duration_seconds_count{service="hold"}',
               1)
    wait_value(base, 'chald_accept_to_exec_seconds_count{service="echo",'
               'jailed="false"}', 3)
    # and PromQL reads the histogram: the median session of "hold" was
    # between 0.5 s and 5 s (its 1 s timeout)
    q = query(base, 'histogram_quantile(0.5, chald_session_duration_seconds'
              '_bucket{service="hold"})')
    assert len(q) == 1 and 0.5 <= list(q.values())[0] <= 5, q
