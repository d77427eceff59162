#!/bin/sh
# `build` against docker's classic builder and podman (buildah), issue 15: one multi-stage
# reference Dockerfile on a generated context of BUILD_BENCH_FILES source files (3000), its
# base image made from busybox-static and imported into each tool; per tool a cold build
# (--no-cache), a rebuild with nothing changed, a rebuild after one source file's content
# changed. BUILD_BENCH_N rounds (5), the tools in a rotated order each round; medians (and
# min-max) in ms, ratios to the faster peer. Everything lives in a temp dir: ongictl's
# roots, a private dockerd (own data-root, exec-root, pidfile, socket; --bridge=none
# --iptables=false: the host's network is left alone) started and stopped here, podman's
# --root/--runroot. Needs root, busybox-static, docker.io, podman (scripts/deps.sh).
# usage: benches/build.sh [ongictl] [docker] [podman]         (default: all three)
set -eu
cd "$(dirname "$0")/.."
N=${BUILD_BENCH_N:-5}
FILES=${BUILD_BENCH_FILES:-3000}
TOOLS=${*:-ongictl docker podman}
for t in busybox $TOOLS; do
    case $t in docker) t=dockerd ;; ongictl) continue ;; esac
    command -v "$t" >/dev/null || { echo "build.sh: $t missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
cargo build --release -q -p ongi-cli
BIN=$PWD/target/x86_64-unknown-linux-gnu/release
W=$(mktemp -d /var/tmp/ongi-buildbench.XXXXXX)
# Host directories dockerd and its containerd create: removed again if they were not there.
HOSTDIRS="/run/docker /run/containerd /opt/containerd /etc/containerd"
NEW=""
for d in $HOSTDIRS; do [ -e "$d" ] || NEW="$NEW $d"; done
cleanup() {
    set +e
    if [ -s "$W/docker/docker.pid" ]; then
        kill "$(cat "$W/docker/docker.pid")" 2>/dev/null
        i=0; while [ -e "$W/docker/docker.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    fi
    [ -n "${P:-}" ] && $P rm -af >/dev/null 2>&1
    grep -o " $W[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$W"
    for d in $NEW; do rm -rf "$d"; done
}
trap cleanup EXIT INT TERM

# The base image: busybox-static and its applet links, as a rootfs tar.
mkdir -p "$W/rootfs/bin" "$W/rootfs/tmp" "$W/rootfs/etc"
cp "$(command -v busybox)" "$W/rootfs/bin/busybox"
for a in $("$W/rootfs/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$W/rootfs/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" >"$W/rootfs/etc/passwd"
tar -C "$W/rootfs" -cf "$W/base.tar" .

# The context: FILES sources in 30 directories, a few deps, the Dockerfile.
C=$W/ctx
mkdir -p "$C/deps"
i=0
while [ $i -lt "$FILES" ]; do
    d=$C/src/d$((i % 30)); [ -d "$d" ] || mkdir -p "$d"
    printf 'int f%d(void) { return %d; }\n/* %0800d */\n' $i $i $i >"$d/f$i.c"
    i=$((i + 1))
done
for j in 1 2 3 4 5; do head -c 65536 /dev/zero | tr '\0' "$j" >"$C/deps/lib$j.a"; done
cat >"$C/Dockerfile" <<'DF'
FROM bbase AS deps
COPY deps/ /deps/
RUN cat /deps/* | md5sum > /deps.sum

FROM bbase AS build
WORKDIR /src
COPY src/ /src/
RUN find . -type f | sort | xargs cat | md5sum > /build.sum && wc -l < /build.sum

FROM bbase AS test
COPY --from=build /build.sum /build.sum
RUN test -s /build.sum && echo ok > /test.ok

FROM bbase
COPY --from=deps /deps.sum /opt/deps.sum
COPY --from=build /build.sum /opt/build.sum
COPY --from=test /test.ok /opt/test.ok
ENV APP=/opt
CMD ["/bin/sh"]
DF
printf '.git\n*.tmp\n' >"$C/.dockerignore"

ms() { echo $(( $(date +%s%N) / 1000000 )); }

O="$BIN/ongictl --root $W/ongi/root --run-root $W/ongi/run"
P="podman --root $W/podman/root --runroot $W/podman/run --tmpdir $W/podman/tmp --storage-driver overlay --cgroup-manager cgroupfs --events-backend file"
export DOCKER_HOST="unix://$W/docker/docker.sock"
for t in $TOOLS; do
    case $t in
    ongictl) $O import "$W/base.tar" bbase:latest >/dev/null ;;
    docker)
        mkdir -p "$W/docker"
        dockerd --data-root "$W/docker/data" --exec-root "$W/docker/exec" \
            --pidfile "$W/docker/docker.pid" -H "$DOCKER_HOST" --bridge=none --iptables=false \
            --ip-masq=false --ip-forward=false --storage-driver overlay2 \
            --exec-opt native.cgroupdriver=cgroupfs >"$W/docker/dockerd.log" 2>&1 &
        i=0
        until docker version >/dev/null 2>&1; do
            i=$((i + 1)); [ $i -lt 300 ] || { tail "$W/docker/dockerd.log" >&2; exit 1; }
            sleep 0.2
        done
        docker import "$W/base.tar" bbase:latest >/dev/null ;;
    podman) mkdir -p "$W/podman/tmp"; $P import "$W/base.tar" bbase:latest >/dev/null ;;
    esac
done

build() { # tool mode(cold|nochange|edit) -> ms on stdout
    case $1 in
    ongictl) cmd="$O build -t bench:1" ;;
    docker) cmd="env DOCKER_BUILDKIT=0 docker build -t bench:1" ;;
    # Debian's crun 1.8 refuses this host's hybrid cgroup layout: runc, as docker uses.
    podman) cmd="$P build --runtime runc --network none --pull=never --layers -t bench:1" ;;
    esac
    [ "$2" = cold ] && cmd="$cmd --no-cache"
    t0=$(ms)
    if ! $cmd "$C" >"$W/last.log" 2>&1; then
        echo "build.sh: $1 $2 build failed:" >&2; tail -20 "$W/last.log" >&2; exit 1
    fi
    echo $(( $(ms) - t0 ))
}

echo "$(date -u '+%F %H:%M UTC'), $(nproc) cores, kernel $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "context: $FILES source files in 30 dirs + 5 deps ($(du -sh "$C" | cut -f1)); $N rounds, tools rotated"
round=0
while [ $round -lt "$N" ]; do
    set -- $TOOLS
    k=0; while [ $k -lt $((round % $#)) ]; do t=$1; shift; set -- "$@" "$t"; k=$((k + 1)); done
    for t in "$@"; do
        v=$(build "$t" cold) || exit 1; echo "$t cold $v" >>"$W/results"
        v=$(build "$t" nochange) || exit 1; echo "$t nochange $v" >>"$W/results"
        # One source file's content changes (a new line): its COPY and every step after miss.
        echo "/* round $round */" >>"$C/src/d7/f7.c"
        v=$(build "$t" edit) || exit 1; echo "$t edit $v" >>"$W/results"
    done
    round=$((round + 1))
done

med() { # tool mode -> "median (min-max)"
    grep "^$1 $2 " "$W/results" | cut -d' ' -f3 | sort -n | awk '{a[NR]=$1} END {
        m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%d (%d-%d)", m, a[1], a[NR] }'
}
medv() { grep "^$1 $2 " "$W/results" | cut -d' ' -f3 | sort -n | awk '{a[NR]=$1} END { print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2 }'; }
echo
echo "| tool | cold build ms | no-change rebuild ms | one file edited ms |"
echo "|---|---|---|---|"
for t in $TOOLS; do echo "| $t | $(med "$t" cold) | $(med "$t" nochange) | $(med "$t" edit) |"; done
case " $TOOLS " in *" ongictl "*)
    for m in cold nochange edit; do
        best=""
        for t in $TOOLS; do
            [ "$t" = ongictl ] && continue
            v=$(medv "$t" $m); if [ -z "$best" ] || [ "$v" -lt "$best" ]; then best=$v; fi
        done
        [ -n "$best" ] && echo "$m: ongictl / faster peer = $(awk "BEGIN { printf \"%.3f\", $(medv ongictl $m) / $best }") (goal <= 0.5)"
    done ;;
esac
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
