#!/bin/sh
# Runs the test binaries and the conformance suite under pure cgroup v2, in a qemu VM: this
# host is cgroup v1 (or hybrid), so the v2 path (cgroup2 controllers, eBPF devices,
# CLONE_INTO_CGROUP, cgroup.freeze) is never exercised by the host's test run. Needs root.
#
#   scripts/vm-cgroup2.sh                 # every test binary, then the conformance suite
#   scripts/vm-cgroup2.sh cgroups exec    # only these (tests/NAME.rs; lib = the library's
#                                         # unit tests; conformance)
#
# The guest is Debian's stock kernel (the linux-image package is downloaded and unpacked
# under target/v2vm/, never installed on the host) booted from a small initramfs
# (busybox-static + the 9p/virtio modules). Its root is the host's / shared read-only over
# 9p, with tmpfs on /tmp and /run and cgroup2 alone at /sys/fs/cgroup, so the test binaries
# built here run there unchanged, at the same paths. Results come back on the serial console
# (also kept in target/v2vm/console.log); the last line is
# "cgroup2 VM: N passed, M failed; conformance passed/failed: P/F (...)".
# Exit status: non-zero on any failed test, a crash of the VM or the time limit
# (V2VM_TIMEOUT seconds, default 1200). Without a usable KVM the VM runs under TCG (slower)
# rather than being skipped; V2VM_ACCEL=tcg forces TCG.
#
# Inside the VM (the same file is the guest's PID 1 after switch_root): --guest.
set -eu

