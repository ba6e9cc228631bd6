#!/bin/bash
# start.sh [STATE_DIR] -- a throwaway single-node Ceph (1 mon, 1 osd) + radosgw (S3) for tests,
# bound to 127.0.0.1 only. No systemd, no mgr, cephx off (S3 request signing stays fully enforced).
# All state lives in STATE_DIR (default: a new mktemp -d). Stop with stop.sh STATE_DIR.
#
# Prints "S3 ready ..." once a SigV4-signed request succeeds and writes STATE_DIR/env:
#   S3_ENDPOINT, S3_TLS_ENDPOINT, S3_CA_FILE, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION, S3_KMS_KEY_ID
# The https endpoint's certificate (SAN 127.0.0.1, localhost) is signed by a CA made here (S3_CA_FILE).
#
# Env knobs (all optional):
#   S3_PORT, S3_TLS_PORT, MON_PORT   ports; default: free ports picked at random
#   OBJECTSTORE=bluestore            bluestore (sparse file, needs O_DIRECT: not on tmpfs) or memstore;
#                                    memstore is chosen automatically when STATE_DIR is on tmpfs
#   STORE_GB=8                       bluestore file size / memstore capacity
#   S3_ACCESS_KEY / S3_SECRET_KEY    keys of the S3 user "test"
#   STORAGE_CLASSES="STANDARD_IA ..." extra storage classes to accept (default: AWS's names)
#
# Measured on radosgw 16.2.15, Debian bookworm: docs/measurements.md, "Ceph RGW".
set -euo pipefail

for bin in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph uuidgen curl openssl; do
  command -v "$bin" > /dev/null || {
    echo "start.sh: $bin not found. Install: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw curl openssl uuid-runtime" >&2
    exit 127
  }
done

DIR=${1:-$(mktemp -d "${TMPDIR:-/tmp}/rgw-XXXXXX")}

# a free loopback port: random BELOW the kernel's ephemeral range (an outgoing connection may hold any port
# inside it at the moment radosgw binds, which then fails with "Address already in use"), and nothing
# answers on it (bash /dev/tcp probe)
read -r EPHEMERAL_LOW _ < /proc/sys/net/ipv4/ip_local_port_range 2> /dev/null || EPHEMERAL_LOW=32768
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 10000 + RANDOM % (EPHEMERAL_LOW - 10000) ))
    if ! (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then echo "$p"; return; fi
  done
  echo "start.sh: no free port found" >&2; return 1
}
S3_PORT=${S3_PORT:-$(free_port)}
S3_TLS_PORT=${S3_TLS_PORT:-$(free_port)}
MON_PORT=${MON_PORT:-$(free_port)}
STORE_GB=${STORE_GB:-8}
S3_ACCESS_KEY=${S3_ACCESS_KEY:-TESTACCESSKEY0000001}
S3_SECRET_KEY=${S3_SECRET_KEY:-testsecretkey0000000000000000000000000001}
KMS_KEY_ID=testkey-1

T0=$(date +%s%N)
since() { local ms=$(( ($(date +%s%N) - T0) / 1000000 )); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }

if [ -e "$DIR/pids" ]; then
  echo "start.sh: $DIR/pids exists - run stop.sh $DIR first" >&2; exit 1
fi
mkdir -p "$DIR"/{mon,osd,rgw,run,log,tls}
DIR=$(cd "$DIR" && pwd)
: > "$DIR/pids"
trap 'echo "start.sh failed; logs in $DIR/log; clean up with stop.sh $DIR" >&2' ERR
export CEPH_CONF="$DIR/ceph.conf"
FSID=$(uuidgen)

if [ -z "${OBJECTSTORE:-}" ]; then
  # BlueStore opens its block file with O_DIRECT, which tmpfs does not support
  if [ "$(stat -f -c %T "$DIR")" = tmpfs ]; then OBJECTSTORE=memstore; else OBJECTSTORE=bluestore; fi
fi

# ---- TLS: a test CA and a server certificate for 127.0.0.1 / localhost signed by it ----
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=rgw-test-ca \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$DIR/tls/ca.key" -out "$DIR/tls/ca.crt" 2> /dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
  -keyout "$DIR/tls/server.key" -out "$DIR/tls/server.csr" 2> /dev/null
printf "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n" > "$DIR/tls/ext.cnf"
openssl x509 -req -in "$DIR/tls/server.csr" -CA "$DIR/tls/ca.crt" -CAkey "$DIR/tls/ca.key" -CAcreateserial \
  -days 2 -extfile "$DIR/tls/ext.cnf" -out "$DIR/tls/server.crt" 2> /dev/null
cat "$DIR/tls/server.crt" "$DIR/tls/server.key" > "$DIR/tls/server.pem"
FRONTEND="beast endpoint=127.0.0.1:${S3_PORT} ssl_endpoint=127.0.0.1:${S3_TLS_PORT} ssl_certificate=$DIR/tls/server.pem"

