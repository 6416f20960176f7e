"""Startup errors: broken configuration files, bad programs, a busy port;
and `-n` on the example configuration."""

import os
import re
import socket

import pytest

from conftest import CONFIGS, ROOT, prog, run_chald

CASES = sorted(p.stem for p in CONFIGS.glob("*.conf"))


def expected_err(name):
    text = (CONFIGS / f"{name}.err").read_text()
    return text.replace("{DIR}", os.path.realpath(CONFIGS))


@pytest.mark.parametrize("name", CASES)
def test_broken_config(name):
    r = run_chald(["-n", "-c", CONFIGS / f"{name}.conf"])
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stderr == expected_err(name)
    assert r.stdout == ""


@pytest.mark.parametrize("name", ["unknown_key", "bad_port",
                                  "missing_command"])
def test_broken_config_without_check(name):
    """Starting for real (-f) reports the same error, listening nowhere."""
    r = run_chald(["-f", "-c", CONFIGS / f"{name}.conf"])
    assert r.returncode == 1
    assert r.stderr == expected_err(name)


def test_every_case_has_an_err_file():
    for name in CASES:
        assert (CONFIGS / f"{name}.err").is_file(), name
    assert len(CASES) >= 10


EXAMPLE_KEYS = {
    "global": ["pidfile", "log", "log-format", "grace"],
    "service": ["listen", "port", "backlog", "command", "workdir", "env",
                "stderr", "timeout", "max-conns", "per-ip", "ipv4-prefix",
                "ipv6-prefix", "rate", "burst", "reject-message-per-ip",
                "reject-message-max-conns", "reject-message-rate"],
}


def example_keys(path):
    """{section: {keys set there}} of a hand-written config file."""
    out, cur = {}, None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            cur = line.strip("[]")
            out[cur] = set()
        elif "=" in line:
            out[cur].add(line.split("=", 1)[0].strip())
    return out


def parse_ini(text):
    """Normalized config -> {section: [(key, value)]} in order."""
    out, cur = {}, None
    for line in text.splitlines():
        if not line.strip() or line[0] in "#;":
            continue
        m = re.fullmatch(r"\[(.+)\]", line)
        if m:
            cur = m.group(1)
            assert cur not in out, cur
            out[cur] = []
            continue
        k, sep, v = line.partition(" = ")
        assert sep and cur is not None, line
        out[cur].append((k, v))
    return out


def test_check_example_prints_every_key():
    example = ROOT / "examples" / "chald.conf"
    r = run_chald(["-n", "-c", example])
    assert r.returncode == 0, r.stderr
    assert r.stderr == "chald: configuration OK\n"
    conf = parse_ini(r.stdout)
    assert list(conf) == ["global", "service guess", "service echo"]
    # every key, defaults filled in (newer keys may come on top)
    assert set(EXAMPLE_KEYS["global"]) <= {k for k, _ in conf["global"]}
    for name in ("service guess", "service echo"):
        keys = {k for k, _ in conf[name]}
        assert set(EXAMPLE_KEYS["service"]) - {"env"} <= keys, (name, keys)
    # and every key the example sets, in the section that sets it
    for section, keys in example_keys(example).items():
        assert keys <= {k for k, _ in conf[section]}, (section, keys)
    g = dict(conf["service guess"])
    e = dict(conf["service echo"])
    ex = os.path.realpath(ROOT / "examples")
    assert g["command"] == f"{ex}/guess/guess"
    assert g["workdir"] == f"{ex}/guess"
    assert g["env"] == "GREETING=hello"
    assert (g["port"], g["listen"], g["timeout"]) == ("1337", "127.0.0.1",
                                                       "60s")
    assert (g["rate"], g["burst"], g["per-ip"]) == ("10/s", "20", "8")
    assert e["command"] == f"{ex}/echo/echo.sh"
    assert e["workdir"] == f"{ex}/echo"        # the script's directory
    assert (e["port"], e["timeout"], e["per-ip"]) == ("1338", "30s", "4")
    assert "env" not in e


