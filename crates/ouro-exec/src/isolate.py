# ouro-exec isolated judging, Python side (prepended to harness.py).
#
# Plain-data codec: the only way values cross the sandbox boundary. The wire
# form (JSON) is documented in pyvalue/mod.rs. The encoder is strict: builtin
# types only (and a returned subclass as the builtin value it holds), so an
# object's own __eq__ never decides, and the parent (Rust) decides every
# comparison.
#
# Spy pass: runs a problem's TEST script (trusted) in a fresh child with the
# asserts rewritten by ouro-python's test compiler into __ouro_case__ calls
# that record arguments and expected values. No sample code ever runs in it.

import json as _ojson
import operator as _ooperator
import sys as _osys

_PLAIN_DEPTH = 100
_PLAIN_NODES = 200000


class NotPlain(Exception):
    pass


_DICT_KEYS, _DICT_ITEMS = type({}.keys()), type({}.items())


def _equal_plain(v, t):
    """The plain value a returned Fraction, Decimal, complex or dict view
    equals under Python's ==, where every plain value compares with it as it
    would with the original (Fraction(1, 2) == 0.5, keys() == {"a"}); None
    where no plain value equals it (Fraction(1, 3) equals no float) or the
    type is none of these, so the test fails as it would in process. Modules
    are looked up, never imported: a sample that made a Fraction has imported
    fractions."""
    if t is complex:
        return (v.real,) if v.imag == 0 else None
    if t is _DICT_KEYS or t is _DICT_ITEMS:
        return (set(v),)
    for name, cls in (("fractions", "Fraction"), ("decimal", "Decimal")):
        m = _osys.modules.get(name)
        if m is None or t is not getattr(m, cls, None):
            continue
        if name == "decimal" and not v.is_finite():
            return (float(v),) if v.is_infinite() else None
        n, d = v.as_integer_ratio()
        if d == 1:
            return (n,)
        f = float(v)
        return (f,) if f.as_integer_ratio() == (n, d) else None
    return _numpy_plain(v, t)


def _numpy_plain(v, t):
    """The Python value a numpy integer or bool (np.int64, np.bool_) equals
    under ==, read through its C type's own slots: numpy's scalar types are
    immutable, and a subclass of one is not (None then, as for other types).
    APPS' header imports numpy for every program. Not np.float32: numpy
    compares it with a Python float in float32 (np.float32(0.1) == 0.1), which
    no plain value reproduces; np.float64 is a float subclass."""
    if not _TYPE_FLAGS(t) & _IMMUTABLE_TYPE or _TYPE_MODULE(t) != "numpy":
        return None
    kinds = {_TYPE_NAME(c) for c in _TYPE_MRO(t) if _TYPE_MODULE(c) == "numpy"}
    if kinds & {"bool", "bool_"}:
        return (not not v,)
    if "integer" in kinds:
        return (_ooperator.index(v),)
    return None


def encode_plain(x, bases=False):
    budget = [_PLAIN_NODES]
    _type, _int, _float, _str, _bool, _list, _tuple, _dict = type, int, float, str, bool, list, tuple, dict
    _bytes, _set, _frozenset = bytes, set, frozenset
    _issubclass = issubclass
    _bases = (
        (_int, _int.__int__),
        (_float, _float.__float__),
        (_str, _str.__str__),
        (_bytes, lambda v: _bytes.fromhex(_bytes.hex(v))),
        (_list, lambda v: _list(_list.__iter__(v))),
        (_tuple, lambda v: _tuple(_tuple.__iter__(v))),
        (_dict, lambda v: _dict(_dict.items(v))),
        (_frozenset, lambda v: _frozenset(_frozenset.__iter__(v))),
        (_set, lambda v: _set(_set.__iter__(v))),
    )

    def enc(v, depth):
        budget[0] -= 1
        if budget[0] < 0 or depth > _PLAIN_DEPTH:
            raise NotPlain("too_large")
        t = _type(v)
        if v is None or t is _bool:
            return v
        if t is _int:
            if -(1 << 63) <= v < (1 << 63):
                return v
            return {"I": format(v, "x")}
        if t is _float:
            return {"F": repr(v)}
        if t is _str:
            # A lone surrogate ('\ud800') has no UTF-8 form, so no JSON the parent
            # reads: the value is judged in process.
            if not v.isascii():
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    raise NotPlain("surrogate")
            return v
        if t is _bytes:
            return {"B": v.hex()}
        if t is _list:
            return [enc(e, depth + 1) for e in v]
        if t is _tuple:
            return {"T": [enc(e, depth + 1) for e in v]}
        if t is _dict:
            return {"D": [[enc(k, depth + 1), enc(e, depth + 1)] for k, e in v.items()]}
        if t is _set:
            return {"S": [enc(e, depth + 1) for e in v]}
        if t is _frozenset:
            return {"Z": [enc(e, depth + 1) for e in v]}
        # A returned subclass (Counter, OrderedDict, defaultdict, namedtuples, IntEnum
        # members) encodes as the value it holds, read through the base type's own
        # slots, which a subclass cannot override: the parent compares that data, never
        # the subclass's __eq__. type() is the real class, whatever __class__ claims.
        # Not for the spy's arguments and expected values: an argument must reach the
        # function as it is, and an expected Counter or OrderedDict compares by its own
        # rules, so those tests are judged in process.
        if bases:
            for base, plain in _bases:
                if _issubclass(t, base):
                    return enc(plain(v), depth)
            equal = _equal_plain(v, t)
            if equal:
                return enc(equal[0], depth)
        raise NotPlain("type")

    return enc(x, 0)


