//! Names for guest PCs: ELF symbol tables (object crate), DWARF line tables (addr2line) and System.map
//! files. An ELF may run elsewhere than it is linked (`--elf FILE@BIAS`: its addresses are looked up at
//! pc - BIAS); one linked at 0 and given without a bias is placed where the trace fetched its code.

use anyhow::{Context, Result};
use cohtrace_analyzer::report::SourceLine;
use cohtrace_analyzer::trace::{RecordKind, TraceFile};
use object::{Object, ObjectKind, ObjectSection, ObjectSegment, ObjectSymbol, SectionFlags, SymbolKind};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;

/// An `--elf` argument: `FILE`, or `FILE@BIAS` for an image that ran BIAS bytes above its link address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfArg {
    pub path: PathBuf,
    pub bias: Option<u64>,
}

/// A bias: hex with 0x, or decimal; a leading `-` for an image that ran below its link address.
fn parse_bias(s: &str) -> Option<u64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let v = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => digits.parse().ok()?,
    };
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Parses `FILE` or `FILE@BIAS` (clap's value parser for `--elf`). The text after the last `@` is the
/// bias unless the whole argument names an existing file; a bias that is not a number is an error.
pub fn parse_elf_arg(s: &str) -> std::result::Result<ElfArg, String> {
    match s.rsplit_once('@') {
        Some(_) if Path::new(s).is_file() => Ok(ElfArg { path: s.into(), bias: None }),
        Some(("", _)) => Err("FILE@BIAS needs a file before the '@'".to_string()),
        Some((file, bias)) => match parse_bias(bias) {
            Some(b) => Ok(ElfArg { path: file.into(), bias: Some(b) }),
            None => Err(format!(
                "FILE@BIAS needs a bias after the '@' (hex with 0x, or decimal, e.g. guest.elf@0x40080000), not '{bias}'"
            )),
        },
        None => Ok(ElfArg { path: s.into(), bias: None }),
    }
}

type Reader = gimli::EndianRcSlice<gimli::RunTimeEndian>;

/// One ELF's DWARF line table, with the bias its addresses are looked up at.
struct Lines {
    bias: u64,
    context: addr2line::Context<Reader>,
}

/// What one ELF holds for naming PCs, at its link addresses.
struct Elf {
    /// (address, size, name).
    syms: Vec<(u64, u64, String)>,
    /// Linked at 0 (ET_DYN, or its lowest loadable segment or code section at 0): it may run anywhere.
    at_zero: bool,
    lines: Option<addr2line::Context<Reader>>,
}

fn read_elf(path: &Path) -> Result<Elf> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let file = object::File::parse(&*data).with_context(|| format!("{} is not an ELF file", path.display()))?;
    let mut syms = Vec::new();
    for s in file.symbols() {
        // Defined symbols of a section only: not undefined ones, not absolute values (constants).
        if s.is_undefined() || s.section_index().is_none() || !matches!(s.kind(), SymbolKind::Text | SymbolKind::Label | SymbolKind::Unknown) {
            continue;
        }
        if let Ok(name) = s.name()
            && !name.is_empty()
            && !name.starts_with('$')
            && !name.starts_with(".L")
        {
            syms.push((s.address(), s.size(), name.to_string()));
        }
    }
    let code = |sec: &object::Section| matches!(sec.flags(), SectionFlags::Elf { sh_flags } if sh_flags & u64::from(object::elf::SHF_EXECINSTR) != 0);
    let lowest_code = file.sections().filter(|s| code(s) && s.size() > 0).map(|s| s.address()).min();
    let lowest_segment = file.segments().filter(|s| s.size() > 0).map(|s| s.address()).min();
    let at_zero = file.kind() == ObjectKind::Dynamic || lowest_code == Some(0) || lowest_segment == Some(0);
    Ok(Elf { syms, at_zero, lines: line_table(&file) })
}

