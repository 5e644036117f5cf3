//! Memory types and the rules that give an access its effective type.
//!
//! Arm ARM rules only: MAIR and stage-2 decoding, the stage 1 x stage 2 and FWB combinations, and the
//! controls that override them (SCTLR_ELx.M/C/I, HCR_EL2.DC/CD/ID/FWB), in one place, so the plugin, the
//! tests and docs/model.md agree. How QEMU's TLB reports an access (the patched QEMU's ABI) is the plugin's
//! business (plugin/src/qemu_abi.rs); it hands these rules a `Translation`. References are to the Arm ARM
//! (DDI 0487) sections named in docs/model.md.

use std::fmt;

/// Cacheability of one level (inner or outer) of Normal memory. Ordered from weakest to strongest so that
/// combining stage 1 and stage 2 is a `min` (Arm ARM D8.6.6: the weaker cacheability wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cacheability {
    NonCacheable,
    WriteThrough,
    WriteBack,
}

/// Device memory subtypes, strongest first (so combining is a `min`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceType {
    NGnRnE,
    NGnRE,
    NGRE,
    GRE,
}

/// Shareability domain, as the SH field of a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Shareability {
    #[default]
    NonShareable,
    OuterShareable,
    InnerShareable,
}

impl Shareability {
    pub fn from_sh(sh: u8) -> Shareability {
        match sh & 3 {
            2 => Shareability::OuterShareable,
            3 => Shareability::InnerShareable,
            _ => Shareability::NonShareable,
        }
    }

    pub fn sh(self) -> u8 {
        match self {
            Shareability::NonShareable => 0,
            Shareability::OuterShareable => 2,
            Shareability::InnerShareable => 3,
        }
    }
}

/// An effective memory type: a canonical MAIR-format attribute byte plus shareability.
///
/// Canonical means allocation and transient hints are dropped (the model does not use them) and MTE's
/// "Tagged Normal WB" (0xf0) is plain WB, so that a live change between 0xff and 0xf0 is no change of type.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemType {
    attrs: u8,
    sh: Shareability,
}

const NIBBLE_NC: u8 = 0x4;
const NIBBLE_WT: u8 = 0xb;
const NIBBLE_WB: u8 = 0xf;
/// Not a valid canonical byte: the attributes could not be learnt. The model ignores such accesses.
const UNKNOWN_ATTRS: u8 = 0x01;

impl MemType {
    pub const UNKNOWN: MemType = MemType { attrs: UNKNOWN_ATTRS, sh: Shareability::NonShareable };
    pub const DEVICE_NGNRNE: MemType = MemType { attrs: 0x00, sh: Shareability::OuterShareable };
    pub const NORMAL_NC: MemType = MemType { attrs: 0x44, sh: Shareability::OuterShareable };
    pub const NORMAL_WT: MemType = MemType { attrs: 0xbb, sh: Shareability::InnerShareable };
    pub const NORMAL_WB: MemType = MemType { attrs: 0xff, sh: Shareability::InnerShareable };

    /// Builds a Normal type; shareability follows the architecture's rule that Normal iNC-oNC is always
    /// treated as Outer Shareable (Arm ARM D8.6.2).
    pub fn normal(inner: Cacheability, outer: Cacheability, sh: Shareability) -> MemType {
        let attrs = nibble(outer) << 4 | nibble(inner);
        let sh = if inner == Cacheability::NonCacheable && outer == Cacheability::NonCacheable {
            Shareability::OuterShareable
        } else {
            sh
        };
        MemType { attrs, sh }
    }

    /// Device memory is always Outer Shareable.
    pub fn device(t: DeviceType) -> MemType {
        let low = match t {
            DeviceType::NGnRnE => 0x0,
            DeviceType::NGnRE => 0x4,
            DeviceType::NGRE => 0x8,
            DeviceType::GRE => 0xc,
        };
        MemType { attrs: low, sh: Shareability::OuterShareable }
    }

