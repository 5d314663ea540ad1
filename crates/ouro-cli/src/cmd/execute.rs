//! `ouro execute`: run samples against their problems' tests in the sandbox.

use std::path::PathBuf;

use anyhow::Context;

/// Run every sample against its problem's tests in a sandbox; write verdicts.
///
/// Samples run in sandboxed slots, and `part-*.parquet` shards of executions are written:
/// a verdict per sample and per test, with time and memory. Verdicts are appended as they
/// finish; an interrupted run resumes where it stopped when started again.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  ouro execute --problems run/problems --samples run/round-00/samples --out run/round-00/executions
  ouro execute --check-sandbox                            what isolation this machine gives
  ouro execute --check-sandbox --require-isolation all    exit 1 unless it gives all of it

Isolation primitives (`--require-isolation`): ipcns, mntns, netns, pidns, utsns (namespaces),
proc (a private /proc), tmpfs (a private working directory), uid (an unprivileged uid per
slot), landlock (no file access outside the slot), seccomp (a syscall deny-list) and cgroup
(memory and process limits per slot). Without --require-isolation a primitive the machine
cannot give is a warning and samples run with less isolation: a container that forbids
namespaces, for one. Without root, samples run in a user namespace at the caller's uid with no
capabilities (uid and cgroup missing); without root or user namespaces nothing runs.")]
pub struct Args {
    /// Print a JSON summary on stdout (`schema_version`, counts by verdict, seconds).
    #[arg(long)]
    pub json: bool,
    /// Directory (or single file) of problem shards.
    #[arg(long, required_unless_present = "check_sandbox")]
    pub problems: Option<PathBuf>,
    /// Directory (or single file) of sample shards.
    #[arg(long, required_unless_present = "check_sandbox")]
    pub samples: Option<PathBuf>,
    /// Output directory for execution shards (also holds the resume journal).
    #[arg(long, value_parser = super::out_dir, required_unless_present = "check_sandbox")]
    pub out: Option<PathBuf>,
    /// Number of sandbox slots (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// CPU time limit per sample (per case for stdin/stdout tests), in ms.
    #[arg(long, default_value_t = ouro_data::Limits::DEFAULT_CPU_MS, value_parser = super::at_least_one_u64)]
    pub cpu_ms: u64,
    /// Wall-clock watchdog per sample, in ms (looser than the CPU limit).
    #[arg(long, default_value_t = ouro_data::Limits::DEFAULT_WALL_MS, value_parser = super::at_least_one_u64)]
    pub wall_ms: u64,
    /// Address-space budget above the interpreter's size, in MiB.
    #[arg(long, default_value_t = 512, value_parser = super::at_least_one_u64)]
    pub memory_mb: u64,
    /// Cap on stdout plus stderr, in bytes.
    #[arg(long, default_value_t = 1 << 20, value_parser = super::at_least_one_u64)]
    pub output_bytes: u64,
    /// Also run the held-out audit tests of problems that have them.
    #[arg(long)]
    pub audit: bool,
    /// Python interpreter to run samples with (3.11 or newer).
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// Replace each slot's fork server after this many samples.
    #[arg(long, default_value_t = 1000, value_parser = super::at_least_one_u64)]
    pub recycle_every: u64,
    /// Skip counting `lines_executed`, the deterministic cost that efficiency
    /// pairs are measured in. Tracing slows loop-heavy tests 2-4x under
    /// CPython 3.11; skip it when only verdicts matter (pass@k, SFT sets).
    /// `ouro build` then finds no costs for efficiency pairs in lines.
    #[arg(long)]
    pub no_line_count: bool,
    /// Refuse to execute anything unless every sandbox slot reaches these isolation
    /// primitives: `all`, or comma-separated names (below).
    #[arg(long, value_name = "LIST", value_parser = isolation_list)]
    pub require_isolation: Option<String>,
    /// Start the sandbox slots, print the isolation they reach and what is missing, and
    /// exit (1 when --require-isolation is not met); needs no other input.
    #[arg(long)]
    pub check_sandbox: bool,
}