/// The ELF's DWARF line information, if it has any (a file without `.debug_line`, or one whose DWARF does
/// not parse, simply gives no lines).
fn line_table(file: &object::File) -> Option<addr2line::Context<Reader>> {
    file.section_by_name(".debug_line")?;
    let endian = if file.is_little_endian() { gimli::RunTimeEndian::Little } else { gimli::RunTimeEndian::Big };
    let load = |id: gimli::SectionId| -> std::result::Result<Reader, gimli::Error> {
        let data = file.section_by_name(id.name()).and_then(|s| s.uncompressed_data().ok());
        let bytes: Rc<[u8]> = data.map_or_else(|| Rc::from(&[][..]), |d| Rc::from(&*d));
        Ok(gimli::EndianRcSlice::new(bytes, endian))
    };
    addr2line::Context::from_dwarf(gimli::Dwarf::load(load).ok()?).ok()
}

/// The bias at which an image's code ran, from where the trace fetched code: the page-aligned bias at
/// which the most of its symbols' addresses are the first instruction of a fetch (a translation block
/// starts at every called function's entry), with at least two of them; `None` if no bias has two.
/// Returns the bias and how many symbols it places on fetched code.
pub fn infer_bias(symbol_addrs: &[u64], fetch_pcs: &[u64]) -> Option<(u64, usize)> {
    let mut by_offset = std::collections::HashMap::<u64, Vec<u64>>::new();
    let mut addrs = symbol_addrs.to_vec();
    addrs.sort_unstable();
    addrs.dedup();
    for a in addrs {
        by_offset.entry(a & 0xfff).or_default().push(a);
    }
    let mut votes = std::collections::HashMap::<u64, usize>::new();
    for &pc in fetch_pcs {
        for &a in by_offset.get(&(pc & 0xfff)).map_or(&[][..], |v| v) {
            *votes.entry(pc.wrapping_sub(a)).or_default() += 1;
        }
    }
    // The most votes; among equals the lowest bias, so the choice does not depend on hash order.
    votes.into_iter().filter(|&(_, n)| n >= 2).max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
}

/// The distinct PCs at which the trace's instruction fetches start.
pub fn fetch_pcs(trace: &TraceFile) -> Vec<u64> {
    let mut pcs = Vec::new();
    trace.events().replay(|_, _, r, _| {
        if r.kind == RecordKind::Fetch as u8 {
            pcs.push(r.pc);
        }
    });
    pcs.sort_unstable();
    pcs.dedup();
    pcs
}

#[derive(Default)]
pub struct Symbols {
    /// (address, size, name), sorted by address.
    syms: Vec<(u64, u64, String)>,
    sorted: bool,
    lines: Vec<Lines>,
}

impl Symbols {
    /// Loads each ELF at its bias. One linked at 0 without a bias is placed by `infer_bias` over
    /// `fetch_pcs()` (computed once, and only if such an ELF is given), and the choice said on stderr.
    pub fn load_elfs(&mut self, elfs: &[ElfArg], fetch_pcs: impl FnOnce() -> Vec<u64>) -> Result<()> {
        let mut fetch_pcs = Some(fetch_pcs);
        let mut fetched: Vec<u64> = Vec::new();
        for arg in elfs {
            let elf = read_elf(&arg.path)?;
            let bias = match arg.bias {
                Some(b) => b,
                None if elf.at_zero => {
                    if let Some(f) = fetch_pcs.take() {
                        fetched = f();
                    }
                    let addrs: Vec<u64> = elf.syms.iter().map(|s| s.0).collect();
                    let found = infer_bias(&addrs, &fetched);
                    // Said once per file and bias: explain and the HTML and Perfetto renderings load the
                    // symbols again after judging.
                    static SAID: Mutex<Vec<(PathBuf, Option<u64>)>> = Mutex::new(Vec::new());
                    let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
                    let key = (arg.path.clone(), found.map(|f| f.0));
                    if !said.contains(&key) {
                        said.push(key);
                        match found {
                            Some((b, n)) => eprintln!(
                                "cohtrace: {} is linked at 0; the trace fetched its code at bias {b:#x} ({n} of its symbols start fetched code there): naming pc - {b:#x} (--elf FILE@BIAS to choose)",
                                arg.path.display()
                            ),
                            None => eprintln!(
                                "cohtrace: warning: {} is linked at 0 and the trace fetched none of its code at any bias: naming PCs as linked (--elf FILE@BIAS to choose)",
                                arg.path.display()
                            ),
                        }
                    }
                    found.map_or(0, |f| f.0)
                }
                None => 0,
            };
            self.add(elf, bias);
        }
        Ok(())
    }

