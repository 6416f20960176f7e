"""
admin_flood.py: what a stalling admin client costs the players. Keeps N
admin connections (default 200) that each send half a request and stall:
one that chald closes (at the 5 s deadline, or at once when it is over
admin-max-conns) is opened again a second later. Meanwhile it scrapes
/metrics every 100 ms. Prints the admin connections made and the scrapes
answered 200. Runs for SECS seconds. Loopback only; bounded.
usage: admin_flood.py ADMIN_PORT SECS [N]
"""
import selectors
import socket
import sys
import time

port, secs = int(sys.argv[1]), float(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
end = time.monotonic() + secs
sel = selectors.DefaultSelector()
made = scrapes = 0
later = []          # when to open the closed ones again
next_scrape = 0.0


def stall():
    global made
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError:
        return
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-")
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    made += 1


for _ in range(n):
    stall()
while time.monotonic() < end:
    for key, _ in sel.select(timeout=0.02):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            s.close()
            later.append(time.monotonic() + 1)
    now = time.monotonic()
    while later and later[0] <= now:
        later.pop(0)
        stall()
    if now >= next_scrape:
        next_scrape = now + 0.1
        try:
            with socket.create_connection(("127.0.0.1", port),
                                          timeout=2) as s:
                s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
                got = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            scrapes += got.startswith(b"HTTP/1.1 200 ")
        except OSError:
            pass
print("admin_conns=%d scrapes=%d" % (made, scrapes))
