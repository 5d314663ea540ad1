# ouro-exec slot harness: builds one sandbox, then serves samples by fork.
#
# Started by the Rust executor as `python3 -s -S -P -c <this file> <config json>`
# (-I minus -E, so that PYTHONHASHSEED=0 from the cleared environment applies
# and runs are reproducible). Everything in this file runs BEFORE any untrusted
# code; untrusted code only ever runs in a forked child after setuid, rlimits,
# Landlock and seccomp are in force.
#
# Protocol on fd 0/1 (pipes to the Rust parent): frames of a 4-byte
# little-endian length followed by UTF-8 JSON. The first frame out is `hello`
# (isolation achieved, warnings); then one response per request.
#
# The verdict is decided by the Rust parent, never here: this file reports
# what happened (exit status, resource use, the raw result channel, stdout).

import os, sys, json, struct, time, select, signal, resource, ctypes, errno, ast, random, builtins, shutil

CONFIG = json.loads(sys.argv[1])
WARNINGS = []
ACHIEVED = []
_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def _err():
    e = ctypes.get_errno()
    return "%s(%d)" % (errno.errorcode.get(e, "?"), e)


def write_frame(obj):
    data = json.dumps(obj).encode()
    buf = struct.pack("<I", len(data)) + data
    while buf:
        n = os.write(1, buf)
        buf = buf[n:]


def read_exact(n):
    chunks = []
    while n:
        b = os.read(0, n)
        if not b:
            return None
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def read_frame():
    head = read_exact(4)
    if head is None:
        return None
    (n,) = struct.unpack("<I", head)
    body = read_exact(n)
    return None if body is None else json.loads(body)


PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


def prctl(opt, arg2=0, arg3=0, arg4=0, arg5=0):
    return _libc.prctl(opt, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(arg4), ctypes.c_ulong(arg5))


# ---------------------------------------------------------------- cgroups
def join_cgroups():
    ok = True
    for path in CONFIG.get("cgroup_procs", []):
        try:
            with open(path, "w") as f:
                f.write(str(os.getpid()))
        except OSError as e:
            ok = False
            WARNINGS.append("cannot join cgroup %s: %s" % (path, e))
    return ok and bool(CONFIG.get("cgroup_procs"))


# ---------------------------------------------------------------- namespaces
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
NS_FLAGS = [("userns", CLONE_NEWUSER), ("mntns", CLONE_NEWNS), ("pidns", CLONE_NEWPID),
            ("netns", CLONE_NEWNET), ("ipcns", CLONE_NEWIPC), ("utsns", CLONE_NEWUTS)]


def unshare_namespaces():
    got = set()
    if os.geteuid() != 0:
        uid, gid = os.geteuid(), os.getegid()
        if _libc.unshare(CLONE_NEWUSER) == 0:
            try:
                with open("/proc/self/setgroups", "w") as f:
                    f.write("deny")
                with open("/proc/self/uid_map", "w") as f:
                    f.write("0 %d 1" % uid)
                with open("/proc/self/gid_map", "w") as f:
                    f.write("0 %d 1" % gid)
                got.add("userns")
            except OSError as e:
                WARNINGS.append("user namespace maps failed: %s" % e)
        else:
            WARNINGS.append("unshare(user) failed: %s" % _err())
    for name, flag in NS_FLAGS[1:]:
        if _libc.unshare(flag) == 0:
            got.add(name)
        else:
            WARNINGS.append("unshare(%s) failed: %s" % (name, _err()))
    return got


MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 16384, 1 << 18


def mount(src, target, fstype, flags, data=None):
    r = _libc.mount(src.encode() if src else None, target.encode(), fstype.encode() if fstype else None,
                    ctypes.c_ulong(flags), data.encode() if data else None)
    return r == 0