# ---------------------------------------------------------------------------------------
# Guest side: PID 1 of the VM, on the host's / (read-only 9p).
# ---------------------------------------------------------------------------------------
if [ "${1:-}" = "--guest" ]; then
    repo=$2
    plan=$3
    export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    # Pure v2: one cgroup2 mount, nothing v1 anywhere, so every controller is in it.
    mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
    mkdir -p /dev/pts /dev/shm /dev/mqueue
    mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
    mount -t tmpfs -o mode=1777 shm /dev/shm
    mount -t mqueue mqueue /dev/mqueue
    ln -sf /proc/self/fd /dev/fd
    ln -sf pts/ptmx /dev/ptmx
    chmod 1777 /tmp
    # The engine's tests keep their stores under /var/tmp (the host's / is read-only here).
    mount -t tmpfs -o mode=1777 vartmp /var/tmp
    hostname v2vm
    ip link set lo up 2>/dev/null || true
    finish() {
        echo "V2VM-END $1"
        sync
        # Power off the VM (qemu exits): PID 1 must never return.
        echo o > /proc/sysrq-trigger
        sleep 60
    }
    ctrls=$(cat /sys/fs/cgroup/cgroup.controllers)
    for c in $ctrls; do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control || true; done
    echo "V2VM: kernel $(uname -r), $(nproc) cpus"
    echo "V2VM: mounts: $(grep cgroup /proc/self/mountinfo | cut -d' ' -f5,9 | tr '\n' ';')"
    echo "V2VM: controllers: $ctrls"
    echo "V2VM: enabled: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
    if grep -q ' - cgroup ' /proc/self/mountinfo; then
        echo "V2VM: a cgroup v1 hierarchy is mounted: not a pure v2 system"
        finish 1
    fi
    for c in cpu cpuset io memory pids hugetlb; do
        case " $(cat /sys/fs/cgroup/cgroup.subtree_control) " in
            *" $c "*) ;;
            *) echo "V2VM: controller $c is not available in the root's subtree"; finish 1 ;;
        esac
    done
    cd "$repo"
    passed=0 failed=0 ignored=0 broken="" conformance=""
    while read -r name kind bin; do
        echo "V2VM-BEGIN $name"
        # One binary at a time, its tests two at a time (2 vCPUs); a hang ends the binary.
        if [ "$kind" = conformance ]; then
            OCI_CHECK=$repo/target/x86_64-unknown-linux-gnu/release/oci-check \
                timeout -k 5 "${V2VM_BINARY_TIMEOUT:-300}" "$bin" \
                > /tmp/v2vm-out.txt 2>&1 && rc=0 || rc=$?
            cat /tmp/v2vm-out.txt
            # Last line "N passed, M failed"; rc != 0 on a failure not in known-failures.txt.
            conformance=$(tail -n 1 /tmp/v2vm-out.txt | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1\/\2/p')
            [ "$rc" = 0 ] && [ -n "$conformance" ] || broken="$broken $name(rc=$rc)"
            echo "V2VM-BINARY $name rc=$rc passed/failed=${conformance:-?}"
            continue
        fi
        # Tests that drive a dockerd (as the client tests do) run on the host only.
        timeout -k 5 "${V2VM_BINARY_TIMEOUT:-300}" "$bin" --test-threads=2 \
            --skip same_image_as_docker_classic_builder > /tmp/v2vm-out.txt 2>&1 && rc=0 || rc=$?
        cat /tmp/v2vm-out.txt
        # "test result: FAILED. 20 passed; 2 failed; 0 ignored; ..."
        res=$(grep '^test result:' /tmp/v2vm-out.txt | tail -n 1)
        p=$(echo "$res" | sed -n 's/.* \([0-9]*\) passed.*/\1/p')
        f=$(echo "$res" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
        i=$(echo "$res" | sed -n 's/.* \([0-9]*\) ignored.*/\1/p')
        if [ -z "$p" ] || { [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; }; then
            # Crashed or timed out: no summary, or a summary that does not explain rc.
            broken="$broken $name(rc=$rc)"
        fi
        passed=$((passed + ${p:-0}))
        failed=$((failed + ${f:-0}))
        ignored=$((ignored + ${i:-0}))
        echo "V2VM-BINARY $name rc=$rc passed=${p:-?} failed=${f:-0} ignored=${i:-0}"
    done < "$plan"
    # Nothing of the tests may stay behind: cgroups under the root, containers' processes.
    # The default parents /ongi and the engine's /ongictl are kept on purpose (like docker's
    # /docker); anything in them
    # or elsewhere is a leftover.
    left=$(find /sys/fs/cgroup -mindepth 1 -type d ! -path /sys/fs/cgroup/ongi \
        ! -path /sys/fs/cgroup/ongictl |
        head -n 20 | tr '\n' ' ')
    [ -z "$left" ] || echo "V2VM: cgroups left behind: $left"
    echo "V2VM-RESULT passed=$passed failed=$failed ignored=$ignored conformance=${conformance:-not-run} broken=${broken:-none} left=${left:-none}"
    if [ "$failed" = 0 ] && [ -z "$broken" ] && [ -z "$left" ] &&
        { [ "$passed" -gt 0 ] || [ -n "$conformance" ]; }; then
        finish 0
    fi
    finish 1
fi

# ---------------------------------------------------------------------------------------
# Host side.
# ---------------------------------------------------------------------------------------
cd "$(dirname "$0")/.."
repo=$(pwd -P)
cache=$repo/target/v2vm
mkdir -p "$cache"
log() { echo "vm-cgroup2: $*" >&2; }

[ "$(id -u)" = 0 ] || { log "needs root"; exit 2; }

# What the VM needs on the host: qemu and a static busybox (the initramfs' only binary).
need=""
command -v qemu-system-x86_64 >/dev/null 2>&1 || need="$need qemu-system-x86"
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx switch_root || need="$need busybox-static"
if [ -n "$need" ]; then
    log "installing:$need"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

# The guest kernel: Debian's current linux-image-*-amd64, unpacked, not installed.
kdir=$cache/kernel
if [ ! -f "$kdir/vmlinuz" ] || [ ! -f "$kdir/modules/overlay.ko" ]; then
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[^ ]*\).*/\1/p' | head -n 1)
    if [ -z "$pkg" ]; then
        apt-get update -qq
        pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[^ ]*\).*/\1/p' | head -n 1)
    fi
    [ -n "$pkg" ] || { log "cannot find the linux-image-amd64 dependency with apt-cache"; exit 1; }
    log "downloading $pkg"
    rm -rf "$cache/dl" "$kdir"
    mkdir -p "$cache/dl" "$kdir/modules"
    # apt's sandbox user cannot write into target/: download as root, quietly.
    (cd "$cache/dl" && apt-get download -q "$pkg" 2>&1 | grep -v 'unsandboxed' >&2 || true)
    deb=$(ls "$cache/dl"/linux-image-*.deb 2>/dev/null | head -n 1)
    [ -n "$deb" ] || { log "apt-get download $pkg failed"; exit 1; }
    dpkg-deb -x "$deb" "$cache/dl/x"
    cp "$cache"/dl/x/boot/vmlinuz-* "$kdir/vmlinuz"
    # Dependency order (from each module's depends=): virtio transport, 9p, virtio-blk;
    # fuse for /dev/fuse (10:229, the device the conformance suite's device rules open);
    # overlay for the runtime's read-only copy of itself (ongi::exe).
    for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
             netfs fscache 9pnet 9pnet_virtio 9p virtio_blk fuse overlay; do
        f=$(find "$cache"/dl/x/lib/modules -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n 1)
        [ -n "$f" ] || { log "$pkg has no module $m"; exit 1; }
        # busybox insmod takes plain .ko files only.
        case $f in
            *.xz) xz -dc "$f" > "$kdir/modules/$m.ko" ;;
            *.zst) zstd -dqc "$f" > "$kdir/modules/$m.ko" ;;
            *) cp "$f" "$kdir/modules/$m.ko" ;;
        esac
    done
    echo "$pkg" > "$kdir/package"
    rm -rf "$cache/dl"