_TYPE_MRO = type.__dict__["__mro__"].__get__
_TYPE_DICT = type.__dict__["__dict__"].__get__
_TYPE_FLAGS = type.__dict__["__flags__"].__get__
_TYPE_MODULE = type.__dict__["__module__"].__get__
_TYPE_NAME = type.__dict__["__name__"].__get__
_IMMUTABLE_TYPE = 1 << 8
_ABSENT = object()
# C types whose __bool__/__len__ reads the object's own data. Others may forward the
# call to an object the sample made (types.MappingProxyType, weakref.proxy).
_TRUTH_TYPES = frozenset([
    ("re", "Match"), ("re", "Pattern"), ("decimal", "Decimal"), ("collections", "deque"),
    ("array", "array"), ("builtins", "range"), ("builtins", "bytearray"),
    ("builtins", "dict_keys"), ("builtins", "dict_values"), ("builtins", "dict_items"),
    ("builtins", "list"), ("builtins", "tuple"), ("builtins", "dict"), ("builtins", "set"),
    ("builtins", "frozenset"), ("builtins", "str"), ("builtins", "bytes"),
    ("builtins", "int"), ("builtins", "float"), ("builtins", "bool"),
])


def structural_truth(v):
    """bool(v) for a value that is not plain data (a re.Match, a Decimal), or None
    where sample code could decide it. Python takes the first __bool__ in the real
    MRO, else the first __len__, else True; that method is called only when its
    class is immutable (a C type: no sample can replace it) and reads the object's
    own data (not a proxy's target), so an object's own __bool__ never answers a
    truth check."""
    try:
        mro = _TYPE_MRO(type(v))
        for name in ("__bool__", "__len__"):
            for cls in mro:
                slot = _TYPE_DICT(cls).get(name, _ABSENT)
                if slot is _ABSENT:
                    continue
                if not _TYPE_FLAGS(cls) & _IMMUTABLE_TYPE:
                    return None
                if (_TYPE_MODULE(cls), _TYPE_NAME(cls)) not in _TRUTH_TYPES:
                    return None
                r = slot(v)
                if type(r) is bool:
                    return r
                if type(r) is int:
                    return r != 0
                return None
        return True
    except BaseException:
        return None


def decode_plain(w):
    if w is None or w is True or w is False:
        return w
    t = type(w)
    if t is int or t is str:
        return w
    if t is list:
        return [decode_plain(e) for e in w]
    ((tag, v),) = w.items()
    if tag == "I":
        return int(v, 16)
    if tag == "F":
        return float(v)
    if tag == "B":
        return bytes.fromhex(v)
    if tag == "T":
        return tuple(decode_plain(e) for e in v)
    if tag == "D":
        return {decode_plain(k): decode_plain(e) for k, e in v}
    if tag == "S":
        return {decode_plain(e) for e in v}
    if tag == "Z":
        return frozenset(decode_plain(e) for e in v)
    raise ValueError("unknown tag %r" % tag)


def dumps_plain(w):
    # ASCII only: one value is one line of the result channel.
    return _ojson.dumps(w, separators=(",", ":"))


# ---------------------------------------------------------------- spy pass
class _SpyArgs:
    __slots__ = ("a", "k")


class _SpyStop(Exception):
    pass


def _mutables(x, out, depth=0):
    """Adds every list, dict and set reachable from `x` to `out` (by id, the
    object kept so that its id is not reused); says whether one was reached
    twice."""
    if depth > 50:
        return False
    t = type(x)
    twice = False
    if t in (list, dict, set):
        if id(x) in out:
            return True
        out[id(x)] = x
    if t in (list, tuple, set, frozenset):
        for e in x:
            twice |= _mutables(e, out, depth + 1)
    elif t is dict:
        for k, e in x.items():
            twice |= _mutables(k, out, depth + 1)
            twice |= _mutables(e, out, depth + 1)
    return twice


