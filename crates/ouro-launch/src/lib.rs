//! Scale-out launchers: text that runs one `ouro run` pipeline across many
//! machines over a shared filesystem.
//!
//! Both generators follow the same plan: N shard tasks, each
//! `ouro run PIPELINE --shard I --num-shards N --resume`, then one merge task
//! `ouro run PIPELINE --merge --num-shards N --resume` once every shard succeeded.
//!
//! - [`slurm`] prints a bash submit script: an `sbatch --array=0-(N-1)` job
//!   whose tasks read `SLURM_ARRAY_TASK_ID`, and a merge job submitted with
//!   `--dependency=afterok:<array job id>`.
//! - [`k8s`] prints two Jobs: an Indexed Job (`completionMode: Indexed`)
//!   whose pods read `JOB_COMPLETION_INDEX`, and a merge Job created
//!   suspended, which the header's `kubectl` lines release once the shard
//!   Job is complete (Kubernetes has no native Job-to-Job dependency).
//!
//! The shard index also reaches `ouro run` through the environment
//! (`ouro_data::sharding::ShardSpec::resolve` reads both variables), so the
//! explicit `--shard` is belt and braces. *Invariant:* generation is pure:
//! no I/O, and every user-supplied value is validated or quoted so it cannot
//! break out of the line it is written into.

use std::fmt::Write as _;

/// What to launch, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    /// Pipeline file as the jobs should see it (relative paths resolve
    /// against the submit directory on Slurm, the working dir in the pod).
    pub pipeline: String,
    /// Number of shards, i.e. array tasks / Job completions.
    pub num_shards: u32,
    /// Job name; [`LaunchSpec::new`] derives it from the pipeline file name.
    pub name: String,
    /// The `ouro` executable to call.
    pub ouro: String,
    /// Container image (Kubernetes).
    pub image: Option<String>,
    /// Slurm partition.
    pub partition: Option<String>,
    /// Wall-clock limit, Slurm syntax (`4:00:00`, `1-00:00:00`); on
    /// Kubernetes it becomes `activeDeadlineSeconds`.
    pub time: Option<String>,
    /// CPUs per shard task.
    pub cpus: Option<u32>,
    /// PersistentVolumeClaim holding the shared run directory (Kubernetes).
    pub pvc: String,
    /// Where the claim is mounted and the pods work (Kubernetes).
    pub workdir: String,
}

/// Why a launch could not be generated; the message names the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LaunchError(pub String);

/// Default image when `--image` is not given.
pub const DEFAULT_IMAGE: &str = "ouro:latest";

impl LaunchSpec {
    pub fn new(pipeline: impl Into<String>, num_shards: u32) -> LaunchSpec {
        let pipeline = pipeline.into();
        LaunchSpec {
            name: job_name(&pipeline),
            pipeline,
            num_shards,
            ouro: "ouro".into(),
            image: None,
            partition: None,
            time: None,
            cpus: None,
            pvc: "ouro-data".into(),
            workdir: "/data".into(),
        }
    }

    /// The pipeline as `ouro run` takes it: a path starting with `-` would be read as a flag.
    fn pipeline_arg(&self) -> String {
        if self.pipeline.starts_with('-') {
            format!("./{}", self.pipeline)
        } else {
            self.pipeline.clone()
        }
    }

    fn validate(&self) -> Result<(), LaunchError> {
        if self.num_shards == 0 {
            return Err(LaunchError("--num-shards must be at least 1".into()));
        }
        if self.pipeline.trim().is_empty() {
            return Err(LaunchError("the pipeline path is empty".into()));
        }
        if self.cpus == Some(0) {
            return Err(LaunchError("--cpus must be at least 1".into()));
        }
        let plain = |what: &str, v: &str| -> Result<(), LaunchError> {
            if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(LaunchError(format!(
                    "{what} {v:?} must be non-empty and contain no whitespace"
                )));
            }
            Ok(())
        };
        for (what, v) in [
            ("--image", &self.image),
            ("--partition", &self.partition),
            ("--time", &self.time),
            ("--pvc", &Some(self.pvc.clone())),
            ("--workdir", &Some(self.workdir.clone())),
        ] {
            if let Some(v) = v {
                plain(what, v)?;
            }
        }
        plain("the ouro executable", &self.ouro)?;
        if !self.workdir.starts_with('/') {
            // Kubernetes rejects a relative mountPath when the Job is applied.
            return Err(LaunchError(format!(
                "--workdir {:?} must be an absolute path: the volume is mounted there",
                self.workdir
            )));
        }
        // `-shards` and `-merge` are appended; both must stay Kubernetes (RFC 1123) names,
        // which Slurm job names accept too.
        let name_ok = |n: &str| {
            (1..=50).contains(&n.len())
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !n.starts_with('-')
                && !n.ends_with('-')
        };
        if !name_ok(&self.name) {
            return Err(LaunchError(format!(
                "--name {:?} must be 1-50 lower-case letters, digits and inner '-' \
                 (a Kubernetes object name once -shards or -merge is added)",
                self.name
            )));
        }
        if self.pipeline.chars().any(|c| c.is_control()) {
            return Err(LaunchError(format!(
                "the pipeline path {:?} contains control characters",
                self.pipeline
            )));
        }
        if let Some(t) = &self.time {
            slurm_time_seconds(t)?;
        }
        Ok(())
    }
}