fi

# The test binaries, built by the command scripts/test.sh runs before this script (so
# nothing is rebuilt there), and the conformance runner and its static in-container
# checker, built as conformance/run.sh builds them.
log "building (cargo test --release --workspace --no-run; conformance runner and checker)"
{
    cargo test --release --workspace --no-run &&
        cargo build --release -p ongi-cli -p ongi-conformance --bin ongi --bin conformance \
            --bin oci-check
} 2> "$cache/build.log" || { cat "$cache/build.log" >&2; exit 1; }
# Plan lines "NAME KIND PATH": the library's unit tests (lib), every integration test
# binary (tests/NAME.rs: runtime-lib's api, runtime-cli's cgroups, exec, ...; not the
# client tests), then the
# conformance suite. Cargo prints e.g.
#   "  Executable tests/cgroups.rs (target/x86_64-unknown-linux-gnu/release/deps/cgroups-0123abcd)"
plan=$cache/plan
{
    sed -n 's|^ *Executable unittests src/lib\.rs (\(.*\))$|lib test \1|p' "$cache/build.log"
    # clients_* drive containerd/docker/podman daemons: they test the runc contract, not the
    # cgroup version, and run on the host only.
    sed -n 's|^ *Executable tests/\([a-z_0-9]*\)\.rs (\(.*\))$|\1 test \2|p' "$cache/build.log" |
        grep -v '^clients_' |
        # engine_deps runs cargo, which needs a writable cargo home; ongictl_images and
        # ongictl_podman drive podman and dockerd like the client tests: host only.
        # ongictl_build_docker compares with a private dockerd: host only too.
        grep -v '^engine_deps ' | grep -v '^ongictl_images ' | grep -v '^ongictl_podman ' |
        grep -v '^ongictl_build_docker ' |
        # ongictl_network*, _netperf, _dns and _compose*: veths, bridges and nftables, for
        # which the guest kernel loads no modules (virtio, 9p, fuse and overlay only); they do
        # not depend on the cgroup version.
        grep -v -E '^ongictl_(network|netperf|dns|compose)'
    echo "conformance conformance target/x86_64-unknown-linux-gnu/release/conformance"
} > "$plan.all"
if [ "$#" -gt 0 ]; then
    : > "$plan"
    for t in "$@"; do
        grep "^$t " "$plan.all" >> "$plan" || { log "no test binary named $t"; exit 2; }
    done
else
    cp "$plan.all" "$plan"
fi
rm -f "$plan.all"
[ "$(grep -c ' test ' "$plan")" -gt 0 ] || [ "$#" -gt 0 ] ||
    { log "no test binary found in the cargo output"; cat "$cache/build.log" >&2; exit 1; }

