/*
 * The ELF entry point of `ongi` (build.rs links it with -e ongi_prestart): the protected
 * re-execution of ongi::exe::protect, done before glibc starts.
 *
 * Why: `create`, `run` and `exec` re-execute themselves from a read-only bind mount of the
 * binary (CVE-2019-5736, see runtime-lib/src/exe.rs), so each of them starts the program
 * twice. glibc's start-up alone costs ~0.5 ms on the benchmark VM: init_cpu_features and
 * the cache-size probing execute ~75 CPUID instructions, each a VM exit (~7 us there), and
 * the static-pie self-relocation faults in .data.rel.ro. Doing the re-execution here, with
 * raw system calls before _start, means glibc starts once per command instead of twice.
 *
 * This is only a fast path to the same state. It does exactly what protect() does with
 * its first choice (open_tree(OPEN_TREE_CLONE) of /proc/self/exe, mount_setattr(RDONLY),
 * the copy checked, execveat with _ONGI_EXE_PROTECTED=1 added to the environment), and on
 * anything unexpected it just jumps to _start: ongi_main then calls protect() as before,
 * which finds the binary already protected, or re-executes the slow way (overlay, memfd),
 * or reports the error. The re-executed process always goes through protect(), which
 * removes the mark and checks /proc/self/exe again.
 *
 * Constraints: this runs before the static-pie relocates itself, before TLS and before
 * glibc's IFUNCs (memcpy, strlen, ...) are resolved. So: no global data holding pointers
 * (only string literals, addressed PC-relative), no libc calls, no stack protector (its
 * canary lives in TLS), no compiler-generated memcpy/memset (build.rs compiles with
 * -ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns -fno-stack-protector and
 * checks that the object needs no symbol but _start).
 */

#define SYS_close 3
#define SYS_fcntl 72
#define SYS_fstatfs 138
#define SYS_open 2
#define SYS_open_tree 428
#define SYS_mount_setattr 442
#define SYS_execveat 322

#define O_RDONLY 0
#define O_CLOEXEC 02000000
#define AT_FDCWD (-100)
#define AT_EMPTY_PATH 0x1000
#define OPEN_TREE_CLONE 1
#define MOUNT_ATTR_RDONLY 0x1
#define MOUNT_ATTR_NOSUID 0x2
#define MOUNT_ATTR_NODEV 0x4
#define F_GET_SEALS 1034
#define F_SEAL_SHRINK 0x2
#define F_SEAL_GROW 0x4
#define F_SEAL_WRITE 0x8
#define ST_RDONLY 1

/* The environment array is built on the stack; a larger environment takes the slow path. */
#define MAX_ENV 1024

typedef unsigned long u64;

struct mount_attr {
	u64 attr_set, attr_clr, propagation, userns_fd;
};

/* struct statfs of x86_64: only f_flags is read. */
struct statfs64 {
	long f_type, f_bsize;
	u64 f_blocks, f_bfree, f_bavail, f_files, f_ffree;
	int f_fsid[2];
	long f_namelen, f_frsize, f_flags, f_spare[4];
};

static long sys6(long n, long a, long b, long c, long d, long e)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}

static int eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

static int starts_with(const char *s, const char *prefix)
{
	while (*prefix && *s == *prefix) {
		s++;
		prefix++;
	}
	return *prefix == 0;
}

/* ongi.rs' enters_container: the first word that is not a flag (nor the value of
 * --root, --log or --log-format) is create, run or exec. */
static int enters_container(char **argv)
{
	for (int i = 1; argv[i]; i++) {
		const char *a = argv[i];
		if (eq(a, "--root") || eq(a, "--log") || eq(a, "--log-format")) {
			if (!argv[++i])
				return 0;
		} else if (a[0] != '-') {
			return eq(a, "create") || eq(a, "run") || eq(a, "exec");
		}
	}
	return 0;
}

/* exe.rs' protection_of: a sealed memfd or a file on a read-only mount. */
static int is_protected(int fd)
{
	const long seals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW;
	long s = sys6(SYS_fcntl, fd, F_GET_SEALS, 0, 0, 0);
	if (s >= 0 && (s & seals) == seals)
		return 1;
	struct statfs64 st;
	if (sys6(SYS_fstatfs, fd, (long)&st, 0, 0, 0) < 0)
		return -1;
	return (st.f_flags & ST_RDONLY) != 0;
}

/* Returns (to _start) unless it re-executes. */
__attribute__((used, visibility("hidden"))) void ongi_prestart_c(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	if (argc < 2 || !enters_container(argv))
		return;
	long n = 0;
	for (; envp[n]; n++) {
		/* A re-executed process: protect() checks it and removes the mark. */
		if (starts_with(envp[n], "_ONGI_EXE_PROTECTED="))
			return;
	}
	if (n + 2 > MAX_ENV)
		return;

	long exe = sys6(SYS_open, (long)"/proc/self/exe", O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (exe < 0)
		return;
	int done = is_protected(exe);
	sys6(SYS_close, exe, 0, 0, 0, 0);
	if (done != 0)
		return;

	long tree = sys6(SYS_open_tree, AT_FDCWD, (long)"/proc/self/exe",
			 OPEN_TREE_CLONE | O_CLOEXEC, 0, 0);
	if (tree < 0)
		return;
	struct mount_attr attr;
	attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
	attr.attr_clr = 0;
	attr.propagation = 0;
	attr.userns_fd = 0;
	if (sys6(SYS_mount_setattr, tree, (long)"", AT_EMPTY_PATH, (long)&attr, sizeof attr) < 0)
		goto out;
	/* What execveat runs must pass the check the re-executed process makes: through
	 * /proc/self/fd/N, as openat cannot open "" of an fd. */
	char path[32] = "/proc/self/fd/";
	int len = 14;
	char digits[12];
	int nd = 0;
	for (long v = tree; nd == 0 || v > 0; v /= 10)
		digits[nd++] = (char)('0' + v % 10);
	while (nd > 0)
		path[len++] = digits[--nd];
	path[len] = 0;
	long copy = sys6(SYS_open, (long)path, O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (copy < 0)
		goto out;
	done = is_protected(copy);
	sys6(SYS_close, copy, 0, 0, 0, 0);
	if (done != 1)
		goto out;

	char *env[MAX_ENV];
	for (long i = 0; i < n; i++)
		env[i] = envp[i];
	env[n] = "_ONGI_EXE_PROTECTED=1";
	env[n + 1] = 0;
	sys6(SYS_execveat, tree, (long)"", (long)argv, (long)env, AT_EMPTY_PATH);
out:
	sys6(SYS_close, tree, 0, 0, 0, 0);
}

/* The kernel's initial stack and registers go to _start unchanged: rsp and rdx (rtld_fini,
 * 0 from the kernel) are kept in callee-saved registers across the call. */
__asm__(".text\n"
	".globl ongi_prestart\n"
	".type ongi_prestart,@function\n"
	"ongi_prestart:\n"
	"	mov %rsp, %rbx\n"
	"	mov %rdx, %r12\n"
	"	mov %rsp, %rdi\n"
	"	and $-16, %rsp\n"
	"	call ongi_prestart_c\n"
	"	mov %rbx, %rsp\n"
	"	mov %r12, %rdx\n"
	"	xor %ebx, %ebx\n"
	"	xor %r12d, %r12d\n"
	"	jmp _start\n"
	".size ongi_prestart, .-ongi_prestart\n");
