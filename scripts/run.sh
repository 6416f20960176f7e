#!/bin/sh
# run.sh: what "make run" does once chald is built. Makes sure the client
# the README plays with (nc, from netcat-openbsd) is there, says how to
# connect, then serves in the foreground until ^C.
# Usage: scripts/run.sh CHALD ADDR PORT [CHALD OPTIONS] -- PROGRAM [ARG...]
set -eu
[ $# -ge 4 ] || { echo "usage: $0 CHALD ADDR PORT [OPTIONS] -- PROGRAM" >&2; exit 2; }
chald=$1 addr=$2 port=$3
shift 3
sh "$(dirname "$0")/deps.sh" run
echo "make run: serving on $addr:$port; play with:  nc $addr $port   (^C here stops it)" >&2
exec "$chald" -f -b "$addr" -p "$port" "$@"
