//! criterion benches of the library's hot pieces: what every `create` pays before clone.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::PathBuf;

fn bundle_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ongi-criterion-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("rootfs")).expect("mkdir bench bundle");
    let mut spec = ongi::spec::default_spec(false);
    spec["process"]["terminal"] = serde_json::json!(false);
    std::fs::write(dir.join("config.json"), spec.to_string()).expect("write config.json");
    dir
}

fn config(c: &mut Criterion) {
    let dir = bundle_dir();
    c.bench_function("config.json load+validate", |b| {
        b.iter(|| ongi::spec::check_bundle(black_box(&dir)).expect("check"))
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn state(c: &mut Criterion) {
    // The runtime's default root is on /run (tmpfs); measure there, not on a disk.
    let base = if std::path::Path::new("/run").is_dir() {
        PathBuf::from("/run")
    } else {
        std::env::temp_dir()
    };
    let root = base.join(format!("ongi-criterion-state-{}", std::process::id()));
    let sd = ongi::bench::StateFixture::new(&root, "bench").expect("state dir");
    c.bench_function("state save", |b| b.iter(|| sd.save().expect("save")));
    c.bench_function("state load", |b| b.iter(|| sd.load().expect("load")));
    let _ = std::fs::remove_dir_all(&root);
}

fn mounts(c: &mut Criterion) {
    let opts = [
        "nosuid",
        "noexec",
        "nodev",
        "mode=1777",
        "size=65536k",
        "rprivate",
        "ro",
    ];
    c.bench_function("mount options parse", |b| {
        b.iter(|| ongi::bench::parse_mount_options(black_box(&opts[..])))
    });
}

/// A Docker-like default profile's shape: allow-list of ~300 syscalls, ERRNO default,
/// a few argument rules.
fn seccomp(c: &mut Criterion) {
    let names: Vec<&str> = SYSCALLS.split_whitespace().collect();
    let spec: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            { "names": names, "action": "SCMP_ACT_ALLOW" },
            { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
              "args": [ { "index": 0, "value": 0, "op": "SCMP_CMP_EQ" } ] },
            { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
              "args": [ { "index": 0, "value": 8, "op": "SCMP_CMP_EQ" } ] },
            { "names": ["clone"], "action": "SCMP_ACT_ALLOW",
              "args": [ { "index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ" } ] }
        ]
    }))
    .expect("seccomp json");
    c.bench_function("seccomp filter build (300 syscalls)", |b| {
        b.iter(|| ongi::bench::compile_seccomp(black_box(&spec)).expect("compile"))
    });
}

fn cgroups(c: &mut Criterion) {
    c.bench_function("cgroup dirs + placement", |b| {
        b.iter(|| ongi::bench::cgroup_placement(black_box("bench")))
    });
}

const SYSCALLS: &str =
    "accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown \
    chown32 clock_adjtime clock_getres clock_gettime clock_nanosleep close close_range connect \
    copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_pwait \
    epoll_pwait2 epoll_wait eventfd eventfd2 execve execveat exit exit_group faccessat \
    faccessat2 fadvise64 fallocate fanotify_mark fchdir fchmod fchmodat fchown fchownat fcntl \
    fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstatfs fsync \
    ftruncate futex getcpu getcwd getdents getdents64 getegid geteuid getgid getgroups \
    getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid \
    getresuid getrlimit get_robust_list getrusage getsid getsockname getsockopt gettid \
    gettimeofday getuid getxattr inotify_add_watch inotify_init inotify_init1 \
    inotify_rm_watch io_cancel ioctl io_destroy io_getevents ioprio_get ioprio_set io_setup \
    io_submit kill lchown lgetxattr link linkat listen listxattr llistxattr lremovexattr \
    lseek lsetxattr lstat madvise membarrier memfd_create mincore mkdir mkdirat mknod mknodat \
    mlock mlock2 mlockall mmap mprotect mq_getsetattr mq_notify mq_open mq_timedreceive \
    mq_timedsend mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap \
    nanosleep newfstatat open openat openat2 pause pipe pipe2 poll ppoll prctl pread64 preadv \
    preadv2 prlimit64 pselect6 pwrite64 pwritev pwritev2 read readahead readlink readlinkat \
    readv recvfrom recvmmsg recvmsg remap_file_pages removexattr rename renameat renameat2 \
    restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo \
    rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo sched_getaffinity \
    sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min \
    sched_getscheduler sched_rr_get_interval sched_setaffinity sched_setattr sched_setparam \
    sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop send \
    sendfile sendmmsg sendmsg sendto setfsgid setfsuid setgid setgroups setitimer setpgid \
    setpriority setregid setresgid setresuid setreuid setrlimit set_robust_list setsid \
    setsockopt set_tid_address setuid setxattr shmat shmctl shmdt shmget shutdown \
    sigaltstack signalfd signalfd4 socket socketpair splice stat statfs statx symlink \
    symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete \
    timer_getoverrun timer_gettime timer_settime timerfd_create timerfd_gettime \
    timerfd_settime times tkill truncate umask uname unlink unlinkat utime utimensat utimes \
    vfork vmsplice wait4 waitid waitpid write writev arch_prctl";

criterion_group!(benches, config, state, mounts, seccomp, cgroups);
criterion_main!(benches);