    /// Decodes a MAIR_ELx Attr<n> byte (Arm ARM D19, MAIR_EL1), canonicalised.
    pub fn from_mair(attr: u8, sh: Shareability) -> MemType {
        let outer = attr >> 4;
        let inner = attr & 0xf;
        if outer == 0 {
            return MemType::device(device_type(inner));
        }
        let o = normal_nibble(outer);
        // Inner 0b0000 with a Normal outer is only defined with FEAT_XS/FEAT_MTE (0x40 NC, 0xa0 WT, 0xf0
        // Tagged WB): in each the inner cacheability equals the outer one.
        let i = if inner == 0 { o } else { normal_nibble(inner) };
        MemType::normal(i, o, sh)
    }

    /// Rebuilds a type from its trace encoding (`to_bits`).
    pub fn from_bits(bits: u16) -> MemType {
        let attrs = bits as u8;
        if attrs == UNKNOWN_ATTRS {
            return MemType::UNKNOWN;
        }
        MemType { attrs, sh: Shareability::from_sh((bits >> 8) as u8) }
    }

    pub fn to_bits(self) -> u16 {
        self.attrs as u16 | (self.sh.sh() as u16) << 8
    }

    pub fn attrs(self) -> u8 {
        self.attrs
    }

    pub fn shareability(self) -> Shareability {
        self.sh
    }

    pub fn is_known(self) -> bool {
        self.attrs != UNKNOWN_ATTRS
    }

    pub fn is_device(self) -> bool {
        self.attrs & 0xf0 == 0 && self.is_known()
    }

    pub fn device_type(self) -> Option<DeviceType> {
        self.is_device().then(|| device_type(self.attrs & 0xf))
    }

    /// Inner cacheability (the PE caches up to the Point of Unification); `None` for Device or unknown.
    pub fn inner(self) -> Option<Cacheability> {
        (!self.is_device() && self.is_known()).then(|| self.inner_class())
    }

    /// Outer cacheability (caches beyond the PE, e.g. a system cache); `None` for Device or unknown.
    pub fn outer(self) -> Option<Cacheability> {
        (!self.is_device() && self.is_known()).then(|| normal_nibble(self.attrs >> 4))
    }

    /// Whether an access of this type may be looked up in and allocate into the PE's caches.
    pub fn inner_cacheable(self) -> bool {
        matches!(self.inner(), Some(Cacheability::WriteBack | Cacheability::WriteThrough))
    }

    /// Stage 1 x stage 2 combination without FEAT_S2FWB (Arm ARM D8.6.6, CombineS1S2Desc): Device wins over
    /// Normal and the stronger Device type wins; for Normal each level takes the weaker cacheability.
    pub fn combine(s1: MemType, s2: MemType) -> MemType {
        if !s1.is_known() || !s2.is_known() {
            return MemType::UNKNOWN;
        }
        match (s1.device_type(), s2.device_type()) {
            (Some(a), Some(b)) => MemType::device(a.min(b)),
            (Some(a), None) | (None, Some(a)) => MemType::device(a),
            (None, None) => {
                let inner = s1.inner().unwrap().min(s2.inner().unwrap());
                let outer = s1.outer().unwrap().min(s2.outer().unwrap());
                let sh = combine_shareability(s1.sh, s2.sh);
                MemType::normal(inner, outer, sh)
            }
        }
    }

    /// Normal memory made Non-cacheable (SCTLR_ELx.C/I = 0, HCR_EL2.CD/ID = 1); Device unchanged.
    pub fn without_caching(self) -> MemType {
        if self.is_device() || !self.is_known() {
            self
        } else {
            MemType::normal(Cacheability::NonCacheable, Cacheability::NonCacheable, self.sh)
        }
    }
}

