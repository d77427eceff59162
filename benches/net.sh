#!/bin/bash
# Network speed (issue 16), rerunnable by anyone as root; installs nothing (needs what
# scripts/deps.sh installs: busybox-static, curl, nftables, iproute2, docker.io, podman, and
# apache2-utils for ab). Everything happens inside a network namespace this script makes, with
# roots under a temp dir; both go at the end, whatever happens.
#
# attach: time of `ongictl run --rm IMG true` with --network none, --network bridge and
#   -p 8080:80 (which adds a published port), interleaved rounds, medians: what joining a
#   network adds to `run` (goal: <= 5 ms).
# tput: busybox httpd in a container serving a 256 MiB file from a tmpfs and a 100-byte
#   one; from the namespace's host side, curl's throughput of the large file (median of N)
#   and ab's requests/s for the small one (no keep-alive: a connection per request) through
#   the published port on 127.0.0.1 and on the namespace's own non-loopback address, vs the
#   container's own address (direct). The same for docker (a private dockerd in the
#   namespace: its bridge, iptables DNAT and docker-proxy for loopback) and podman (--root/
#   --runroot under the temp dir, --network bridge, Debian 12's CNI bridge+portmap).
#
# usage: benches/net.sh [attach] [tput]         (default: both)
# env: NET_BENCH_N (attach rounds, 20), NET_BENCH_GETS (large-file gets per path, 10),
#      NET_BENCH_REQS (ab requests per path, 2000), NET_BENCH_MIB (large file, 256),
#      NET_BENCH_PEERS (docker podman; empty for ongictl alone)
set -eu
cd "$(dirname "$0")/.."
here=$PWD
rel=$here/target/x86_64-unknown-linux-gnu/release

if [ "${1:-}" = __inner ]; then
    shift
    tmp=$1
    shift
else
    [ "$(id -u)" = 0 ] || { echo "net.sh: run as root" >&2; exit 1; }
    for t in curl ab nft ip; do
        command -v "$t" >/dev/null || { echo "net.sh: $t missing (scripts/deps.sh)" >&2; exit 1; }
    done
    cargo build --release -q -p ongi-cli
    tmp=$(mktemp -d /tmp/ongi-netbench.XXXXXX)
    ns=ongi-netbench-$$
    cleanup() {
        # Whatever the inner part left mounted under the temp dir (overlays, netns binds).
        grep " $tmp" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done
        ip netns del "$ns" 2>/dev/null || true
        rm -rf "$tmp"
    }
    trap cleanup EXIT
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # The namespace's own non-loopback address, as a host's eth0 (a veth pair: this
    # kernel has no dummy device).
    ip -n "$ns" link add nb0 type veth peer name nb1
    ip -n "$ns" addr add 192.0.2.1/24 dev nb0
    ip -n "$ns" link set nb0 up
    ip -n "$ns" link set nb1 up
    echo "$(date -u '+%F %H:%M UTC'), $(nproc) cores, kernel $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
    # nsenter, not `ip netns exec`: that remounts /sys, and with it the cgroup hierarchies.
    nsenter --net="/run/netns/$ns" "$0" __inner "$tmp" "$@"
    echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    exit 0
fi

# ---- inside the namespace ----
what=${*:-attach tput}
N=${NET_BENCH_N:-20}
GETS=${NET_BENCH_GETS:-10}
REQS=${NET_BENCH_REQS:-2000}
MIB=${NET_BENCH_MIB:-256}
PEERS=${NET_BENCH_PEERS-docker podman}
IMG=netbench/busybox:1
ctl() { "$rel/ongictl" --root "$tmp/ongi/root" --run-root "$tmp/ongi/run" "$@"; }

