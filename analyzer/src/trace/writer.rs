//! Writes a trace: the header, then one chunk per call, each with a single `write` so that a process killed
//! at any moment leaves whole chunks plus at most one partial one.

use super::codec::ChunkEncoder;
use super::record::Record;
use super::{CHUNK_END, CHUNK_EVENTS, CHUNK_HEADER, CHUNK_MAGIC, EndSummary, Header};
use std::io::{self, Write};

pub struct TraceWriter<W: Write> {
    out: W,
    /// Shared by every vCPU's chunks: each chunk is coded on its own, the encoder only keeps its capacity.
    encoder: ChunkEncoder,
    payload: Vec<u8>,
    frame: Vec<u8>,
    records: u64,
    chunks: u64,
    bytes: u64,
}

impl<W: Write> TraceWriter<W> {
    pub fn new(mut out: W, header: &Header) -> io::Result<TraceWriter<W>> {
        let h = header.to_bytes();
        out.write_all(&h)?;
        out.flush()?;
        Ok(TraceWriter {
            out,
            encoder: ChunkEncoder::new(),
            payload: Vec::with_capacity(1 << 20),
            frame: Vec::with_capacity(1 << 20),
            records: 0,
            chunks: 0,
            bytes: h.len() as u64,
        })
    }

    /// Encodes and writes the records of one vCPU buffer; their sequence numbers are `base_seq + r.seq`.
    pub fn write_chunk(&mut self, vcpu: u16, base_seq: u64, records: &[Record]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut payload = std::mem::take(&mut self.payload);
        self.encoder.encode(records, base_seq, &mut payload);
        let r = self.write_frame(CHUNK_EVENTS, vcpu, records.len() as u32, base_seq, &payload);
        self.payload = payload;
        r?;
        self.records += records.len() as u64;
        Ok(())
    }

    fn write_frame(&mut self, kind: u8, vcpu: u16, count: u32, base_seq: u64, payload: &[u8]) -> io::Result<()> {
        let f = &mut self.frame;
        f.clear();
        f.extend_from_slice(CHUNK_MAGIC);
        f.push(kind);
        f.push(0);
        f.extend_from_slice(&vcpu.to_le_bytes());
        f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        f.extend_from_slice(&count.to_le_bytes());
        f.extend_from_slice(&base_seq.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&f[4..24]);
        crc.update(payload);
        f.extend_from_slice(&crc.finalize().to_le_bytes());
        debug_assert_eq!(f.len(), CHUNK_HEADER);
        f.extend_from_slice(payload);
        self.out.write_all(f)?;
        self.chunks += 1;
        self.bytes += f.len() as u64;
        Ok(())
    }

    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Gives the output back without an end chunk: what a killed capture leaves.
    pub fn abandon(self) -> W {
        self.out
    }

    /// Writes the end chunk (which marks the trace as complete) and flushes.
    pub fn finish(mut self, dropped: u64) -> io::Result<(W, EndSummary)> {
        let summary = EndSummary { records: self.records, chunks: self.chunks, dropped };
        let mut p = Vec::with_capacity(24);
        p.extend_from_slice(&summary.records.to_le_bytes());
        p.extend_from_slice(&summary.chunks.to_le_bytes());
        p.extend_from_slice(&summary.dropped.to_le_bytes());
        self.write_frame(CHUNK_END, 0, 0, 0, &p)?;
        self.out.flush()?;
        Ok((self.out, summary))
    }
}
