use super::*;

fn touch(dir: &Path, rel: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, "{}\n").unwrap();
}

fn names(dir: &Path, files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| f.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect()
}

fn src<'a>(path: &'a Path, subset: Option<&'a str>, split: Option<&'a str>) -> DataSource<'a> {
    DataSource {
        path,
        subset,
        split,
    }
}

const CARD: &str = "---
license: mit
configs:
- config_name: easy
  data_files:
  - split: train
    path: easy/train-*.parquet
  - split: test
    path: [easy/test.parquet]
- config_name: hard
  default: true
  data_files: hard/*.jsonl
---
# A dataset
";

#[test]
fn a_card_picks_the_subset_and_split_and_their_files() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(dir.join("README.md"), CARD).unwrap();
    for f in [
        "easy/train-00000-of-00002.parquet",
        "easy/train-00001-of-00002.parquet",
        "easy/test.parquet",
        "hard/a.jsonl",
        "hard/b.jsonl",
    ] {
        touch(dir, f);
    }
    let got = |subset, split| {
        dataset_files(&src(dir, subset, split))
            .map(|f| names(dir, &f.unwrap()))
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        got(Some("easy"), None).unwrap(),
        [
            "easy/train-00000-of-00002.parquet",
            "easy/train-00001-of-00002.parquet"
        ]
    );
    assert_eq!(
        got(Some("easy"), Some("test")).unwrap(),
        ["easy/test.parquet"]
    );
    // `default: true` wins; a bare data_files string is the train split.
    assert_eq!(got(None, None).unwrap(), ["hard/a.jsonl", "hard/b.jsonl"]);
    let e = got(Some("medium"), None).unwrap_err();
    assert!(e.contains("README.md") && e.contains("easy, hard"), "{e}");
    let e = got(Some("easy"), Some("validation")).unwrap_err();
    assert!(
        e.contains("--split validation") && e.contains("train, test"),
        "{e}"
    );
}

#[test]
fn without_a_card_splits_come_from_file_and_directory_names() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    for f in [
        "data/train-00000-of-00001.parquet",
        "data/test-00000-of-00001.parquet",
        "dev/0000.parquet",
        "README.md",
    ] {
        touch(dir, f);
    }
    let got = |split| {
        names(
            dir,
            &dataset_files(&src(dir, None, split)).unwrap().unwrap(),
        )
    };
    assert_eq!(got(None), ["data/train-00000-of-00001.parquet"]);
    assert_eq!(got(Some("test")), ["data/test-00000-of-00001.parquet"]);
    assert_eq!(got(Some("validation")), ["dev/0000.parquet"]);
    let e = dataset_files(&src(dir, None, Some("dev")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("files named 'dev' are the validation split")
            && e.contains("--split validation"),
        "{e}"
    );
    // A name that is no split keyword gets no hint.
    let e = dataset_files(&src(dir, None, Some("holdout")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no such split") && !e.contains("are the"), "{e}");
}

/// `datasets` finds a split keyword anywhere between separators, not only at the
/// start: `sft_test.jsonl` is the test split, and must not be trained on.
#[test]
fn a_split_named_after_a_separator_is_that_split() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    for f in [
        "sft_train.jsonl",
        "sft_test.jsonl",
        "my data 2 val.json",
        "pretrain.jsonl",
    ] {
        touch(dir, f);
    }
    let got = |split| {
        names(
            dir,
            &dataset_files(&src(dir, None, split)).unwrap().unwrap(),
        )
    };
    assert_eq!(got(None), ["sft_train.jsonl"]);
    assert_eq!(got(Some("test")), ["sft_test.jsonl"]);
    assert_eq!(got(Some("validation")), ["my data 2 val.json"]);
    for (part, word, names) in [
        ("train2.parquet", "train", true),
        ("pretrain.jsonl", "train", false),
        ("evaluation.jsonl", "eval", false),
        ("x.dev", "dev", true),
    ] {
        assert_eq!(super::names_keyword(part, word), names, "{part}");
    }
}

#[test]
fn subsets_without_a_card_are_directories() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    for f in [
        "python/train/0000.parquet",
        "python/test/0000.parquet",
        "rust/train/0000.parquet",
    ] {
        touch(dir, f);
    }
    let files = dataset_files(&src(dir, Some("python"), Some("test")))
        .unwrap()
        .unwrap();
    assert_eq!(names(dir, &files), ["python/test/0000.parquet"]);
    let e = dataset_files(&src(dir, Some("go"), None))
        .unwrap_err()
        .to_string();
    assert!(e.contains("python, rust"), "{e}");
    assert!(e.contains("it has no README.md declaring `configs`"), "{e}");
    touch(dir, "README.md");
    let e = dataset_files(&src(dir, Some("go"), None))
        .unwrap_err()
        .to_string();
    assert!(e.contains("its README.md declares no `configs`"), "{e}");
}

#[test]
fn plain_shard_directories_are_not_hub_datasets() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    touch(dir, "part-00000.parquet");
    assert!(dataset_files(&src(dir, None, None)).unwrap().is_none());
    let e = dataset_files(&src(dir, None, Some("train")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--subset/--split"), "{e}");
    let file = dir.join("part-00000.parquet");
    assert!(dataset_files(&src(&file, None, None)).unwrap().is_none());
}

#[test]
fn a_broken_card_names_the_readme() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("README.md"), "---\nconfigs: [oops\n---\n").unwrap();
    let e = dataset_files(&src(d.path(), None, None))
        .unwrap_err()
        .to_string();
    assert!(e.contains("README.md") && e.contains("YAML"), "{e}");
}

#[test]
fn metadata_beside_the_rows_is_not_read_as_data() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    for name in [
        "rows.jsonl",
        "more.json.gz",
        "dataset_info.json",
        "state.json",
        "build_report.json",
        "notes.txt",
        "x.parquet.gz",
    ] {
        touch(dir, name);
    }
    let files = data_files(dir).unwrap();
    assert_eq!(names(dir, &files), ["more.json.gz", "rows.jsonl"]);
}
