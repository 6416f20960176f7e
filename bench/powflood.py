#!/usr/bin/python3
"""
powflood.py: floods a chald proof of work with wrong solutions, as a
hostile player would: C connections at once from 127.0.0.2 and up, each
reading the prompt, sending a well-formed wrong solution (as many bytes as
a real one, and below 2^1279 as a real one is, so that every one costs the
daemon a whole check) and going again.
Bounded: stops after SECS seconds. Prints the number of wrong solutions
sent and answered.

    powflood.py PORT C SECS [fresh]

With "fresh", every connection comes from a new address in 127/8, as from
a botnet: no source is ever seen twice, so none has strikes.
"""

import asyncio
import base64
import os
import sys


async def one(port, src, stop, counts, fresh):
    loop = asyncio.get_running_loop()
    while loop.time() < stop:
        if fresh:
            a = int.from_bytes(os.urandom(3), "big") | 0x010000
            src = f"127.{a >> 16}.{a >> 8 & 255}.{a & 255}"
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(
                "127.0.0.1", port, local_addr=(src, 0)), 5)
            await asyncio.wait_for(r.readuntil(b"Solution? "), 5)
            y = bytearray(os.urandom(160))
            y[0] &= 0x7f
            w.write(b"s." + base64.b64encode(bytes(y)) + b"\n")
            await w.drain()
            counts[0] += 1
            if await asyncio.wait_for(r.read(64), 10):
                counts[1] += 1
            w.close()
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            counts[2] += 1
            await asyncio.sleep(0.01)


async def main():
    port, c, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    fresh = sys.argv[4:] == ["fresh"]
    stop = asyncio.get_running_loop().time() + secs
    counts = [0, 0, 0]
    await asyncio.gather(*(one(port, f"127.0.0.{2 + i % 200}", stop, counts,
                               fresh) for i in range(c)))
    print(f"sent={counts[0]} answered={counts[1]} errors={counts[2]}")


asyncio.run(main())