def test_check_output_is_a_valid_config(tmp_path):
    """What -n prints reads back to the same configuration."""
    example = ROOT / "examples" / "chald.conf"
    first = run_chald(["-n", "-c", example])
    assert first.returncode == 0, first.stderr
    again = tmp_path / "normalized.conf"
    again.write_text(first.stdout)
    second = run_chald(["-n", "-c", again])
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout


def test_check_command_line_service():
    r = run_chald(["-n", "-b", "127.0.0.1", "-p", "4000", "--timeout", "90s",
                   "--env", "A=1", "--", prog("echo"), "x y"])
    assert r.returncode == 0, r.stderr
    conf = parse_ini(r.stdout)
    svc = dict(conf["service echo"])
    assert svc["command"] == f"{os.path.realpath(prog('echo'))} 'x y'"
    assert (svc["listen"], svc["port"], svc["timeout"], svc["env"]) == (
        "127.0.0.1", "4000", "90s", "A=1")


def test_missing_program():
    r = run_chald(["-f", "-b", "127.0.0.1", "-p", "0", "--",
                   "/nonexistent/chald-challenge"])
    assert r.returncode == 1
    assert r.stderr == ("chald: command line: command: program "
                        "/nonexistent/chald-challenge: No such file or "
                        "directory\n")


def test_program_not_executable(tmp_path):
    p = tmp_path / "chal"
    p.write_text("#!/bin/sh\necho hi\n")
    p.chmod(0o644)
    r = run_chald(["-f", "-b", "127.0.0.1", "-p", "0", "--", p])
    assert r.returncode == 1
    assert r.stderr == f"chald: command line: command: program {p}: not " \
                       "executable\n"


def test_bad_command_line_value():
    r = run_chald(["-f", "-b", "127.0.0.1", "-p", "0", "--timeout", "soon",
                   "--", prog("echo")])
    assert r.returncode == 1
    assert r.stderr == ('chald: --timeout: not a duration (e.g. 90s, 2m, 0 '
                        'for none): "soon"\n')


def test_nothing_to_serve():
    r = run_chald(["-f"])
    assert r.returncode == 2
    assert "nothing to serve" in r.stderr


def test_port_in_use():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = run_chald(["-f", "-b", "127.0.0.1", "-p", port, "--",
                       prog("echo")])
    assert r.returncode == 1
    # (log lines of the startup may come first)
    assert r.stderr.splitlines()[-1] == (
        f"chald: service echo: bind 127.0.0.1:{port}: Address already in use")


def test_port_in_use_ipv6(ipv6):
    with socket.socket(socket.AF_INET6) as busy:
        busy.bind(("::1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = run_chald(["-f", "-b", "::1", "-p", port, "--", prog("echo")])
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == (
        f"chald: service echo: bind [::1]:{port}: Address already in use")


def test_directory_as_config(tmp_path):
    r = run_chald(["-n", "-c", tmp_path])
    assert r.returncode == 1
    assert r.stderr == (f"chald: {os.path.realpath(tmp_path)}: is a "
                        "directory, not a configuration file\n")


def test_unit_words_and_round_trip(tmp_path):
    """rate and durations take the same unit words (issue 11), and what -n
    prints reads back as the same configuration."""
    conf = tmp_path / "c.conf"
    conf.write_text(f"[service a]\ncommand = {prog('echo')} 'x\v'\n"
                    "rate = 10/min\ntimeout = 2min\ncpu-time = 1hour\n"
                    "cpu = 33.3%\n")
    first = run_chald(["-n", "-c", conf])
    assert first.returncode == 0, first.stderr
    # (str.splitlines() would split at the \v too)
    svc = dict(line.split(" = ", 1) for line in first.stdout.split("\n")
               if " = " in line)
    assert (svc["rate"], svc["timeout"], svc["cpu-time"], svc["cpu"]) == (
        "10/m", "120s", "3600s", "33.3%")
    assert svc["command"].endswith("'x\v'")
    again = tmp_path / "again.conf"
    again.write_text(first.stdout)
    second = run_chald(["-n", "-c", again])
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
