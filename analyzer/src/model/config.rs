//! What the model can be told: when caches may hold a line, what they held at reset, the CPU's
//! instruction-data coherence, which devices snoop the caches; and the counts it keeps.

/// When the cache may hold a line (docs/model.md, "Modes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// A line of a page that a live translation maps cacheable may be allocated at any time (Arm ARM
    /// B2.12/D8.2: speculative accesses and prefetches); evidence of a live cacheable mapping is a
    /// cacheable access to the page.
    #[default]
    Speculative,
    /// Only lines actually accessed cacheably are cached.
    Precise,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "speculative" => Some(Mode::Speculative),
            "precise" => Some(Mode::Precise),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Speculative => "speculative",
            Mode::Precise => "precise",
        }
    }
}

/// What the caches may hold at reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ResetState {
    /// Caches come out of firmware invalid: nothing is stale until something maps a page cacheable.
    #[default]
    Invalid,
    /// Any line may hold stale data from before the trace started (every page counts as mapped cacheable).
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    pub mode: Mode,
    pub line_size: u32,
    /// Model a system cache between PoU and PoC that outer-cacheable accesses allocate into.
    pub system_cache: bool,
    pub reset: ResetState,
    /// The CPU's effective CTR_EL0.IDC: instruction fetches see data still in the PE's data cache (no clean
    /// to PoU needed for instruction-data coherence; also when CLIDR_EL1.LoC = 0 or LoUIS = LoUU = 0).
    pub idc: bool,
    /// CTR_EL0.DIC: the instruction cache is coherent with data (no IC invalidation to PoU needed).
    pub dic: bool,
    /// Take IDC and DIC from the CTR_EL0 and CLIDR_EL1 the trace recorded (the CPU it ran on) instead of
    /// the portable rule (both 0). `idc` / `dic` still force them on.
    pub cpu_coherence: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            mode: Mode::Speculative,
            line_size: 64,
            system_cache: false,
            reset: ResetState::Invalid,
            idc: false,
            dic: false,
            cpu_coherence: false,
        }
    }
}

/// Which devices are coherent with the PE caches (docs/model.md, "Device DMA"). Default: all of them, as
/// QEMU's virt board declares (`dma-coherent` in its device tree). Not in `ModelConfig`, which stays
/// `Copy`: `Model::set_dma_policy`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DmaPolicy {
    /// Every device reads and writes at the Point of Coherency without snooping.
    pub noncoherent_all: bool,
    /// These devices (by name, as the trace names them; `device#<id>` for one it never named) do.
    pub noncoherent: Vec<String>,
}

impl DmaPolicy {
    /// `coherent` (every device snoops) or `noncoherent` (none does): the CLI's and the plugin's `dma`.
    pub fn parse_mode(s: &str) -> Option<DmaPolicy> {
        match s {
            "coherent" => Some(DmaPolicy::default()),
            "noncoherent" => Some(DmaPolicy { noncoherent_all: true, noncoherent: Vec::new() }),
            _ => None,
        }
    }

    pub fn is_coherent(&self, device: &str) -> bool {
        !self.noncoherent_all && !self.noncoherent.iter().any(|n| n == device)
    }

    /// The names this policy gives that are none of `seen` (a misspelt device must not pass silently).
    pub fn unknown_names<'a>(&'a self, seen: &[DeviceStats]) -> Vec<&'a str> {
        self.noncoherent.iter().filter(|n| !seen.iter().any(|d| &d.name == *n)).map(String::as_str).collect()
    }
}

/// One device the trace showed: its name and what it transferred.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    pub id: u32,
    /// As its DeviceName events spell it, `device#<id>` without them.
    pub name: String,
    pub coherent: bool,
    pub reads: u64,
    pub read_bytes: u64,
    pub writes: u64,
    pub write_bytes: u64,
}

/// Event counts, for `cohtrace stats` and progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelStats {
    pub events: u64,
    pub accesses: u64,
    pub mmio: u64,
    pub unknown_type: u64,
    pub fetches: u64,
    /// Table-walk descriptor accesses (reads and hardware updates).
    pub walks: u64,
    /// Bulk accesses (MOPS steps, DC ZVA blocks) and the bytes they covered.
    pub bulk: u64,
    pub bulk_bytes: u64,
    pub maintenance: u64,
    pub untranslated_maintenance: u64,
    /// Device transfers and their bytes (per device: `Model::devices`).
    pub dma: u64,
    pub dma_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dma_policies_parse_and_name_devices() {
        assert_eq!(DmaPolicy::parse_mode("coherent"), Some(DmaPolicy::default()));
        assert!(DmaPolicy::parse_mode("noncoherent").is_some_and(|p| !p.is_coherent("virtio-blk")));
        assert_eq!(DmaPolicy::parse_mode("snoopy"), None);
        let p = DmaPolicy { noncoherent_all: false, noncoherent: vec!["virtio-blk".into(), "tyop".into()] };
        assert!(!p.is_coherent("virtio-blk") && p.is_coherent("virtio-net"));
        let seen = [DeviceStats { name: "virtio-blk".into(), ..Default::default() }];
        assert_eq!(p.unknown_names(&seen), vec!["tyop"]);
    }
}
