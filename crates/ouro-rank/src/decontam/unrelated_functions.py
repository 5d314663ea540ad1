def read_config(path):
    with open(path) as f:
        return dict(line.strip().split("=", 1) for line in f if "=" in line)


def celsius_to_fahrenheit(c):
    return c * 9 / 5 + 32


def chunked(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


def flatten(nested):
    out = []
    for part in nested:
        out.extend(part)
    return out


def word_counts(text):
    counts = {}
    for word in text.lower().split():
        counts[word] = counts.get(word, 0) + 1
    return counts


def clamp(value, low, high):
    return max(low, min(high, value))


def is_leap_year(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def mean(values):
    if not values:
        raise ValueError("mean of an empty list")
    return sum(values) / len(values)


def transpose(matrix):
    return [list(row) for row in zip(*matrix)]


def merge_dicts(a, b):
    merged = dict(a)
    merged.update(b)
    return merged


def binary_search(items, target):
    lo, hi = 0, len(items)
    while lo < hi:
        mid = (lo + hi) // 2
        if items[mid] < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


def slugify(title):
    return "-".join(title.lower().split())


def dot(u, v):
    return sum(a * b for a, b in zip(u, v))


def running_total(values):
    total = 0
    out = []
    for v in values:
        total += v
        out.append(total)
    return out


def parse_csv_line(line):
    return [field.strip() for field in line.split(",")]


def group_by_length(words):
    groups = {}
    for w in words:
        groups.setdefault(len(w), []).append(w)
    return groups


def rotate_left(items, k):
    if not items:
        return items
    k %= len(items)
    return items[k:] + items[:k]


def hamming_distance(a, b):
    return sum(x != y for x, y in zip(a, b))


def initials(name):
    return "".join(part[0].upper() for part in name.split())


def safe_divide(a, b, default=0.0):
    try:
        return a / b
    except ZeroDivisionError:
        return default


def pairwise_differences(xs):
    return [b - a for a, b in zip(xs, xs[1:])]


def top_k(scores, k):
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:k]


def normalise_vector(v):
    norm = sum(x * x for x in v) ** 0.5
    return [x / norm for x in v] if norm else list(v)


def invert_mapping(mapping):
    return {v: k for k, v in mapping.items()}


def count_lines(path):
    with open(path) as f:
        return sum(1 for _ in f)


def strip_comments(source):
    return "\n".join(line.split("#", 1)[0].rstrip() for line in source.splitlines())


def manhattan(p, q):
    return abs(p[0] - q[0]) + abs(p[1] - q[1])


def dedupe_preserving_order(items):
    seen = set()
    out = []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def format_bytes(n):
    for unit in ["B", "KiB", "MiB", "GiB"]:
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def percentile(values, p):
    ordered = sorted(values)
    index = int(round(p / 100 * (len(ordered) - 1)))
    return ordered[index]


def matrix_identity(n):
    return [[1 if i == j else 0 for j in range(n)] for i in range(n)]


def tokenize_expression(expr):
    tokens, number = [], ""
    for ch in expr:
        if ch.isdigit():
            number += ch
        else:
            if number:
                tokens.append(number)
                number = ""
            if not ch.isspace():
                tokens.append(ch)
    if number:
        tokens.append(number)
    return tokens


def window_sums(xs, width):
    return [sum(xs[i:i + width]) for i in range(len(xs) - width + 1)]


def title_case(sentence):
    return " ".join(w.capitalize() for w in sentence.split(" "))


def env_flag(environ, name):
    return environ.get(name, "").lower() in ("1", "true", "yes")