def setup_mounts(ns):
    """Private /proc, tmpfs working dir, interpreter reachable for the sandbox uid."""
    got = set()
    if "mntns" not in ns:
        return got
    if not mount(None, "/", None, MS_REC | MS_PRIVATE):
        WARNINGS.append("cannot make / private: %s" % _err())
        return got
    if "pidns" in ns:
        if mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV):
            got.add("proc")
        else:
            WARNINGS.append("cannot mount private /proc: %s" % _err())
    # The interpreter may live under a directory the sandbox uid cannot
    # traverse (pyenv under /root). Hide that directory behind a tmpfs and
    # bind only the interpreter's prefixes back, read-only.
    prefixes = sorted({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                                      sys.base_exec_prefix)})
    for prefix in prefixes:
        parts = prefix.split("/")
        blocked = None
        for i in range(2, len(parts) + 1):
            d = "/".join(parts[:i]) or "/"
            st = os.stat(d)
            if not (st.st_mode & 0o001):
                blocked = d
                break
        if blocked is None:
            continue
        fd = os.open(prefix, os.O_PATH)
        if blocked not in got:
            if not mount("tmpfs", blocked, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m"):
                WARNINGS.append("cannot hide %s: %s" % (blocked, _err()))
                continue
            got.add(blocked)
        os.makedirs(prefix, exist_ok=True)
        if not mount("/proc/self/fd/%d" % fd, prefix, None, MS_BIND | MS_REC):
            WARNINGS.append("cannot bind interpreter prefix %s: %s" % (prefix, _err()))
        else:
            mount(None, prefix, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)
        os.close(fd)
    got.discard("/root")
    work = CONFIG["workdir"]
    os.makedirs(work, exist_ok=True)
    if mount("tmpfs", work, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0711,size=%dm" % CONFIG.get("tmpfs_mb", 64)):
        got.add("tmpfs")
    else:
        WARNINGS.append("cannot mount tmpfs on %s: %s" % (work, _err()))
    return {g for g in got if not g.startswith("/")}


MS_REMOUNT = 32


# ---------------------------------------------------------------- landlock
LL_FS = {"execute": 1 << 0, "write_file": 1 << 1, "read_file": 1 << 2, "read_dir": 1 << 3,
         "remove_dir": 1 << 4, "remove_file": 1 << 5, "make_char": 1 << 6, "make_dir": 1 << 7,
         "make_reg": 1 << 8, "make_sock": 1 << 9, "make_fifo": 1 << 10, "make_block": 1 << 11,
         "make_sym": 1 << 12, "refer": 1 << 13, "truncate": 1 << 14, "ioctl_dev": 1 << 15}
SYS_LL_CREATE, SYS_LL_ADD, SYS_LL_RESTRICT = 444, 445, 446


def landlock():
    abi = _syscall(SYS_LL_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        WARNINGS.append("Landlock unavailable: %s" % _err())
        return None
    fs_all = (1 << 13) - 1
    if abi >= 2:
        fs_all |= LL_FS["refer"]
    if abi >= 3:
        fs_all |= LL_FS["truncate"]
    if abi >= 5:
        fs_all |= LL_FS["ioctl_dev"]
    net_all = 3 if abi >= 4 else 0
    scoped = 1 if abi >= 6 else 0  # abstract unix sockets; signals are scoped per child below
    attr = struct.pack("<QQQ", fs_all, net_all, scoped)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    buf = ctypes.create_string_buffer(attr[:size], size)
    rfd = _syscall(SYS_LL_CREATE, buf, ctypes.c_size_t(size), ctypes.c_uint32(0))
    if rfd < 0:
        WARNINGS.append("landlock_create_ruleset failed: %s" % _err())
        return None
    read = LL_FS["read_file"] | LL_FS["read_dir"]
    readx = read | LL_FS["execute"]
    rules = [(p, readx) for p in sorted({os.path.realpath(x) for x in (
        sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)))})]
    rules += [("/usr", readx), ("/lib", readx), ("/lib64", readx), ("/proc", read),
              ("/dev/null", LL_FS["read_file"] | LL_FS["write_file"]), ("/dev/urandom", LL_FS["read_file"]),
              ("/etc/localtime", LL_FS["read_file"])]
    rules.append((CONFIG["workdir"], fs_all))
    for path, access in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        if not os.path.isdir(path):
            access &= LL_FS["execute"] | LL_FS["write_file"] | LL_FS["read_file"] | (LL_FS["truncate"] if abi >= 3 else 0)
        rule = ctypes.create_string_buffer(struct.pack("<Qi", access & fs_all, fd), 12)
        if _syscall(SYS_LL_ADD, ctypes.c_int(rfd), ctypes.c_int(1), rule, ctypes.c_uint32(0)) != 0:
            WARNINGS.append("landlock rule for %s failed: %s" % (path, _err()))
        os.close(fd)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    if _syscall(SYS_LL_RESTRICT, ctypes.c_int(rfd), ctypes.c_uint32(0)) != 0:
        WARNINGS.append("landlock_restrict_self failed: %s" % _err())
        os.close(rfd)
        return None
    os.close(rfd)
    return abi


# ---------------------------------------------------------------- seccomp
AUDIT_ARCH_X86_64 = 0xC000003E
DENY_X86_64 = {
    "socket": 41, "socketpair": 53, "ptrace": 101, "mount": 165, "umount2": 166, "unshare": 272,
    "setns": 308, "bpf": 321, "keyctl": 250, "add_key": 248, "request_key": 249,
    "perf_event_open": 298, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "userfaultfd": 323, "pivot_root": 155, "chroot": 161, "swapon": 167, "swapoff": 168,
    "reboot": 169, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
    "finit_module": 313, "delete_module": 176, "process_vm_readv": 310, "process_vm_writev": 311,
    "open_by_handle_at": 304, "name_to_handle_at": 303, "fanotify_init": 300, "acct": 163,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442, "settimeofday": 164, "clock_settime": 227,
    "adjtimex": 159, "clock_adjtime": 305, "quotactl": 179, "syslog": 103, "vhangup": 153,
    "lookup_dcookie": 212, "kcmp": 312, "process_madvise": 440, "pidfd_getfd": 438,
}
CLONE_NS_MASK = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | 0x02000000  # NEWCGROUP


def seccomp():
    import platform
    if platform.machine() != "x86_64":
        WARNINGS.append("seccomp deny-list only built for x86_64; not installed")
        return False
    BPF_LD_W_ABS, BPF_JEQ_K, BPF_JSET_K, BPF_RET_K = 0x20, 0x15, 0x45, 0x06
    RET_ALLOW, RET_KILL, RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
    ins = []

    def op(code, jt, jf, k):
        ins.append(struct.pack("<HBBI", code, jt, jf, k & 0xFFFFFFFF))

    op(BPF_LD_W_ABS, 0, 0, 4)  # arch
    op(BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64)
    op(BPF_RET_K, 0, 0, RET_KILL)
    op(BPF_LD_W_ABS, 0, 0, 0)  # nr
    # x32 ABI syscalls
    op(0x35, 0, 1, 0x40000000)  # JGE
    op(BPF_RET_K, 0, 0, RET_ERRNO | errno.EPERM)
    op(BPF_JEQ_K, 0, 1, 435)  # clone3: flags are behind a pointer; make libc fall back to clone
    op(BPF_RET_K, 0, 0, RET_ERRNO | errno.ENOSYS)
    op(BPF_JEQ_K, 0, 3, 56)  # clone: refuse namespace flags
    op(BPF_LD_W_ABS, 0, 0, 16)  # args[0] low word
    op(BPF_JSET_K, 0, 1, CLONE_NS_MASK)
    op(BPF_RET_K, 0, 0, RET_ERRNO | errno.EPERM)
    op(BPF_LD_W_ABS, 0, 0, 0)
    nrs = sorted(set(DENY_X86_64.values()))
    for nr in nrs:
        op(BPF_JEQ_K, 0, 1, nr)
        op(BPF_RET_K, 0, 0, RET_ERRNO | errno.EPERM)
    op(BPF_RET_K, 0, 0, RET_ALLOW)
    prog = b"".join(ins)
    filt = ctypes.create_string_buffer(prog, len(prog))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(ins), ctypes.addressof(filt))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    if _libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog), 0, 0) != 0:
        WARNINGS.append("seccomp filter failed: %s" % _err())
        return False
    return True


