//! Names for guest PCs: ELF symbol tables (object crate) and System.map files.

use anyhow::{Context, Result};
use object::{Object, ObjectSymbol, SymbolKind};
use std::path::Path;

#[derive(Default)]
pub struct Symbols {
    /// (address, size, name), sorted by address.
    syms: Vec<(u64, u64, String)>,
    sorted: bool,
}

impl Symbols {
    pub fn load_elf(&mut self, path: &Path) -> Result<()> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let file = object::File::parse(&*data).with_context(|| format!("{} is not an ELF file", path.display()))?;
        for s in file.symbols() {
            if s.address() == 0 || !matches!(s.kind(), SymbolKind::Text | SymbolKind::Label | SymbolKind::Unknown) {
                continue;
            }
            if let Ok(name) = s.name()
                && !name.is_empty()
                && !name.starts_with('$')
                && !name.starts_with(".L")
            {
                self.syms.push((s.address(), s.size(), name.to_string()));
            }
        }
        self.sorted = false;
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
}
