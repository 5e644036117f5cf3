//! Shared by the integration tests: where QEMU, the plugin and the guests are, manifests, ELF symbols.
//!
//! scripts/test sets COHTRACE_QEMU, COHTRACE_PLUGIN and COHTRACE_GUESTS and COHTRACE_REQUIRE_QEMU=1;
//! then a missing piece fails the test. A bare `cargo test` without them skips the QEMU tests with a note.
#![allow(dead_code)]

use object::{Object, ObjectSymbol};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub struct Env {
    pub qemu: PathBuf,
    pub plugin: PathBuf,
    pub guests: PathBuf,
}

/// The QEMU test environment, or None (skip) when it is not configured and not required.
pub fn env() -> Option<Env> {
    let get = |k: &str| std::env::var_os(k).map(PathBuf::from);
    let required = std::env::var("COHTRACE_REQUIRE_QEMU").is_ok_and(|v| v == "1");
    match (get("COHTRACE_QEMU"), get("COHTRACE_PLUGIN"), get("COHTRACE_GUESTS")) {
        (Some(qemu), Some(plugin), Some(guests)) => {
            for p in [&qemu, &plugin] {
                assert!(p.is_file(), "{} does not exist", p.display());
            }
            assert!(guests.is_dir(), "{} is not a directory", guests.display());
            Some(Env { qemu, plugin, guests })
        }
        _ => {
            assert!(!required, "COHTRACE_REQUIRE_QEMU=1 but COHTRACE_QEMU/PLUGIN/GUESTS are not all set");
            eprintln!("note: QEMU tests skipped (run scripts/test, or set COHTRACE_QEMU, COHTRACE_PLUGIN, COHTRACE_GUESTS)");
            None
        }
    }
}

#[derive(serde::Deserialize, Debug)]
pub struct Manifest {
    pub source: String,
    pub description: String,
    /// The whole QEMU command line but `-kernel`.
    pub qemu_args: Vec<String>,
    pub variant: Vec<Variant>,
}

#[derive(serde::Deserialize, Debug, Clone)]
pub struct Variant {
    pub name: String,
    /// Why the variant cannot run in the plugin's stock-API mode (the stock tier skips it and says why).
    pub stock_miss: Option<String>,
    #[serde(default)]
    pub hazard: Vec<Expected>,
}

#[derive(serde::Deserialize, Debug, Clone)]
pub struct Expected {
    pub class: String,
    pub line: String,
    pub observer: String,
    pub cause: String,
    pub modes: Option<Vec<String>>,
    /// "noncoherent": reported only when the device side is judged non-coherent (`--dma noncoherent`).
    pub dma: Option<String>,
    /// Why the plugin's stock-API mode (no qemu-patches/) cannot see this hazard: absent there.
    pub stock_miss: Option<String>,
}

/// How a manifest names a hazard's side: "dma:DEVICE" for a device, else a symbol expression, as the
/// PC in hex.
pub fn side_key(syms: &HashMap<String, u64>, expr: &str) -> String {
    match expr.strip_prefix("dma:") {
        Some(device) => format!("dma:{device}"),
        None => format!("{:x}", resolve(syms, expr)),
    }
}

/// The same key for a reported side.
pub fn reported_side_key(side: &cohtrace_analyzer::report::Side) -> String {
    match (&side.device, side.is_device()) {
        (Some(d), true) => format!("dma:{d}"),
        _ => format!("{:x}", side.pc),
    }
}

/// The scenario manifests (guests/scenarios/*.toml), with their ground truth.
pub fn manifests() -> Vec<(PathBuf, Manifest)> {
    read_manifests("guests/scenarios")
}

fn read_manifests(dir: &str) -> Vec<(PathBuf, Manifest)> {
    let mut v: Vec<_> = std::fs::read_dir(repo().join(dir))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v.into_iter()
        .map(|p| {
            let m: Manifest = toml::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, m)
        })
        .collect()
}

/// The recorded traces (traces/*.ctrace), sorted.
pub fn recorded_traces() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("traces"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ctrace"))
        .collect();
    v.sort();
    v
}

/// Global symbols of an ELF: name -> address.
pub fn symbols(elf: &Path) -> HashMap<String, u64> {
    let data = std::fs::read(elf).unwrap_or_else(|e| panic!("{}: {e}", elf.display()));
    let f = object::File::parse(&*data).unwrap();
    f.symbols().filter_map(|s| Some((s.name().ok()?.to_string(), s.address()))).collect()
}