if [ "$OBJECTSTORE" = memstore ]; then
  STORE_CONF="osd objectstore = memstore
memstore device bytes = $((STORE_GB << 30))"
else
  STORE_CONF="osd objectstore = bluestore
bluestore block create = true
bluestore block size = $((STORE_GB << 30))
bluestore fsck on mkfs = false
bluestore fsck on mount = false
osd memory target = 1073741824
bluestore cache autotune = false
bluestore cache size = 268435456"
fi

cat > "$CEPH_CONF" <<EOF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:${MON_PORT}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
keyring = /dev/null
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail crit = 0
mon data avail warn = 0
mon warn on insecure global id reclaim allowed = false

[mon]
mon data = $DIR/mon
mon cluster log file = $DIR/log/cluster.log
# commit osdmap changes (pool creation) fast instead of once a second
paxos propose interval = 0.05
paxos min wait = 0.01

[osd]
osd data = $DIR/osd
$STORE_CONF
osd class load list = *
osd class default list = *
osd op num shards = 1
osd op num threads per shard = 2

[client.rgw.test]
rgw frontends = $FRONTEND
rgw data = $DIR/rgw
rgw thread pool size = 64
# deleted/overwritten data is garbage-collected after 2 h by default; collect it quickly
rgw gc obj min wait = 10
rgw gc processor period = 10
# radosgw defaults to ms_mon_client_mode=secure, which needs cephx
ms mon client mode = crc
rgw crypt require ssl = false
# SSE-C and SSE-KMS over plain http too, with a fixed test-only KMS key
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = ${KMS_KEY_ID}=YmluCmJvb3N0CmJvb3N0LWJ1aWxkCmNlcGguY29uZgo=
EOF

start_bg() { # name cmd...  -- run in the background, record its pid
  local name=$1; shift
  "$@" > "$DIR/log/$name.out" 2>&1 < /dev/null &
  echo "$name $!" >> "$DIR/pids"
}

# ---- mon ----
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:${MON_PORT}]" "$DIR/monmap" > /dev/null
ceph-mon --mkfs -i a --monmap "$DIR/monmap" --keyring /dev/null > "$DIR/log/mon-mkfs.out" 2>&1
start_bg mon ceph-mon -f -i a
timeout 30 sh -c "until ceph --connect-timeout 2 mon stat >/dev/null 2>&1; do sleep 0.2; done"
echo "mon up after $(since)s"

# ---- osd ----
OSD_UUID=$(uuidgen)
OSD_ID=$(ceph osd new "$OSD_UUID")
ceph-osd -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" > "$DIR/log/osd-mkfs.out" 2>&1
start_bg osd ceph-osd -f -i "$OSD_ID"
timeout 60 sh -c "until ceph osd dump 2>/dev/null | grep -q '^osd.$OSD_ID up'; do sleep 0.2; done"
echo "osd up after $(since)s"

# ---- rgw ----
# the S3 user first: radosgw-admin also creates the default zone and pools, so only one process does
radosgw-admin -n client.rgw.test user create --uid test --display-name test \
  --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" > "$DIR/log/user.json"
# extra storage classes (AWS names) so x-amz-storage-class other than STANDARD is accepted
for sc in ${STORAGE_CLASSES-STANDARD_IA ONEZONE_IA INTELLIGENT_TIERING GLACIER_IR GLACIER DEEP_ARCHIVE REDUCED_REDUNDANCY}; do
  radosgw-admin zonegroup placement add --rgw-zonegroup default \
    --placement-id default-placement --storage-class "$sc" > /dev/null
  radosgw-admin zone placement add --rgw-zone default --placement-id default-placement \
    --storage-class "$sc" --data-pool default.rgw.buckets.data > /dev/null
done
echo "s3 user created after $(since)s"
start_bg rgw radosgw -f -n client.rgw.test

# ---- wait for a signed S3 request (ListBuckets) to succeed ----
ok=""
for _ in $(seq 1 300); do
  # curl 7.88 does not add x-amz-content-sha256 itself; RGW needs it for SigV4
  if curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
       -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
       "http://127.0.0.1:${S3_PORT}/" -o /dev/null; then ok=1; break; fi
  sleep 0.2
done
[ -n "$ok" ] || { echo "rgw did not answer; see $DIR/log" >&2; exit 1; }
cat > "$DIR/env" <<EOF
S3_ENDPOINT=http://127.0.0.1:${S3_PORT}
S3_TLS_ENDPOINT=https://127.0.0.1:${S3_TLS_PORT}
S3_CA_FILE=$DIR/tls/ca.crt
S3_ACCESS_KEY=$S3_ACCESS_KEY
S3_SECRET_KEY=$S3_SECRET_KEY
S3_REGION=us-east-1
S3_KMS_KEY_ID=$KMS_KEY_ID
RGW_STATE_DIR=$DIR
EOF
echo "S3 ready after $(since)s (endpoint http://127.0.0.1:${S3_PORT}, https://127.0.0.1:${S3_TLS_PORT}, env in $DIR/env)"
