use super::*;

fn spec(n: u32) -> LaunchSpec {
    let mut s = LaunchSpec::new("pipelines/quickstart.toml", n);
    s.partition = Some("gpu".into());
    s.time = Some("4:00:00".into());
    s.cpus = Some(8);
    s.image = Some("registry.example/ouro:0.1".into());
    s
}

#[test]
fn slurm_script_has_the_array_line_and_a_dependent_merge() {
    let s = slurm(&spec(8)).unwrap();
    assert!(s.starts_with("#!/usr/bin/env bash\n"));
    let lines: Vec<&str> = s.lines().collect();
    let has = |l: &str| lines.iter().filter(|x| **x == l).count();
    assert_eq!(has("#SBATCH --array=0-7"), 1, "{s}");
    assert_eq!(has("#SBATCH --job-name=ouro-quickstart-shards"), 1);
    assert_eq!(has("#SBATCH --job-name=ouro-quickstart-merge"), 1);
    // Both jobs get the resources.
    assert_eq!(has("#SBATCH --partition=gpu"), 2);
    assert_eq!(has("#SBATCH --time=4:00:00"), 2);
    assert_eq!(has("#SBATCH --cpus-per-task=8"), 2);
    assert_eq!(
        has(
            r#"exec ouro run pipelines/quickstart.toml --shard "$SLURM_ARRAY_TASK_ID" --num-shards 8 --resume"#
        ),
        1,
        "{s}"
    );
    assert_eq!(
        has("exec ouro run pipelines/quickstart.toml --merge --num-shards 8 --resume"),
        1
    );
    // A failed shard cancels the merge rather than leave it pending forever.
    assert!(s.contains(
        r#"sbatch --parsable --dependency=afterok:"$shards_job" --kill-on-invalid-dep=yes <<'OURO_MERGE'"#
    ));
    // The #SBATCH lines of each job come before its first command, or sbatch ignores them.
    for job in s.split("<<'OURO_").skip(1) {
        let lines: Vec<&str> = job.lines().skip(1).collect();
        let first_cmd = lines.iter().position(|l| !l.starts_with('#')).unwrap();
        let last_sbatch = lines
            .iter()
            .rposition(|l| l.starts_with("#SBATCH"))
            .unwrap();
        assert!(last_sbatch < first_cmd, "{job}");
    }
}

#[test]
fn slurm_script_is_valid_bash() {
    let s = slurm(&spec(3)).unwrap();
    let dir = tempfile_dir();
    let path = dir.join("submit.sh");
    std::fs::write(&path, s).unwrap();
    match std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => eprintln!("bash not found; syntax check skipped"),
    }
    std::fs::remove_dir_all(dir).ok();
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ouro-launch-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn single_shard_slurm_is_an_array_of_one() {
    let s = slurm(&LaunchSpec::new("p.toml", 1)).unwrap();
    assert!(s.lines().any(|l| l == "#SBATCH --array=0-0"));
    assert!(!s.contains("--partition"), "no partition unless asked: {s}");
}

#[test]
fn paths_with_spaces_and_quotes_are_shell_quoted() {
    let s = slurm(&LaunchSpec::new("my runs/it's.toml", 2)).unwrap();
    assert!(
        s.contains(r#"exec ouro run 'my runs/it'\''s.toml' --shard"#),
        "{s}"
    );
    assert_eq!(job_name("my runs/it's.toml"), "ouro-it-s");
}

#[test]
fn k8s_manifest_parses_as_an_indexed_job_and_a_suspended_merge() {
    let y = k8s(&spec(4)).unwrap();
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&y)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 2, "{y}");
    let j: serde_json::Value = serde_json::to_value(&docs[0]).unwrap();
    assert_eq!(j["kind"], "Job");
    assert_eq!(j["metadata"]["name"], "ouro-quickstart-shards");
    assert_eq!(j["spec"]["completionMode"], "Indexed");
    assert_eq!(j["spec"]["completions"], 4);
    assert_eq!(j["spec"]["parallelism"], 4);
    assert_eq!(j["spec"]["activeDeadlineSeconds"], 4 * 3600);
    let pod = &j["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "registry.example/ouro:0.1");
    assert_eq!(c["command"], serde_json::json!(["ouro"]));
    assert_eq!(
        c["args"],
        serde_json::json!([
            "run",
            "pipelines/quickstart.toml",
            "--shard",
            "$(JOB_COMPLETION_INDEX)",
            "--num-shards",
            "4",
            "--resume"
        ])
    );
    assert_eq!(c["resources"]["limits"]["cpu"], 8);
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/data");
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "ouro-data"
    );

    let m: serde_json::Value = serde_json::to_value(&docs[1]).unwrap();
    assert_eq!(m["metadata"]["name"], "ouro-quickstart-merge");
    assert_eq!(m["spec"]["suspend"], true);
    assert!(m["spec"].get("completionMode").is_none());
    assert_eq!(
        m["spec"]["template"]["spec"]["containers"][0]["args"],
        serde_json::json!([
            "run",
            "pipelines/quickstart.toml",
            "--merge",
            "--num-shards",
            "4",
            "--resume"
        ])
    );
    // The header tells how to release the merge Job.
    assert!(y.contains(
        "kubectl wait --for=condition=complete --timeout=-1s job/ouro-quickstart-shards"
    ));
    assert!(y.contains("kubectl patch job/ouro-quickstart-merge"));
}

