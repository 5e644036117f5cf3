//! The on-disk trace format (docs/trace-format.md): one module owns the bytes.
//!
//! A header, then self-delimiting chunks. Each chunk holds records of one vCPU, coded on their own and
//! protected by a CRC-32, so a trace cut short by a killed QEMU reads up to its last whole chunk.

pub mod codec;
pub mod codes;
pub mod merge;
pub mod reader;
pub mod record;
pub mod varint;
pub mod writer;

pub use reader::{TraceFile, TraceError};
pub use codes::{CHUNK_END, CHUNK_EVENTS, CHUNK_MAGIC, FILE_MAGIC, FORMAT_VERSION, RecordKind};
pub use record::{Geometry, Record};
pub use writer::TraceWriter;

/// Fixed part of the file header: magic, version, line size, ZVA size, metadata length.
pub const HEADER_FIXED: usize = 20;
pub const CHUNK_HEADER: usize = 28;
/// Upper bounds a reader enforces before trusting a length field (a hostile header must not make it
/// allocate or map beyond the file).
pub const MAX_META: usize = 64 * 1024;
pub const MAX_PAYLOAD: usize = 256 * 1024 * 1024;
/// Physical addresses have at most 56 bits on ARM64 (FEAT_D128). The decoder rejects a record whose PA is
/// beyond (only a damaged or hostile trace has one), so every line and DC ZVA block an event touches lies
/// inside the address space and nothing downstream overflows.
pub const PA_LIMIT: u64 = 1 << 56;

/// What the header says about the capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub geometry: Geometry,
    /// `key=value` pairs: qemu version, plugin options, vCPU count...
    pub meta: Vec<(String, String)>,
}

impl Header {
    pub fn new(geometry: Geometry, meta: Vec<(String, String)>) -> Header {
        Header { version: FORMAT_VERSION, geometry, meta }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.meta.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut meta = String::new();
        for (k, v) in &self.meta {
            // Keys and values are ours; newlines would break the line format, so they are replaced.
            meta.push_str(&k.replace(['\n', '='], "_"));
            meta.push('=');
            meta.push_str(&v.replace('\n', " "));
            meta.push('\n');
        }
        let meta = meta.as_bytes();
        let meta = &meta[..meta.len().min(MAX_META)];
        let mut out = Vec::with_capacity(HEADER_FIXED + meta.len() + 4);
        out.extend_from_slice(FILE_MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.geometry.line_size as u16).to_le_bytes());
        out.extend_from_slice(&self.geometry.zva_size.to_le_bytes());
        out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        out.extend_from_slice(meta);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}

/// Totals written in the end chunk by a capture that finished cleanly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndSummary {
    pub records: u64,
    pub chunks: u64,
    /// Records the plugin could not capture (e.g. an access whose TLB entry was gone).
    pub dropped: u64,
}

#[cfg(test)]
mod tests;
