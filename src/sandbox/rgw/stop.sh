#!/bin/bash
# stop.sh STATE_DIR [--keep] -- stop the daemons start.sh recorded in STATE_DIR/pids one after the
# other (radosgw, osd, mon: radosgw's shutdown needs the osd, the osd's the mon), then delete
# STATE_DIR unless --keep. Only signals a PID whose command name is still the daemon start.sh ran.
set -u
DIR=${1:?usage: stop.sh STATE_DIR [--keep]}
KEEP=${2:-}
[ -f "$DIR/pids" ] || { echo "stop.sh: no $DIR/pids"; exit 0; }
declare -A COMM=([mon]=ceph-mon [osd]=ceph-osd [rgw]=radosgw)
stop_pids() { # name...: TERM, wait up to 10 s, then KILL
  local name pid left=()
  for name in "$@"; do
    pid=$(awk -v n="$name" '$1==n{print $2}' "$DIR/pids")
    [ -n "$pid" ] || continue
    # guard against a reused PID
    if [ "$(cat /proc/"$pid"/comm 2>/dev/null)" != "${COMM[$name]}" ]; then
      kill -0 "$pid" 2>/dev/null && echo "stop.sh: pid $pid is not ${COMM[$name]}; left alone"
      continue
    fi
    kill -TERM "$pid" && left+=("$pid")
  done
  for _ in $(seq 1 100); do
    local alive=()
    for pid in "${left[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    left=("${alive[@]}"); [ ${#left[@]} -eq 0 ] && return
    sleep 0.1
  done
  for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null && echo "stop.sh: killed $pid"; done
}
stop_pids rgw
stop_pids osd
stop_pids mon
rm -f "$DIR/pids"
[ "$KEEP" = --keep ] || rm -rf "$DIR"
echo "stopped"