# ---------------------------------------------------------------- preimport
PREIMPORT = ["math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string",
             "random", "json", "typing", "fractions", "decimal", "statistics", "hashlib", "datetime",
             "copy", "operator", "array", "numbers", "cmath", "textwrap", "unicodedata", "struct",
             "enum", "dataclasses", "io", "abc", "queue", "time", "traceback", "tempfile", "sys"]


def preimport():
    for m in PREIMPORT:
        try:
            __import__(m)
        except Exception as e:
            WARNINGS.append("preimport %s failed: %s" % (m, e))


# ---------------------------------------------------------------- test scripts
_TEST_CACHE = {}


def _contains_assert(node):
    return any(isinstance(n, ast.Assert) for n in ast.walk(node))


def compile_tests(script, entry_point):
    """Split an assert script into (setup code, [(code, is_test)], candidate mode).

    HumanEval: the script defines check(candidate); its top-level statements
    other than check run as setup, and each top-level statement of check's
    body runs on its own, with `candidate` bound. MBPP: each top-level
    statement runs on its own. A statement containing an assert is a test.
    """
    key = (script, entry_point)
    hit = _TEST_CACHE.get(key)
    if hit is not None:
        return hit
    tree = ast.parse(script, "<tests>")
    check = None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check" and len(node.args.args) == 1:
            check = node
    steps = []
    if check is not None:
        setup = ast.Module(body=[n for n in tree.body if n is not check and not _is_check_call(n)], type_ignores=[])
        setup_code = compile(setup, "<tests>", "exec")
        param = check.args.args[0].arg
        for stmt in check.body:
            mod = ast.Module(body=[stmt], type_ignores=[])
            steps.append((compile(mod, "<tests>", "exec"), _contains_assert(stmt)))
        result = (setup_code, steps, param)
    else:
        for stmt in tree.body:
            mod = ast.Module(body=[stmt], type_ignores=[])
            steps.append((compile(mod, "<tests>", "exec"), _contains_assert(stmt)))
        result = (None, steps, None)
    if len(_TEST_CACHE) > 512:
        _TEST_CACHE.clear()
    _TEST_CACHE[key] = result
    return result