impl fmt::Display for MemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_known() {
            return f.write_str("unknown");
        }
        if let Some(d) = self.device_type() {
            let s = match d {
                DeviceType::NGnRnE => "Device-nGnRnE",
                DeviceType::NGnRE => "Device-nGnRE",
                DeviceType::NGRE => "Device-nGRE",
                DeviceType::GRE => "Device-GRE",
            };
            return f.write_str(s);
        }
        let short = |c: Cacheability| match c {
            Cacheability::NonCacheable => "NC",
            Cacheability::WriteThrough => "WT",
            Cacheability::WriteBack => "WB",
        };
        let (i, o) = (self.inner().unwrap(), self.outer().unwrap());
        if i == o {
            write!(f, "Normal-{}", short(i))
        } else {
            write!(f, "Normal-i{}-o{}", short(i), short(o))
        }
    }
}

impl fmt::Debug for MemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}({:#04x})", self.attrs)
    }
}

fn nibble(c: Cacheability) -> u8 {
    match c {
        Cacheability::NonCacheable => NIBBLE_NC,
        Cacheability::WriteThrough => NIBBLE_WT,
        Cacheability::WriteBack => NIBBLE_WB,
    }
}

/// One MAIR nibble of Normal memory: 0b0100 NC; 0b00RW and 0b10RW Write-Through; 0b01RW and 0b11RW Write-Back.
const fn normal_nibble(n: u8) -> Cacheability {
    if n == 0b0100 {
        Cacheability::NonCacheable
    } else if n & 0b0100 == 0 {
        Cacheability::WriteThrough
    } else {
        Cacheability::WriteBack
    }
}

fn device_type(low: u8) -> DeviceType {
    match low & 0xc {
        0x0 => DeviceType::NGnRnE,
        0x4 => DeviceType::NGnRE,
        0x8 => DeviceType::NGRE,
        _ => DeviceType::GRE,
    }
}

/// Arm ARM D8.6.3: Outer Shareable wins over Inner Shareable wins over Non-shareable.
fn combine_shareability(a: Shareability, b: Shareability) -> Shareability {
    use Shareability::*;
    match (a, b) {
        (OuterShareable, _) | (_, OuterShareable) => OuterShareable,
        (InnerShareable, _) | (_, InnerShareable) => InnerShareable,
        _ => NonShareable,
    }
}

/// Stage 2 MemAttr[3:0] without FWB (Arm ARM D8.5.5): [3:2] 0b00 Device (type in [1:0]), else the outer
/// cacheability (01 NC, 10 WT, 11 WB) and [1:0] the inner one (0b00 there is reserved: taken as NC).
pub fn stage2_memtype(memattr: u8) -> MemType {
    let hi = (memattr >> 2) & 3;
    let lo = memattr & 3;
    if hi == 0 {
        return MemType::device(match lo {
            0 => DeviceType::NGnRnE,
            1 => DeviceType::NGnRE,
            2 => DeviceType::NGRE,
            _ => DeviceType::GRE,
        });
    }
    let level = |v: u8| match v {
        2 => Cacheability::WriteThrough,
        3 => Cacheability::WriteBack,
        _ => Cacheability::NonCacheable,
    };
    // Stage 2 has no shareability of its own here; the combination takes stage 1's.
    MemType::normal(level(lo), level(hi), Shareability::NonShareable)
}

/// Stage 1 x stage 2 with HCR_EL2.FWB = 1 (FEAT_S2FWB, Arm ARM D8.6.7). MemAttr[3:0]:
/// 0b0111 use stage 1; 0b0110 Normal Write-Back whatever stage 1 says; 0b0101 Normal NC unless stage 1 is
/// Device; 0b00xx Device of that subtype; anything else is reserved (QEMU gives Device-nGnRnE; so do we).
pub fn combine_fwb(s1: MemType, memattr: u8) -> MemType {
    match memattr & 0xf {
        0b0111 => s1,
        0b0110 => MemType::normal(
            Cacheability::WriteBack,
            Cacheability::WriteBack,
            if s1.is_device() { Shareability::InnerShareable } else { s1.sh },
        ),
        0b0101 => {
            if s1.is_device() {
                s1
            } else {
                MemType::NORMAL_NC
            }
        }
        m @ 0..=3 => stage2_memtype(m),
        _ => MemType::DEVICE_NGNRNE,
    }
}

