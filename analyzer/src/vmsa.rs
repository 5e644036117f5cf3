//! VMSAv8-64 translation table walks (Arm ARM D8.2-D8.4; pseudocode AArch64.S1Walk, AArch64.S2Walk):
//! a VA through stage 1 and an IPA through stage 2, to a PA and the attributes the `memtype` rules combine.
//!
//! The plugin runs this where QEMU does not tell it an access's attributes (a QEMU without
//! qemu-patches/), and checks it against the patched QEMU's own walk (`walker=verify`). It walks only for
//! accesses that completed, so permissions, the Access flag and address-size checks are QEMU's business:
//! the walker needs the output address and the attributes, and fails only where no translation exists
//! (an invalid or reserved descriptor, a VA outside both ranges, a descriptor it cannot read).
//!
//! Covered: 4K, 16K and 64K granules; stage 1 of EL1&0 and EL2&0 (two VA ranges, TCR_EL1 layout) and of
//! EL2 (one range, TCR_EL2 layout); stage 2 with VTCR_EL2's start level and concatenated initial tables;
//! table, block and page descriptors (the Contiguous bit changes what a TLB may hold, never the result);
//! top-byte ignore; 52-bit output addresses with the 64K granule (FEAT_LPA). Not covered, refused with
//! `Unsupported`: TCR.DS = 1 (FEAT_LPA2; neither Debian's 6.1 kernel nor the scenarios use it) and the
//! 128-bit descriptors of FEAT_D128.

use crate::memtype::Translation;

/// Reads guest physical memory for the walker (QEMU's `qemu_plugin_read_memory_hwaddr`, or a test table).
pub trait PhysMem {
    /// The 64-bit little-endian value at `pa`; `None` when nothing is there.
    fn read_u64(&mut self, pa: u64) -> Option<u64>;
}

/// The translation granule: log2 of its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granule {
    K4 = 12,
    K16 = 14,
    K64 = 16,
}

impl Granule {
    pub fn bits(self) -> u32 {
        self as u32
    }

    /// Bits of VA resolved per level: a table holds 2^(granule - 3) descriptors.
    fn stride(self) -> u32 {
        self.bits() - 3
    }

    /// TCR_ELx.TG0 / VTCR_EL2.TG0 (0b00 4K, 0b01 64K, 0b10 16K; 0b11 reserved, taken as 4K as QEMU does).
    pub fn from_tg0(tg0: u64) -> Granule {
        match tg0 & 3 {
            1 => Granule::K64,
            2 => Granule::K16,
            _ => Granule::K4,
        }
    }

    /// TCR_ELx.TG1 (0b01 16K, 0b10 4K, 0b11 64K; 0b00 reserved, taken as 4K).
    pub fn from_tg1(tg1: u64) -> Granule {
        match tg1 & 3 {
            1 => Granule::K16,
            3 => Granule::K64,
            _ => Granule::K4,
        }
    }
}

/// A stage-1 translation regime's registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage1 {
    /// TTBR0_ELx and TTBR1_ELx (the second is unused with one range).
    pub ttbr: [u64; 2],
    pub tcr: u64,
    pub mair: u64,
    /// EL1&0 and EL2&0 (HCR_EL2.E2H = 1): two VA ranges, TCR in TCR_EL1's layout. EL2 with E2H = 0 and EL3:
    /// one range, TCR_EL2's layout.
    pub two_ranges: bool,
}

/// The stage-2 registers of EL1&0 (HCR_EL2.VM = 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage2 {
    pub vttbr: u64,
    pub vtcr: u64,
}

