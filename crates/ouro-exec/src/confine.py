# ouro-exec slot harness, part 1 of 2: building the sandbox (cgroups, namespaces and
# mounts, Landlock, seccomp, preimports). Concatenated ahead of harness.py, which calls
# these functions from main(); at that point harness.py's CONFIG, WARNINGS, _libc,
# _syscall and prctl exist. Only constants run at load time here.


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
    cpu = CONFIG.get("cgroup_cpu_procs")
    if cpu:
        try:
            with open(cpu, "w") as f:
                f.write(str(os.getpid()))
        except OSError as e:
            WARNINGS.append("no equal CPU share for this slot (cannot join %s: %s)" % (cpu, e))
    return ok and bool(CONFIG.get("cgroup_procs"))


# ---------------------------------------------------------------- namespaces
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
NS_FLAGS = [("userns", CLONE_NEWUSER), ("mntns", CLONE_NEWNS), ("pidns", CLONE_NEWPID),
            ("netns", CLONE_NEWNET), ("ipcns", CLONE_NEWIPC), ("utsns", CLONE_NEWUTS)]


def enter_user_namespace(uid_map, gid_map, deny_setgroups):
    """unshare(CLONE_NEWUSER) with these maps; False (and a warning) when it fails. An
    unprivileged caller may map its own ids only, and only with setgroups denied."""
    if _libc.unshare(CLONE_NEWUSER) != 0:
        WARNINGS.append("unshare(user) failed: %s" % _err())
        return False
    try:
        if deny_setgroups:
            with open("/proc/self/setgroups", "w") as f:
                f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(uid_map)
        with open("/proc/self/gid_map", "w") as f:
            f.write(gid_map)
    except OSError as e:
        WARNINGS.append("user namespace maps failed: %s" % e)
        return False
    return True


def unshare_each():
    """The namespaces after the user namespace, each on its own; the failures."""
    got, failed = set(), []
    for name, flag in NS_FLAGS[1:]:
        if _libc.unshare(flag) == 0:
            got.add(name)
        else:
            failed.append("unshare(%s) failed: %s" % (name, _err()))
    return got, failed


def enter_mapped_user_namespace(ids):
    """unshare(CLONE_NEWUSER) with `ids` mapped through, for root without CAP_SYS_ADMIN.
    Mapping ids other than one's own takes CAP_SETUID in the parent namespace, which the
    caller gives up by entering the new one, so a child forked first writes the maps."""
    go_r, go_w = os.pipe()
    helper = os.fork()
    if helper == 0:
        try:
            os.close(go_w)
            os.read(go_r, 1)
            parent = os.getppid()
            for name in ("uid_map", "gid_map"):
                with open("/proc/%d/%s" % (parent, name), "w") as f:
                    f.write(ids)
            os._exit(0)
        except BaseException:
            os._exit(1)
    os.close(go_r)
    entered = _libc.unshare(CLONE_NEWUSER) == 0
    err = _err()
    os.write(go_w, b"x" if entered else b"")
    os.close(go_w)
    _, status = os.waitpid(helper, 0)
    if not entered:
        WARNINGS.append("unshare(user) failed: %s" % err)
        return False
    if status != 0:
        return None  # inside a user namespace without maps: nothing works from here
    return True


def trial(fn):
    """fn() in a throwaway child; whether it returned True there."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if fn() is True else 1)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return status == 0


def unshare_namespaces(slot_uid):
    got = set()
    if os.geteuid() != 0:
        uid, gid = os.geteuid(), os.getegid()
        if enter_user_namespace("0 %d 1" % uid, "0 %d 1" % gid, True):
            got.add("userns")
    more, failed = unshare_each()
    if os.geteuid() == 0 and "userns" not in got and not more:
        # Root without CAP_SYS_ADMIN (a container's default) cannot make namespaces
        # itself, but a user namespace of its own gives it the capabilities for the rest.
        # Root and the slot's uid are mapped through, so samples still switch uid. Tried
        # in a child first: a failed map would strand this process without any uid.
        ids = "0 0 1\n%d %d 1" % (slot_uid, slot_uid)
        if trial(lambda: enter_mapped_user_namespace(ids)):
            entered = enter_mapped_user_namespace(ids)
            if entered is None:
                refuse("a user namespace opened but its uid maps failed, where a trial run "
                       "of the same had worked")
            if entered:
                got.add("userns")
                more, failed = unshare_each()
        else:
            failed.append("no namespace of root's own making, nor inside a user namespace "
                          "with the slot's uid mapped through")
    WARNINGS.extend(failed)
    return got | more


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
    # multiprocessing's locks, queues and pools are POSIX semaphores, which glibc makes
    # under /dev/shm: the slot gets one of its own (the host's is never opened), emptied
    # after every sample (empty_shm), its pages charged to the slot's memory cgroup.
    global PRIVATE_SHM
    if mount("tmpfs", SHM, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=%dm" % SHM_MB):
        PRIVATE_SHM = True
    else:
        WARNINGS.append("cannot mount a private %s (multiprocessing will fail): %s" % (SHM, _err()))
    return {g for g in got if not g.startswith("/")}


MS_REMOUNT = 32
MS_NOEXEC = 8
SHM, SHM_MB = "/dev/shm", 16
PRIVATE_SHM = False


def empty_shm():
    """What a sample left in the slot's /dev/shm, removed before the next one runs."""
    if not PRIVATE_SHM:
        return
    try:
        names = os.listdir(SHM)
    except OSError:
        return
    for name in names:
        path = os.path.join(SHM, name)
        try:
            os.unlink(path)
        except IsADirectoryError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


