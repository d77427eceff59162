#!/bin/sh
# Builds an OCI bundle at $1 from Debian's busybox-static: rootfs/ with busybox and its
# applets, and config.json from `ongi spec` with no terminal and the given command.
# usage: busybox-bundle.sh DIR ONGI [ARG...]
set -eu
dir=$1; ongi=$2; shift 2
[ -x /bin/busybox ] || { echo "busybox-bundle: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
rm -rf "$dir"; mkdir -p "$dir/rootfs/bin" "$dir/rootfs/etc" "$dir/rootfs/tmp" "$dir/rootfs/root"
for d in proc sys dev; do mkdir -p "$dir/rootfs/$d"; done
chmod 1777 "$dir/rootfs/tmp"
cp /bin/busybox "$dir/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$dir/rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$dir/rootfs/etc/passwd"
printf 'root:x:0:\n' > "$dir/rootfs/etc/group"
"$ongi" spec --bundle "$dir"
# runc's default spec wants a terminal; a demo from a script has none.
sed -i 's/"terminal": true/"terminal": false/' "$dir/config.json"
if [ $# -gt 0 ]; then
  args=""
  for a in "$@"; do
    a=$(printf '%s' "$a" | sed 's/\\/\\\\/g; s/"/\\"/g')
    args="$args\"$a\", "
  done
  args=${args%, }
  # Replace the default ["sh"] argv (spread over three lines by the pretty printer).
  ARGS=$args awk '
    /"args": \[/ && !done { print "    \"args\": [" ENVIRON["ARGS"] "],"; skip=1; next }
    skip && /\]/ { skip=0; done=1; next }
    !skip { print }' "$dir/config.json" > "$dir/config.json.new"
  mv "$dir/config.json.new" "$dir/config.json"
fi
