//! Translation regimes: a leaf module (no imports) that the event vocabulary, the memory-type rules and the
//! reports all name.

/// Which translation regime an access was made in (Arm ARM D8.1: EL1&0, EL2&0, EL2, EL3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegimeKind {
    #[default]
    El10,
    El20,
    El2,
    El3,
}

impl RegimeKind {
    pub fn name(self) -> &'static str {
        match self {
            RegimeKind::El10 => "EL1&0",
            RegimeKind::El20 => "EL2&0",
            RegimeKind::El2 => "EL2",
            RegimeKind::El3 => "EL3",
        }
    }
}

/// Exception level and address-space identifiers of the side of an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Regime {
    pub el: u8,
    pub kind: RegimeKind,
    /// VMID of the EL1&0 regime when stage 2 is enabled; `None` otherwise.
    pub vmid: Option<u16>,
    /// ASID of the regime's stage 1 when it has ASIDs (EL1&0, EL2&0) and stage 1 is on.
    pub asid: Option<u16>,
    pub secure: bool,
}
