#!/usr/bin/env bash
# Installs the Debian packages the demo, tests and benchmarks run for real, when any is missing, and says so:
# MariaDB + mariabackup (backup/restore), Ceph RGW (a real S3 server on loopback), rclone (benchmark
# baseline), kubectl (pokes the fake API server). Needs root (or sudo). Starts no service: the demo and the
# tests start their own servers on 127.0.0.1 and stop them.
set -euo pipefail

# Which Node runs what: npm runs on the machine's Node; every script (npm run, npx) runs on the project's
# Node 24, the `node` devDependency, which npm puts first on PATH. npm compares each package's `engines` with
# the Node running npm, not the one running the code, so .npmrc keeps its false EBADENGINE alarms quiet.
npm_node=$("${npm_node_execpath:-node}" --version 2>/dev/null || echo unknown)
project_node=$(node_modules/.bin/node --version 2>/dev/null || echo "not installed yet: npm ci installs it")
echo "node: npm runs on ${npm_node}; the project's scripts run on Node 24 (${project_node})"

packages=(mariadb-server mariadb-backup ceph-mon ceph-osd radosgw curl openssl uuid-runtime rclone)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "system packages: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system packages: installed ${missing[*]}"