#[test]
fn k8s_quotes_odd_values_so_yaml_still_parses() {
    let mut s = LaunchSpec::new("cfg/a: b #c \"q\".toml", 2);
    s.image = Some("img:1".into());
    let y = k8s(&s).unwrap();
    let doc: serde_yaml::Value = serde_yaml::Deserializer::from_str(&y)
        .next()
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .unwrap();
    let args = &doc["spec"]["template"]["spec"]["containers"][0]["args"];
    assert_eq!(args[1].as_str(), Some("cfg/a: b #c \"q\".toml"));
}

#[test]
fn bad_options_are_rejected_by_name() {
    let e = |s: LaunchSpec| slurm(&s).unwrap_err().0;
    assert!(e(LaunchSpec::new("p.toml", 0)).contains("--num-shards"));
    let mut s = LaunchSpec::new("p.toml", 2);
    s.partition = Some("gpu\n#SBATCH --x".into());
    assert!(e(s).contains("--partition"));
    let mut s = LaunchSpec::new("p.toml", 2);
    s.time = Some("four hours".into());
    assert!(e(s).contains("--time"));
    let mut s = LaunchSpec::new("p.toml", 2);
    s.time = Some("4h".into());
    assert!(k8s(&s).unwrap_err().0.contains("--time"));
    let mut s = LaunchSpec::new("p.toml", 2);
    s.cpus = Some(0);
    assert!(e(s).contains("--cpus"));
    for bad in ["a b", "Big", "-x", "x-", "x;rm", &"n".repeat(51)] {
        let mut s = LaunchSpec::new("p.toml", 2);
        s.name = bad.to_string();
        assert!(k8s(&s).unwrap_err().0.contains("--name"), "{bad}");
    }
    let mut s = LaunchSpec::new("p.toml", 2);
    s.name = "my-run-2".into();
    assert!(slurm(&s).unwrap().contains("--job-name=my-run-2-shards"));
    // Kubernetes rejects a relative mountPath when the Job is applied.
    let mut s = LaunchSpec::new("p.toml", 2);
    s.workdir = "data".into();
    assert!(k8s(&s)
        .unwrap_err()
        .0
        .contains("--workdir \"data\" must be an absolute path"));
}

/// A pipeline path starting with `-` reaches `ouro run` as a path, not a flag.
#[test]
fn a_pipeline_named_like_a_flag_stays_a_path() {
    let spec = LaunchSpec::new("-big.toml", 2);
    let s = slurm(&spec).unwrap();
    assert!(
        s.contains("run ./-big.toml --shard") && !s.contains("run -big.toml"),
        "{s}"
    );
    let y = k8s(&spec).unwrap();
    assert!(y.contains("./-big.toml"), "{y}");
}

#[test]
fn slurm_times_convert_to_seconds() {
    assert_eq!(slurm_time_seconds("30").unwrap(), 1800);
    assert_eq!(slurm_time_seconds("30:15").unwrap(), 1815);
    assert_eq!(slurm_time_seconds("4:00:00").unwrap(), 14400);
    assert_eq!(slurm_time_seconds("1-2").unwrap(), 93600);
    assert_eq!(slurm_time_seconds("1-02:30").unwrap(), 95400);
    assert_eq!(slurm_time_seconds("2-00:00:01").unwrap(), 172801);
    assert!(slurm_time_seconds("1:2:3:4").is_err());
    assert!(slurm_time_seconds("0").is_err());
    // Past u64's seconds: an error, not an overflow panic.
    let e = slurm_time_seconds("9999999999999999:0:0").unwrap_err();
    assert!(e.to_string().contains("is too long"), "{e}");
}
