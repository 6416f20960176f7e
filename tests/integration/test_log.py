"""Log injection (issue 13 class 5): a challenge with `stderr = log` writes
hostile bytes, and chald runs from a config file whose path is hostile too.
Every line of the log, text or JSON, must be valid UTF-8 with no control
characters, every JSON line must parse, and each value must come back as
what was written (bytes that are not UTF-8: as U+FFFD in JSON)."""

import codecs
import json
import os
import re

import pytest

from conftest import prog, recv_line

# Control characters a log line must not hold: C0, DEL, C1, the line and
# paragraph separators, the bidi controls (see LOGGING in chald(8)).
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e"
                    "\u2066-\u2069]")

HOSTILE = [
    b"\x1b[2J\x1b[1;1Hfake prompt$ ",       # ESC: clear the screen
    b"\x1b]0;owned\x07",                     # set the title, BEL
    b"abc\b\b\bxyz",                         # backspaces over text
    b"\x01\x02\x03\x7f",
    b"tab\there\x0bvt\x0cff\rcr",
    b"\xc2\x9b31m",                          # C1 CSI (valid UTF-8)
    b"\xc2\x85next",                         # C1 NEL
    b"\xff\xfe\xfd",                         # not UTF-8
    b"\xc0\xaf",                             # overlong '/'
    b"\xed\xa0\x80",                         # a surrogate
    b"cut \xe2\x82",                         # a character cut short
    b"user \xe2\x80\xaetxt.exe",             # bidi override
    b"a\xe2\x80\xa8b",                       # line separator
    b'x" injected=1 y="',                    # a fake key
    b'\\" \\\\ \\x41 \\u0041',               # escapes, literally
    b"caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x8f\x81",  # fine UTF-8
]
# Each a single write, then the next once the daemon logged it.
LONG = [
    (b"\x01", 4000),                         # escapes to 4 bytes each
    ("\u2615".encode(), 1364),               # 3-byte characters, cut
                                             # at the line's limit
    (b"\xff", 4000),                         # not UTF-8 at all
]


def per_byte(exc):
    """Decoding errors: one U+FFFD for each byte, as chald does."""
    return ("\ufffd", exc.start + 1)


codecs.register_error("chald-per-byte", per_byte)


def as_json_text(b):
    return b.decode("utf-8", "chald-per-byte")


def untext(v):
    """A text-format value back to its bytes (chald(8) LOGGING)."""
    if not v.startswith('"'):
        assert v and not re.search(r'[\s"=\\]', v), v
        return v.encode()
    assert len(v) >= 2 and v.endswith('"'), v
    s, out, i = v[1:-1], bytearray(), 0
    simple = {'"': b'"', "\\": b"\\", "n": b"\n", "r": b"\r", "t": b"\t"}
    while i < len(s):
        c = s[i]
        assert c != '"', f"unescaped quote in {v!r}"
        if c != "\\":
            out += c.encode()
            i += 1
        elif s[i + 1] in simple:
            out += simple[s[i + 1]]
            i += 2
        elif s[i + 1] == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif s[i + 1] == "u":
            out += chr(int(s[i + 2:i + 6], 16)).encode()
            i += 6
        else:
            raise AssertionError(f"bad escape at {i} in {v!r}")
    return bytes(out)


def batch_arg(b):
    return b.hex()


def check_lines(raw, fmt):
    """Every line clean; returns them parsed (dicts for JSON, str else)."""
    assert raw.endswith(b"\n")
    out, bad = [], []
    for n, line in enumerate(raw[:-1].split(b"\n"), 1):
        try:
            text = line.decode("utf-8")      # strict
        except UnicodeDecodeError as e:
            bad.append(f"{n}: not UTF-8 ({e}): {line!r}")
            continue
        if UNSAFE.search(text):
            bad.append(f"{n}: control character: {line!r}")
            continue
        if fmt == "json":
            try:
                obj = json.loads(text)
                assert isinstance(obj, dict)
            except (ValueError, AssertionError) as e:
                bad.append(f"{n}: not a JSON object ({e}): {text}")
                continue
            out.append(obj)
        else:
            out.append(text)
    assert not bad, "bad log lines:\n" + "\n".join(bad)
    return out


def value_of(entry, key, fmt):
    """The value of key in a parsed line: str (JSON) or bytes (text)."""
    if fmt == "json":
        return entry.get(key)
    m = re.search(r" %s=(\"(?:[^\"\\]|\\.)*\"|\S*)" % re.escape(key), entry)
    return untext(m.group(1)) if m else None


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_hostile_values_never_reach_the_log_raw(chald, tmp_path, fmt):
    path = os.fsencode(tmp_path) + b"/conf \x1b[31m\xff\xe2\x80\xae.conf"
    batches = [b"".join(h + b"\n" for h in HOSTILE)]
    batches += [unit * n + b"\n" for unit, n in LONG]
    args = " ".join(batch_arg(b) for b in batches[:1]) + " " + " ".join(
        f"{u.hex()}*{n}+0a" for u, n in LONG)
    conf = (f"[global]\nlog-format = {fmt}\n[service junk]\n"
            f"listen = 127.0.0.1\nport = 0\nstderr = log\n"
            f"command = {prog('logjunk')} {args}\n")
    assert len(conf.splitlines()[-1]) < 4000
    with open(path, "w") as f:
        f.write(conf)
    c = chald("-c", os.fsdecode(path))
    event = '"event":"stderr"' if fmt == "json" else " stderr service="
    with c.connect() as s:
        for i in range(1, len(batches) + 1):
            assert recv_line(s) == f"{i}\n".encode()
            want = len(HOSTILE) + i - 1
            c.wait_log(re.escape(event), count=want)
            if i < len(batches):
                s.sendall(b"next\n")
    c.wait_log('"event":"end"' if fmt == "json" else " end service=")
    assert c.stop() == 0
    entries = check_lines(c.logpath.read_bytes(), fmt)

    def is_event(e, name):
        return e.get("event") == name if fmt == "json" else \
            e.split(" ", 2)[1] == name

    # chald's own argument: the config path, escaped.
    start = [e for e in entries if is_event(e, "start")]
    assert len(start) == 1
    got = value_of(start[0], "config", fmt)
    real = os.path.realpath(path)
    assert got == (as_json_text(real) if fmt == "json" else real), got
    # the challenge's stderr, line by line, each value as it was
    lines = [value_of(e, "line", fmt) for e in entries
             if is_event(e, "stderr")]
    assert len(lines) == len(HOSTILE) + len(LONG), lines
    for got, want in zip(lines, HOSTILE):
        assert got == (as_json_text(want) if fmt == "json" else want)
    if fmt == "json":
        assert not any("injected" in e for e in entries)
    # Long values are cut between whole characters, never mid-escape.
    for got, (unit, n) in zip(lines[len(HOSTILE):], LONG):
        full = as_json_text(unit * n) if fmt == "json" else unit * n
        step = len(as_json_text(unit)) if fmt == "json" else len(unit)
        assert len(got) >= 900 and len(got) < len(full), len(got)
        assert full.startswith(got) and len(got) % step == 0
