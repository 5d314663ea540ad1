//! The harness's C line counter (`linecount.c`), built once per interpreter
//! with the system C compiler and kept in the user's cache.
//!
//! It is an optimisation only: when there is no compiler or no `Python.h`,
//! the harness counts with its Python tracer, which gives the same counts.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The C source; part of the executor version, since it defines the counts.
pub const LINECOUNT_C: &str = include_str!("linecount.c");

/// Where built helpers are kept: `$OURO_CACHE_DIR`, else `$XDG_CACHE_HOME/ouro`,
/// else `~/.cache/ouro`.
fn cache_dir() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = var("OURO_CACHE_DIR") {
        return d;
    }
    if let Some(d) = var("XDG_CACHE_HOME") {
        return d.join("ouro");
    }
    match var("HOME") {
        Some(h) => h.join(".cache/ouro"),
        None => std::env::temp_dir().join("ouro-cache"),
    }
}

/// The interpreter's header directory, extension suffix and version.
fn python_build_info(python: &Path) -> Result<(PathBuf, String, String), String> {
    let script = "import sys, sysconfig\n\
                  print(sysconfig.get_paths()['include'])\n\
                  print(sysconfig.get_config_var('EXT_SUFFIX') or '.so')\n\
                  print(sys.version.replace('\\n', ' '))";
    let out = Command::new(python)
        .args(["-I", "-S", "-c", script])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    match (
        lines.next(),
        lines.next(),
        lines.next(),
        out.status.success(),
    ) {
        (Some(inc), Some(suffix), Some(version), true) => {
            Ok((PathBuf::from(inc), suffix.to_string(), version.to_string()))
        }
        _ => Err(format!(
            "{} did not report its build paths: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// The path of the line counter built for `python`, building it on first
/// use. The error says why it could not be built (the harness then counts
/// in Python).
pub fn line_counter(python: &Path) -> Result<PathBuf, String> {
    let (include, suffix, version) = python_build_info(python)?;
    let key = blake3::hash(
        format!(
            "{LINECOUNT_C}\0{}\0{}\0{suffix}\0{version}",
            python.display(),
            include.display()
        )
        .as_bytes(),
    )
    .to_hex();
    let dir = cache_dir().join("native");
    let target = dir.join(format!("linecount-{}{suffix}", &key[..16]));
    if target.is_file() {
        return Ok(target);
    }
    if !include.join("Python.h").is_file() {
        return Err(format!(
            "no Python.h under {} (install the interpreter's development headers, e.g. python3-dev)",
            include.display()
        ));
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tag = format!("{}-{:?}", std::process::id(), std::thread::current().id())
        .replace(|c: char| !c.is_ascii_alphanumeric(), "");
    let source = dir.join(format!(".linecount-{tag}.c"));
    let built = dir.join(format!(".linecount-{tag}{suffix}"));
    std::fs::write(&source, LINECOUNT_C).map_err(|e| format!("{}: {e}", source.display()))?;
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let result = Command::new(&cc)
        .args(["-O2", "-shared", "-fPIC", "-o"])
        .arg(&built)
        .arg(format!("-I{}", include.display()))
        .arg(&source)
        .output();
    let _ = std::fs::remove_file(&source);
    let out = result.map_err(|e| format!("cannot run the C compiler `{cc}`: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&built);
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err
            .lines()
            .find(|l| l.contains("error"))
            .unwrap_or("")
            .trim();
        return Err(format!("`{cc}` could not build it: {first}"));
    }
    // Concurrent executors may race here; rename makes either build the one.
    std::fs::rename(&built, &target).map_err(|e| format!("{}: {e}", target.display()))?;
    Ok(target)
}