/// A completed walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walk {
    pub pa: u64,
    /// Stage-1 attribute byte (MAIR format; `None` when no stage 1 applied), stage-2 MemAttr[3:0] and
    /// stage-1 shareability, as `memtype::effective_memtype` takes them.
    pub translation: Translation,
    /// log2 of the size of the block or page that mapped the address at the last stage: every address of
    /// the same aligned block translates alike, so a cache may hold the result for all of it.
    pub block_bits: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkError {
    /// No translation: an invalid or reserved descriptor, or an input address outside the regime's ranges.
    Translation { stage: u8, level: i8 },
    /// A descriptor could not be read (`pa` is where it should have been).
    Unreadable { stage: u8, level: i8, pa: u64 },
    /// A configuration the walker does not implement.
    Unsupported(&'static str),
}

/// One stage's walk parameters for one input range.
#[derive(Clone, Copy, Debug)]
struct Params {
    granule: Granule,
    /// Bits of input address the walk resolves (64 - TxSZ).
    input_bits: u32,
    start_level: i8,
    /// The first table's base, aligned to its size.
    base: u64,
    /// 52-bit output addresses (64K granule, PS/IPS = 0b110): OA[51:48] in descriptor bits 15:12.
    oa52: bool,
}

const TCR_DS_EL1_LAYOUT: u64 = 1 << 59;
const TCR_DS_EL2_LAYOUT: u64 = 1 << 32;
const VTCR_DS: u64 = 1 << 32;
const DESC_VALID: u64 = 1 << 0;
const DESC_TABLE: u64 = 1 << 1;
const PA_48: u64 = (1 << 48) - 1;

fn field(v: u64, lsb: u32, width: u32) -> u64 {
    (v >> lsb) & ((1 << width) - 1)
}

/// Levels needed to resolve `input_bits` of address with `g` (Arm ARM D8.2.6): the start level is 4 minus
/// that.
fn start_level(g: Granule, input_bits: u32) -> i8 {
    let levels = (input_bits - g.bits()).div_ceil(g.stride());
    4 - levels as i8
}

/// Address bits below `level`'s index: the size of what one descriptor there maps.
fn level_shift(g: Granule, level: i8) -> u32 {
    g.bits() + g.stride() * (3 - level) as u32
}

/// The first table's base from a TTBR/VTTBR: BADDR, aligned to the table's size (lower bits are treated as
/// zero, as QEMU does), with BADDR[51:48] in bits 5:2 for 52-bit output addresses.
fn table_base(ttbr: u64, p: &Params) -> u64 {
    let mut base = ttbr & PA_48 & !1;
    if p.oa52 {
        base |= field(ttbr, 2, 4) << 48;
        base &= !0x3c;
    }
    let shift = level_shift(p.granule, p.start_level);
    let table_bytes = 1u64 << (p.input_bits.saturating_sub(shift) + 3);
    base & !(table_bytes - 1)
}

/// The output address field of a descriptor: bits 47:granule, plus OA[51:48] from bits 15:12 with FEAT_LPA.
fn output_address(desc: u64, g: Granule, oa52: bool) -> u64 {
    let mut oa = desc & PA_48 & !((1u64 << g.bits()) - 1);
    if oa52 {
        oa |= field(desc, 12, 4) << 48;
    }
    oa
}

/// Walks one stage from `p` for input address `ia`: the descriptor that maps it, its level and the output
/// address. `s2` translates each descriptor's address first when this is a stage 1 under a stage 2.
fn walk_stage(
    ia: u64,
    p: &Params,
    stage: u8,
    mem: &mut dyn PhysMem,
    s2: Option<&(Params, Stage2)>,
) -> Result<(u64, i8, u64), WalkError> {
    let g = p.granule;
    let mut table = p.base;
    let mut level = p.start_level;
    loop {
        let shift = level_shift(g, level);
        let index_bits = if level == p.start_level { p.input_bits - shift } else { g.stride() };
        let index = (ia >> shift) & ((1u64 << index_bits) - 1);
        let mut desc_pa = table | index * 8;
        if let Some((s2p, _)) = s2 {
            // A stage-1 descriptor's address is an IPA (AArch64.S1Walk calls the stage-2 walk on it).
            desc_pa = walk_stage(desc_pa, s2p, 2, mem, None)?.2;
        }
        let desc = mem.read_u64(desc_pa).ok_or(WalkError::Unreadable { stage, level, pa: desc_pa })?;
        if desc & DESC_VALID == 0 {
            return Err(WalkError::Translation { stage, level });
        }
        if level < 3 && desc & DESC_TABLE != 0 {
            table = output_address(desc, g, p.oa52);
            level += 1;
            continue;
        }
        // A block is allowed at level 1 and 2 with 4K, at level 2 with 16K and 64K (and level 1 with 64K
        // and 52-bit addresses); elsewhere a block encoding is reserved. At level 3, bit 1 must be set.
        let block_ok = match (g, level) {
            (_, 3) => desc & DESC_TABLE != 0,
            (Granule::K4, 1 | 2) | (Granule::K16, 2) | (Granule::K64, 2) => true,
            (Granule::K64, 1) => p.oa52,
            _ => false,
        };
        if !block_ok {
            return Err(WalkError::Translation { stage, level });
        }
        let oa = output_address(desc, g, p.oa52) & !((1u64 << shift) - 1) | (ia & ((1u64 << shift) - 1));
        return Ok((desc, level, oa));
    }
}

/// Stage-2 parameters from VTCR_EL2 (Arm ARM D8.2.7): T0SZ, SL0 with TG0 for the start level, PS.
fn stage2_params(s2: &Stage2) -> Result<Params, WalkError> {
    let vtcr = s2.vtcr;
    if vtcr & VTCR_DS != 0 {
        return Err(WalkError::Unsupported("VTCR_EL2.DS = 1 (FEAT_LPA2)"));
    }
    let granule = Granule::from_tg0(field(vtcr, 14, 2));
    let input_bits = 64 - field(vtcr, 0, 6).clamp(12, 48) as u32;
    let sl0 = field(vtcr, 6, 2) as i8;
    let start_level = match granule {
        // 4K: SL0 0b00 level 2, 0b01 level 1, 0b10 level 0, 0b11 level 3 (FEAT_TTST).
        Granule::K4 => if sl0 == 3 { 3 } else { 2 - sl0 },
        // 16K and 64K: 0b00 level 3, 0b01 level 2, 0b10 level 1, 0b11 level 0 (16K with 52 bits).
        _ => 3 - sl0,
    };
    let oa52 = granule == Granule::K64 && field(vtcr, 16, 3) == 0b110;
    let mut p = Params { granule, input_bits, start_level, base: 0, oa52 };
    // The start level may leave up to 4 more bits at the top: concatenated initial tables (D8.2.7).
    if input_bits < level_shift(granule, start_level) || input_bits > level_shift(granule, start_level) + granule.stride() + 4 {
        return Err(WalkError::Translation { stage: 2, level: start_level });
    }
    p.base = table_base(s2.vttbr, &p);
    Ok(p)
}

/// Stage-1 parameters for `va` (Arm ARM D8.2.5, D8.2.6): the range by VA bit 55 where there are two, its
/// TxSZ, TGx and TTBR, after top-byte ignore.
fn stage1_params(va: u64, s1: &Stage1) -> Result<(Params, u64), WalkError> {
    let tcr = s1.tcr;
    let (upper, tsz, granule, tbi, ds, ps) = if s1.two_ranges {
        let upper = va >> 55 & 1 == 1;
        let (tsz, g, tbi) = if upper {
            (field(tcr, 16, 6), Granule::from_tg1(field(tcr, 30, 2)), tcr >> 38 & 1)
        } else {
            (field(tcr, 0, 6), Granule::from_tg0(field(tcr, 14, 2)), tcr >> 37 & 1)
        };
        (upper, tsz, g, tbi, tcr & TCR_DS_EL1_LAYOUT, field(tcr, 32, 3))
    } else {
        (false, field(tcr, 0, 6), Granule::from_tg0(field(tcr, 14, 2)), tcr >> 20 & 1, tcr & TCR_DS_EL2_LAYOUT, field(tcr, 16, 3))
    };
    if ds != 0 {
        return Err(WalkError::Unsupported("TCR_ELx.DS = 1 (FEAT_LPA2)"));
    }
    // TxSZ below 16 is only valid with FEAT_LVA and the 64K granule; above 48 with FEAT_TTST. Out of range
    // is CONSTRAINED UNPREDICTABLE; QEMU clamps, so do we.
    let min = if granule == Granule::K64 { 12 } else { 16 };
    let input_bits = 64 - tsz.clamp(min, 48) as u32;
    // Top-byte ignore: bits 63:56 take the value of bit 55 before the range check.
    let va = if tbi != 0 { (((va << 8) as i64) >> 8) as u64 } else { va };
    let top = va >> input_bits;
    let expect = if upper { u64::MAX >> input_bits } else { 0 };
    if top != expect {
        return Err(WalkError::Translation { stage: 1, level: 0 });
    }
    let start_level = start_level(granule, input_bits);
    let oa52 = granule == Granule::K64 && ps == 0b110;
    let mut p = Params { granule, input_bits, start_level, base: 0, oa52 };
    p.base = table_base(s1.ttbr[upper as usize], &p);
    Ok((p, va))
}

/// Translates `va` through stage 1 (`None`: stage 1 disabled, VA = IPA) and stage 2 (`None`: no stage 2,
/// IPA = PA).
pub fn walk(va: u64, s1: Option<&Stage1>, s2: Option<&Stage2>, mem: &mut dyn PhysMem) -> Result<Walk, WalkError> {
    let s2p = s2.map(|s| stage2_params(s).map(|p| (p, *s))).transpose()?;
    let (ipa, s1_attr, sh, s1_bits) = match s1 {
        Some(s1) => {
            let (p, va) = stage1_params(va, s1)?;
            let (desc, level, ipa) = walk_stage(va, &p, 1, mem, s2p.as_ref())?;
            let attr_index = field(desc, 2, 3) as u32;
            let attr = (s1.mair >> (8 * attr_index)) as u8;
            (ipa, Some(attr), field(desc, 8, 2) as u8, level_shift(p.granule, level))
        }
        // Stage 1 disabled: the output address is the VA (bits above the PA size must be zero, as QEMU
        // checks before the access; a completed access satisfies it).
        None => (va, None, 0, 64),
    };
    let (pa, s2_attr, block_bits) = match &s2p {
        Some((p, _)) => {
            let (desc, level, pa) = walk_stage(ipa, p, 2, mem, None)?;
            (pa, Some(field(desc, 2, 4) as u8), s1_bits.min(level_shift(p.granule, level)))
        }
        None => (ipa, None, s1_bits),
    };
    Ok(Walk { pa, translation: Translation { s1: s1_attr, s2: s2_attr, sh }, block_bits })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Guest memory as a map of 8-byte words.
    #[derive(Default)]
    struct Mem(HashMap<u64, u64>);

    impl PhysMem for Mem {
        fn read_u64(&mut self, pa: u64) -> Option<u64> {
            Some(self.0.get(&pa).copied().unwrap_or(0))
        }
    }

    impl Mem {
        fn set(&mut self, table: u64, index: u64, desc: u64) {
            self.0.insert(table + index * 8, desc);
        }
    }

    const TABLE: u64 = 0b11;
    const PAGE: u64 = 0b11;
    const BLOCK: u64 = 0b01;
    const AF: u64 = 1 << 10;
    /// MAIR: Attr0 Device-nGnRnE, Attr1 Normal NC, Attr2 Normal WB.
    const MAIR: u64 = 0x00ff_4400;

    fn s1_attrs(attr_index: u64, sh: u64) -> u64 {
        attr_index << 2 | sh << 8 | AF
    }

    /// TCR_EL1 with 4K granules and 48-bit ranges (T0SZ = T1SZ = 16, TG1 = 4K).
    const TCR_4K_48: u64 = 16 | 16 << 16 | 0b10 << 30;

    fn el1(tcr: u64, ttbr0: u64, ttbr1: u64) -> Stage1 {
        Stage1 { ttbr: [ttbr0, ttbr1], tcr, mair: MAIR, two_ranges: true }
    }

    #[test]
    fn a_4k_page_through_four_levels_gives_its_pa_and_attributes() {
        let mut m = Mem::default();
        let va = 0x0000_1234_5678_9abc_u64;
        let (l0, l1, l2, l3) = (0x1000, 0x2000, 0x3000, 0x4000);
        m.set(l0, va >> 39 & 0x1ff, l1 | TABLE);
        m.set(l1, va >> 30 & 0x1ff, l2 | TABLE);
        m.set(l2, va >> 21 & 0x1ff, l3 | TABLE);
        m.set(l3, va >> 12 & 0x1ff, 0x8765_4000 | PAGE | s1_attrs(1, 3));
        let w = walk(va, Some(&el1(TCR_4K_48, l0, 0)), None, &mut m).unwrap();
        assert_eq!(w.pa, 0x8765_4abc);
        assert_eq!(w.translation, Translation { s1: Some(0x44), s2: None, sh: 3 });
        assert_eq!(w.block_bits, 12);
    }

    #[test]
    fn blocks_at_level_1_and_2_map_1g_and_2m() {
        let mut m = Mem::default();
        // T0SZ = 25: 39-bit VA, start at level 1.
        let tcr = 25 | 16 << 16 | 0b10 << 30;
        m.set(0x1000, 1, 0x8000_0000 | BLOCK | s1_attrs(2, 3)); // VA 1 GiB.. -> PA 2 GiB, 1 GiB block
        m.set(0x1000, 0, 0x2000 | TABLE);
        m.set(0x2000, 3, 0x4060_0000 | BLOCK | s1_attrs(0, 0)); // VA 6 MiB.. -> 2 MiB block
        let s1 = el1(tcr, 0x1000, 0);
        let w = walk(0x4123_4567, Some(&s1), None, &mut m).unwrap();
        assert_eq!((w.pa, w.translation.s1, w.block_bits), (0x8123_4567, Some(0xff), 30));
        let w = walk(0x0071_0008, Some(&s1), None, &mut m).unwrap();
        assert_eq!((w.pa, w.translation.s1, w.block_bits), (0x4071_0008, Some(0x00), 21));
    }

    #[test]
    fn a_block_where_the_granule_allows_none_is_no_translation() {
        let mut m = Mem::default();
        m.set(0x1000, 0, 0x8000_0000 | BLOCK | AF); // a level-0 block with 4K: reserved
        let w = walk(0x10, Some(&el1(TCR_4K_48, 0x1000, 0)), None, &mut m);
        assert_eq!(w, Err(WalkError::Translation { stage: 1, level: 0 }));
        // At level 3, bit 1 clear is reserved too.
        let tcr = 25 | 16 << 16 | 0b10 << 30;
        m.set(0x2000, 0, 0x3000 | TABLE);
        m.set(0x3000, 0, 0x4000 | TABLE);
        m.set(0x4000, 0, 0x9000 | BLOCK | AF);
        assert_eq!(walk(0x10, Some(&el1(tcr, 0x2000, 0)), None, &mut m), Err(WalkError::Translation { stage: 1, level: 3 }));
    }

    #[test]
    fn the_upper_range_uses_ttbr1_and_top_byte_ignore_strips_tags() {
        let mut m = Mem::default();
        let tcr = TCR_4K_48 | 1 << 37 | 1 << 38; // TBI0, TBI1
        let va = 0xffff_8000_0010_0000_u64;
        let (l0, l1, l2) = (0x11000, 0x12000, 0x13000);
        m.set(l0, va >> 39 & 0x1ff, l1 | TABLE);
        m.set(l1, va >> 30 & 0x1ff, l2 | TABLE);
        m.set(l2, va >> 21 & 0x1ff, 0x4000_0000 | BLOCK | s1_attrs(2, 3));
        let s1 = el1(tcr, 0x1000, l0);
        assert_eq!(walk(va | 0x10, Some(&s1), None, &mut m).unwrap().pa, 0x4010_0010);
        // A tagged pointer (top byte 0x5a, bit 55 still set) translates the same.
        let tagged = (va & !(0xff << 56)) | 0x5a << 56 | 0x10;
        assert_eq!(walk(tagged, Some(&s1), None, &mut m).unwrap().pa, 0x4010_0010);
        // Without TBI1 the same pointer is outside the upper range.
        let s1 = el1(TCR_4K_48, 0x1000, l0);
        assert_eq!(walk(tagged, Some(&s1), None, &mut m), Err(WalkError::Translation { stage: 1, level: 0 }));
    }

    #[test]
    fn el2_has_one_range_and_the_tcr_el2_layout() {
        let mut m = Mem::default();
        // TCR_EL2: T0SZ = 16, TG0 = 4K, TBI bit 20; bit 55 of a VA is then just an address bit.
        let tcr = 16 | 1 << 20;
        let s1 = Stage1 { ttbr: [0x1000, 0], tcr, mair: MAIR, two_ranges: false };
        m.set(0x1000, 0, 0x2000 | TABLE);
        m.set(0x2000, 1, 0x3000 | TABLE);
        m.set(0x3000, 0, 0x4000_0000 | BLOCK | s1_attrs(1, 2));
        let w = walk(0x5a00_0000_4000_0123, Some(&s1), None, &mut m).unwrap();
        assert_eq!((w.pa, w.translation.s1, w.translation.sh), (0x4000_0123, Some(0x44), 2));
        assert_eq!(walk(0xff80_0000_4000_0000, Some(&s1), None, &mut m), Err(WalkError::Translation { stage: 1, level: 0 }));
    }

    #[test]
    fn a_64k_granule_resolves_13_bits_a_level_and_maps_512m_blocks() {
        let mut m = Mem::default();
        // T0SZ = 22: 42 bits, 64K: start at level 2 (42 - 16 = 26 = 2 x 13).
        let tcr = 22 | 0b01 << 14 | 16 << 16 | 0b10 << 30;
        let s1 = el1(tcr, 0x10000, 0);
        let va = 0x123_4567_89ab_u64;
        m.set(0x10000, va >> 29 & 0x1fff, 0x20000 | TABLE);
        m.set(0x20000, va >> 16 & 0x1fff, 0x7_0000_0000 | PAGE | s1_attrs(2, 3));
        let w = walk(va, Some(&s1), None, &mut m).unwrap();
        assert_eq!((w.pa, w.block_bits), (0x7_0000_89ab, 16));
        m.set(0x10000, 1, 0x6000_0000 | BLOCK | s1_attrs(2, 3));
        assert_eq!(walk(0x2000_0042, Some(&s1), None, &mut m).unwrap().pa, 0x6000_0042);
    }

    #[test]
    fn a_16k_granule_with_48_bits_starts_at_a_two_entry_level_0() {
        let mut m = Mem::default();
        let tcr = 16 | 0b10 << 14 | 16 << 16 | 0b10 << 30; // TG0 = 16K
        let s1 = el1(tcr, 0x8000, 0);
        let va = 0x8000_1234_5678_u64; // bit 47 set: level-0 index 1
        let (l1, l2, l3) = (0xc000, 0x10000, 0x14000);
        m.set(0x8000, 1, l1 | TABLE);
        m.set(l1, va >> 36 & 0x7ff, l2 | TABLE);
        m.set(l2, va >> 25 & 0x7ff, l3 | TABLE);
        m.set(l3, va >> 14 & 0x7ff, 0x9_0000_c000 | PAGE | s1_attrs(1, 0));
        let w = walk(va, Some(&s1), None, &mut m).unwrap();
        assert_eq!((w.pa, w.translation.s1, w.block_bits), (0x9_0000_c000 | (va & 0x3fff), Some(0x44), 14));
    }

    #[test]
    fn lpa_puts_output_address_bits_51_48_in_descriptor_bits_15_12() {
        let mut m = Mem::default();
        // 64K, T0SZ = 22, IPS = 0b110 (52 bits).
        let tcr = 22 | 0b01 << 14 | 16 << 16 | 0b10 << 30 | 0b110 << 32;
        let s1 = el1(tcr, 0x10000, 0);
        m.set(0x10000, 0, 0x20000 | TABLE);
        m.set(0x20000, 3, 0x1234_0000 | 0xa << 12 | PAGE | s1_attrs(2, 3));
        assert_eq!(walk(0x3_0042, Some(&s1), None, &mut m).unwrap().pa, 0xa_0000_1234_0042);
    }

    /// VTCR_EL2 with 4K, T0SZ = 24 (40-bit IPA), SL0 = 1 (level 1: two concatenated tables).
    const VTCR_4K_40: u64 = 24 | 1 << 6 | 0b10 << 16;

    #[test]
    fn stage_2_uses_concatenated_initial_tables_and_returns_memattr() {
        let mut m = Mem::default();
        let s2 = Stage2 { vttbr: 0x1_0000 | 5 << 48, vtcr: VTCR_4K_40 };
        // IPA 0x80_4000_0000: bit 39 set, level-1 index 513 (the second concatenated table).
        let ipa = 0x80_4000_1234_u64;
        m.set(0x1_0000, ipa >> 30, 0x2_0000 | TABLE);
        m.set(0x2_0000, ipa >> 21 & 0x1ff, 0x6000_0000 | BLOCK | 0b0101 << 2 | AF);
        let w = walk(ipa, None, Some(&s2), &mut m).unwrap();
        assert_eq!(w.pa, 0x6000_1234);
        assert_eq!(w.translation, Translation { s1: None, s2: Some(0b0101), sh: 0 });
        assert_eq!(w.block_bits, 21);
        // Beyond the 40-bit IPA space there is no translation.
        assert!(walk(1 << 40, None, Some(&s2), &mut m).is_err());
    }

    #[test]
    fn stage_1_descriptors_are_found_through_stage_2() {
        let mut m = Mem::default();
        // Stage 2 maps IPA 0x4000_0000.. (1 GiB) to PA 0x1_4000_0000 with a level-1 block.
        let s2 = Stage2 { vttbr: 0x9_0000, vtcr: VTCR_4K_40 };
        m.set(0x9_0000, 1, 0x1_4000_0000 | BLOCK | 0b1111 << 2 | AF);
        // Stage 1 (39-bit, start at level 1) lives at IPA 0x4000_1000 = PA 0x1_4000_1000.
        let tcr = 25 | 16 << 16 | 0b10 << 30;
        let s1 = el1(tcr, 0x4000_1000, 0);
        m.set(0x1_4000_1000, 1, 0x4000_0000 | BLOCK | s1_attrs(1, 3));
        let w = walk(0x4000_0040, Some(&s1), Some(&s2), &mut m).unwrap();
        assert_eq!(w.pa, 0x1_4000_0040);
        assert_eq!(w.translation, Translation { s1: Some(0x44), s2: Some(0b1111), sh: 3 });
        // The stage-1 table read through an IPA stage 2 does not map is a stage-2 fault.
        let s1 = el1(tcr, 0x8000_1000, 0);
        assert_eq!(walk(0x4000_0040, Some(&s1), Some(&s2), &mut m), Err(WalkError::Translation { stage: 2, level: 1 }));
    }

    #[test]
    fn stage_2_start_levels_follow_sl0_and_the_granule() {
        let p = |vtcr| stage2_params(&Stage2 { vttbr: 0, vtcr }).map(|p| (p.start_level, p.input_bits));
        assert_eq!(p(VTCR_4K_40), Ok((1, 40)));
        assert_eq!(p(16 | 2 << 6), Ok((0, 48))); // 4K, SL0 = 2: level 0
        assert_eq!(p(32 | 0 << 6), Ok((2, 32))); // 4K, SL0 = 0: level 2, 32-bit IPA
        assert_eq!(p(22 | 1 << 6 | 0b01 << 14), Ok((2, 42))); // 64K, SL0 = 1: level 2
        // A start level that leaves more than 4 extra bits (16 concatenated tables) is a fault.
        assert!(p(16 | 0 << 6).is_err()); // 4K, 48 bits from level 2
    }

    #[test]
    fn an_invalid_descriptor_or_an_unreadable_table_stops_the_walk() {
        struct Nothing;
        impl PhysMem for Nothing {
            fn read_u64(&mut self, _: u64) -> Option<u64> {
                None
            }
        }
        let s1 = el1(TCR_4K_48, 0x1000, 0);
        assert_eq!(walk(0, Some(&s1), None, &mut Nothing), Err(WalkError::Unreadable { stage: 1, level: 0, pa: 0x1000 }));
        assert_eq!(walk(0, Some(&s1), None, &mut Mem::default()), Err(WalkError::Translation { stage: 1, level: 0 }));
        let lpa2 = el1(TCR_4K_48 | TCR_DS_EL1_LAYOUT, 0x1000, 0);
        assert!(matches!(walk(0, Some(&lpa2), None, &mut Mem::default()), Err(WalkError::Unsupported(_))));
    }

    #[test]
    fn stage_1_off_is_flat_and_keeps_no_stage_1_attributes() {
        let w = walk(0x4000_1234, None, None, &mut Mem::default()).unwrap();
        assert_eq!(w.pa, 0x4000_1234);
        assert_eq!(w.translation, Translation { s1: None, s2: None, sh: 0 });
    }
}