def _is_check_call(node):
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "check")


# ---------------------------------------------------------------- child side
RFD = 997  # result channel; the lines carry the per-sample nonce


def _exc_name(e):
    name = getattr(type(e), "__name__", "Exception")
    return "".join(c for c in str(name) if c.isalnum() or c == "_")[:60] or "Exception"


def child_main(req, tests, ntests):
    """Runs in the forked child after the sandbox is applied. Never returns."""
    _write, _exit, _exec, _compile = os.write, os._exit, builtins.exec, builtins.compile
    _BaseException = BaseException
    prefix = req["nonce"].encode() + b" "
    stdout, stderr = sys.stdout, sys.stderr

    def report(line):
        try:
            _write(RFD, prefix + line.encode() + b"\n")
        except _BaseException:
            pass

    def flush():
        for s in (stdout, stderr):
            try:
                s.flush()
            except _BaseException:
                pass

    # From here on a child_setup exit code (111) is the sample's doing.
    report("B")
    if req["kind"] == "spy":
        spy_main(req, tests, report)
    calls = req.get("calls")
    if calls is not None:
        calls = decode_calls(calls)
    try:
        code = _compile(req["code"], "<solution>", "exec")
    except (SyntaxError, ValueError) as e:
        report("E syntax %s" % _exc_name(e))
        _exit(0)
    io_mode = req["kind"] == "io"
    ns = {"__name__": "__main__" if io_mode else "__solution__", "__builtins__": builtins}
    try:
        _exec(code, ns)
    except SystemExit as e:
        flush()
        if io_mode:
            c = e.code
            report("X %d" % (0 if c is None else (c if isinstance(c, int) else 1)))
        else:
            report("L SystemExit")
        _exit(0)
    except _BaseException as e:
        flush()
        report("L %s" % _exc_name(e))
        _exit(0)
    flush()
    if io_mode:
        report("X 0")
        _exit(0)
    report("U")
    setup_code, steps, param = tests
    if calls is not None:
        fn = ns.get(req["entry_point"]) if req["entry_point"] else None
        if fn is None:
            report("S NameError")
            _exit(0)
        run_calls(fn, calls, report)
        if not req.get("run_script"):
            flush()
            report("D %d" % ntests)
            _exit(0)
    skip = set(req.get("skip") or ())
    try:
        if setup_code is not None:
            _exec(setup_code, ns)
            if req["entry_point"] not in ns:
                raise NameError(req["entry_point"])
            ns[param] = ns[req["entry_point"]]
        elif req["entry_point"] and req["entry_point"] not in ns:
            raise NameError(req["entry_point"])
    except _BaseException as e:
        report("S %s" % _exc_name(e))
        _exit(0)
    i = 0
    for step, is_test in steps:
        if is_test and i in skip:
            i += 1
            continue
        try:
            _exec(step, ns)
        except _BaseException as e:
            if is_test:
                report("T %d 0 %s" % (i, _exc_name(e)))
                i += 1
                continue
            report("S %s" % _exc_name(e))
            _exit(0)
        if is_test:
            report("T %d 1 -" % i)
            i += 1
    flush()
    report("D %d" % ntests)
    _exit(0)