# The initramfs: busybox, the modules, and an init that mounts the host's / (9p) and hands
# over to this script's --guest part (switch_root: pivot_root cannot leave an initramfs).
ird=$cache/initramfs
rm -rf "$ird"
mkdir -p "$ird/bin" "$ird/lib/modules" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/newroot"
cp /bin/busybox "$ird/bin/busybox"
cp "$kdir"/modules/*.ko "$ird/lib/modules/"
cat > "$ird/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \\
         netfs fscache 9pnet 9pnet_virtio 9p virtio_blk fuse overlay; do
    insmod /lib/modules/\$m.ko || echo "V2VM: insmod \$m failed"
done
# cache=loose: the share does not change while the VM runs, and exec/mmap are much faster.
if ! mount -t 9p -o ro,trans=virtio,version=9p2000.L,cache=loose,msize=512000 host /newroot; then
    echo "V2VM-END 1 (cannot mount the host share)"
    echo o > /proc/sysrq-trigger
fi
# A checkout under /tmp or /run (a CI clone, say) stays visible through the tmpfs mounts.
mkdir -p /keep
mount --bind /newroot$repo /keep
mount -t tmpfs -o mode=1777 tmp /newroot/tmp
mount -t tmpfs -o mode=755 run /newroot/run
[ -d /newroot$repo/scripts ] || { mkdir -p /newroot$repo && mount --move /keep /newroot$repo; }
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /bin/sh "$repo/scripts/vm-cgroup2.sh" --guest "$repo" "$plan"
EOF
chmod 755 "$ird/init"
(cd "$ird" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) > "$cache/initramfs.cpio"

# A small disk, so that the guest has a block device for io.max (tests pick the first
# non-loop, non-ram one).
[ -f "$cache/disk.img" ] || dd if=/dev/zero of="$cache/disk.img" bs=1M count=8 2>/dev/null

# KVM when it works. An openable /dev/kvm is not enough: under some nested hypervisors the
# guest hangs in the kernel's decompressor (and -cpu host cannot even set
# IA32_ARCH_CAPABILITIES), so a bare kernel must reach its first console line within 20 s
# (it then panics for want of a root and qemu exits: about a second with KVM).
accel="-accel tcg,thread=multi -cpu max"
why="no usable /dev/kvm"
case ${V2VM_ACCEL:-auto} in
    tcg) why="V2VM_ACCEL=tcg" ;;
    *)
        if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
            kvm="-enable-kvm -cpu host,-arch-capabilities"
            # shellcheck disable=SC2086
            timeout -k 5 20 qemu-system-x86_64 $kvm -m 256 -display none -serial stdio \
                -no-reboot -kernel "$kdir/vmlinuz" -append "console=ttyS0 panic=-1" -nic none \
                < /dev/null > "$cache/kvm-probe.log" 2>&1 || true
            if grep -q 'Linux version' "$cache/kvm-probe.log"; then
                accel=$kvm
            else
                why="KVM guests do not boot here (see $cache/kvm-probe.log)"
            fi
        fi
        ;;
esac
case $accel in
    *tcg*) mode=TCG; log "running under TCG emulation (slower): $why" ;;
    *) mode=KVM ;;
esac
# 20 minutes: under TCG the engine's tests (build, health, compose waits) and conformance
# now take longer than the 10 minutes that used to be enough (CI's run was cut off in
# conformance at 600 s with every test binary passed).
limit=${V2VM_TIMEOUT:-1200}
log "booting $(cat "$kdir/package") with $mode ($(wc -l < "$plan") test binaries, limit ${limit}s)"
start=$(date +%s)
console=$cache/console.log
# shellcheck disable=SC2086
timeout -k 10 "$limit" qemu-system-x86_64 $accel -smp 2 -m 2048 -nographic -no-reboot \
    -kernel "$kdir/vmlinuz" -initrd "$cache/initramfs.cpio" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" \
    -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
    -drive file="$cache/disk.img",format=raw,if=virtio \
    -nic none < /dev/null > "$console" 2>&1 && qrc=0 || qrc=$?
elapsed=$(($(date +%s) - start))
# The serial console ends lines with CRLF.
tr -d '\r' < "$console" > "$console.txt" && mv "$console.txt" "$console"
cat "$console"
end=$(sed -n 's/^V2VM-END \([0-9]*\).*/\1/p' "$console" | tail -n 1)
result=$(grep '^V2VM-RESULT ' "$console" | tail -n 1 || true)
passed=$(echo "$result" | sed -n 's/.* passed=\([0-9]*\).*/\1/p')
failed=$(echo "$result" | sed -n 's/.* failed=\([0-9]*\).*/\1/p')
echo
grep '^V2VM-BINARY ' "$console" || true
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    echo "cgroup2 VM: timed out after ${limit}s (${passed:-0} passed, ${failed:-0} failed so far)"
    exit 1
fi
if [ -z "$end" ] || [ -z "$result" ]; then
    echo "cgroup2 VM: no result from the VM after ${elapsed}s (qemu exit $qrc): see $console"
    exit 1
fi
echo "$result" | sed 's/^V2VM-RESULT /cgroup2 VM: /'
conf=$(echo "$result" | sed -n 's/.* conformance=\([^ ]*\).*/\1/p')
echo "cgroup2 VM: ${passed} passed, ${failed} failed; conformance passed/failed: ${conf:-?} (pure cgroup v2, $(cat "$kdir/package"), $mode, ${elapsed}s)"
[ "$end" = 0 ]