IPC_RMID = 0


def empty_sysv_ipc():
    """SysV shared memory, message queues and semaphores a sample made, removed
    before the next one runs: the slot's IPC namespace outlives its samples, and
    they share a uid. Only in a namespace of the slot's own (never the host's)."""
    if "ipcns" not in ACHIEVED:
        return
    for table, rmid in (("shm", lambda i: _libc.shmctl(i, IPC_RMID, None)),
                        ("msg", lambda i: _libc.msgctl(i, IPC_RMID, None)),
                        ("sem", lambda i: _libc.semctl(i, 0, IPC_RMID))):
        try:
            with open("/proc/sysvipc/" + table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 1 and fields[1].isdigit():
                rmid(int(fields[1]))


# ---------------------------------------------------------------- landlock
LL_FS = {"execute": 1 << 0, "write_file": 1 << 1, "read_file": 1 << 2, "read_dir": 1 << 3,
         "remove_dir": 1 << 4, "remove_file": 1 << 5, "make_char": 1 << 6, "make_dir": 1 << 7,
         "make_reg": 1 << 8, "make_sock": 1 << 9, "make_fifo": 1 << 10, "make_block": 1 << 11,
         "make_sym": 1 << 12, "refer": 1 << 13, "truncate": 1 << 14, "ioctl_dev": 1 << 15}
SYS_LL_CREATE, SYS_LL_ADD, SYS_LL_RESTRICT = 444, 445, 446


LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET, LANDLOCK_SCOPE_SIGNAL = 1, 2
# Set by landlock() for sample_layer(): (ruleset attributes, write rights, /dev/null's).
SAMPLE_LAYER = None


def _ruleset(attr):
    buf = ctypes.create_string_buffer(attr, len(attr))
    return _syscall(SYS_LL_CREATE, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))


