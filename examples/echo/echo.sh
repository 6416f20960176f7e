#!/bin/sh
# echo.sh - example chald challenge: a shouting echo service.
#
# chald runs this with the TCP connection on stdin/stdout.  It greets the
# player, then echoes every line back upper-cased until the player sends
# "quit" or closes the connection.  Only sh builtins and tr(1) are used.

cr=$(printf '\r')

printf '%s %s! This is the shouting echo service.\n' \
    "${GREETING:-Hello}" "${TCPREMOTEIP:-stranger}"
printf 'Type a line and I will shout it back; "quit" to leave.\n'

# "|| [ -n "$line" ]" also handles a final line without a newline.
while IFS= read -r line || [ -n "$line" ]; do
    line=${line%"$cr"}                  # tolerate CRLF clients
    if [ "$line" = quit ]; then
        printf 'BYE!\n'
        exit 0
    fi
    printf '%s\n' "$line" | tr '[:lower:]' '[:upper:]'
done

printf 'BYE!\n'
exit 0
