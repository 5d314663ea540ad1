//! A write killed at any moment leaves no partial file under a final name.
//!
//! The test re-runs its own binary as a child that writes a large shard and
//! a small atomic file in a loop, SIGKILLs it at varying moments, and checks
//! that every file under a final name is complete and readable.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ouro_data::shard::{list_shards, read_records, ShardWriter, WriteOptions};
use ouro_data::LintseqRecord;

const CHILD_ENV: &str = "OURO_KILLED_WRITE_CHILD";

fn row(i: u64) -> LintseqRecord {
    LintseqRecord {
        prompt: format!("prompt {i}"),
        completion: "@@ -0,0 +1 @@\n+x = 1\n".repeat(1 + (i % 5) as usize),
        program_id: format!("{i:032}"),
        problem_id: Some(format!("p{i}")),
        seed: i,
        num_edits: (i % 9) as u32,
    }
}

/// The child: writes shards of 200k rows and JSON files forever.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    for n in 0.. {
        let mut w = ShardWriter::<LintseqRecord>::create(
            dir.join(format!("part-{n:05}.parquet")),
            WriteOptions {
                batch_rows: 1024,
                ..Default::default()
            },
        )
        .unwrap();
        for i in 0..200_000 {
            w.write(&row(i)).unwrap();
        }
        w.finish().unwrap();
        ouro_data::fsutil::atomic_write_json(dir.join("state.json"), &vec![n; 10_000]).unwrap();
    }
}

#[test]
fn killed_writes_leave_no_partial_file_under_a_final_name() {
    let dir = tempfile::tempdir().unwrap();
    for attempt in 0..8u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_writer", "--nocapture"])
            .env(CHILD_ENV, dir.path())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + attempt * 97));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for shard in list_shards(dir.path()).unwrap() {
            let rows: Vec<LintseqRecord> = read_records(&shard)
                .unwrap_or_else(|e| panic!("partial shard {}: {e}", shard.display()));
            assert_eq!(rows.len(), 200_000, "{} is complete", shard.display());
        }
        if let Ok(bytes) = std::fs::read(dir.path().join("state.json")) {
            let v: Vec<u64> = serde_json::from_slice(&bytes).expect("state.json is complete JSON");
            assert_eq!(v.len(), 10_000);
        }
    }
    // Temp files may remain (the process was killed); they are hidden and cleaned on the next run.
    ouro_data::fsutil::remove_stale_temp_files(dir.path()).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(ouro_data::fsutil::TEMP_PREFIX))
        .collect();
    assert!(
        leftovers.is_empty(),
        "stale temp files are cleaned: {leftovers:?}"
    );
}

/// A rewrite with another part count: the new parts stay hidden from readers until
/// the old set is gone, so no glob reads both (problems had written new parts
/// beside old ones, and a crash left both).
#[test]
fn publishing_a_new_set_never_shows_it_beside_the_old_one() {
    use ouro_data::shard::{part_name, publish, staged_name, write_records};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for i in 0..3 {
        write_records(d.join(part_name(i, 3)), &[row(i as u64)]).unwrap();
    }
    std::fs::write(d.join("notes.txt"), "kept").unwrap();
    let name = part_name(0, 1);
    let staged = d.join(staged_name(&name));
    write_records(&staged, &[row(7), row(8)]).unwrap();
    // Written, not yet published: readers see the old set only.
    assert_eq!(list_shards(d).unwrap().len(), 3);
    let published = publish(d, &[(staged, name.clone())], |n| n.starts_with("part-")).unwrap();
    assert_eq!(published, vec![d.join(&name)]);
    assert_eq!(list_shards(d).unwrap(), vec![d.join(&name)]);
    let rows: Vec<LintseqRecord> = read_records(d.join(&name)).unwrap();
    assert_eq!(rows, vec![row(7), row(8)]);
    assert!(d.join("notes.txt").exists());
}

/// A kill between a publish's renames leaves part of the new set: readers refuse it,
/// naming the missing part, instead of reading a smaller dataset.
#[test]
fn a_set_with_a_part_missing_is_refused() {
    use ouro_data::shard::{part_name, read_dir, write_records};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_records(d.join(part_name(0, 3)), &[row(0)]).unwrap();
    write_records(d.join(part_name(2, 3)), &[row(2)]).unwrap();
    let err = read_dir::<LintseqRecord>(d).unwrap_err().to_string();
    assert!(
        err.contains("part-00001-of-00003.parquet is missing"),
        "{err}"
    );
    assert!(err.contains("2 of the set's 3 files"), "{err}");
    assert!(list_shards(d).is_err());
    // The whole set reads; a file outside the naming is not part of any set.
    write_records(d.join(part_name(1, 3)), &[row(1)]).unwrap();
    write_records(d.join("extra-7.parquet"), &[row(7)]).unwrap();
    assert_eq!(read_dir::<LintseqRecord>(d).unwrap().len(), 4);
    // Build configs' `train-i-of-n` sets too.
    let cfg = tempfile::tempdir().unwrap();
    write_records(cfg.path().join("train-00001-of-00002.parquet"), &[row(1)]).unwrap();
    let err = list_shards(cfg.path()).unwrap_err().to_string();
    assert!(
        err.contains("train-00000-of-00002.parquet is missing"),
        "{err}"
    );
}