def spy_main(req, tests, report):
    """Runs in a forked child that never sees sample code. Never returns."""
    import random
    random.seed(0)
    nvals = req["spy_nvals"]
    specs = req["spy_steps"]
    setup_code, steps, _param = tests
    if len(steps) != len(specs):
        report("X step_count")
        os._exit(0)

    def args_(*a, **k):
        r = _SpyArgs()
        r.a, r.k = a, k
        return r

    # Each argument object a call reached, with the step of that call: isolated
    # calls each get their own copy of their inputs, so calls that share one
    # (`xs = [3, 1, 2]`, then `f(xs)` twice) run in process, where the first
    # call's mutation is what the second sees.
    passed = {}
    step = [0]

    def case(aid, *items):
        args = [i for i in items if type(i) is _SpyArgs]
        vals = [i for i in items if type(i) is not _SpyArgs]
        if len(args) != 1 or aid >= len(nvals) or len(vals) != nvals[aid]:
            raise _SpyStop("shape")
        a = args[0]
        mine = {}
        twice = _mutables((a.a, a.k), mine)
        expected = {}
        _mutables(vals, expected)
        if set(mine) & set(expected):
            # `assert f(xs) == xs`: in process the expected side is read after
            # the call may have mutated it; not reproducible from the inputs.
            raise _SpyStop("aliased")
        earlier = {passed[o][1] for o in mine if o in passed}
        for o, obj in mine.items():
            passed.setdefault(o, (obj, step[0]))
        for s in sorted(earlier - {step[0]}):
            report("F %d aliased" % s)
        if twice or earlier:
            raise _SpyStop("aliased")
        try:
            rec = {"a": aid, "args": [encode_plain(v) for v in a.a],
                   "kw": [[k, encode_plain(v)] for k, v in a.k.items()],
                   "v": [encode_plain(v) for v in vals]}
        except NotPlain as e:
            raise _SpyStop("not_plain_%s" % e)
        report("C " + dumps_plain(rec))

    def unavailable(*a, **k):
        raise _SpyStop("calls_candidate")

    ns = {"__name__": "__tests__", "__builtins__": builtins, "__ouro_args__": args_, "__ouro_case__": case}
    prelude = req.get("prelude") or ""
    if prelude:
        try:
            # Helpers the tests call (HumanEval's encode_cyclic) live in the
            # prompt; a prompt that is prose simply does not compile.
            exec(compile(prelude, "<prompt>", "exec"), ns)
        except BaseException:
            pass
    for n in req["spy_names"]:
        ns[n] = unavailable
    if setup_code is not None:
        try:
            exec(setup_code, ns)
        except BaseException as e:
            report("X setup_%s" % _exc_name(e))
            os._exit(0)
    for i, ((code, _is_test), spec) in enumerate(zip(steps, specs)):
        mode = spec["mode"]
        if mode == "skip":
            continue
        step[0] = i
        try:
            if mode == "spy":
                code = compile(spec["src"], "<tests>", "exec")
            exec(code, ns)
        except _SpyStop as e:
            report("F %d %s" % (i, e))
        except BaseException as e:
            if mode == "run":
                report("X step%d_%s" % (i, _exc_name(e)))
                os._exit(0)
            report("F %d %s" % (i, _exc_name(e)))
    report("D")
    os._exit(0)


_TRUTH_WIRE = {True: "t", False: "f", None: "?"}

_WRAPPERS = {"set": set, "frozenset": frozenset, "sorted": sorted, "list": list, "tuple": tuple}


def decode_calls(calls):
    """Decodes every call's inputs before any sample code runs."""
    out = []
    for c in calls:
        wraps = []
        for w in c["w"]:
            if w[0] == "round":
                wraps.append((round, tuple(decode_plain(x) for x in w[1:])))
            else:
                wraps.append((_WRAPPERS[w[0]], ()))
        out.append((decode_plain(c["a"]), {k: decode_plain(v) for k, v in c["k"]}, wraps))
    return out


def run_calls(fn, calls, report, tell=None):
    """Calls the function under test on each input and reports what it
    returned, encoded as plain data. Judging happens in the parent. `tell`
    writes the first exception's traceback to stderr."""
    _Base, _NotPlain, _enc, _dumps = BaseException, NotPlain, encode_plain, dumps_plain
    _truth = structural_truth
    for i, (a, k, wraps) in enumerate(calls):
        try:
            v = fn(*a, **k)
            for w, extra in wraps:
                v = w(v, *extra)
        except _Base as e:
            if tell is not None:
                tell(e, "Traceback (test %d raised):" % (i + 1))
                tell = None
            report("R %d %s" % (i, _exc_name(e)))
            continue
        try:
            line = _dumps(_enc(v, True))
        except _NotPlain as e:
            report("N %d %s %s" % (i, e, _TRUTH_WIRE[_truth(v)]))
            continue
        except _Base:
            report("N %d encode %s" % (i, _TRUTH_WIRE[_truth(v)]))
            continue
        try:
            sent = report("V %d %s" % (i, line))
        except MemoryError:
            sent = False
        if not sent:
            # No room to send it (a copy of a value near the memory limit): the
            # value ran the sample out of memory, as it would have in process.
            line = None
            report("R %d MemoryError" % i)
