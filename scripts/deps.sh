#!/bin/sh
# Installs the Debian packages the build and the tests need (idempotent; quiet when present).
# containerd: runtime-cli/tests/clients_containerd.rs runs containers through ongi with it
# (the test starts a private daemon; the package's own service only starts under systemd).
# protobuf-compiler: protoc, which the k8s-cri dev-dependency (tests/clients_cri.rs, a CRI
# client of containerd's CRI plugin) needs to generate its gRPC bindings.
set -eu
need=""
for p in busybox-static libseccomp-dev pkg-config runc containerd protobuf-compiler; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
  echo "installing:$need" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
