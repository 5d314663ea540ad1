//! `-q` silences a run's status lines (errors still print), after or before
//! the subcommand.

use ouro_e2e::{ouro, stderr, workspace};

#[test]
fn quiet_run_prints_nothing_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    for (i, args) in [["-q", "run"], ["run", "-q"], ["run", "-v"]]
        .iter()
        .enumerate()
    {
        let out = dir.path().join(format!("out{i}"));
        let text = std::fs::read_to_string(workspace().join("pipelines/datasets.toml"))
            .unwrap()
            .replace("count = 2000", "count = 6")
            .replace("runs/datasets", &out.display().to_string());
        let p = dir.path().join(format!("p{i}.toml"));
        std::fs::write(&p, text).unwrap();
        let p = p.display().to_string();
        let o = ouro(&[args[0], args[1], &p]);
        assert!(o.status.success(), "{}", stderr(&o));
        if args.contains(&"-q") {
            assert_eq!(stderr(&o), "", "quiet run wrote to stderr");
        } else {
            assert!(stderr(&o).contains("stage problems ..."), "{}", stderr(&o));
        }
    }
}
