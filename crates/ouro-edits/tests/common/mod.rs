//! Shared fixtures for the integration tests.
#![allow(dead_code)]

/// Hand-written programs covering the constructs LintSeq has to survive:
/// docstrings, nested blocks, classes, comprehensions, lambdas, try/except,
/// match, decorators, global definitions, multi-line calls, comments.
pub const PROGRAMS: &[&str] = &[
    "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n    \"\"\" Check if in given list of numbers, are any two numbers closer to each other than\n    given threshold.\n    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)\n    False\n    \"\"\"\n    for idx, elem in enumerate(numbers):\n        for idx2, elem2 in enumerate(numbers):\n            if idx != idx2:\n                distance = abs(elem - elem2)\n                if distance < threshold:\n                    return True\n\n    return False\n",
    "import math\n\nLIMITS = [\n    1,\n    2,\n]\n\n\nclass Counter:\n    \"\"\"Counts things.\"\"\"\n\n    scale = 2\n\n    def __init__(self, start=0):\n        self.value = start\n\n    def add(self, k):\n        # keep it simple\n        self.value += k * self.scale\n        return self.value\n\n\ndef run(xs):\n    c = Counter()\n    total = sum(c.add(x) for x in xs if x > 0)\n    squares = {k: v * v for k, v in enumerate(xs)}\n    best = max(squares.values(), default=0)\n    return math.sqrt(total + best) + LIMITS[0]\n",
    "def parse(s):\n    try:\n        value = int(s)\n    except ValueError as err:\n        print(err)\n        value = None\n    finally:\n        pass\n    if value is None:\n        return 0\n    elif value < 0:\n        return -value\n    else:\n        return value\n",
    "def f(xs):\n    result = []\n    i = 0\n    while i < len(xs):\n        if (n := xs[i]) % 2 == 0:\n            result.append(\n                n // 2,\n            )\n        else:\n            result.append(3 * n + 1)\n        i += 1\n    key = lambda q: (q % 3, -q)\n    return sorted(result, key=key)\n",
    "def describe(cmd):\n    match cmd:\n        case [\"go\", direction]:\n            return f\"going {direction}\"\n        case {\"stop\": when, **rest}:\n            return str(when) + str(rest)\n        case _:\n            return \"?\"\n",
    "import functools\n\n\ndef memo(fn):\n    cache = {}\n\n    @functools.wraps(fn)\n    def inner(*args):\n        if args not in cache:\n            cache[args] = fn(*args)\n        return cache[args]\n\n    return inner\n\n\n@memo\ndef fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\n\nprint(fib(20))\n",
    "counter = 0\n\n\ndef bump():\n    global counter\n    counter += 1\n    return counter\n\n\ndef outer():\n    x = 1\n\n    def inner():\n        nonlocal x\n        x += 1\n        return x\n\n    return inner()\n",
    "def words(text):\n    out = [w.strip(\".,\") for line in text.splitlines() for w in line.split()]\n    seen = set()\n    uniq = []\n    for w in out:\n        if w in seen:\n            continue\n        seen.add(w)\n        uniq.append(w)\n    return uniq\n",
];

use std::path::PathBuf;

fn humaneval_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("OURO_HUMANEVAL") {
        return Some(PathBuf::from(p));
    }
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/.cache");
    ["HumanEval.jsonl", "HumanEval.jsonl.gz"]
        .into_iter()
        .map(|n| cache.join(n))
        .find(|p| p.exists())
}

/// HumanEval programs (prompt + canonical_solution), from the gzipped JSONL.
pub fn humaneval_programs() -> Option<Vec<(String, String)>> {
    use std::io::Read;
    let path = humaneval_path()?;
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut text)
            .unwrap();
    } else {
        text = String::from_utf8(raw).unwrap();
    }
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let s = |k: &str| v[k].as_str().unwrap().to_string();
                (s("task_id"), s("prompt") + &s("canonical_solution"))
            })
            .collect(),
    )
}

/// An execution record of one suite, with placeholder costs and limits.
pub fn execution(
    sample: &str,
    problem: &str,
    suite: ouro_data::Suite,
    verdict: ouro_data::Verdict,
) -> ouro_data::Execution {
    ouro_data::Execution {
        sample_id: sample.into(),
        problem_id: problem.into(),
        suite,
        verdict,
        tests_passed: vec![verdict == ouro_data::Verdict::Pass],
        error_kind: None,
        stderr_tail: String::new(),
        cpu_ms: 1.0,
        wall_ms: 1.0,
        max_rss_kb: 1,
        lines_executed: None,
        executor_version: "t".into(),
        limits: ouro_data::Limits::default(),
        isolation: "none".into(),
        judge: ouro_data::Judge::InProcess,
        tests_digest: None,
    }
}

/// A sample whose completion fences `code`, as a chat model answers.
pub fn sample(id: &str, problem: &str, code: &str) -> ouro_data::Sample {
    ouro_data::Sample {
        sample_id: id.into(),
        problem_id: problem.into(),
        round: 1,
        index: 0,
        model: "m".into(),
        params: Default::default(),
        completion: format!("Here you go:\n```python\n{code}```\n"),
        code: Some(code.into()),
        extraction_error: None,
        finish_reason: Some("stop".into()),
        generation_error: None,
        prompt_tokens: None,
        completion_tokens: None,
        logprob: None,
    }
}
