#!/bin/sh
# cockpit-ws on 127.0.0.1:PORT with a local session (no login), for as long as the demo is up.
# A local session ends about half a minute after the last browser has left, and cockpit-ws
# then offers a login page instead: so each time the session has ended, cockpit-ws is started
# again.  Usage: cockpit-keeper.sh PORT
set -u
port=$1
while :; do
  /usr/lib/cockpit/cockpit-ws --no-tls -a 127.0.0.1 --port "$port" --local-session=cockpit-bridge &
  ws=$!
  # The session's bridge starts with the first browser.
  until pgrep -P "$ws" cockpit-bridge >/dev/null; do
    kill -0 "$ws" 2>/dev/null || exit 1
    sleep 1
  done
  while pgrep -P "$ws" cockpit-bridge >/dev/null; do sleep 1; done
  kill "$ws"
  wait "$ws"
done