    fn add(&mut self, elf: Elf, bias: u64) {
        self.syms.extend(elf.syms.into_iter().map(|(a, size, name)| (a.wrapping_add(bias), size, name)));
        self.sorted = false;
        if let Some(context) = elf.lines {
            self.lines.push(Lines { bias, context });
        }
    }

    /// `address type name` lines, as in a kernel's System.map.
    pub fn load_system_map(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for line in text.lines() {
            let mut it = line.split_whitespace();
            if let (Some(a), Some(t), Some(n)) = (it.next(), it.next(), it.next())
                && matches!(t, "t" | "T" | "w" | "W")
                && let Ok(addr) = u64::from_str_radix(a, 16)
            {
                self.syms.push((addr, 0, n.to_string()));
            }
        }
        self.sorted = false;
        Ok(())
    }

    fn sort(&mut self) {
        // Prefer a sized (function) symbol over a label at the same address.
        self.syms.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        self.sorted = true;
    }

    /// `name` for an exact hit, `name+0xoff` inside a sized symbol or before the next one (within 64 KiB).
    pub fn lookup(&mut self, pc: u64) -> Option<String> {
        if !self.sorted {
            self.sort();
        }
        let i = self.syms.partition_point(|s| s.0 <= pc).checked_sub(1)?;
        // Among symbols at the best address, labels name the exact instruction best.
        let (addr, size, name) = &self.syms[i];
        let off = pc - addr;
        let inside = if *size > 0 { off < *size } else { off < 0x10000 };
        if !inside {
            return None;
        }
        Some(if off == 0 { name.clone() } else { format!("{name}+{off:#x}") })
    }

    /// The source file and line of `pc` from the first ELF whose DWARF line table covers it.
    pub fn source_line(&self, pc: u64) -> Option<SourceLine> {
        self.lines.iter().find_map(|l| {
            let loc = l.context.find_location(pc.wrapping_sub(l.bias)).ok()??;
            match (loc.file, loc.line) {
                (Some(file), Some(line)) if line > 0 => Some(SourceLine { file: file.to_string(), line }),
                _ => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_arguments_take_a_bias_after_the_last_at() {
        let p = |s: &str| parse_elf_arg(s);
        assert_eq!(p("g.elf"), Ok(ElfArg { path: "g.elf".into(), bias: None }));
        assert_eq!(p("g.elf@0x40080000"), Ok(ElfArg { path: "g.elf".into(), bias: Some(0x4008_0000) }));
        assert_eq!(p("dir@x/g.elf@4096"), Ok(ElfArg { path: "dir@x/g.elf".into(), bias: Some(4096) }));
        assert_eq!(p("g.elf@-0x1000"), Ok(ElfArg { path: "g.elf".into(), bias: Some(0x1000u64.wrapping_neg()) }));
        for bad in ["g.elf@", "g.elf@0x", "g.elf@40080000x", "g.elf@zero"] {
            let e = p(bad).unwrap_err();
            let bias = bad.rsplit_once('@').unwrap().1;
            assert!(e.contains("needs a bias after the '@'") && e.ends_with(&format!("not '{bias}'")), "{bad}: {e}");
        }
        assert!(p("@0x1000").unwrap_err().contains("needs a file before"));
        // A file whose name has an '@' is taken whole.
        let dir = std::env::temp_dir().join(format!("cohtrace-elf-arg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let named = dir.join("guest@v2");
        std::fs::write(&named, b"").unwrap();
        assert_eq!(p(named.to_str().unwrap()), Ok(ElfArg { path: named.clone(), bias: None }));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_bias_is_where_most_symbols_start_fetched_code() {
        let syms = [0x0, 0x40, 0x1a28, 0x2000, 0x27ac];
        // Code run at 0x40100000, plus QEMU's boot stub at 0 and unrelated fetches.
        let fetched = [0x0, 0x10, 0x4010_0000, 0x4010_0040, 0x4010_1a28, 0x4010_27ac, 0x4010_27b0, 0x4020_0000];
        assert_eq!(infer_bias(&syms, &fetched), Some((0x4010_0000, 4)));
        assert_eq!(infer_bias(&syms, &[0x10, 0x4010_0000]), None, "one symbol is no evidence");
        assert_eq!(infer_bias(&[], &fetched), None);
    }
}