/// Resolves "sym" or "sym+0x40" against the symbol table.
pub fn resolve(syms: &HashMap<String, u64>, expr: &str) -> u64 {
    let (name, off) = match expr.split_once('+') {
        Some((n, o)) => {
            let o = o.trim();
            let off = o.strip_prefix("0x").map_or_else(|| o.parse().unwrap(), |h| u64::from_str_radix(h, 16).unwrap());
            (n.trim(), off)
        }
        None => (expr.trim(), 0),
    };
    syms.get(name).unwrap_or_else(|| panic!("symbol {name} not in ELF")) + off
}

pub struct Run {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Every manifest, scenarios and benchmark guests.
pub fn all_manifests() -> Vec<(PathBuf, Manifest)> {
    let mut v = manifests();
    v.extend(read_manifests("guests/bench"));
    v
}

/// A guest variant's whole QEMU command line: its manifest's `qemu_args`, then `-kernel` and its ELF.
pub fn command(env: &Env, variant: &str) -> Vec<String> {
    let (_, m) = all_manifests()
        .into_iter()
        .find(|(_, m)| m.variant.iter().any(|v| v.name == variant))
        .unwrap_or_else(|| panic!("no manifest has a variant {variant}"));
    let mut args = m.qemu_args.clone();
    args.extend(["-kernel".to_string(), env.guests.join(format!("{variant}.elf")).display().to_string()]);
    args
}

/// Runs a guest variant under QEMU with the plugin; `plugin_opts` are appended to the -plugin argument.
pub fn run_variant(env: &Env, variant: &str, plugin_opts: &str) -> Run {
    let spec = format!("{}{}", env.plugin.display(), plugin_opts);
    let out = Command::new(&env.qemu).args(command(env, variant)).arg("-plugin").arg(spec).output().expect("running QEMU");
    Run {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cohtrace-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The python with the report checkers (scripts/setup-pytools: perfetto's classes, jsonschema), or None
/// (skip, with a note) when COHTRACE_PYTHON is not set and the full suite (COHTRACE_REQUIRE_QEMU=1) is
/// not required.
pub fn pytools() -> Option<PathBuf> {
    tool("COHTRACE_PYTHON", "scripts/setup-pytools", "report checks")
}

/// Debian's Chromium for the HTML checks (scripts/setup-browser), from COHTRACE_CHROMIUM, or None (skip,
/// with a note) when it is not set and the full suite is not required.
pub fn browser() -> Option<PathBuf> {
    tool("COHTRACE_CHROMIUM", "scripts/setup-browser", "browser checks")
}

/// The program `var` names (which `setup` prints), required by the full suite, else skipped with a note.
fn tool(var: &str, setup: &str, checks: &str) -> Option<PathBuf> {
    let required = std::env::var("COHTRACE_REQUIRE_QEMU").is_ok_and(|v| v == "1");
    match std::env::var_os(var).map(PathBuf::from) {
        Some(p) => {
            assert!(p.is_file(), "{var}={} does not exist", p.display());
            Some(p)
        }
        None => {
            assert!(!required, "COHTRACE_REQUIRE_QEMU=1 but {var} is not set ({setup} prints it)");
            eprintln!("note: {checks} skipped (set {var} to what {setup} prints)");
            None
        }
    }
}

/// The scenario guests' ELFs (COHTRACE_GUESTS, else target/guests as scripts/build-guests leaves them),
/// or None when they are not built and the full suite is not required.
pub fn guest_elfs() -> Option<PathBuf> {
    let required = std::env::var("COHTRACE_REQUIRE_QEMU").is_ok_and(|v| v == "1");
    let dir = std::env::var_os("COHTRACE_GUESTS").map_or_else(|| repo().join("target/guests"), PathBuf::from);
    if dir.join("01-nc-write-wb-read.elf").is_file() {
        return Some(dir);
    }
    assert!(!required, "COHTRACE_REQUIRE_QEMU=1 but the guests are not built in {}", dir.display());
    eprintln!("note: checks that need the guests' symbols skipped (run scripts/build-guests)");
    None
}

/// Validates SARIF files with analyzer/tests/check_sarif.py (the official SARIF 2.1.0 schema in
/// docs/schemas/), panicking with its errors when one is invalid. False (nothing checked, with a note)
/// when the report checkers' python is not there (`pytools`).
pub fn check_sarif(files: &[PathBuf]) -> bool {
    let Some(python) = pytools() else { return false };
    assert!(!files.is_empty(), "no SARIF files to check");
    let out = Command::new(python).arg(repo().join("analyzer/tests/check_sarif.py")).args(files).output().expect("running check_sarif.py");
    assert!(
        out.status.success(),
        "SARIF not valid against docs/schemas/sarif-schema-2.1.0.json:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}