/// Checks a `--require-isolation` list when the flag is parsed (`run` expands it).
fn isolation_list(s: &str) -> Result<String, String> {
    ouro_exec::slot::parse_isolation(s).map(|_| s.to_string())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut suites = vec![ouro_exec::Suite::Filter];
    if args.audit {
        suites.push(ouro_exec::Suite::Audit);
    }
    let opts = ouro_exec::ExecOptions {
        workers: args.workers,
        limits: ouro_exec::Limits {
            cpu_ms: args.cpu_ms,
            wall_ms: args.wall_ms,
            memory_mb: args.memory_mb,
            output_bytes: args.output_bytes,
        },
        suites,
        recycle_every: args.recycle_every,
        python: args.python,
        progress: super::progress_bars(),
        count_lines: !args.no_line_count,
        require_isolation: args
            .require_isolation
            .as_deref()
            .map(ouro_exec::slot::parse_isolation)
            .transpose()
            .map_err(anyhow::Error::msg)?
            .unwrap_or_default(),
        ..Default::default()
    };
    if args.check_sandbox {
        return check_sandbox(&opts, args.json);
    }
    let (Some(problems), Some(samples), Some(out)) = (args.problems, args.samples, args.out) else {
        unreachable!("clap requires --problems, --samples and --out without --check-sandbox")
    };
    // Name the input that is missing first, rather than whichever the
    // executor happens to open first.
    for (flag, path) in [("--problems", &problems), ("--samples", &samples)] {
        if !path.exists() {
            anyhow::bail!("{flag} {}: no such file or directory", path.display());
        }
    }
    let stats = ouro_exec::execute(&problems, &samples, &out, &opts).with_context(|| {
        format!(
            "executing {} against {}",
            samples.display(),
            problems.display()
        )
    })?;
    let passes = stats.verdicts_on_disk.get("pass").copied().unwrap_or(0);
    // Isolation is what this run's slots achieved; with nothing run there were none.
    let isolation = if !stats.isolation.is_empty() {
        stats.isolation.join(", ")
    } else if stats.jobs == 0 {
        "none needed, there was no sample".to_string()
    } else if stats.resumed == stats.jobs {
        "none needed, every execution was resumed".to_string()
    } else {
        "none needed, no sample had code to run".to_string()
    };
    say!(
        "{} executions ({} resumed, {} run now), {} passing in all, {:.1}s, isolation: {isolation}",
        stats.records,
        stats.resumed,
        stats.executed,
        passes,
        stats.wall_s,
    );
    for (verdict, n) in &stats.verdicts_on_disk {
        say!("  {verdict}: {n}");
    }
    if args.no_line_count {
        say!("  lines_executed: not counted (--no-line-count)");
    }
    if args.json {
        super::print_json(
            "execute",
            serde_json::json!({
                "out": out,
                "records": stats.records,
                "resumed": stats.resumed,
                "executed": stats.executed,
                "passes": passes,
                "verdicts": stats.verdicts_on_disk,
                "wall_s": stats.wall_s,
                "isolation": stats.isolation,
                "lines_counted": !args.no_line_count,
            }),
        );
    }
    Ok(())
}

/// `--check-sandbox`: the slots' isolation and warnings, as a run would start them.
fn check_sandbox(opts: &ouro_exec::ExecOptions, json: bool) -> anyhow::Result<()> {
    let exec = ouro_exec::Executor::new(opts).context("starting the sandbox")?;
    let isolation = exec.isolation();
    let missing = exec.missing_isolation(ouro_exec::slot::FULL_ISOLATION);
    let mut distinct = isolation.clone();
    distinct.sort();
    distinct.dedup();
    say!(
        "{} sandbox slots, isolation: {}",
        isolation.len(),
        distinct.join(" / ")
    );
    if missing.is_empty() {
        say!("every isolation primitive is in place");
    } else {
        say!("missing: {}", missing.join(", "));
    }
    if !opts.require_isolation.is_empty() {
        say!(
            "required, and in place: {}",
            opts.require_isolation.join(", ")
        );
    }
    if json {
        super::print_json(
            "execute",
            serde_json::json!({
                "check_sandbox": true,
                "slots": isolation.len(),
                "isolation": isolation,
                "missing": missing,
                "required": opts.require_isolation,
                "warnings": exec.warnings(),
            }),
        );
    }
    Ok(())
}
