//! ARCHITECTURE.md's crate dependency table is the code's: every `ouro-*`
//! dependency in a crate's Cargo.toml must be listed there and every listed
//! one must exist, so the map cannot drift from the territory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// `[dependencies]` entries named `ouro-*` of every crate under `crates/`.
fn cargo_graph() -> Graph {
    let mut graph = Graph::new();
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let doc: toml::Table = toml::from_str(&text).unwrap();
        let name = doc["package"]["name"].as_str().unwrap().to_string();
        let deps = doc
            .get("dependencies")
            .and_then(|d| d.as_table())
            .map(|t| {
                t.keys()
                    .filter(|k| k.starts_with("ouro-"))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        graph.insert(name, deps);
    }
    graph
}

/// The table between `<!-- deps:begin -->` and `<!-- deps:end -->`:
/// `| crate | floor | dep, dep |` rows, `—` for none.
fn documented() -> (Graph, BTreeMap<String, u32>) {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let start = text
        .find("<!-- deps:begin -->")
        .expect("ARCHITECTURE.md has a deps table");
    let end = text.find("<!-- deps:end -->").expect("the deps table ends");
    let (mut graph, mut floors) = (Graph::new(), BTreeMap::new());
    for line in text[start..end].lines() {
        let cells = cells(line);
        if cells.len() != 3 || !cells[0].starts_with("`ouro-") {
            continue;
        }
        let name = cells[0].trim_matches('`').to_string();
        floors.insert(name.clone(), cells[1].parse().expect("a floor number"));
        let deps = cells[2]
            .split(',')
            .map(|d| d.trim().trim_matches('`'))
            .filter(|d| d.starts_with("ouro-"))
            .map(String::from)
            .collect();
        graph.insert(name, deps);
    }
    (graph, floors)
}

/// The cells of a Markdown table row, trimmed.
fn cells(line: &str) -> Vec<&str> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .collect()
}

fn reaches(graph: &Graph, from: &str, to: &str) -> bool {
    let mut stack = vec![from.to_string()];
    let mut seen = BTreeSet::new();
    while let Some(n) = stack.pop() {
        for d in graph.get(&n).into_iter().flatten() {
            if d == to {
                return true;
            }
            if seen.insert(d.clone()) {
                stack.push(d.clone());
            }
        }
    }
    false
}

#[test]
fn architecture_md_lists_exactly_the_crate_dependencies() {
    let (code, (doc, floors)) = (cargo_graph(), documented());
    assert!(code.len() >= 10, "found the crates: {code:?}");
    let mut wrong = Vec::new();
    for (krate, deps) in &code {
        let Some(listed) = doc.get(krate) else {
            wrong.push(format!("{krate}: missing from the table"));
            continue;
        };
        for d in deps.difference(listed) {
            wrong.push(format!(
                "{krate} -> {d}: in Cargo.toml, not in ARCHITECTURE.md"
            ));
        }
        for d in listed.difference(deps) {
            wrong.push(format!(
                "{krate} -> {d}: in ARCHITECTURE.md, not in Cargo.toml"
            ));
        }
    }
    for (krate, deps) in &code {
        for d in deps {
            if floors.get(krate) <= floors.get(d) {
                wrong.push(format!("{krate} -> {d}: does not point to a lower floor"));
            }
        }
    }
    for krate in doc.keys().filter(|k| !code.contains_key(*k)) {
        wrong.push(format!("{krate}: in ARCHITECTURE.md, no such crate"));
    }
    assert!(
        wrong.is_empty(),
        "ARCHITECTURE.md's dependency table is wrong:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn stated_dependency_invariants_hold() {
    let code = cargo_graph();
    assert!(
        code["ouro-data"].is_empty(),
        "ouro-data depends on nothing of ours"
    );
    for krate in code.keys() {
        assert!(
            !reaches(&code, krate, krate),
            "{krate} is on a dependency cycle"
        );
    }
    // Usable without candle: nothing they reach is the model crate.
    for krate in [
        "ouro-exec",
        "ouro-edits",
        "ouro-python",
        "ouro-import",
        "ouro-rank",
    ] {
        assert!(
            !reaches(&code, krate, "ouro-model"),
            "{krate} reaches ouro-model"
        );
    }
    assert!(
        code["ouro-cli"].contains("ouro-pipeline"),
        "the CLI calls the pipeline layer"
    );
}

#[test]
fn every_stage_entry_point_named_in_architecture_md_exists() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let table = &text[text
        .find("## Where each stage starts")
        .expect("the stage table")..];
    let table = &table[..table.find("\n## ").unwrap_or(table.len())];
    let mut checked = 0;
    for line in table.lines().filter(|l| l.contains("`crates/")) {
        let cells = cells(line);
        let file = cells[2].trim_matches('`');
        let source = std::fs::read_to_string(root().join(file))
            .unwrap_or_else(|e| panic!("ARCHITECTURE.md names {file}: {e}"));
        // `a::b::{c, d}` or `a::b::c`: every function named must be defined there.
        let path = cells[1].trim_matches('`');
        let names: Vec<&str> = match path.find('{') {
            Some(i) => path[i + 1..path.len() - 1]
                .split(',')
                .map(str::trim)
                .collect(),
            None => vec![path.rsplit("::").next().unwrap()],
        };
        for name in names {
            // `pub fn name(` or, generic, `pub fn name<`.
            assert!(
                source.contains(&format!("pub fn {name}("))
                    || source.contains(&format!("pub fn {name}<")),
                "ARCHITECTURE.md says {file} defines `{name}`"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "read the stage table ({checked} entries)");
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Top-level module -> the crate's other top-level modules it names through
/// `crate::`, outside comments and tests (test code may reach anywhere).
fn module_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let is_test_file = rel
            .components()
            .any(|c| matches!(c.as_os_str().to_str(), Some("tests.rs" | "tests")));
        if matches!(top.as_str(), "lib" | "main") || is_test_file {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let targets = graph.entry(top.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let name: String = line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != top {
                    targets.insert(name);
                }
            }
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for targets in graph.values_mut() {
        targets.retain(|t| modules.contains(t));
    }
    graph
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    let mut cycles = Vec::new();
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let src = entry.unwrap().path().join("src");
        if !src.is_dir() {
            continue;
        }
        let graph = module_graph(&src);
        for (module, targets) in &graph {
            for target in targets {
                if module < target && reaches(&graph, target, module) {
                    cycles.push(format!("{}: {module} <-> {target}", src.display()));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "module import cycles: {cycles:#?}");
}