// --- Control registers ------------------------------------------------------------------------------------

pub const SCTLR_M: u64 = 1 << 0;
pub const SCTLR_C: u64 = 1 << 2;
pub const SCTLR_I: u64 = 1 << 12;
pub const HCR_VM: u64 = 1 << 0;
pub const HCR_DC: u64 = 1 << 12;
pub const HCR_TVM: u64 = 1 << 26;
pub const HCR_TGE: u64 = 1 << 27;
pub const HCR_CD: u64 = 1 << 32;
pub const HCR_ID: u64 = 1 << 33;
pub const HCR_E2H: u64 = 1 << 34;
pub const HCR_FWB: u64 = 1 << 46;

/// The control-register state that decides an access's effective type, as the plugin tracks it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Controls {
    pub sctlr_el1: u64,
    pub sctlr_el2: u64,
    pub hcr_el2: u64,
}

/// What the translation of an access said, in the architecture's terms: the stage-1 attribute byte (MAIR
/// format; `None` when stage 1 is disabled), the stage-2 MemAttr[3:0] when a stage 2 applied, and the
/// stage-1 shareability (SH encoding). The plugin builds it from what QEMU's TLB holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    pub s1: Option<u8>,
    pub s2: Option<u8>,
    pub sh: u8,
}

/// The effective memory type of an access (docs/model.md, "Effective memory type").
///
/// `regime` is the translation regime of the access; `fetch` whether it is an instruction fetch.
pub fn effective_memtype(tlb: &Translation, ctl: &Controls, regime: crate::regime::RegimeKind, fetch: bool) -> MemType {
    use crate::regime::RegimeKind;
    let el10 = regime == RegimeKind::El10;
    let sctlr = match regime {
        RegimeKind::El10 => ctl.sctlr_el1,
        // SCTLR_EL3 is not tracked: EL3 attributes are taken as QEMU computed them.
        RegimeKind::El20 | RegimeKind::El2 => ctl.sctlr_el2,
        RegimeKind::El3 => SCTLR_M | SCTLR_C | SCTLR_I,
    };
    let hcr = ctl.hcr_el2;
    let sh = Shareability::from_sh(tlb.sh);

    // Stage 1. HCR_EL2.DC makes the EL1&0 stage 1 behave as disabled with Normal WB attributes; otherwise a
    // disabled stage 1 gives Device-nGnRnE data and Normal fetches, WT when SCTLR.I is set (Arm ARM D8.2.11,
    // AArch64.S1DisabledOutput). The TLB's stage-1 byte is ignored then: an entry filled by a fetch carries
    // the fetch's Normal attributes, and data through it must still be Device.
    let s1 = if el10 && hcr & HCR_DC != 0 {
        MemType::NORMAL_WB
    } else if let Some(s1) = tlb.s1 {
        let t = MemType::from_mair(s1, sh);
        // SCTLR_ELx.C = 0: data accesses to Normal memory of the regime are Non-cacheable; SCTLR.I likewise
        // for instruction fetches (Arm ARM D8.2.11). QEMU does not apply either.
        let enabled = if fetch { sctlr & SCTLR_I != 0 } else { sctlr & SCTLR_C != 0 };
        if enabled { t } else { t.without_caching() }
    } else if !fetch {
        MemType::DEVICE_NGNRNE
    } else if sctlr & SCTLR_I != 0 {
        MemType::NORMAL_WT.with_shareability(Shareability::OuterShareable)
    } else {
        MemType::NORMAL_NC
    };

    // Stage 2 applies to EL1&0 when the entry was filled with it on (HCR_EL2.VM; QEMU flushes on VM changes).
    match tlb.s2 {
        Some(memattr) if el10 => {
            if hcr & HCR_FWB != 0 {
                combine_fwb(s1, memattr)
            } else {
                let mut s2 = stage2_memtype(memattr);
                // HCR_EL2.CD / ID force stage 2 data / instruction attributes to Non-cacheable.
                let disable = if fetch { hcr & HCR_ID != 0 } else { hcr & HCR_CD != 0 };
                if disable {
                    s2 = s2.without_caching();
                }
                MemType::combine(s1, s2.with_shareability(s1.sh))
            }
        }
        _ => s1,
    }
}