def _add_rule(rfd, path, access):
    """0 on success, -1 (errno set) when the rule was refused, None when `path` is absent."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return None
    rule = ctypes.create_string_buffer(struct.pack("<Qi", access, fd), 12)
    rc = _syscall(SYS_LL_ADD, ctypes.c_int(rfd), ctypes.c_int(1), rule, ctypes.c_uint32(0))
    os.close(fd)
    return rc


def _attr(abi, fs, net, scoped):
    return struct.pack("<QQQ", fs, net, scoped)[:8 if abi < 4 else (16 if abi < 6 else 24)]


def landlock():
    global SAMPLE_LAYER
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
    scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET if abi >= 6 else 0
    rfd = _ruleset(_attr(abi, fs_all, net_all, scoped))
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
    if PRIVATE_SHM:
        rules.append((SHM, fs_all))
    for path, access in rules:
        if not os.path.isdir(path):
            access &= LL_FS["execute"] | LL_FS["write_file"] | LL_FS["read_file"] | (LL_FS["truncate"] if abi >= 3 else 0)
        if _add_rule(rfd, path, access & fs_all) == -1:
            WARNINGS.append("landlock rule for %s failed: %s" % (path, _err()))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    if _syscall(SYS_LL_RESTRICT, ctypes.c_int(rfd), ctypes.c_uint32(0)) != 0:
        WARNINGS.append("landlock_restrict_self failed: %s" % _err())
        os.close(rfd)
        return None
    os.close(rfd)
    # The server's layer lets a sample write anywhere in the slot's workdir. Without a uid
    # switch (a caller without root) the workdir's permissions stop nothing either, and a
    # sample may signal its server, so each sample adds a layer that keeps its writes in its
    # own directory (no file left for the next sample, no directory made where the server
    # will make the next one) and, from ABI 6, its signals among its own processes. With the
    # switch the uid already does both; the layer would cost about 7% of a sample's sandbox CPU.
    writes = fs_all & ~readx
    sample_scoped = (LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL) if abi >= 6 else 0
    SAMPLE_LAYER = (_attr(abi, writes, 0, sample_scoped), writes, LL_FS["write_file"])
    return abi


def sample_layer(sdir):
    """In a sample's process, before it runs anything: the layer landlock() prepared.
    Raises when it cannot be made, so the sample is not run without it."""
    if SAMPLE_LAYER is None:
        return
    attr, writes, devnull = SAMPLE_LAYER
    rfd = _ruleset(attr)
    if rfd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    try:
        shm = ((SHM, writes),) if PRIVATE_SHM else ()
        for path, access in ((sdir, writes), ("/dev/null", devnull)) + shm:
            if _add_rule(rfd, path, access) == -1:
                raise OSError(ctypes.get_errno(), "landlock_add_rule " + path)
        if _syscall(SYS_LL_RESTRICT, ctypes.c_int(rfd), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(rfd)


# ---------------------------------------------------------------- seccomp
# What a sample is refused (EPERM), by name, beside two rules for clone: a namespace flag
# is refused, and clone3 (its flags behind a pointer) answers ENOSYS so libc falls back to
# clone. Numbers per architecture (x86_64's own table, arm64's the generic one), checked
# against the kernel's headers by tests/seccomp_tables.rs.
SECCOMP_DENY = (
    "socket", "socketpair", "ptrace", "mount", "umount2", "unshare", "setns", "bpf", "keyctl",
    "add_key", "request_key", "perf_event_open", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "userfaultfd", "pivot_root", "chroot", "swapon", "swapoff", "reboot",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "process_vm_readv", "process_vm_writev", "open_by_handle_at", "name_to_handle_at",
    "fanotify_init", "acct", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount",
    "fspick", "mount_setattr", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime",
    "quotactl", "syslog", "vhangup", "lookup_dcookie", "kcmp", "process_madvise",
    "pidfd_getfd",
)
AUDIT_ARCH_64BIT_LE = 0x80000000 | 0x40000000
SECCOMP_ARCH = {
    "x86_64": (AUDIT_ARCH_64BIT_LE | 62, {
        "socket": 41, "socketpair": 53, "ptrace": 101, "mount": 165, "umount2": 166,
        "unshare": 272, "setns": 308, "bpf": 321, "keyctl": 250, "add_key": 248,
        "request_key": 249, "perf_event_open": 298, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "userfaultfd": 323, "pivot_root": 155, "chroot": 161,
        "swapon": 167, "swapoff": 168, "reboot": 169, "kexec_load": 246, "kexec_file_load": 320,
        "init_module": 175, "finit_module": 313, "delete_module": 176, "process_vm_readv": 310,
        "process_vm_writev": 311, "open_by_handle_at": 304, "name_to_handle_at": 303,
        "fanotify_init": 300, "acct": 163, "open_tree": 428, "move_mount": 429, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "settimeofday": 164,
        "clock_settime": 227, "adjtimex": 159, "clock_adjtime": 305, "quotactl": 179,
        "syslog": 103, "vhangup": 153, "lookup_dcookie": 212, "kcmp": 312, "process_madvise": 440,
        "pidfd_getfd": 438, "clone": 56, "clone3": 435,
    }),
    "aarch64": (AUDIT_ARCH_64BIT_LE | 183, {
        "socket": 198, "socketpair": 199, "ptrace": 117, "mount": 40, "umount2": 39,
        "unshare": 97, "setns": 268, "bpf": 280, "keyctl": 219, "add_key": 217,
        "request_key": 218, "perf_event_open": 241, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "userfaultfd": 282, "pivot_root": 41, "chroot": 51,
        "swapon": 224, "swapoff": 225, "reboot": 142, "kexec_load": 104, "kexec_file_load": 294,
        "init_module": 105, "finit_module": 273, "delete_module": 106, "process_vm_readv": 270,
        "process_vm_writev": 271, "open_by_handle_at": 265, "name_to_handle_at": 264,
        "fanotify_init": 262, "acct": 89, "open_tree": 428, "move_mount": 429, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "settimeofday": 170,
        "clock_settime": 112, "adjtimex": 171, "clock_adjtime": 266, "quotactl": 60,
        "syslog": 116, "vhangup": 58, "lookup_dcookie": 18, "kcmp": 272, "process_madvise": 440,
        "pidfd_getfd": 438, "clone": 220, "clone3": 435,
    }),
}
CLONE_NS_MASK = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | 0x02000000  # NEWCGROUP


def seccomp():
    import platform
    machine = platform.machine()
    if machine not in SECCOMP_ARCH:
        WARNINGS.append("seccomp deny-list not built for %s (only %s); not installed"
                        % (machine, ", ".join(SECCOMP_ARCH)))
        return False
    audit_arch, nr = SECCOMP_ARCH[machine]
    BPF_LD_W_ABS, BPF_JEQ_K, BPF_JGE_K, BPF_JSET_K, BPF_RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
    RET_ALLOW, RET_KILL, RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
    ins = []

    def op(code, jt, jf, k):
        ins.append(struct.pack("<HBBI", code, jt, jf, k & 0xFFFFFFFF))

    op(BPF_LD_W_ABS, 0, 0, 4)  # arch
    op(BPF_JEQ_K, 1, 0, audit_arch)
    op(BPF_RET_K, 0, 0, RET_KILL)
    op(BPF_LD_W_ABS, 0, 0, 0)  # nr
    if machine == "x86_64":
        op(BPF_JGE_K, 0, 1, 0x40000000)  # the x32 ABI's syscalls
        op(BPF_RET_K, 0, 0, RET_ERRNO | errno.EPERM)
    op(BPF_JEQ_K, 0, 1, nr["clone3"])
    op(BPF_RET_K, 0, 0, RET_ERRNO | errno.ENOSYS)
    op(BPF_JEQ_K, 0, 3, nr["clone"])
    op(BPF_LD_W_ABS, 0, 0, 16)  # args[0] low word: clone's flags on both architectures
    op(BPF_JSET_K, 0, 1, CLONE_NS_MASK)
    op(BPF_RET_K, 0, 0, RET_ERRNO | errno.EPERM)
    op(BPF_LD_W_ABS, 0, 0, 0)
    for n in sorted({nr[name] for name in SECCOMP_DENY}):
        op(BPF_JEQ_K, 0, 1, n)
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
# Not `queue` (nor anything else that imports `threading`): threading's at-fork
# hook rebuilds its thread bookkeeping in every forked child, which cost each
# sample about 130 page faults and 0.37 ms; the few samples that use it import it.
PREIMPORT = ["math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string",
             "random", "json", "typing", "fractions", "decimal", "statistics", "hashlib", "datetime",
             "copy", "operator", "array", "numbers", "cmath", "textwrap", "unicodedata", "struct",
             "enum", "dataclasses", "io", "abc", "time", "traceback", "tempfile", "sys"]


def add_site_packages():
    # -S keeps `site` from putting the interpreter's site-packages on the path (and
    # from running their .pth files, which stay unrun: editable installs do not
    # import), and from making a venv's directory sys.prefix. Both are done here as
    # site would, so samples import what `--python` has installed, after the standard
    # library, and Landlock (which opens sys.prefix) lets them read it.
    try:
        import site
        prefixes = [sys.prefix]
        exe_dir = os.path.dirname(sys.executable)
        venv = os.path.dirname(exe_dir)
        cfg = next((c for c in (os.path.join(exe_dir, "pyvenv.cfg"), os.path.join(venv, "pyvenv.cfg"))
                    if os.path.isfile(c)), None)
        if cfg:
            system = False
            with open(cfg) as f:
                for line in f:
                    key, _, value = line.partition("=")
                    if key.strip().lower() == "include-system-site-packages":
                        system = value.strip().lower() == "true"
            sys.prefix = sys.exec_prefix = venv
            prefixes = [venv] + ([sys.base_prefix] if system else [])
        dirs = site.getsitepackages(prefixes)
    except Exception as e:
        WARNINGS.append("no site-packages for samples: %s" % e)
        return
    for d in dirs:
        if d not in sys.path and os.path.isdir(d):
            sys.path.append(d)


def add_site_builtins():
    # What `site` adds to builtins, which -S leaves out too: `exit()` and `quit()`
    # end many a stdin/stdout program, as they do under `python3` and APPS'
    # harness (a NameError otherwise).
    import builtins
    import _sitebuiltins
    for name in ("exit", "quit"):
        if not hasattr(builtins, name):
            setattr(builtins, name, _sitebuiltins.Quitter(name, "Ctrl-D (i.e. EOF)"))


def preimport():
    for m in PREIMPORT:
        try:
            __import__(m)
        except Exception as e:
            WARNINGS.append("preimport %s failed: %s" % (m, e))