def enter_child(req, sdir, rfd_w, stdin_fd, out_w, err_w, slot_uid):
    os.dup2(stdin_fd, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.dup2(rfd_w, RFD)
    os.closerange(3, RFD)
    os.closerange(RFD + 1, 4096)
    os.chdir(sdir)
    if os.geteuid() == 0 or "userns" in ACHIEVED:
        try:
            os.setgroups([])
        except OSError:
            pass
        os.setgid(slot_uid)
        os.setuid(slot_uid)
    lim = req["limits"]
    cpu_s = max(1, -(-lim["cpu_ms"] // 1000)) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (CONFIG.get("fsize_bytes", 16 << 20),) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (RFD + 1, RFD + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (CONFIG.get("nproc", 64),) * 2)
    except (ValueError, OSError):
        pass
    with open("/proc/self/statm") as f:
        vm_bytes = int(f.read().split()[0]) * resource.getpagesize()
    budget = vm_bytes + lim["memory_mb"] * (1 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (budget, budget))
    os.environ.clear()
    os.environ.update({"PATH": "/usr/bin:/bin", "HOME": sdir, "TMPDIR": sdir, "LANG": "C.UTF-8"})
    import tempfile
    tempfile.tempdir = sdir
    random.seed(req["seed"])
    sys.setrecursionlimit(1000)
    sys.argv = ["solution.py"]


def proc_cpu_ms(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000.0 / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


CLK_TCK = os.sysconf("SC_CLK_TCK")


def run_one(req, tests, ntests, stdin_data, seq):
    lim = req["limits"]
    sdir = os.path.join(CONFIG["workdir"], "s%d" % seq)
    os.mkdir(sdir, 0o700)
    os.chown(sdir, SLOT_UID, SLOT_UID)
    if stdin_data:
        inpath = os.path.join(CONFIG["workdir"], ".stdin%d" % seq)
        with open(inpath, "wb") as f:
            f.write(stdin_data)
        stdin_fd = os.open(inpath, os.O_RDONLY)
        os.unlink(inpath)
    else:
        stdin_fd = os.open("/dev/null", os.O_RDONLY)
    res_r, res_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            for fd in (res_r, out_r, err_r):
                os.close(fd)
            enter_child(req, sdir, res_w, stdin_fd, out_w, err_w, SLOT_UID)
            child_main(req, tests, ntests)
        except BaseException as e:
            try:
                os.write(2, ("ouro harness: child setup failed: %r\n" % (e,)).encode())
            except BaseException:
                pass
        os._exit(111)
    for fd in (res_w, out_w, err_w, stdin_fd):
        os.close(fd)
    pfd = os.pidfd_open(pid)
    poll = select.poll()
    names = {res_r: "res", out_r: "out", err_r: "err"}
    bufs = {"res": bytearray(), "out": bytearray(), "err": bytearray()}
    for fd in names:
        os.set_blocking(fd, False)
        poll.register(fd, select.POLLIN)
    poll.register(pfd, select.POLLIN)
    out_cap = lim["output_bytes"]
    total_out = 0
    killed = None
    wall_s = lim["wall_ms"] / 1000.0
    cpu_ms = lim["cpu_ms"]
    open_fds = set(names)

    def drain(fd):
        nonlocal total_out
        try:
            while True:
                b = os.read(fd, 65536)
                if not b:
                    poll.unregister(fd)
                    open_fds.discard(fd)
                    return
                name = names[fd]
                if name == "res":
                    if len(bufs["res"]) < (16 << 20):
                        bufs["res"] += b
                else:
                    total_out += len(b)
                    buf = bufs[name]
                    buf += b
                    if name == "err" and len(buf) > 8192:
                        del buf[:-4096]
                    elif name == "out" and len(buf) > out_cap + 1:
                        del buf[out_cap + 1:]
        except BlockingIOError:
            return

    exited = False
    while not exited:
        elapsed = time.monotonic() - t0
        timeout_ms = max(1, int(min(wall_s - elapsed, 0.05) * 1000))
        for fd, ev in poll.poll(timeout_ms):
            if fd == pfd:
                exited = True
            else:
                drain(fd)
        if total_out > out_cap:
            killed = "output"
            break
        elapsed = time.monotonic() - t0
        if exited:
            break
        if elapsed >= wall_s:
            killed = "wall"
            break
        if elapsed > cpu_ms / 1000.0 * 0.5 and proc_cpu_ms(pid) >= cpu_ms:
            killed = "cpu"
            break
    if killed:
        os.kill(pid, signal.SIGKILL)
    _, status, ru = os.wait4(pid, 0)
    wall_ms = (time.monotonic() - t0) * 1000.0
    # Kill and reap every leftover process in the slot (we are pid 1 of its namespace).
    leftovers = kill_and_reap()
    for fd in list(open_fds):
        drain(fd)
    for fd in names:
        os.close(fd)
    os.close(pfd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000.0
    if killed is None and os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL) \
            and cpu >= cpu_ms:
        killed = "cpu"
    if killed is None and total_out > out_cap:
        killed = "output"
    try:
        os.rmdir(sdir)
    except OSError:
        shutil.rmtree(sdir, ignore_errors=True)
    return {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "killed": killed,
        "cpu_ms": cpu,
        "wall_ms": wall_ms,
        "max_rss_kb": ru.ru_maxrss,
        "result": bufs["res"].decode("utf-8", "replace"),
        "stdout": bytes(bufs["out"][:out_cap]).decode("utf-8", "replace") if req["kind"] == "io" else "",
        "stderr_tail": bytes(bufs["err"][-2048:]).decode("utf-8", "replace"),
        "leftovers": leftovers,
    }


def kill_and_reap():
    n = 0
    if os.getpid() == 1:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if os.getpid() == 1 else os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        n += 1
    return n


def serve():
    seq = 0
    while True:
        req = read_frame()
        if req is None:
            return
        resp = {"runs": [], "ntests": None, "test_error": None}
        tests, ntests = None, 0
        if req["kind"] == "assert" and req.get("calls") is not None and not req.get("run_script"):
            # Judged wholly in isolation: the script is withheld from this
            # process (its children run sample code), only inputs come.
            tests, ntests = (None, [], None), req["ntests"]
            resp["ntests"] = ntests
            inputs = [b""]
        elif req["kind"] in ("assert", "spy"):
            try:
                tests = compile_tests(req["script"], req["entry_point"])
                ntests = sum(1 for _, t in tests[1] if t)
                resp["ntests"] = ntests
            except (SyntaxError, ValueError) as e:
                resp["test_error"] = "test script does not compile: %s" % e
                write_frame(resp)
                continue
            inputs = [b""]
        else:
            inputs = [s.encode() for s in req["cases"]]
        for data in inputs:
            seq += 1
            run = run_one(req, tests, ntests, data, seq)
            resp["runs"].append(run)
            if run["killed"] in ("cpu", "wall"):
                break
        write_frame(resp)


def main():
    global SLOT_UID
    SLOT_UID = CONFIG.get("uid", 61000)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    cg = join_cgroups()
    ns = unshare_namespaces()
    ACHIEVED.extend(sorted(ns))
    if "pidns" in ns:
        pid = os.fork()
        if pid != 0:
            # Relay: holds nothing, waits for the slot's pid 1 and mirrors its fate.
            for fd in range(3, 256):
                try:
                    os.close(fd)
                except OSError:
                    pass
            _, status = os.waitpid(pid, 0)
            os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    mounts = setup_mounts(ns)
    ACHIEVED.extend(sorted(mounts))
    if "tmpfs" not in mounts:
        os.makedirs(CONFIG["workdir"], exist_ok=True)
    if "utsns" in ns:
        _libc.sethostname(b"sandbox", 7)
    os.chown(CONFIG["workdir"], 0, 0)
    os.chmod(CONFIG["workdir"], 0o711)
    preimport()
    # Objects that exist now are never collected: the collector then never
    # writes to their pages, so forked children share them copy-free.
    import gc
    gc.collect()
    gc.freeze()
    if os.geteuid() == 0 or "userns" in ns:
        ACHIEVED.append("uid")
    else:
        WARNINGS.append("cannot switch to a sandbox uid (not root, no user namespace)")
    abi = landlock()
    if abi:
        ACHIEVED.append("landlock%d" % abi)
    if seccomp():
        ACHIEVED.append("seccomp")
    if cg:
        ACHIEVED.append("cgroup")
    write_frame({"hello": True, "isolation": ACHIEVED, "warnings": WARNINGS, "pid": os.getpid(),
                 "python": sys.version.split()[0]})
    serve()


main()
