//! The fork server reads a child's pipes on a tick rather than on every
//! write; children that write more than a pipe holds must still arrive
//! whole (a child stuck on a full pipe would end as a timeout, not a pass).

mod common;

use common::*;
use ouro_exec::{Executor, Verdict};

#[test]
fn large_results_and_outputs_arrive_whole() {
    let mut opts = options(1);
    opts.limits.output_bytes = 4 << 20;
    let exec = Executor::new(&opts).expect("executor starts");
    // An isolated call whose returned value is a 3 MB result line.
    let big_list = assert_problem(
        "channels/list",
        "f",
        "def check(candidate):\n    assert candidate(400000) == list(range(400000))\n    assert candidate(3) == [0, 1, 2]\n",
    );
    // A program whose stdout (about 3.4 MB) is several pipes' worth.
    let n = 400_000;
    let expected: String = (0..n).map(|i| format!("{i}\n")).collect();
    let input = format!("{n}\n");
    let big_out = io_problem("channels/out", &[(&input, &expected)]);
    let r = exec.run_batch(vec![
        job(&big_list, "def f(n):\n    return list(range(n))\n", 0),
        job(&big_list, "def f(n):\n    return list(range(n + 1))\n", 1),
        job(
            &big_out,
            "import sys\nn = int(input())\nsys.stdout.write(''.join(f'{i}\\n' for i in range(n)))\n",
            2,
        ),
    ]);
    let verdicts: Vec<Verdict> = r.iter().map(|e| e.verdict).collect();
    assert_eq!(
        verdicts,
        [Verdict::Pass, Verdict::Fail, Verdict::Pass],
        "{r:#?}"
    );
}
