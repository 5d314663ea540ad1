//! Runs the LintSeq stage on a JSONL file, for benchmarks against the
//! official implementation (which reads JSONL too).
//!
//! Usage: lintseq_jsonl IN.jsonl OUT_DIR K SEED PROGRAM_FIELDS [THREADS]
//! e.g.   lintseq_jsonl he.jsonl /tmp/out 5 1 prompt,canonical_solution 2

use std::path::Path;

use ouro_edits::input::{InputKind, JsonlFields};
use ouro_edits::lintseq::{run, LintseqOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: lintseq_jsonl IN.jsonl OUT_DIR K SEED PROGRAM_FIELDS [THREADS]");
        std::process::exit(2);
    }
    let options = LintseqOptions {
        sequences_per_program: args[3].parse().expect("K"),
        seed: args[4].parse().expect("SEED"),
        kind: Some(InputKind::Jsonl),
        jsonl: JsonlFields {
            program: args[5].split(',').map(str::to_string).collect(),
            instruction: None,
            id: Some("task_id".into()),
        },
        progress: false,
        threads: args.get(6).map(|t| t.parse().expect("THREADS")),
        ..Default::default()
    };
    match run(Path::new(&args[1]), Path::new(&args[2]), &options) {
        Ok(stats) => println!("{}", serde_json::to_string(&stats).expect("json")),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