/// `ouro-<file stem>`, lower-cased and reduced to what both Slurm job names
/// and Kubernetes object names (RFC 1123 labels) accept.
pub fn job_name(pipeline: &str) -> String {
    let stem = std::path::Path::new(pipeline)
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut name = String::from("ouro-");
    for c in stem.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && name.ends_with('-')) {
            name.push(c);
        }
    }
    // Leave room for the `-shards` / `-merge` suffixes within 63 characters.
    name.truncate(50);
    let name = name.trim_end_matches('-').to_string();
    if name == "ouro" {
        "ouro-run".into()
    } else {
        name
    }
}

/// Parses Slurm's time formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.
pub fn slurm_time_seconds(t: &str) -> Result<u64, LaunchError> {
    let bad = || {
        LaunchError(format!(
            "--time {t:?} is not a Slurm time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)"
        ))
    };
    let n = |s: &str| s.parse::<u64>().map_err(|_| bad());
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(n(d)?), r),
        None => (None, t),
    };
    let parts: Vec<u64> = rest.split(':').map(n).collect::<Result<_, _>>()?;
    let (h, m, s) = match (days, parts.as_slice()) {
        (None, [m]) => (0, *m, 0),
        (None, [m, s]) => (0, *m, *s),
        (None, [h, m, s]) | (Some(_), [h, m, s]) => (*h, *m, *s),
        (Some(_), [h]) => (*h, 0, 0),
        (Some(_), [h, m]) => (*h, *m, 0),
        _ => return Err(bad()),
    };
    // Checked: a time past u64's seconds panicked (debug) or wrapped into a wrong limit.
    let secs = [(days.unwrap_or(0), 86_400), (h, 3600), (m, 60), (s, 1)]
        .iter()
        .try_fold(0u64, |acc, &(v, unit)| {
            acc.checked_add(v.checked_mul(unit)?)
        })
        .ok_or_else(|| LaunchError(format!("--time {t:?} is too long")))?;
    if secs == 0 {
        return Err(bad());
    }
    Ok(secs)
}

/// Quotes `s` for bash: bare when it is plainly safe, else single-quoted.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn yaml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A bash submit script for Slurm: a job array over the shards and a merge
/// job that runs after every array task succeeded.
pub fn slurm(spec: &LaunchSpec) -> Result<String, LaunchError> {
    spec.validate()?;
    let n = spec.num_shards;
    let ouro = shell_quote(&spec.ouro);
    let pipeline = shell_quote(&spec.pipeline_arg());
    let mut common = String::new();
    if let Some(p) = &spec.partition {
        let _ = writeln!(common, "#SBATCH --partition={p}");
    }
    if let Some(t) = &spec.time {
        let _ = writeln!(common, "#SBATCH --time={t}");
    }
    if let Some(c) = spec.cpus {
        let _ = writeln!(common, "#SBATCH --cpus-per-task={c}");
    }
    let name = &spec.name;
    Ok(format!(
        r#"#!/usr/bin/env bash
# Generated by `ouro launch slurm`: runs {pipeline} as {n} shards on Slurm.
# Submit from the directory the pipeline's paths are relative to (a shared
# filesystem visible to every node):   bash submit.sh
# Each array task is one shard; tasks resume from their completion markers,
# so resubmitting after a failure only redoes unfinished work.
set -euo pipefail
mkdir -p slurm-logs

shards_job=$(sbatch --parsable <<'OURO_SHARDS'
#!/usr/bin/env bash
#SBATCH --job-name={name}-shards
#SBATCH --array=0-{last}
#SBATCH --output=slurm-logs/%x-%A_%a.out
{common}set -euo pipefail
exec {ouro} run {pipeline} --shard "$SLURM_ARRAY_TASK_ID" --num-shards {n} --resume
OURO_SHARDS
)
shards_job=${{shards_job%%;*}}

# A failed shard makes the dependency unsatisfiable: the merge is cancelled, not
# left pending forever; resubmit after fixing the shard.
merge_job=$(sbatch --parsable --dependency=afterok:"$shards_job" --kill-on-invalid-dep=yes <<'OURO_MERGE'
#!/usr/bin/env bash
#SBATCH --job-name={name}-merge
#SBATCH --output=slurm-logs/%x-%j.out
{common}set -euo pipefail
exec {ouro} run {pipeline} --merge --num-shards {n} --resume
OURO_MERGE
)
merge_job=${{merge_job%%;*}}

echo "submitted shards: job array $shards_job (0-{last}); merge: job $merge_job after all succeed (cancelled if one fails)"
"#,
        last = n - 1,
    ))
}

