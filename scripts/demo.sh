#!/bin/sh
# The main job: build ongi, build a busybox bundle, run a real container from it.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release -q -p ongi-cli
b=/tmp/ongi-demo-bundle
ongi=target/x86_64-unknown-linux-gnu/release/ongi  # .cargo/config.toml names the target
scripts/busybox-bundle.sh "$b" "$ongi" sh -c 'echo "hello from $(hostname), pid $$, uid $(id -u)"; cat /proc/self/status | grep -E "^(NoNewPrivs|CapEff)"'
id=ongi-demo-$$
"$ongi" run --bundle "$b" "$id"

# The engine: an image made from busybox-static is pushed (skopeo) to a local registry
# (Debian's docker-registry on a free loopback port, stopped at the end), then pulled and
# run with ongictl, daemonless, in a private store under /tmp. No internet is involved.
cargo build --release -q -p ongi-cli --bin ongictl --bin ongi-monitor
ongictl=$PWD/target/x86_64-unknown-linux-gnu/release/ongictl
d=/tmp/ongi-demo-engine
rm -rf "$d"; mkdir -p "$d/registry"
scripts/busybox-image.sh "$d/oci"
# A port in 20000-39999 that nothing answers on.
port=$((20000 + $$ % 20000))
while curl -s -o /dev/null "http://127.0.0.1:$port/"; do port=$((port + 1)); done
printf 'version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' \
  "$d/registry/data" "$port" > "$d/registry/config.yml"
docker-registry serve "$d/registry/config.yml" > "$d/registry/log" 2>&1 &
reg=$!
cleanup() {
  "$ongictl" --root "$d/root" --run-root "$d/run" rm -f demo >/dev/null 2>&1 || true
  kill "$reg" 2>/dev/null || true; wait "$reg" 2>/dev/null || true
  umount -R "$d/root/containers"/*/rootfs 2>/dev/null || true
  rm -rf "$d"
}
trap cleanup EXIT
i=0; until curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; do
  i=$((i+1)); [ $i -lt 100 ] || { echo "registry did not start"; cat "$d/registry/log"; exit 1; }; sleep 0.1
done
image=127.0.0.1:$port/demo/busybox:latest
skopeo copy --quiet --dest-tls-verify=false "oci:$d/oci:latest" "docker://$image"
ctl() { "$ongictl" --root "$d/root" --run-root "$d/run" "$@"; }
ctl pull "$image"
ctl images
# --network none: the demo runs on the machine itself, and docker's default bridge network
# would add a bridge device and nftables rules to the host's own network.
ctl run --rm --network none --name demo "$image" sh -c 'echo "hello from $(hostname) in an ongictl container: $(id)"; cat /proc/self/status | grep -E "^(Seccomp|CapEff)"'
