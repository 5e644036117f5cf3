//! Names for guest PCs: ELF symbol tables (object crate), DWARF line tables (addr2line), System.map
//! files and a process's memory map. An ELF may run elsewhere than it is linked (`--elf FILE@BIAS`: its
//! addresses are looked up at pc - BIAS); one linked at 0 and given without a bias is placed where the
//! trace fetched its code. A `/proc/PID/maps` listing (`--maps`) places every ELF the process mapped at
//! the bias the map shows, and names code no symbol covers `file+offset`, as a debugger would.

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
    // A stripped binary or library (as distributions ship them) keeps only its dynamic symbols.
    let table = if file.symbols().next().is_some() { file.symbols() } else { file.dynamic_symbols() };
    for s in table {
        // Defined symbols of a section only: not undefined ones, not absolute values (constants).
        if s.is_undefined() || s.section_index().is_none() || !matches!(s.kind(), SymbolKind::Text | SymbolKind::Label | SymbolKind::Unknown) {
            continue;
        }
        // An IFUNC's address is its resolver, not the implementation it picks (glibc's memcpy).
        if matches!(s.flags(), object::SymbolFlags::Elf { st_info, .. } if st_info & 0xf == object::elf::STT_GNU_IFUNC) {
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

/// One executable mapping of a process's memory map: code in it that no symbol names is named
/// `file+offset`, the offset being the ELF's own address (pc - bias), as objdump shows it.
struct Mapping {
    start: u64,
    end: u64,
    bias: u64,
    file: String,
}

/// A `/proc/PID/maps` line: start, end, permissions, file offset and path (`None` for anonymous memory and
/// `[heap]`, `[stack]`, `[vdso]` ...).
fn parse_maps_line(line: &str) -> Option<(u64, u64, &str, u64, Option<&str>)> {
    let mut it = line.splitn(6, ' ');
    let (range, perms, offset) = (it.next()?, it.next()?, it.next()?);
    let (_dev, _inode) = (it.next()?, it.next()?);
    let path = it.next().map(str::trim).filter(|p| p.starts_with('/'));
    let (start, end) = range.split_once('-')?;
    Some((u64::from_str_radix(start, 16).ok()?, u64::from_str_radix(end, 16).ok()?, perms, u64::from_str_radix(offset, 16).ok()?, path))
}

/// The bias an ELF runs at when the file offset `offset` is mapped at `start`: the loadable segment holding
/// that offset has its link address there. `None` if no segment holds it.
fn bias_of_mapping(data: &[u8], start: u64, offset: u64) -> Option<u64> {
    let file = object::File::parse(data).ok()?;
    file.segments().find_map(|seg| {
        let (off, size) = seg.file_range();
        (offset >= off && offset < off + size.max(1)).then(|| start.wrapping_sub(seg.address() + (offset - off)))
    })
}

#[derive(Default)]
pub struct Symbols {
    /// (address, size, name), sorted by address.
    syms: Vec<(u64, u64, String)>,
    sorted: bool,
    lines: Vec<Lines>,
    /// Executable mappings from `--maps`, sorted by start.
    mappings: Vec<Mapping>,
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

    /// A process's memory map (`/proc/PID/maps`): each ELF it mapped is loaded at the bias the map shows,
    /// from `sysroot` + its path (the file's own path without a sysroot), and code no symbol covers is
    /// named `file+offset`. A file that is not there is said once on stderr and still named that way.
    pub fn load_process_maps(&mut self, maps: &Path, sysroot: Option<&Path>) -> Result<()> {
        let text = std::fs::read_to_string(maps).with_context(|| format!("reading {}", maps.display()))?;
        // Per file: its mappings, in the map's order (ascending addresses).
        let mut files: Vec<(&str, Vec<(u64, u64, &str, u64)>)> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Some((start, end, perms, offset, path)) = parse_maps_line(line) else {
                anyhow::bail!("{}:{}: not a /proc/PID/maps line: {line:?}", maps.display(), n + 1);
            };
            let Some(path) = path else { continue };
            match files.iter_mut().find(|f| f.0 == path) {
                Some(f) => f.1.push((start, end, perms, offset)),
                None => files.push((path, vec![(start, end, perms, offset)])),
            }
        }
        for (path, ranges) in files {
            let local = match sysroot {
                Some(root) => root.join(path.trim_start_matches('/')),
                None => PathBuf::from(path),
            };
            let &(first_start, _, _, first_offset) = ranges.iter().min_by_key(|r| r.3).expect("a file has a mapping");
            let data = std::fs::read(&local).ok();
            let bias = data.as_deref().and_then(|d| bias_of_mapping(d, first_start, first_offset));
            let bias = match bias {
                Some(b) => {
                    // The file's symbols are placed where the map shows it; a file that is not an ELF
                    // (a font, a locale archive) gives none.
                    if let Ok(elf) = read_elf(&local) {
                        self.add(elf, b);
                    }
                    b
                }
                None => {
                    if ranges.iter().any(|r| r.2.contains('x')) {
                        eprintln!(
                            "cohtrace: warning: {path} (mapped in {}) is not an ELF file at {}: naming its code {}+offset only",
                            maps.display(),
                            local.display(),
                            file_name(path)
                        );
                    }
                    first_start.wrapping_sub(first_offset)
                }
            };
            for &(start, end, perms, _) in &ranges {
                if perms.contains('x') {
                    self.mappings.push(Mapping { start, end, bias, file: file_name(path).to_string() });
                }
            }
        }
        self.mappings.sort_by_key(|m| m.start);
        Ok(())
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

    /// `name` for an exact hit, `name+0xoff` inside a sized symbol or before the next one (within 64 KiB),
    /// else `file+0xoff` inside an executable mapping of `--maps`. Within a mapping only a symbol in the
    /// same mapping names the PC.
    pub fn lookup(&mut self, pc: u64) -> Option<String> {
        if !self.sorted {
            self.sort();
        }
        let mapping = self.mappings.iter().find(|m| m.start <= pc && pc < m.end);
        let by_symbol = self.syms.partition_point(|s| s.0 <= pc).checked_sub(1).and_then(|i| {
            let (addr, size, name) = &self.syms[i];
            let off = pc - addr;
            let inside = if *size > 0 { off < *size } else { off < 0x10000 };
            let same_mapping = mapping.is_none_or(|m| *addr >= m.start);
            (inside && same_mapping).then(|| if off == 0 { name.clone() } else { format!("{name}+{off:#x}") })
        });
        by_symbol.or_else(|| mapping.map(|m| format!("{}+{:#x}", m.file, pc.wrapping_sub(m.bias))))
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

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
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

    #[test]
    fn maps_lines_give_range_permissions_offset_and_path() {
        let l = "ffffaed60000-ffffaedf2000 r-xp 00092000 00:02 47                         /lib/libpixman-1.so.0";
        assert_eq!(parse_maps_line(l), Some((0xffffaed60000, 0xffffaedf2000, "r-xp", 0x92000, Some("/lib/libpixman-1.so.0"))));
        let anon = "ffffc8a21000-ffffc8a42000 rw-p 00000000 00:00 0                          [stack]";
        assert_eq!(parse_maps_line(anon).map(|m| m.4), Some(None));
        assert_eq!(parse_maps_line("aaaa-bbbb r-xp 0 00:02"), None);
    }

    #[test]
    fn a_mapped_elf_is_named_by_its_symbols_where_the_map_puts_it_and_by_file_offset_elsewhere() {
        // This test binary is an ELF with sized function symbols; map it as a process would.
        let exe = std::env::current_exe().unwrap();
        let elf = read_elf(&exe).unwrap();
        let &(addr, size, ref name) = elf.syms.iter().find(|s| s.1 > 8 && s.0 > 0x1000).unwrap();
        let dir = std::env::temp_dir().join(format!("cohtrace-maps-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("usr/bin")).unwrap();
        std::fs::copy(&exe, dir.join("usr/bin/vmm")).unwrap();
        let base = 0x5555_0000_0000u64;
        let maps = dir.join("maps");
        std::fs::write(
            &maps,
            format!(
                "{base:x}-{:x} r-xp 00000000 00:02 67   /usr/bin/vmm\n{:x}-{:x} r-xp 00000000 00:02 9   /lib/gone.so\n{:x}-{:x} rw-p 00000000 00:00 0 \n",
                base + 0x4000_0000,
                base + 0x8000_0000,
                base + 0x8001_0000,
                base + 0x9000_0000,
                base + 0x9001_0000
            ),
        )
        .unwrap();
        let mut syms = Symbols::default();
        syms.load_process_maps(&maps, Some(&dir)).unwrap();
        // The binary's first segment is at link address 0 in a PIE; the bias is what the map says.
        let bias = bias_of_mapping(&std::fs::read(&exe).unwrap(), base, 0).unwrap();
        assert_eq!(syms.lookup(bias + addr).as_deref(), Some(name.as_str()));
        assert_eq!(syms.lookup(bias + addr + 4), Some(format!("{name}+0x4")));
        // A file the sysroot lacks is still named by file and offset.
        assert_eq!(syms.lookup(base + 0x8000_0123).as_deref(), Some("gone.so+0x123"));
        // Anonymous memory and addresses outside every mapping get no name.
        assert_eq!(syms.lookup(base + 0x9000_0010), None);
        assert!(size > 0);
        std::fs::remove_dir_all(&dir).ok();
    }
}
