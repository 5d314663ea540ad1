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

import os, sys, json, struct, time, select, signal, resource, ctypes, errno, ast, random, builtins, shutil, fcntl, tempfile, gc

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


# Bound when the harness loads, before any sample code: a sample that patches the
# builtins (str, type) or gives its exception class a metaclass `__name__` must not
# choose the error_kind written to the executions.
def _exc_name(e, _type=type, _name=type.__dict__["__name__"].__get__, _isalnum=str.isalnum,
              _join="".join):
    try:
        name = _name(_type(e))
    except BaseException:
        return "Exception"
    return _join(c for c in name if _isalnum(c) or c == "_")[:60] or "Exception"


# Deterministic cost: Python line events executed in the solution's own code
# while the tests run. Clock readings are noise on a shared machine; this
# count is the same on every run of the same program and inputs. Work done
# inside C builtins (sorted, str.join) counts as one line, and so does a
# line of threads other than the main one. Counting stops at COST_CAP so
# that tracing (which slows Python code 2-8x) stays bounded.
COST_CAP = 1_000_000
# The C trace function (linecount.c), loaded by main() when ouro-exec could
# build it; it counts exactly what the Python tracer below counts.
LINECOUNT = None


def load_linecount(path):
    global LINECOUNT
    import importlib.machinery, importlib.util
    try:
        loader = importlib.machinery.ExtensionFileLoader("_ouro_linecount", path)
        spec = importlib.util.spec_from_file_location("_ouro_linecount", path, loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        LINECOUNT = module
    except Exception as e:
        WARNINGS.append("line counter %s not loaded (%s): counting in Python, slower" % (path, e))


def _no_cost():
    return None


def cost_counter():
    """Returns (start, stop): stop() gives the count, or None when the
    solution replaced the tracer (its count can't be trusted) or the run
    does not count (ExecOptions::count_lines)."""
    if not CONFIG.get("count_lines", True):
        return _no_cost, _no_cost
    _settrace, _gettrace, sol = sys.settrace, sys.gettrace, "<solution>"
    native = LINECOUNT
    if native is not None:
        _start, _counted = native.start, native.counted

        def start():
            _start(COST_CAP)

        def stop():
            current = _gettrace()
            _settrace(None)
            n, capped = _counted()
            if current is native or capped:
                return min(n, COST_CAP)
            return None

        return start, stop
    n = [0]

    def local(frame, event, arg):
        if event == "line":
            n[0] += 1
            if n[0] >= COST_CAP:
                _settrace(None)
                return None
        return local

    def call(frame, event, arg):
        if frame.f_code.co_filename == sol:
            n[0] += 1
            if n[0] >= COST_CAP:
                _settrace(None)
                return None
            return local
        return None

    def start():
        _settrace(call)

    def stop():
        current = _gettrace()
        _settrace(None)
        if current is call or n[0] >= COST_CAP:
            return min(n[0], COST_CAP)
        return None

    return start, stop


def child_main(req, tests, ntests, calls):
    """Runs in the forked child after the sandbox is applied. Never returns."""
    _write, _exit, _exec, _compile = os.write, os._exit, builtins.exec, builtins.compile
    _BaseException = BaseException
    prefix = req["nonce"].encode() + b" "
    stdout, stderr = sys.stdout, sys.stderr

    def report(line):
        try:
            _write(RFD, prefix + line.encode() + b"\n")
            return True
        except _BaseException:
            return False

    def flush():
        for s in (stdout, stderr):
            try:
                s.flush()
            except _BaseException:
                pass

    def tell(e, head=None):
        """Writes a short traceback to stderr: the failing test's line, the
        sample's own frames (the last few), the exception. Caught exceptions
        would otherwise leave stderr empty, and a repair record's feedback
        with nothing but the exception's name."""
        try:
            # Split here, on a failure only: a passing sample never pays for it.
            code_lines = req["code"].splitlines()
            script_lines = (req.get("script") or "").splitlines()
            lines, frames, tb = [head] if head else [], [], e.__traceback__
            while tb is not None:
                name, n = tb.tb_frame.f_code.co_filename, tb.tb_lineno
                source = code_lines if name == "<solution>" else script_lines if name == "<tests>" else ()
                if 0 < n <= len(source) and (name == "<solution>" or not frames):
                    frames.append('  File "%s", line %d\n    %s' % (name, n, source[n - 1].strip()[:200]))
                tb = tb.tb_next
            lines.extend(frames[:1] + frames[1:][-3:] if len(frames) > 4 else frames)
            message = str(e)[:500]
            lines.append(_exc_name(e) + (": " + message if message else ""))
            flush()
            _write(2, ("\n".join(lines) + "\n").encode("utf-8", "replace"))
        except _BaseException:
            pass

    # From here on a child_setup exit code (111) is the sample's doing.
    report("B")
    if req["kind"] == "spy":
        spy_main(req, tests, report)
    try:
        code = _compile(req["code"], "<solution>", "exec")
    except (SyntaxError, ValueError) as e:
        report("E syntax %s" % _exc_name(e))
        _exit(0)
    io_mode = req["kind"] == "io"
    # The sample's globals are a real module's, registered under its name, so what
    # looks a function up by module (pickle, hence multiprocessing) finds it.
    module = type(sys)("__main__" if io_mode else "__solution__")
    sys.modules[module.__name__] = module
    ns = module.__dict__
    ns["__builtins__"] = builtins
    for line in (req.get("header") or "").splitlines():
        try:
            _exec(_compile(line, "<header>", "exec"), ns)
        except _BaseException:
            pass
    cost_start, cost_stop = cost_counter()

    def report_cost():
        c = cost_stop()
        if c is not None:
            report("C %d" % c)

    # An I/O program's test is the whole program; an assert script's tests
    # are the steps after loading, so only io mode counts the module's body.
    if io_mode:
        cost_start()
    try:
        _exec(code, ns)
    except SystemExit as e:
        if io_mode:
            report_cost()
        flush()
        if io_mode:
            c = e.code
            report("X %d" % (0 if c is None else (c if isinstance(c, int) else 1)))
        else:
            report("L SystemExit")
        _exit(0)
    except _BaseException as e:
        flush()
        tell(e, "Traceback (the program, while loading):")
        report("L %s" % _exc_name(e))
        _exit(0)
    if io_mode:
        report_cost()
    flush()
    if io_mode:
        report("X 0")
        _exit(0)
    report("U")
    setup_code, steps, param = tests
    if calls is not None:
        # The script's module-level imports (HumanEval's `import math`, MBPP's
        # test_setup_code), which the official harnesses run in the solution's
        # globals before the tests: a solution may lean on them. Only imports
        # come (the prelude); the script itself stays withheld.
        prelude = req.get("prelude") or ""
        if prelude:
            try:
                _exec(_compile(prelude, "<tests>", "exec"), ns)
            except _BaseException as e:
                tell(e, "Traceback (the tests' setup):")
                report("S %s" % _exc_name(e))
                _exit(0)
        fn = ns.get(req["entry_point"]) if req["entry_point"] else None
        if fn is None:
            report("S NameError")
            _exit(0)
        cost_start()
        run_calls(fn, calls, report, tell)
        report_cost()
        if not req.get("run_script"):
            flush()
            report("D %d" % ntests)
            _exit(0)
    skip = set(req.get("skip") or ())
    steps_ns = ns
    try:
        if setup_code is not None:
            _exec(setup_code, ns)
            if req["entry_point"] not in ns:
                raise NameError(req["entry_point"])
            # check's body runs as a function's would: what it assigns (an
            # EvalPlus `results = [...]`) is its own, not the program's, whose
            # functions keep reading their module globals (a `results` memo).
            steps_ns = dict(ns)
            steps_ns[param] = ns[req["entry_point"]]
        elif req["entry_point"] and req["entry_point"] not in ns:
            raise NameError(req["entry_point"])
    except _BaseException as e:
        tell(e, "Traceback (the tests' setup):")
        report("S %s" % _exc_name(e))
        _exit(0)
    i = 0
    told = False
    if calls is None:
        cost_start()
    for step, is_test in steps:
        if is_test and i in skip:
            i += 1
            continue
        try:
            _exec(step, steps_ns)
        except _BaseException as e:
            if is_test:
                # The first failure only: it is what a fix starts from, and
                # stderr's tail is kept short.
                if not told:
                    told = True
                    tell(e, "Traceback (test %d failed):" % (i + 1))
                report("T %d 0 %s" % (i, _exc_name(e)))
                i += 1
                continue
            tell(e, "Traceback (the tests' setup):")
            report("S %s" % _exc_name(e))
            _exit(0)
        if is_test:
            report("T %d 1 -" % i)
            i += 1
    if calls is None:
        report_cost()
    flush()
    report("D %d" % ntests)
    _exit(0)


def enter_child(req, sdir, rfd_w, stdin_fd, out_w, err_w, slot_uid, vm_bytes):
    os.dup2(stdin_fd, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.dup2(rfd_w, RFD)
    os.closerange(3, RFD)
    os.closerange(RFD + 1, 4096)
    os.chdir(sdir)
    if not SWITCH_UID:
        sample_layer(sdir)
    if SWITCH_UID:
        try:
            os.setgroups([])
        except OSError:
            pass
        os.setgid(slot_uid)
        os.setuid(slot_uid)
    elif "userns" in ACHIEVED:
        drop_capabilities()
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
    budget = vm_bytes + lim["memory_mb"] * (1 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (budget, budget))
    # Here, not before the fork: `random` reseeds itself from the OS in every
    # forked child (an at-fork hook), which would replace a seed set earlier.
    random.seed(req["seed"])


PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
# NOROOT, NO_SETUID_FIXUP and KEEP_CAPS, each locked (KEEP_CAPS itself off): uid 0 regains
# nothing through execve or a uid change.
SECUREBITS_NO_ROOT_POWERS = 0x3F & ~0x10
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_capabilities():
    """For a child that stays uid 0 of its user namespace: a caller without root maps
    only its own uid there, so there is no other uid to switch to. It gives up every
    capability the namespace granted, now and across execve."""
    for cap in range(64):
        if prctl(PR_CAPBSET_DROP, cap) != 0:
            break  # EINVAL: past the kernel's last capability
    if prctl(PR_SET_SECUREBITS, SECUREBITS_NO_ROOT_POWERS) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECUREBITS")
    data = (_CapData * 2)()
    if _libc.capset(ctypes.byref(_CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def before_fork(req, sdir):
    """The child's process state that needs no sandbox: set here, in the server,
    the child inherits it without writing a page. Every page a child writes is
    a copy-on-write fault; the environment and the statm file object written
    in the child had cost about 80 of them a sample, a tenth of its faults.
    Returns the address-space size the child starts with."""
    os.environ.clear()
    os.environ.update({"PATH": "/usr/bin:/bin", "HOME": sdir, "TMPDIR": sdir, "LANG": "C.UTF-8"})
    tempfile.tempdir = sdir
    fd = os.open("/proc/self/statm", os.O_RDONLY)
    try:
        return int(os.read(fd, 256).split()[0]) * resource.getpagesize()
    finally:
        os.close(fd)


PIPE_BYTES = 1 << 20
WATCH_BYTES = 256 << 10


def proc_cpu_ms(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000.0 / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


CLK_TCK = os.sysconf("SC_CLK_TCK")


def run_one(req, tests, ntests, calls, stdin_data, seq):
    lim = req["limits"]
    sdir = os.path.join(CONFIG["workdir"], "s%d" % seq)
    os.mkdir(sdir, 0o700)
    os.chown(sdir, SLOT_UID, SLOT_GID)
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
    vm_bytes = before_fork(req, sdir)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    # The child's collections then skip every object this server made since
    # start-up (the request, compiled tests, decoded calls) instead of writing
    # their headers; the server thaws them at once so its own garbage is
    # still collected.
    gc.freeze()
    pid = os.fork()
    if pid != 0:
        gc.unfreeze()
    if pid == 0:
        try:
            for fd in (res_r, out_r, err_r):
                os.close(fd)
            enter_child(req, sdir, res_w, stdin_fd, out_w, err_w, SLOT_UID, vm_bytes)
            child_main(req, tests, ntests, calls)
        except BaseException as e:
            try:
                os.write(2, ("ouro harness: child setup failed: %r\n" % (e,)).encode())
            except BaseException:
                pass
        os._exit(111)
    for fd in (res_w, out_w, err_w, stdin_fd):
        os.close(fd)
    pfd = os.pidfd_open(pid)
    # The pipes are read on a tick and when the child exits, not on every
    # write: a sample reports a line per test, and waking this process for
    # each one cost more than the test. A child that writes a lot (>= 256 KiB
    # at a tick) gets its pipes watched from then on, so it blocks on a full
    # pipe for at most one tick: 2 ms, doubling up to 50 ms as the child runs.
    poll = select.poll()
    names = {res_r: "res", out_r: "out", err_r: "err"}
    bufs = {"res": bytearray(), "out": bytearray(), "err": bytearray()}
    for fd in names:
        os.set_blocking(fd, False)
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass
    poll.register(pfd, select.POLLIN)
    watching = False
    tick = 0.002
    out_cap = lim["output_bytes"]
    total_out = 0
    # The returned values the parent judges; past this a run is stopped and
    # says so (`killed = "result"`), rather than ending as if it exited early.
    res_cap = 64 << 20
    res_over = False
    killed = None
    wall_s = lim["wall_ms"] / 1000.0
    cpu_ms = lim["cpu_ms"]
    open_fds = set(names)
    got = 0

    def drain(fd):
        nonlocal total_out, got, res_over
        try:
            while True:
                b = os.read(fd, 65536)
                if not b:
                    if watching:
                        poll.unregister(fd)
                    open_fds.discard(fd)
                    return
                got += len(b)
                name = names[fd]
                if name == "res":
                    if not res_over and len(bufs["res"]) + len(b) <= res_cap:
                        bufs["res"] += b
                    else:
                        res_over = True
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
        timeout_ms = max(1, int(min(wall_s - elapsed, tick) * 1000))
        tick = min(tick * 2, 0.05)
        for fd, ev in poll.poll(timeout_ms):
            if fd == pfd:
                exited = True
        if exited:
            break
        got = 0
        for fd in list(open_fds):
            drain(fd)
        if not watching and got >= WATCH_BYTES:
            watching = True
            for fd in open_fds:
                poll.register(fd, select.POLLIN)
        if total_out > out_cap:
            killed = "output"
            break
        if res_over:
            killed = "result"
            break
        elapsed = time.monotonic() - t0
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
    # The poll above watches the sample's own process; CPU its children burnt (reaped
    # here, as pid 1 of the slot) counts against the same budget.
    if killed is None and cpu >= cpu_ms:
        killed = "cpu"
    if killed is None and total_out > out_cap:
        killed = "output"
    if killed is None and res_over:
        killed = "result"
    try:
        os.rmdir(sdir)
    except OSError:
        shutil.rmtree(sdir, ignore_errors=True)
    empty_shm()
    empty_sysv_ipc()
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


_CALLS_CACHE = {}


def decoded_calls(wire):
    """The calls of a request, decoded once per distinct wire string: every
    child of the problem inherits the values instead of decoding them."""
    hit = _CALLS_CACHE.get(wire)
    if hit is None:
        if len(_CALLS_CACHE) >= 64:
            _CALLS_CACHE.clear()
        hit = _CALLS_CACHE[wire] = decode_calls(json.loads(wire))
    return hit


_PRELOADED = set()


def preload(header):
    """Imports a header's modules in the server, once: each child then finds
    them in sys.modules. numpy imported by every APPS child had made judging
    six times slower."""
    if not header or header in _PRELOADED:
        return
    _PRELOADED.add(header)
    for line in header.splitlines():
        try:
            exec(compile(line, "<header>", "exec"), {})
        except BaseException:
            pass


def serve():
    seq = 0
    while True:
        req = read_frame()
        if req is None:
            return
        preload(req.get("header"))
        resp = {"runs": [], "ntests": None, "test_error": None}
        tests, ntests = None, 0
        calls = None
        if req.get("calls") is not None:
            try:
                calls = decoded_calls(req["calls"])
            except Exception as e:
                resp["test_error"] = "calls do not decode: %r" % (e,)
                write_frame(resp)
                continue
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
            run = run_one(req, tests, ntests, calls, data, seq)
            resp["runs"].append(run)
            if run["killed"] in ("cpu", "wall"):
                break
        write_frame(resp)


def refuse(reason):
    """Says why this slot will run no sample, in place of its hello, and exits."""
    write_frame({"hello": True, "isolation": [], "warnings": WARNINGS,
                 "python": sys.version.split()[0], "refused": reason})
    os._exit(3)


def main():
    global SLOT_UID, SLOT_GID, SWITCH_UID
    # Only real root has other uids to give samples. Without it, samples keep the
    # caller's uid, as uid 0 of a user namespace (no capabilities, see
    # drop_capabilities); without root or a user namespace the slot refuses to start.
    SWITCH_UID = os.geteuid() == 0
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if CONFIG.get("linecount"):
        load_linecount(CONFIG["linecount"])
    cg = join_cgroups()
    ns = unshare_namespaces(CONFIG.get("uid", 61000))
    if not SWITCH_UID and "userns" not in ns:
        # Samples would run as the caller's own uid in the caller's pid namespace, free
        # to signal (kill -1) every process the caller owns: no sandbox worth the name.
        refuse("cannot sandbox samples: not running as root, and no user namespace (%s). "
               "Run as root, or allow unprivileged user namespaces (sysctl "
               "user.max_user_namespaces, and on Ubuntu "
               "kernel.apparmor_restrict_unprivileged_userns=0)" % "; ".join(WARNINGS))
    if SWITCH_UID:
        SLOT_UID = SLOT_GID = CONFIG.get("uid", 61000)
    else:
        SLOT_UID, SLOT_GID = os.geteuid(), os.getegid()
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
    os.chown(CONFIG["workdir"], os.geteuid(), os.getegid())
    os.chmod(CONFIG["workdir"], 0o711)
    add_site_packages()
    add_site_builtins()
    preimport()
    # A child's collector never writes to the server's objects, so children
    # share their pages copy-free: they are frozen here and again before each
    # fork (run_one).
    gc.collect()
    gc.freeze()
    if SWITCH_UID:
        ACHIEVED.append("uid")
    else:
        WARNINGS.append("no sandbox uid (not root): samples run as the caller's uid, as uid 0 "
                        "of a user namespace with every capability dropped")
    abi = landlock()
    if abi:
        ACHIEVED.append("landlock%d" % abi)
    if seccomp():
        ACHIEVED.append("seccomp")
    if cg:
        ACHIEVED.append("cgroup")
    write_frame({"hello": True, "isolation": ACHIEVED, "warnings": WARNINGS, "pid": os.getpid(),
                 "python": sys.version.split()[0]})
    # What every child would set the same way (see before_fork).
    sys.setrecursionlimit(1000)
    sys.argv = ["solution.py"]
    serve()


try:
    main()
except (BrokenPipeError, ConnectionError):
    # The parent is gone (interrupted or killed): nothing is listening, and
    # a traceback would only reach the user's terminal.
    os._exit(0)