# A docker-archive of busybox-static: one layer, busybox and its applet links.
image() {
    local d=$tmp/image r=$tmp/image/rootfs
    mkdir -p "$r/bin" "$r/tmp" "$r/etc" "$r/www"
    cp /bin/busybox "$r/bin/busybox"
    for a in $(/bin/busybox --list); do
        [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
    done
    tar -C "$r" --owner=0 --group=0 --numeric-owner --sort=name -cf "$d/layer.tar" .
    local l c
    l=$(sha256sum "$d/layer.tar" | cut -d' ' -f1)
    mkdir -p "$d/a/$l"
    mv "$d/layer.tar" "$d/a/$l/layer.tar"
    printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "$l" >"$d/a/config.json"
    c=$(sha256sum "$d/a/config.json" | cut -d' ' -f1)
    mv "$d/a/config.json" "$d/a/$c.json"
    printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$c" "$IMG" "$l" \
        >"$d/a/manifest.json"
    tar -C "$d/a" -cf "$tmp/netbox.tar" manifest.json "$c.json" "$l/layer.tar"
    rm -rf "$d"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
now_us() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; }

attach() {
    local modes=(none bridge publish) i m t0 t1
    declare -A ms
    echo "## attach: ongictl run --rm $IMG true, $N interleaved rounds (3 warm-up), medians"
    for i in $(seq -3 "$N"); do
        for m in "${modes[@]}"; do
            case $m in
            none) set -- --network none ;;
            bridge) set -- --network bridge ;;
            publish) set -- -p 8080:80 ;;
            esac
            t0=$(now_us)
            ctl run --rm "$@" "$IMG" true
            t1=$(now_us)
            [ "$i" -le 0 ] || ms[$m]+="$(( t1 - t0 )) "
        done
    done
    local base
    base=$(printf '%s\n' ${ms[none]} | median)
    printf '%-22s %10s %10s\n' "mode" "run ms" "added ms"
    for m in "${modes[@]}"; do
        local med
        med=$(printf '%s\n' ${ms[$m]} | median)
        awk -v m="$m" -v v="$med" -v b="$base" 'BEGIN {printf "%-22s %10.2f %10.2f\n", m, v/1000, (v-b)/1000}'
    done
}

# The web server every engine runs: a large and a small file on a tmpfs, busybox httpd.
SERVE="dd if=/dev/zero of=/www/big bs=1M count=$MIB 2>/dev/null && printf %0100d 0 >/www/small && exec httpd -f -p 80 -h /www"

