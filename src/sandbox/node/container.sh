#!/bin/sh
# The sandbox node's container runtime, run by the node agent as
#   setpriv --pdeathsig KILL unshare --pid --fork --kill-child=KILL --mount --uts --propagation private \
#     /bin/sh container.sh DIR HOSTNAME UID GID GROUPS WORKDIR ROOT_RO -- ARGV...
# It is PID 1 of the new PID namespace: it builds the container's root (an overlay of the host's / with a
# tmpfs upper layer, fresh /proc, a minimal /dev), bind-mounts the volumes listed in DIR/mounts
# ("dir|file <TAB> rw|ro <TAB> source <TAB> target", parents first), makes / read-only when asked, then
# execs the command as UID:GID in that root, so the command itself is PID 1 as in a container.
# Setup failures go to DIR/start-error and exit 128 (the runtime's StartError).
set -u
dir=$1 name=$2 uid=$3 gid=$4 groups=$5 workdir=$6 rootro=$7
shift 8
root=$dir/rootfs
fail() {
  printf '%s\n' "$*" >> "$dir/start-error"
  exit 128
}
# fd 3 is the container log; stderr of the setup (and of unshare itself) stays out of it
exec 2>>"$dir/setup.log"
/usr/bin/hostname "$name" || fail "cannot set hostname $name"
/usr/bin/mkdir -p "$dir/layer" "$root" || fail "cannot create $root"
/usr/bin/mount -t tmpfs -o mode=0755,size=1g layer "$dir/layer" || fail "cannot mount the container layer"
/usr/bin/mkdir "$dir/layer/upper" "$dir/layer/work" || fail "cannot create the container layer"
/usr/bin/mount -t overlay overlay -o "lowerdir=/,upperdir=$dir/layer/upper,workdir=$dir/layer/work" "$root" ||
  fail "cannot mount the container root"
/usr/bin/mount -t proc proc "$root/proc" || fail "cannot mount /proc"
/usr/bin/mount --rbind /sys "$root/sys" || fail "cannot mount /sys"
/usr/bin/mount -t tmpfs -o mode=0755,nosuid,size=1m dev "$root/dev" || fail "cannot mount /dev"
for node in null zero full random urandom tty; do
  : > "$root/dev/$node" && /usr/bin/mount --bind "/dev/$node" "$root/dev/$node" || fail "cannot bind /dev/$node"
done
/usr/bin/mkdir "$root/dev/pts" "$root/dev/shm" || fail "cannot create /dev/pts"
/usr/bin/mount --bind /dev/pts "$root/dev/pts" || fail "cannot mount /dev/pts"
/usr/bin/mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm" || fail "cannot mount /dev/shm"
/usr/bin/ln -s /proc/self/fd "$root/dev/fd"
/usr/bin/ln -s /proc/self/fd/0 "$root/dev/stdin"
/usr/bin/ln -s /proc/self/fd/1 "$root/dev/stdout"
/usr/bin/ln -s /proc/self/fd/2 "$root/dev/stderr"
tab=$(printf '\t')
while IFS=$tab read -r kind mode source target; do
  # resolve the target inside the container's root: an absolute symlink (/var/run -> /run) must not escape it
  real=$(/usr/sbin/chroot "$root" /usr/bin/realpath -m -- "$target") || fail "cannot resolve mount point $target"
  if [ "$kind" = file ]; then
    /usr/sbin/chroot "$root" /bin/sh -c 'mkdir -p "$(dirname "$1")" && { [ -e "$1" ] || : > "$1"; }' sh "$real" ||
      fail "cannot create mount point $target"
  else
    /usr/sbin/chroot "$root" /usr/bin/mkdir -p -- "$real" || fail "cannot create mount point $target"
  fi
  /usr/bin/mount --bind -- "$source" "$root$real" || fail "cannot mount $source at $target"
  if [ "$mode" = ro ]; then
    /usr/bin/mount -o remount,bind,ro -- "$root$real" || fail "cannot make $target read-only"
  fi
done < "$dir/mounts"
/usr/sbin/chroot "$root" /usr/bin/mkdir -p -- "$workdir" 2>/dev/null
if [ "$rootro" = ro ]; then
  /usr/bin/mount -o remount,bind,ro -- "$root" || fail "cannot make the root filesystem read-only"
fi
check=$(/usr/sbin/chroot --userspec="$uid:$gid" --groups="$groups" "$root" /bin/sh -c '
  cd "$1" 2>/dev/null || { echo "chdir to cwd (\"$1\") set in config.json failed: permission denied"; exit 1; }
  command -v "$2" > /dev/null 2>&1 || { echo "exec: \"$2\": executable file not found in \$PATH"; exit 1; }' sh "$workdir" "$1") ||
  fail "$check"
exec 1>&3 2>&3 3>&-
# changing the uid clears the parent-death signal unshare --kill-child set: set it again as the container user
exec /usr/sbin/chroot --userspec="$uid:$gid" --groups="$groups" "$root" /usr/bin/setpriv --pdeathsig KILL -- \
  /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$workdir" "$@"