/// The MAIR-format attribute byte a walk's IRGN/ORGN fields mean (TCR_ELx.IRGNn/ORGNn, VTCR_EL2.IRGN0/
/// ORGN0; Arm ARM D8.2.9 "Translation table walk attributes"): 0b00 Non-cacheable, 0b01 Write-Back
/// read- and write-allocate, 0b10 Write-Through read-allocate, 0b11 Write-Back read-allocate.
/// `tcr_attrs` holds IRGN in bits 1:0, ORGN in 3:2 and SH in 5:4, as the patched QEMU reports them.
pub fn walk_attr_byte(tcr_attrs: u8) -> u8 {
    let nibble = |rgn: u8| match rgn & 3 {
        0 => 0x4,
        1 => 0xf,
        2 => 0xa,
        _ => 0xe,
    };
    nibble(tcr_attrs >> 2) << 4 | nibble(tcr_attrs)
}

/// The memory type of a table walk's descriptor accesses (docs/model.md, "Table walks").
///
/// - Stage 1: the TCR attributes of the TTBR used. SCTLR_ELx.C = 0 makes the regime's stage-1 walks
///   Non-cacheable, as it does data accesses (Arm ARM D8.2.11). Under a stage 2 (EL1&0 with HCR_EL2.VM),
///   the walk is an access to the table's IPA: the stage-2 attributes of that IPA combine with it
///   exactly as for a data access (FWB, HCR_EL2.CD included; Arm ARM D8.6.4).
/// - Stage 2: the VTCR_EL2 attributes alone; stage 2 walks have no stage 1 and SCTLR_EL1 does not apply.
pub fn walk_memtype(tcr_attrs: u8, s2: Option<u8>, stage: u8, ctl: &Controls, regime: crate::regime::RegimeKind) -> MemType {
    let sh = (tcr_attrs >> 4) & 3;
    let byte = walk_attr_byte(tcr_attrs);
    if stage == 2 {
        return MemType::from_mair(byte, Shareability::from_sh(sh));
    }
    // HCR_EL2.DC does not apply: with it set, EL1&0 stage 1 is disabled and nothing walks.
    let ctl = Controls { hcr_el2: ctl.hcr_el2 & !HCR_DC, ..*ctl };
    effective_memtype(&Translation { s1: Some(byte), s2, sh }, &ctl, regime, false)
}

/// Inner cacheability by canonical attribute byte, Device and unknown as Non-cacheable: the one table the
/// model's hot path uses (one load instead of decoding), built from `normal_nibble` as `inner()` is.
static INNER_CLASS: [Cacheability; 256] = {
    let mut t = [Cacheability::NonCacheable; 256];
    let mut b = 0;
    while b < 256 {
        let (hi, lo) = ((b >> 4) as u8, (b & 0xf) as u8);
        if hi != 0 && b != UNKNOWN_ATTRS as usize {
            // Normal memory; an inner nibble of 0 (FEAT_XS/MTE encodings) takes the outer one.
            t[b] = normal_nibble(if lo == 0 { hi } else { lo });
        }
        b += 1;
    }
    t
};

