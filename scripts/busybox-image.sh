#!/bin/sh
# Writes an OCI image layout at $1 holding one image, busybox:latest, made from Debian's
# busybox-static (one gzip layer: busybox, its applets, /etc/passwd and /etc/group; Cmd sh).
# No image tool needed: tar, gzip, sha256sum. Push it with
#   skopeo copy --dest-tls-verify=false oci:DIR:latest docker://127.0.0.1:PORT/NAME:TAG
# usage: busybox-image.sh DIR
set -eu
dir=$1
[ -x /bin/busybox ] || { echo "busybox-image: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/rootfs
mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/root" "$r/proc" "$r/sys" "$r/dev"
chmod 1777 "$r/tmp"
cp /bin/busybox "$r/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$r/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$r/etc/group"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$r" -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -c "$work/layer.tar" > "$work/layer.tar.gz"
rm -rf "$dir"; mkdir -p "$dir/blobs/sha256"
blob() { # FILE -> prints "sha256:HEX SIZE", stores the blob
  h=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$dir/blobs/sha256/$h"
  echo "sha256:$h $(stat -c %s "$1")"
}
set -- $(blob "$work/layer.tar.gz"); ld=$1; ls=$2
case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
printf '{"created":"2026-01-01T00:00:00Z","architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"2026-01-01T00:00:00Z","created_by":"scripts/busybox-image.sh"}]}' \
  "$arch" "$diff_id" > "$work/config.json"
set -- $(blob "$work/config.json"); cd=$1; cs=$2
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s}]}' \
  "$cd" "$cs" "$ld" "$ls" > "$work/manifest.json"
set -- $(blob "$work/manifest.json"); md=$1; ms=$2
printf '{"imageLayoutVersion":"1.0.0"}' > "$dir/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
  "$md" "$ms" > "$dir/index.json"
