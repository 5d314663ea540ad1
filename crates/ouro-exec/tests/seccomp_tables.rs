//! The seccomp deny-list's syscall numbers, per architecture, against the kernel's own
//! headers. Only this machine's architecture runs the filter (the hostile suite); a wrong
//! number for another would refuse a syscall its samples need, or let through one it
//! should refuse, where no test here runs. The headers come with `linux-libc-dev` (pulled
//! in by a C toolchain); without them the test says so and checks nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The harness's tables, read by running `confine.py`'s load-time code (constants only):
/// architecture → (AUDIT_ARCH value, syscall → number), and the names it denies.
type Tables = (BTreeMap<String, (u64, BTreeMap<String, u64>)>, Vec<String>);

fn harness_tables() -> Tables {
    let confine = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/confine.py");
    let script = "import ctypes, errno, os, struct, sys\n\
                  exec(open(sys.argv[1]).read())\n\
                  print('deny', *SECCOMP_DENY)\n\
                  for arch, (audit, nr) in SECCOMP_ARCH.items():\n    \
                      print('audit', arch, audit)\n    \
                      for name, n in nr.items():\n        \
                          print('nr', arch, name, n)\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&confine)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut arches, mut deny) = (BTreeMap::new(), Vec::new());
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w[..] {
            ["deny", ..] => deny = w[1..].iter().map(|s| s.to_string()).collect(),
            ["audit", arch, audit] => {
                arches.insert(arch.to_string(), (audit.parse().unwrap(), BTreeMap::new()));
            }
            ["nr", arch, name, n] => {
                let (_, nrs) = arches.get_mut(arch).expect("audit line first");
                nrs.insert(name.to_string(), n.parse().unwrap());
            }
            _ => panic!("unexpected line {line:?}"),
        }
    }
    (arches, deny)
}

/// `#define <prefix>NAME N` lines of a header, for each prefix.
fn defines(path: &str, prefixes: &[&str]) -> Option<BTreeMap<String, u64>> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        let (Some("#define"), Some(name), Some(value)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        for p in prefixes {
            if let Some(n) = name.strip_prefix(p) {
                out.insert(n.to_string(), value);
            }
        }
    }
    Some(out)
}

#[test]
fn every_architectures_numbers_match_the_kernel_headers() {
    let (arches, deny) = harness_tables();
    assert!(deny.len() >= 40, "{deny:?}");
    // x86_64 has its own table; arm64 uses the generic one (64-bit, so its time syscalls
    // are the 64-bit ones the generic header defines for __BITS_PER_LONG != 32).
    let headers = [
        (
            "x86_64",
            "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
            &["__NR_"][..],
            "EM_X86_64",
        ),
        (
            "aarch64",
            "/usr/include/asm-generic/unistd.h",
            &["__NR_", "__NR3264_"][..],
            "EM_AARCH64",
        ),
    ];
    assert_eq!(
        arches.keys().collect::<Vec<_>>(),
        ["aarch64", "x86_64"],
        "an architecture without a header to check it against"
    );
    let machines = defines("/usr/include/linux/elf-em.h", &["EM_"]);
    let mut checked = 0;
    for (arch, header, prefixes, em) in headers {
        let (audit, nrs) = &arches[arch];
        let mut want: Vec<&str> = deny.iter().map(String::as_str).collect();
        want.extend(["clone", "clone3"]);
        want.sort_unstable();
        assert_eq!(
            nrs.keys().map(String::as_str).collect::<Vec<_>>(),
            want,
            "{arch}: a number for every denied syscall and clone/clone3, nothing else"
        );
        let Some(kernel) = defines(header, prefixes) else {
            eprintln!("skipped {arch}: no {header} (install linux-libc-dev)");
            continue;
        };
        for (name, n) in nrs {
            assert_eq!(kernel.get(name), Some(n), "{arch}: {name} in {header}");
        }
        if let Some(em_nr) = machines.as_ref().and_then(|m| m.get(&em[3..])) {
            // AUDIT_ARCH_*: the ELF machine, 64-bit, little-endian.
            assert_eq!(
                *audit,
                em_nr | 0x8000_0000 | 0x4000_0000,
                "{arch}: AUDIT_ARCH"
            );
        }
        checked += 1;
    }
    if checked == 0 {
        eprintln!("skipped: no kernel headers on this machine");
    }
}