impl MemType {
    /// Inner cacheability with Device and unknown types as Non-cacheable (how the PE caches treat them).
    #[inline(always)]
    pub fn inner_class(self) -> Cacheability {
        INNER_CLASS[self.attrs as usize]
    }

    pub fn with_shareability(self, sh: Shareability) -> MemType {
        if self.is_device() || self.attrs == 0x44 {
            // Device and Normal iNC-oNC are always Outer Shareable.
            self
        } else {
            MemType { attrs: self.attrs, sh }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_attributes_follow_the_tcr_encoding() {
        assert_eq!(walk_attr_byte(0b01_01_01), 0xff);
        assert_eq!(walk_attr_byte(0), 0x44);
        assert_eq!(walk_attr_byte(0b10_11), 0xae);
        use crate::regime::RegimeKind;
        let on = Controls { sctlr_el1: SCTLR_M | SCTLR_C, sctlr_el2: SCTLR_M | SCTLR_C, hcr_el2: HCR_VM };
        // Stage 1 WB walk, no stage 2: Write-Back; SCTLR.C = 0 makes it Non-cacheable.
        assert!(walk_memtype(0b11_01_01, None, 1, &on, RegimeKind::El10).inner_class() == Cacheability::WriteBack);
        let c_off = Controls { sctlr_el1: SCTLR_M, ..on };
        assert_eq!(walk_memtype(0b11_01_01, None, 1, &c_off, RegimeKind::El10).inner_class(), Cacheability::NonCacheable);
        // Under a stage 2 that maps the table Normal NC (MemAttr 0b0101), the walk is NC; with FWB 0b0110, WB.
        assert_eq!(walk_memtype(0b11_01_01, Some(0b0101), 1, &on, RegimeKind::El10).inner_class(), Cacheability::NonCacheable);
        let fwb = Controls { hcr_el2: HCR_VM | HCR_FWB, ..on };
        assert_eq!(walk_memtype(0, Some(0b0110), 1, &fwb, RegimeKind::El10).inner_class(), Cacheability::WriteBack);
        // HCR_EL2.CD forces the stage-2 side of a stage-1 walk to NC.
        let cd = Controls { hcr_el2: HCR_VM | HCR_CD, ..on };
        assert_eq!(walk_memtype(0b11_01_01, Some(0b1111), 1, &cd, RegimeKind::El10).inner_class(), Cacheability::NonCacheable);
        // A stage-2 walk takes VTCR's attributes and ignores SCTLR_EL1.
        assert_eq!(walk_memtype(0b11_01_01, None, 2, &c_off, RegimeKind::El10).inner_class(), Cacheability::WriteBack);
        assert_eq!(walk_memtype(0, None, 2, &on, RegimeKind::El10), MemType::NORMAL_NC);
    }
    use crate::regime::RegimeKind;

    const ISH: Shareability = Shareability::InnerShareable;

    fn tlb(s1: u8, s2: Option<u8>) -> Translation {
        Translation { s1: Some(s1), s2, sh: 3 }
    }

    fn on(sctlr: u64) -> u64 {
        sctlr | SCTLR_M | SCTLR_C | SCTLR_I
    }

    #[test]
    fn mair_bytes_decode_per_the_arm_arm() {
        assert_eq!(MemType::from_mair(0xff, ISH), MemType::NORMAL_WB);
        assert_eq!(MemType::from_mair(0xf0, ISH), MemType::NORMAL_WB, "MTE Tagged is WB");
        assert_eq!(MemType::from_mair(0x44, ISH), MemType::NORMAL_NC);
        assert_eq!(MemType::from_mair(0x40, ISH), MemType::NORMAL_NC, "FEAT_XS NC");
        assert_eq!(MemType::from_mair(0xbb, ISH), MemType::NORMAL_WT);
        assert_eq!(MemType::from_mair(0xaa, ISH), MemType::NORMAL_WT);
        assert_eq!(MemType::from_mair(0x77, ISH), MemType::NORMAL_WB, "transient WB");
        assert_eq!(MemType::from_mair(0x00, ISH), MemType::DEVICE_NGNRNE);
        assert_eq!(MemType::from_mair(0x04, ISH).device_type(), Some(DeviceType::NGnRE));
        assert_eq!(MemType::from_mair(0x0c, ISH).device_type(), Some(DeviceType::GRE));
        let mixed = MemType::from_mair(0x4f, ISH);
        assert_eq!(mixed.inner(), Some(Cacheability::WriteBack));
        assert_eq!(mixed.outer(), Some(Cacheability::NonCacheable));
        assert_eq!(mixed.to_string(), "Normal-iWB-oNC");
    }

    #[test]
    fn the_inner_class_table_agrees_with_inner() {
        for b in 0..=255u8 {
            let t = MemType::from_bits(b as u16 | 3 << 8);
            assert_eq!(t.inner_class(), t.inner().unwrap_or(Cacheability::NonCacheable), "byte {b:#04x}");
        }
    }

    #[test]
    fn nc_is_always_outer_shareable() {
        assert_eq!(MemType::from_mair(0x44, Shareability::NonShareable).shareability(), Shareability::OuterShareable);
        assert_eq!(MemType::DEVICE_NGNRNE.shareability(), Shareability::OuterShareable);
    }

    #[test]
    fn bits_round_trip() {
        for t in [MemType::NORMAL_WB, MemType::NORMAL_NC, MemType::DEVICE_NGNRNE, MemType::UNKNOWN, MemType::NORMAL_WT] {
            assert_eq!(MemType::from_bits(t.to_bits()), t);
        }
    }

    #[test]
    fn stage2_combination_takes_the_weaker_type() {
        let wb = MemType::NORMAL_WB;
        assert_eq!(MemType::combine(wb, stage2_memtype(0b1111)).attrs(), 0xff);
        assert_eq!(MemType::combine(wb, stage2_memtype(0b0101)).attrs(), 0x44);
        assert_eq!(MemType::combine(wb, stage2_memtype(0b1010)).attrs(), 0xbb);
        assert_eq!(MemType::combine(MemType::NORMAL_NC, stage2_memtype(0b1111)).attrs(), 0x44);
        assert!(MemType::combine(wb, stage2_memtype(0b0000)).is_device());
        // The stronger Device subtype wins.
        let gre = MemType::device(DeviceType::GRE);
        assert_eq!(MemType::combine(gre, stage2_memtype(0b0001)).device_type(), Some(DeviceType::NGnRE));
    }

    #[test]
    fn fwb_forces_or_passes_through() {
        assert_eq!(combine_fwb(MemType::DEVICE_NGNRNE, 0b0110).attrs(), 0xff, "MMU-off guest forced WB");
        assert_eq!(combine_fwb(MemType::NORMAL_NC, 0b0110).attrs(), 0xff);
        assert_eq!(combine_fwb(MemType::NORMAL_WB, 0b0101).attrs(), 0x44);
        assert!(combine_fwb(MemType::DEVICE_NGNRNE, 0b0101).is_device());
        assert_eq!(combine_fwb(MemType::NORMAL_NC, 0b0111).attrs(), 0x44);
        assert!(combine_fwb(MemType::NORMAL_WB, 0b1111).is_device(), "reserved -> Device, as QEMU");
    }

    #[test]
    fn mmu_off_data_is_device_even_through_a_fetch_filled_entry() {
        // (QEMU's TLB entry was filled by a fetch and says 0x44; stage 1 is off.)
        let t = Translation { s1: None, s2: None, sh: 3 };
        let ctl = Controls { sctlr_el2: SCTLR_I, ..Default::default() };
        assert_eq!(effective_memtype(&t, &ctl, RegimeKind::El2, false), MemType::DEVICE_NGNRNE);
        assert_eq!(effective_memtype(&t, &ctl, RegimeKind::El2, true).inner(), Some(Cacheability::WriteThrough));
        let ctl = Controls::default();
        assert_eq!(effective_memtype(&t, &ctl, RegimeKind::El2, true), MemType::NORMAL_NC);
    }

    #[test]
    fn hcr_dc_makes_el10_stage1_write_back() {
        let t = Translation { s1: None, s2: Some(0b1111), sh: 3 };
        let ctl = Controls { hcr_el2: HCR_VM | HCR_DC, ..Default::default() };
        assert_eq!(effective_memtype(&t, &ctl, RegimeKind::El10, false).attrs(), 0xff);
        // ...but not EL2's own regime.
        assert!(effective_memtype(&t, &ctl, RegimeKind::El2, false).is_device());
        // And stage 2 still combines: DC with a stage-2 NC gives NC.
        let t2 = Translation { s2: Some(0b0101), ..t };
        assert_eq!(effective_memtype(&t2, &ctl, RegimeKind::El10, false).attrs(), 0x44);
    }

    #[test]
    fn sctlr_c_clear_makes_normal_data_non_cacheable() {
        let t = tlb(0xff, Some(0b1111));
        let ctl = Controls { sctlr_el1: SCTLR_M | SCTLR_I, hcr_el2: HCR_VM, ..Default::default() };
        assert_eq!(effective_memtype(&t, &ctl, RegimeKind::El10, false).attrs(), 0x44);
        // Fetches follow SCTLR.I, not C.
        assert_eq!(effective_memtype(&t, &ctl, RegimeKind::El10, true).attrs(), 0xff);
        let ctl = Controls { sctlr_el1: on(0), hcr_el2: HCR_VM, ..Default::default() };
        assert_eq!(effective_memtype(&t, &ctl, RegimeKind::El10, false).attrs(), 0xff);
    }

    #[test]
    fn fwb_force_wb_beats_sctlr_c_and_mmu_off() {
        let mut t = tlb(0xff, Some(0b0110));
        let ctl = Controls { sctlr_el1: SCTLR_M, hcr_el2: HCR_VM | HCR_FWB, ..Default::default() };
        assert_eq!(effective_memtype(&t, &ctl, RegimeKind::El10, false).attrs(), 0xff);
        t.s1 = None;
        assert_eq!(effective_memtype(&t, &ctl, RegimeKind::El10, false).attrs(), 0xff);
    }

    #[test]
    fn hcr_cd_and_id_disable_stage2_caching_without_fwb() {
        let t = tlb(0xff, Some(0b1111));
        let ctl = Controls { sctlr_el1: on(0), hcr_el2: HCR_VM | HCR_CD, ..Default::default() };
        assert_eq!(effective_memtype(&t, &ctl, RegimeKind::El10, false).attrs(), 0x44);
        assert_eq!(effective_memtype(&t, &ctl, RegimeKind::El10, true).attrs(), 0xff);
        let ctl = Controls { sctlr_el1: on(0), hcr_el2: HCR_VM | HCR_ID, ..Default::default() };
        assert_eq!(effective_memtype(&t, &ctl, RegimeKind::El10, true).attrs(), 0x44);
        // CD does not reach the EL2 regime.
        let ctl = Controls { sctlr_el2: on(0), hcr_el2: HCR_VM | HCR_CD, ..Default::default() };
        assert_eq!(effective_memtype(&tlb(0xff, None), &ctl, RegimeKind::El2, false).attrs(), 0xff);
    }

    #[test]
    fn vhe_host_uses_sctlr_el2() {
        let t = tlb(0xff, None);
        let ctl = Controls { sctlr_el1: 0, sctlr_el2: on(0), hcr_el2: HCR_E2H | HCR_TGE };
        assert_eq!(effective_memtype(&t, &ctl, RegimeKind::El20, false).attrs(), 0xff);
    }
}