/// Kubernetes manifests: an Indexed Job over the shards and a merge Job
/// created suspended (release it once the shard Job is complete; the
/// header says how).
pub fn k8s(spec: &LaunchSpec) -> Result<String, LaunchError> {
    spec.validate()?;
    let n = spec.num_shards;
    let image = spec.image.as_deref().unwrap_or(DEFAULT_IMAGE);
    let deadline = match &spec.time {
        Some(t) => format!("  activeDeadlineSeconds: {}\n", slurm_time_seconds(t)?),
        None => String::new(),
    };
    let resources = match spec.cpus {
        Some(c) => format!(
            "          resources:\n            requests:\n              cpu: {c}\n            limits:\n              cpu: {c}\n"
        ),
        None => String::new(),
    };
    let pipeline_arg = spec.pipeline_arg();
    let args = |extra: &[&str]| -> String {
        let mut v = vec!["run", pipeline_arg.as_str()];
        v.extend_from_slice(extra);
        v.iter().map(|a| yaml_str(a)).collect::<Vec<_>>().join(", ")
    };
    let n_str = n.to_string();
    // `$(JOB_COMPLETION_INDEX)` is expanded by the kubelet: the Job
    // controller adds that variable to every container of an Indexed Job.
    let shard_args = args(&[
        "--shard",
        "$(JOB_COMPLETION_INDEX)",
        "--num-shards",
        &n_str,
        "--resume",
    ]);
    let merge_args = args(&["--merge", "--num-shards", &n_str, "--resume"]);
    let pod = |args: &str| {
        format!(
            r#"      restartPolicy: Never
      containers:
        - name: ouro
          image: {image}
          command: [{ouro}]
          args: [{args}]
          workingDir: {workdir}
{resources}          volumeMounts:
            - name: run
              mountPath: {workdir}
      volumes:
        - name: run
          persistentVolumeClaim:
            claimName: {pvc}
"#,
            image = yaml_str(image),
            ouro = yaml_str(&spec.ouro),
            workdir = yaml_str(&spec.workdir),
            pvc = yaml_str(&spec.pvc),
        )
    };
    let name = &spec.name;
    Ok(format!(
        r#"# Generated by `ouro launch k8s`: runs {pipeline} as {n} shards on Kubernetes.
# The run directory lives on the PersistentVolumeClaim {pvc:?} (ReadWriteMany),
# mounted at {workdir}; the pipeline path is relative to it.
#   kubectl apply -f ouro.yaml
#   kubectl wait --for=condition=complete --timeout=-1s job/{name}-shards
#   kubectl patch job/{name}-merge --type=merge -p '{{"spec":{{"suspend":false}}}}'
# A failed shard pod is retried (backoffLimit); shards resume from their markers.
# A Job that fails for good never completes, so the wait above waits forever:
# `kubectl get job/{name}-shards` shows it; fix, delete the Job and apply again.
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}-shards
  labels:
    app.kubernetes.io/name: ouro
    app.kubernetes.io/instance: {name}
    app.kubernetes.io/component: shards
spec:
  completionMode: Indexed
  completions: {n}
  parallelism: {n}
  backoffLimit: {backoff}
{deadline}  template:
    metadata:
      labels:
        app.kubernetes.io/name: ouro
        app.kubernetes.io/instance: {name}
        app.kubernetes.io/component: shards
    spec:
{shard_pod}---
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}-merge
  labels:
    app.kubernetes.io/name: ouro
    app.kubernetes.io/instance: {name}
    app.kubernetes.io/component: merge
spec:
  suspend: true
  completions: 1
  parallelism: 1
  backoffLimit: 2
{deadline}  template:
    metadata:
      labels:
        app.kubernetes.io/name: ouro
        app.kubernetes.io/instance: {name}
        app.kubernetes.io/component: merge
    spec:
{merge_pod}"#,
        pipeline = spec.pipeline,
        pvc = spec.pvc,
        workdir = spec.workdir,
        backoff = 3 * u64::from(n),
        shard_pod = pod(&shard_args),
        merge_pod = pod(&merge_args),
    ))
}

#[cfg(test)]
mod tests;
