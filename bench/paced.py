"""
paced.py: connect-to-greeting latency for a player who is not a flood: one
connection at a time with a pause between them (50 ms by default), the way
people and most exploit scripts connect. Prints p50 and p90 in ms. The
first 10 connections are a warm-up. Loopback only; bounded.
usage: paced.py PORT [N] [GAP_MS]
"""
import socket
import statistics
import sys
import time

port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 60
gap = float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.05
lat = []
for i in range(n):
    t = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(10)
    f = s.makefile("rwb")
    f.readline()
    lat.append((time.perf_counter() - t) * 1000)
    f.write(b"x\n")
    f.flush()
    f.readline()
    s.close()
    time.sleep(gap)
lat = sorted(lat[10:])
print("p50_ms=%.2f p90_ms=%.2f" % (statistics.median(lat),
                                   lat[int(len(lat) * 0.9)]))
