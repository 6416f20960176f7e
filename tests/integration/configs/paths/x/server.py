#!/usr/bin/python3
# The script of tests/integration/configs/paths/script.conf
print(open("flag.txt").read())
