#!/bin/sh
# Installs the Debian packages the build and the tests need (idempotent; quiet when present).
#
# The client tests (runtime-cli/tests/clients_*.rs) need containerd, Docker, podman (+ catatonit, the pause
# process of podman's pods), the registry, script(1) from bsdutils and ps. Those packages ship
# services; the tests start their own private daemons, so package scripts must not start a
# system dockerd/containerd/registry (a system dockerd would set up a bridge and iptables rules):
# a temporary /usr/sbin/policy-rc.d (exit 101) blocks that while apt runs, and the units that
# this run installed are disabled afterwards.
# apache2-utils: ab, the connection rate of benches/net.sh.
# protobuf-compiler: protoc, which the k8s-cri dev-dependency (tests/clients_cri.rs, a CRI
# client of containerd's CRI plugin) needs to generate its gRPC bindings.
set -eu
need=""
for p in busybox-static libseccomp-dev pkg-config runc \
  docker.io containerd podman conmon catatonit docker-registry skopeo curl bsdutils procps util-linux \
  protobuf-compiler nftables iproute2 apache2-utils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need="$need $p"
done
[ -n "$need" ] || exit 0
echo "installing:$need" >&2
pol=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# temporary, from ongi scripts/deps.sh: do not start services\nexit 101\n' \
    >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  pol=1
fi
# shellcheck disable=SC2317  # called by trap
cleanup() { [ -z "$pol" ] || rm -f /usr/sbin/policy-rc.d; }
trap cleanup EXIT
apt-get -o DPkg::Lock::Timeout=300 update -qq
# --no-install-recommends: podman's recommends (slirp4netns, fuse-overlayfs, buildah...) and
# docker.io's are not used (root, --network none). The test image is written by the tests
# themselves (a docker-archive of busybox-static), so no image tool is needed.
# shellcheck disable=SC2086  # word splitting of the package list is intended
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
  --no-install-recommends $need >/dev/null
# Units of packages installed just now stay disabled (the tests start their own daemons).
for p in $need; do
  case "$p" in
  docker.io) units="docker.service docker.socket" ;;
  containerd) units="containerd.service" ;;
  docker-registry) units="docker-registry.service" ;;
  *) continue ;;
  esac
  # systemctl disable works without a running systemd (it also disables the SysV links)
  # shellcheck disable=SC2086
  command -v systemctl >/dev/null && systemctl disable $units >/dev/null 2>&1 || true
done
