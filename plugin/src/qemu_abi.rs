//! The patched QEMU's ABI (qemu-patches/0002): the layout of the attribute word
//! `qemu_plugin_hwaddr_arm_attrs` / `qemu_plugin_mem_arm_lookup` return, and QEMU's Arm MMU indices. Only
//! the plugin knows these; it turns them into the architecture's terms (`memtype::Translation`, a regime).

use cohtrace_analyzer::memtype::Translation;
use cohtrace_analyzer::regime::RegimeKind;

/// What the patched QEMU's TLB said about an access (layout in qemu-patches/0002 and
/// include/qemu/qemu-plugin.h of the patched tree).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbAttrs {
    /// QEMU's combined stage 1 x stage 2 byte (MAIR format).
    pub combined: u8,
    /// Stage 1 attributes before stage 2 (MAIR format); meaningless when `s1_disabled`.
    pub s1: u8,
    /// Stage 2 MemAttr[3:0] when a stage 2 applied.
    pub s2: Option<u8>,
    pub sh: u8,
    pub s1_disabled: bool,
    pub fetch_fill: bool,
    pub mmu_idx: u8,
    pub mmio: bool,
    /// The stage-1 descriptor's AttrIndx, when QEMU reports it (walk flags bits 4:2, valid bit 5) and the
    /// attributes came from MAIR_ELx (not MAIR2_ELx, bit 6).
    pub attr_index: Option<u8>,
}

pub const ATTRS_VALID: u64 = 1 << 63;
pub const ATTRS_MMIO: u64 = 1 << 62;

impl TlbAttrs {
    pub fn decode(v: u64) -> Option<TlbAttrs> {
        if v & ATTRS_VALID == 0 {
            return None;
        }
        let s2 = (v >> 16) as u8;
        let walk = (v >> 32) as u8;
        Some(TlbAttrs {
            combined: v as u8,
            s1: (v >> 8) as u8,
            s2: (s2 & 0x80 != 0).then_some(s2 & 0xf),
            sh: ((v >> 24) & 3) as u8,
            s1_disabled: walk & 1 != 0,
            fetch_fill: walk & 2 != 0,
            mmu_idx: (v >> 40) as u8,
            mmio: v & ATTRS_MMIO != 0,
            attr_index: (walk & 0x60 == 0x20).then_some((walk >> 2) & 7),
        })
    }

    /// The translation in the architecture's terms. QEMU's stage-1 byte is dropped when stage 1 was off:
    /// an entry filled by a fetch carries the fetch's Normal attributes, and data through it is Device.
    pub fn translation(&self) -> Translation {
        Translation { s1: (!self.s1_disabled).then_some(self.s1), s2: self.s2, sh: self.sh }
    }
}

/// One descriptor access of a table walk, as qemu-patches/0003 reports it (`struct qemu_plugin_arm_walk`
/// in the patched include/qemu/qemu-plugin.h; the layout must match it field for field).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ArmWalk {
    pub desc_pa: u64,
    pub input_addr: u64,
    pub va: u64,
    pub pc: u64,
    pub value: u64,
    pub size: u8,
    pub stage: u8,
    pub level: i8,
    pub cause: u8,
    /// IRGN bits 1:0, ORGN 3:2, SH 5:4 of the walk (TCR_ELx / VTCR_EL2).
    pub tcr_attrs: u8,
    pub s2_memattr: u8,
    pub mmu_idx: u8,
    pub flags: u8,
}

/// A range an Arm helper accessed through a host pointer, as qemu-patches/0004 reports it (`struct
/// qemu_plugin_arm_bulk`; the layout must match it field for field).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ArmBulk {
    pub va: u64,
    pub pa: u64,
    /// The attribute word of qemu-patches/0002 (`TlbAttrs`), MMU index included.
    pub attrs: u64,
    pub pc: u64,
    pub len: u64,
    /// QEMU_PLUGIN_ARM_BULK_SET / _CPY / _ZVA.
    pub op: u8,
    pub is_store: u8,
}

pub const BULK_OP_SET: u8 = 0;
pub const BULK_OP_CPY: u8 = 1;
pub const BULK_OP_ZVA: u8 = 2;

pub const WALK_FLAG_UPDATE: u8 = 1 << 0;
pub const WALK_FLAG_S2: u8 = 1 << 1;

/// The regime and EL an Arm MMU index belongs to (target/arm/mmuidx.h, QEMU 10.2: core indices 0..=21).
pub fn regime_of_mmu_idx(idx: u8) -> Option<(RegimeKind, u8)> {
    use RegimeKind::*;
    Some(match idx {
        0 | 1 => (El10, 0),
        2..=4 => (El10, 1),
        5 | 6 => (El20, 0),
        7..=9 => (El20, 2),
        10 | 11 => (El2, 2),
        12 | 13 => (El3, 3),
        14 => (El3, 0),
        15 => (El3, 3),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlb_attrs_decode_the_patch_layout() {
        let v = ATTRS_VALID | ATTRS_MMIO | 2u64 << 40 | 0b11u64 << 32 | 3u64 << 24 | 0x85u64 << 16 | 0xff << 8 | 0x44;
        let t = TlbAttrs::decode(v).unwrap();
        assert_eq!(t.combined, 0x44);
        assert_eq!(t.s1, 0xff);
        assert_eq!(t.s2, Some(0x5));
        assert_eq!(t.sh, 3);
        assert!(t.s1_disabled && t.fetch_fill && t.mmio);
        assert_eq!(t.mmu_idx, 2);
        assert_eq!(t.attr_index, None);
        assert_eq!(TlbAttrs::decode(ATTRS_VALID | (0x20u64 | 3 << 2) << 32).unwrap().attr_index, Some(3));
        assert_eq!(TlbAttrs::decode(ATTRS_VALID | (0x60u64 | 3 << 2) << 32).unwrap().attr_index, None); // MAIR2
        assert_eq!(t.translation(), Translation { s1: None, s2: Some(5), sh: 3 });
        assert_eq!(TlbAttrs::decode(0x44), None);
        assert_eq!(TlbAttrs::decode(ATTRS_VALID).unwrap().s2, None);
    }

    #[test]
    fn mmu_indices_map_to_regimes() {
        assert_eq!(regime_of_mmu_idx(0), Some((RegimeKind::El10, 0)));
        assert_eq!(regime_of_mmu_idx(3), Some((RegimeKind::El10, 1)));
        assert_eq!(regime_of_mmu_idx(5), Some((RegimeKind::El20, 0)));
        assert_eq!(regime_of_mmu_idx(8), Some((RegimeKind::El20, 2)));
        assert_eq!(regime_of_mmu_idx(10), Some((RegimeKind::El2, 2)));
        assert_eq!(regime_of_mmu_idx(17), None);
    }
}

/// A device model's read or write of guest RAM (qemu-patches/0007, `struct qemu_plugin_dma`; the layout must
/// match it field for field).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DmaReport {
    /// First address in the device's address space (the guest PA without an IOMMU).
    pub addr: u64,
    pub len: u64,
    /// The device's name, valid for the whole run ("virtio-blk@a003e00").
    pub device: *const std::ffi::c_char,
    pub device_id: u32,
    /// The device wrote guest memory (else it read).
    pub is_write: u8,
    /// QEMU_PLUGIN_DMA_PATH_*: the same codes as `DmaPath`.
    pub path: u8,
}
