//! Plugin options, parsed once at install (`-plugin libcohtrace.so,key=value,...`). Anything unknown or
//! malformed is an error that names the option, and QEMU stops before the guest runs.

use cohtrace_analyzer::model::Mode;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelMode {
    Off,
    Online,
}

/// The plugin's own translation cache (vcpu.rs, PtlbEntry): on; off (ask QEMU on every access); verify
/// (ask QEMU every time and count disagreements, for tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlbMode {
    On,
    Off,
    Verify,
}

/// Where an access's PA and memory type come from: the patched QEMU's TLB, or that and the plugin's own
/// walk compared on every translation (own_walk.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkerMode {
    Patch,
    Verify,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnHazard {
    Log,
    Abort,
    Exit(i32),
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Trace file; `None` with `out=none`.
    pub out: Option<PathBuf>,
    pub model: ModelMode,
    pub mode: Mode,
    pub on_hazard: OnHazard,
    pub line: u32,
    /// Physical ranges [start, end) to capture; empty means everything.
    pub filters: Vec<(u64, u64)>,
    /// Records per vCPU buffer (one trace chunk).
    pub buffer: usize,
    /// Where the online model writes its report at exit (text, or JSON for *.json); stderr if unset.
    pub report: Option<PathBuf>,
    pub tlb: TlbMode,
    pub walker: WalkerMode,
    /// Record the MMU's table walks (qemu-patches/0003).
    pub walks: bool,
    /// The online model's judgement of devices (`cohtrace analyze --dma`): every device non-coherent.
    pub dma_noncoherent_all: bool,
    /// Devices the online model judges non-coherent (`--dma-noncoherent NAME`).
    pub dma_noncoherent: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            out: Some(PathBuf::from("cohtrace.ctrace")),
            model: ModelMode::Off,
            mode: Mode::Speculative,
            on_hazard: OnHazard::Log,
            line: 64,
            filters: Vec::new(),
            buffer: 64 * 1024,
            report: None,
            tlb: TlbMode::On,
            walker: WalkerMode::Patch,
            walks: true,
            dma_noncoherent_all: false,
            dma_noncoherent: Vec::new(),
        }
    }
}

pub const HELP: &str = "options: out=PATH|none model=off|online mode=speculative|precise \
on_hazard=log|abort|exit exit_code=N line=BYTES filter=START-END (repeatable) \
buffer=RECORDS report=PATH tlb=on|off|verify walker=patch|verify walks=on|off dma=coherent|noncoherent \
dma_noncoherent=DEVICE (repeatable)";

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(&h.replace('_', ""), 16).ok()
    } else {
        s.replace('_', "").parse().ok()
    }
}

pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Options, String> {
    let mut o = Options::default();
    let mut on_hazard = None;
    let mut exit_code = None;
    for arg in args {
        let (key, value) = arg
            .split_once('=')
            .ok_or_else(|| format!("option '{arg}' is not key=value ({HELP})"))?;
        let bad = |what: &str| format!("option '{key}': '{value}' is not {what}");
        match key {
            "out" => o.out = if value == "none" { None } else { Some(PathBuf::from(value)) },
            "model" => {
                o.model = match value {
                    "off" => ModelMode::Off,
                    "online" => ModelMode::Online,
                    _ => return Err(bad("off or online")),
                }
            }
            "mode" => o.mode = Mode::parse(value).ok_or_else(|| bad("speculative or precise"))?,
            "on_hazard" => {
                on_hazard = Some(match value {
                    "log" => OnHazard::Log,
                    "abort" => OnHazard::Abort,
                    "exit" => OnHazard::Exit(1),
                    _ => return Err(bad("log, abort or exit")),
                })
            }
            "exit_code" => {
                let v = parse_u64(value).filter(|v| *v <= 255).ok_or_else(|| bad("an exit status 0..255"))?;
                exit_code = Some(v as i32);
            }
            "line" => {
                let v = parse_u64(value)
                    .filter(|v| v.is_power_of_two() && (16..=2048).contains(v))
                    .ok_or_else(|| bad("a power of two from 16 to 2048"))?;
                o.line = v as u32;
            }
            // Gone: the DC ZVA block comes from the CPU (qemu-patches/0004), never from a guess.
            "zva" => {
                return Err("option 'zva' was removed: the DC ZVA block size now comes from the CPU \
                            (DCZID_EL0, reported by qemu-patches/0004); drop it"
                    .into())
            }
            "filter" => {
                let (a, b) = value.split_once('-').ok_or_else(|| bad("START-END"))?;
                let (a, b) = (parse_u64(a).ok_or_else(|| bad("START-END"))?, parse_u64(b).ok_or_else(|| bad("START-END"))?);
                if a >= b {
                    return Err(bad("START-END with START < END"));
                }
                o.filters.push((a, b));
            }
            "buffer" => {
                let v = parse_u64(value)
                    .filter(|v| (64..=16 * 1024 * 1024).contains(v))
                    .ok_or_else(|| bad("a record count from 64 to 16777216"))?;
                o.buffer = v as usize;
            }
            "report" => o.report = Some(PathBuf::from(value)),
            "tlb" => {
                o.tlb = match value {
                    "on" => TlbMode::On,
                    "off" => TlbMode::Off,
                    "verify" => TlbMode::Verify,
                    _ => return Err(bad("on, off or verify")),
                }
            }
            "walker" => {
                o.walker = match value {
                    "patch" => WalkerMode::Patch,
                    "verify" => WalkerMode::Verify,
                    _ => return Err(bad("patch or verify")),
                }
            }
            "walks" => {
                o.walks = match value {
                    "on" => true,
                    "off" => false,
                    _ => return Err(bad("on or off")),
                }
            }
            "dma" => {
                o.dma_noncoherent_all = match value {
                    "coherent" => false,
                    "noncoherent" => true,
                    _ => return Err(bad("coherent or noncoherent")),
                }
            }
            "dma_noncoherent" => {
                if value.is_empty() {
                    return Err(bad("a device name, as `cohtrace stats` lists them"));
                }
                o.dma_noncoherent.push(value.to_string());
            }
            _ => return Err(format!("unknown option '{key}' ({HELP})")),
        }
    }
    o.on_hazard = match (on_hazard, exit_code) {
        (Some(OnHazard::Exit(_)), Some(c)) => OnHazard::Exit(c),
        (_, Some(_)) => return Err("option 'exit_code' needs on_hazard=exit".into()),
        (Some(h), None) => h,
        (None, None) => OnHazard::Log,
    };
    if (o.dma_noncoherent_all || !o.dma_noncoherent.is_empty()) && o.model != ModelMode::Online {
        let key = if o.dma_noncoherent_all { "dma" } else { "dma_noncoherent" };
        return Err(format!(
            "option '{key}' needs model=online (a trace records every device; judge it with `cohtrace analyze --dma`)"
        ));
    }
    if o.on_hazard != OnHazard::Log && o.model != ModelMode::Online {
        return Err("option 'on_hazard' needs model=online (hazards are only judged online)".into());
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_values_parse() {
        let o = parse([]).unwrap();
        assert_eq!(o.model, ModelMode::Off);
        assert_eq!(o.line, 64);
        let o = parse(["out=/tmp/x", "model=online", "on_hazard=exit", "exit_code=42", "filter=0x40000000-0x48000000", "line=128"])
            .unwrap();
        assert_eq!(o.out.as_deref(), Some(std::path::Path::new("/tmp/x")));
        assert_eq!(o.on_hazard, OnHazard::Exit(42));
        assert_eq!(o.filters, vec![(0x4000_0000, 0x4800_0000)]);
        assert_eq!(o.line, 128);
        assert!(parse(["out=none"]).unwrap().out.is_none());
        assert!(o.walks && !parse(["walks=off"]).unwrap().walks);
        assert!(o.walker == WalkerMode::Patch && parse(["walker=verify"]).unwrap().walker == WalkerMode::Verify);
        let o = parse(["model=online", "dma=noncoherent", "dma_noncoherent=a@1", "dma_noncoherent=b@2"]).unwrap();
        assert!(o.dma_noncoherent_all && o.dma_noncoherent == ["a@1", "b@2"]);
    }

    #[test]
    fn errors_name_the_option() {
        for (args, key) in [
            (vec!["bogus=1"], "bogus"),
            (vec!["line=63"], "line"),
            (vec!["model=maybe"], "model"),
            (vec!["filter=5-3"], "filter"),
            (vec!["exit_code=7"], "exit_code"),
            (vec!["model=online", "on_hazard=explode"], "on_hazard"),
            (vec!["on_hazard=abort"], "on_hazard"),
            (vec!["buffer=1"], "buffer"),
            (vec!["walks=maybe"], "walks"),
            (vec!["walker=own"], "walker"),
            (vec!["zva=512"], "zva"),
            (vec!["model=online", "dma=sometimes"], "dma"),
            (vec!["dma=noncoherent"], "dma"),
            (vec!["model=online", "dma_noncoherent="], "dma_noncoherent"),
            (vec!["dma_noncoherent=virtio-blk@a003e00"], "dma_noncoherent"),
        ] {
            let e = parse(args.iter().copied()).unwrap_err();
            assert!(e.contains(&format!("'{key}'")), "{e}");
        }
        assert!(parse(["noequals"]).unwrap_err().contains("'noequals'"));
    }
}