docker_up() {
    local d=$tmp/docker
    mkdir -p "$d"
    # Private: its own roots, socket and pidfile; its bridge and iptables rules live in this
    # namespace only. cgroupfs: no systemd here.
    dockerd --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/docker.pid" \
        -H "unix://$d/docker.sock" --storage-driver overlay2 \
        --exec-opt native.cgroupdriver=cgroupfs >"$d/log" 2>&1 &
    echo $! >"$d/dockerd.pid"
    local i
    for i in $(seq 1 300); do
        dk version >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "net.sh: dockerd did not start:" >&2
    tail -20 "$d/log" >&2
    return 1
}
dk() { docker -H "unix://$tmp/docker/docker.sock" "$@"; }
docker_down() {
    [ -f "$tmp/docker/dockerd.pid" ] || return 0
    dk rm -f nb >/dev/null 2>&1 || true
    local p
    p=$(cat "$tmp/docker/dockerd.pid")
    kill "$p" 2>/dev/null || true
    # dockerd stops its containerd; wait for both (no reaper here but us).
    for _ in $(seq 1 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    rm -f "$tmp/docker/dockerd.pid"
}

pm() {
    local d=$tmp/podman
    CONTAINERS_CONF=$d/containers.conf podman --root "$d/root" --runroot "$d/runroot" \
        --tmpdir "$d/tmp" --cgroup-manager cgroupfs --events-backend file \
        --runtime runc "$@"
}
podman_up() {
    local d=$tmp/podman
    mkdir -p "$d/tmp"
    # As root podman asks for 1048576 open files and processes, which may exceed our hard
    # limits (setrlimit EPERM without CAP_SYS_RESOURCE); conmon runs with NPROC 32768.
    local nofile nproc
    nofile=$(ulimit -Hn) nproc=$(ulimit -Hu)
    [ "$nofile" = unlimited ] && nofile=1048576
    [ "$nproc" = unlimited ] && nproc=32768
    [ "$nofile" -gt 1048576 ] && nofile=1048576
    [ "$nproc" -gt 32768 ] && nproc=32768
    printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' \
        "$nofile" "$nofile" "$nproc" "$nproc" >"$d/containers.conf"
}
podman_down() {
    [ -d "$tmp/podman/root" ] || return 0
    pm rm -f nb >/dev/null 2>&1 || true
}

inner_cleanup() {
    ctl rm -f nb >/dev/null 2>&1 || true
    docker_down
    podman_down
}

# Waits until the container's small file answers on its own address.
wait_web() {
    local i
    for i in $(seq 1 300); do
        curl -s -o /dev/null -m 2 "http://$1/small" && return 0
        sleep 0.1
    done
    echo "net.sh: no web server at $1" >&2
    return 1
}

mibs() { curl -s -o /dev/null -m 120 -w '%{speed_download}\n' "http://$1/big" | awk '{printf "%.1f\n", $1/1048576}'; }
rps() { ab -q -n "$REQS" -c 4 "http://$1/small" 2>/dev/null | awk '/^Requests per second/ {print $4}'; }

tput() {
    local engines=(ongictl) e ip
    for e in $PEERS; do engines+=("$e"); done
    trap inner_cleanup EXIT
    declare -A addr
    # ongictl: the default bridge, port 8080.
    ctl run -d --name nb -p 8080:80 --tmpfs /www "$IMG" sh -c "$SERVE" >/dev/null
    ip=$(ctl inspect -f '{{.NetworkSettings.IPAddress}}' nb)
    addr[ongictl.direct]=$ip:80 addr[ongictl.lo]=127.0.0.1:8080 addr[ongictl.ext]=192.0.2.1:8080
    for e in $PEERS; do
        case $e in
        docker)
            docker_up
            dk load -q -i "$tmp/netbox.tar" >/dev/null
            dk run -d --name nb -p 8081:80 --tmpfs /www "$IMG" sh -c "$SERVE" >/dev/null
            ip=$(dk inspect -f '{{.NetworkSettings.IPAddress}}' nb)
            addr[docker.direct]=$ip:80 addr[docker.lo]=127.0.0.1:8081 addr[docker.ext]=192.0.2.1:8081
            ;;
        podman)
            podman_up
            pm load -q -i "$tmp/netbox.tar" >/dev/null
            pm run -d --name nb --network bridge -p 8082:80 --tmpfs /www "$IMG" sh -c "$SERVE" >/dev/null
            ip=$(pm inspect -f '{{.NetworkSettings.IPAddress}}' nb)
            addr[podman.direct]=$ip:80 addr[podman.lo]=127.0.0.1:8082 addr[podman.ext]=192.0.2.1:8082
            ;;
        *) echo "net.sh: unknown peer $e" >&2; exit 1 ;;
        esac
    done
    local keys=() k
    for e in "${engines[@]}"; do
        wait_web "${addr[$e.direct]}"
        for k in direct lo ext; do keys+=("$e.$k"); done
    done
    # Interleaved: each round measures every engine and path once, in a rotated order, so
    # drift of the machine's load hits all alike. One warm-up get each.
    declare -A big small
    local r i n=${#keys[@]}
    for k in "${keys[@]}"; do mibs "${addr[$k]}" >/dev/null; done
    for r in $(seq 0 $((GETS - 1))); do
        for i in $(seq 0 $((n - 1))); do
            k=${keys[$(((i + r) % n))]}
            big[$k]+="$(mibs "${addr[$k]}") "
        done
    done
    for r in 0 1 2; do
        for i in $(seq 0 $((n - 1))); do
            k=${keys[$(((i + r) % n))]}
            small[$k]+="$(rps "${addr[$k]}") "
        done
    done
    echo "## tput: ${MIB} MiB file (curl, median of $GETS) and ab -n $REQS -c 4 of a 100-byte file (median of 3), interleaved"
    echo "direct = the container's own address; lo = 127.0.0.1:PORT; ext = 192.0.2.1:PORT (the namespace's own address)"
    printf '%-8s %-7s %-18s %10s %8s %10s %8s\n' engine path url "MiB/s" "/direct" "req/s" "/direct"
    declare -A mb rq
    for k in "${keys[@]}"; do
        mb[$k]=$(printf '%s\n' ${big[$k]} | median)
        rq[$k]=$(printf '%s\n' ${small[$k]} | median)
    done
    for k in "${keys[@]}"; do
        e=${k%.*}
        awk -v e="$e" -v p="${k#*.}" -v u="${addr[$k]}" -v m="${mb[$k]}" -v md="${mb[$e.direct]}" \
            -v q="${rq[$k]}" -v qd="${rq[$e.direct]}" \
            'BEGIN {printf "%-8s %-7s %-18s %10.1f %8.2f %10.1f %8.2f\n", e, p, u, m, m/md, q, q/qd}'
    done
    if [ -n "$PEERS" ]; then
        echo "ongictl vs peers, same path (> 1: ongictl faster):"
        printf '%-8s %-7s %10s %10s\n' peer path "MiB/s x" "req/s x"
        for e in $PEERS; do
            for k in direct lo ext; do
                awk -v e="$e" -v p="$k" -v a="${mb[ongictl.$k]}" -v b="${mb[$e.$k]}" \
                    -v c="${rq[ongictl.$k]}" -v d="${rq[$e.$k]}" \
                    'BEGIN {printf "%-8s %-7s %10.2f %10.2f\n", e, p, a/b, c/d}'
            done
        done
    fi
    inner_cleanup
    trap - EXIT
}

mkdir -p "$tmp/ongi"
image
ctl load -q -i "$tmp/netbox.tar" >/dev/null
for w in $what; do
    case $w in
    attach) attach ;;
    tput) tput ;;
    *) echo "net.sh: unknown part $w" >&2; exit 1 ;;
    esac
done
