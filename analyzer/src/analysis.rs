//! Replaying a trace file through the model, on one thread or line-sharded on several: what the CLI, tests
//! and benchmarks call. Each record goes through `replay::feed_record`, as in the plugin's online mode.

use crate::model::{DeviceStats, DmaPolicy, Model, ModelConfig, ModelStats};
use crate::report::HazardLog;
use crate::replay::feed_record;
use crate::trace::record::marker_args;
use crate::trace::{RecordKind, TraceFile};
use crate::trace::reader::Damage;

pub struct Analysis {
    pub log: HazardLog,
    pub stats: ModelStats,
    /// The devices the trace showed (names, coherence as judged, bytes moved).
    pub devices: Vec<DeviceStats>,
    /// Where the trace broke, if it did: everything before was analysed.
    pub damage: Option<Damage>,
}

/// Replays every event of `trace`; `progress` is called now and then with the number of events done.
pub fn analyze(trace: &TraceFile, cfg: ModelConfig, progress: impl FnMut(u64)) -> Analysis {
    analyze_with_threads(trace, cfg, 1, progress)
}

/// As `analyze`, on `threads` threads: lines are independent, so each thread runs a model that judges
/// its share of them (every thread decodes the whole trace and sees every event; page-level state and
/// broadcast events — regimes, set/way, IC IALLU, markers — stay identical). The merged report equals the
/// one-thread report.
pub fn analyze_with_threads(trace: &TraceFile, cfg: ModelConfig, threads: u32, progress: impl FnMut(u64)) -> Analysis {
    analyze_with_policy(trace, cfg, &DmaPolicy::default(), threads, progress)
}

/// As `analyze_with_threads`, with a DMA policy (which devices snoop the PE caches).
pub fn analyze_with_policy(trace: &TraceFile, cfg: ModelConfig, dma: &DmaPolicy, threads: u32, mut progress: impl FnMut(u64)) -> Analysis {
    let cfg = ModelConfig { line_size: trace.geometry().line_size, ..cfg };
    let threads = threads.max(1);
    if threads == 1 {
        let (model, damage) = replay(trace, Model::with_dma(cfg, dma.clone()), &mut progress);
        let (stats, devices) = (model.stats(), model.devices());
        return Analysis { log: model.into_log(), stats, devices, damage };
    }
    let shard = |i| {
        let mut m = Model::sharded(cfg, i, threads);
        m.set_dma_policy(dma.clone());
        m
    };
    let mut results: Vec<(Model, Option<Damage>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads)
            .map(|i| {
                let m = shard(i);
                scope.spawn(move || replay(trace, m, &mut |_| {}))
            })
            .collect();
        let first = replay(trace, shard(0), &mut progress);
        let mut all = vec![first];
        all.extend(handles.into_iter().map(|h| h.join().expect("analysis thread panicked")));
        all
    });
    // Every shard sees every event: the first one's counts and devices are the whole trace's.
    let (stats, devices) = (results[0].0.stats(), results[0].0.devices());
    let damage = results[0].1.take();
    let log = HazardLog::merge(results.into_iter().map(|(m, _)| m.into_log()).collect());
    Analysis { log, stats, devices, damage }
}

fn replay(trace: &TraceFile, mut model: Model, progress: &mut dyn FnMut(u64)) -> (Model, Option<Damage>) {
    let mut events = trace.events();
    let mut n = 0u64;
    let geometry = trace.geometry();
    events.replay(|vcpu, seq, r, following| {
        if r.kind == RecordKind::Marker as u8 {
            let (args, k) = marker_args(following.iter().map(|(_, a)| a));
            feed_record(&mut model, geometry, vcpu, seq, r, &args[..k]);
        } else {
            feed_record(&mut model, geometry, vcpu, seq, r, &[]);
        }
        n += 1;
        if n & 0xf_ffff == 0 {
            progress(n);
        }
    });
    progress(n);
    let damage = events.error().cloned().or_else(|| trace.damage.clone());
    (model, damage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Access, AccessKind, CacheOp, Dma, DmaPath, Event, Fetch, Maintenance, Regime, RegimeKind};
    use crate::memtype::MemType;
    use crate::model::Mode;
    use crate::trace::{Geometry, Header, Record, TraceWriter};

    /// A random mix of types, lines, vCPUs and maintenance over a few pages: plenty of hazards.
    fn random_trace(n: usize, seed: u64) -> TraceFile {
        random_trace_with(n, seed, false)
    }

    /// With `dma`, some events are device transfers (of three devices, two of them named, partly over
    /// lines the CPUs use).
    fn random_trace_with(n: usize, seed: u64, dma: bool) -> TraceFile {
        let mut w = TraceWriter::new(Vec::new(), &Header::new(Geometry::default(), vec![])).unwrap();
        let mut x = seed;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let types = [MemType::NORMAL_WB, MemType::NORMAL_NC, MemType::DEVICE_NGNRNE, MemType::NORMAL_WT];
        let ops = [CacheOp::DcCivac, CacheOp::DcIvac, CacheOp::DcCvac, CacheOp::DcCvau, CacheOp::IcIvau, CacheOp::DcCisw, CacheOp::IcIallu, CacheOp::DcZva];
        let mut recs = Vec::new();
        if dma {
            recs.extend(Record::device_name_parts(0, "virtio-blk@a003e00"));
            recs.extend(Record::device_name_parts(1, "virtio-net-pci@0000:00:02.0/virtio-backend"));
        }
        for i in 0..n {
            let r = rnd();
            let vcpu = (r % 2) as u16;
            let pa = (0x4000_0000 + (rnd() % (3 * 4096))) & !7;
            let pc = 0x1000 + (rnd() % 64) * 4;
            let ev = match r % 23 {
                3..=4 if dma => Event::Dma(Dma {
                    device: (r >> 20) as u32 % 3,
                    pa: pa & !0x3f | (r >> 30) & 0x3f,
                    len: 1 + (r >> 40) as u32 % 300,
                    write: r & 0x200 != 0,
                    path: DmaPath::Map,
                }),
                0 => Event::Maintenance(Maintenance {
                    vcpu,
                    pc,
                    op: ops[(r >> 8) as usize % ops.len()],
                    operand: pa,
                    pa: Some(pa),
                    mem: MemType::NORMAL_WB,
                    len: 64,
                }),
                1 => Event::Fetch(Fetch { vcpu, pc, pa: pa & !63, mem: MemType::NORMAL_WB }),
                2 => Event::Regime {
                    vcpu,
                    regime: Regime { el: 1 + (r >> 9) as u8 % 2, kind: RegimeKind::El10, vmid: Some(1), asid: None, secure: false },
                },
                _ => Event::Access(Access {
                    vcpu,
                    pc,
                    va: pa,
                    pa: pa + if r % 97 == 0 { 60 } else { 0 }, // some accesses span two lines
                    size: 8,
                    kind: if r & 0x100 == 0 { AccessKind::Load } else { AccessKind::Store },
                    mem: types[(r >> 12) as usize % types.len()],
                    // Some device accesses (not modelled: they must not count as page evidence either).
                    mmio: r % 53 == 0,
                }),
            };
            for mut rec in Record::from_event(&ev, 0) {
                rec.seq = i as u32;
                recs.push(rec);
            }
        }
        // One stream: sequence numbers are positions.
        for (i, r) in recs.iter_mut().enumerate() {
            r.seq = i as u32;
        }
        w.write_chunk(0, 0, &recs).unwrap();
        let (bytes, _) = w.finish(0).unwrap();
        TraceFile::from_bytes(bytes).unwrap()
    }

    #[test]
    fn the_report_does_not_depend_on_the_thread_count() {
        for (seed, mode) in [(1, Mode::Speculative), (2, Mode::Precise), (3, Mode::Speculative)] {
            let t = random_trace(20_000, (seed as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let cfg = ModelConfig { mode, ..Default::default() };
            let one = analyze_with_threads(&t, cfg, 1, |_| {});
            assert!(one.log.len() > 20, "the random trace should be rich in hazards: {}", one.log.len());
            for threads in [2, 3, 4] {
                let many = analyze_with_threads(&t, cfg, threads, |_| {});
                assert_eq!(many.log.hazards(), one.log.hazards(), "seed {seed}, {threads} threads");
                assert_eq!(many.log.occurrences(), one.log.occurrences());
            }
        }
    }

    #[test]
    fn device_transfers_shard_like_the_rest() {
        let t = random_trace_with(20_000, 0x5eed, true);
        let cfg = ModelConfig::default();
        for dma in [
            DmaPolicy::default(),
            DmaPolicy::parse_mode("noncoherent").unwrap(),
            DmaPolicy { noncoherent_all: false, noncoherent: vec!["virtio-blk@a003e00".into(), "device#2".into()] },
        ] {
            let one = analyze_with_policy(&t, cfg, &dma, 1, |_| {});
            let names: Vec<&str> = one.devices.iter().map(|d| d.name.as_str()).collect();
            assert_eq!(names, ["virtio-blk@a003e00", "virtio-net-pci@0000:00:02.0/virtio-backend", "device#2"]);
            assert!(one.stats.dma > 1000);
            if dma != DmaPolicy::default() {
                assert!(one.log.hazards().iter().any(|h| h.observer.device.is_some() || h.cause.device.is_some()), "{dma:?}");
            }
            for threads in [2, 3] {
                let many = analyze_with_policy(&t, cfg, &dma, threads, |_| {});
                assert_eq!(many.log.hazards(), one.log.hazards(), "{dma:?}, {threads} threads");
                assert_eq!(many.log.occurrences(), one.log.occurrences());
                assert_eq!(many.devices, one.devices);
            }
        }
    }

    #[test]
    fn hazards_of_transfers_sharing_a_sequence_number_keep_their_order_when_sharded() {
        use crate::trace::codes::DEVICE_STREAM;
        // vCPU 0 dirties eight lines; the device stream then reads them downwards, all at one sequence
        // number (the vCPU idle), and the vCPU's next record, at that number too, dirties the lowest again.
        let mut w = TraceWriter::new(Vec::new(), &Header::new(Geometry::default(), vec![])).unwrap();
        let st = |i: u64, pc: u64| {
            let a = Access { vcpu: 0, pc, va: 0x4020_0000 + 64 * i, pa: 0x4020_0000 + 64 * i, size: 8, kind: AccessKind::Store, mem: MemType::NORMAL_NC, mmio: false };
            Record::from_event(&Event::Access(a), 0)[0]
        };
        let mut cpu: Vec<Record> = (0..8).map(|i| Record { seq: i as u32, mem: MemType::NORMAL_WB.to_bits(), ..st(i, 0x100 + 4 * i) }).collect();
        cpu.push(Record { seq: 8, ..st(0, 0x200) });
        w.write_chunk(0, 0, &cpu).unwrap();
        let dev: Vec<Record> = (0..8)
            .rev()
            .map(|i| Record::from_event(&Event::Dma(Dma { device: 0, pa: 0x4020_0000 + 64 * i, len: 8, write: false, path: DmaPath::Rw }), 0)[0])
            .collect();
        w.write_chunk(DEVICE_STREAM, 8, &dev).unwrap();
        let t = TraceFile::from_bytes(w.finish(0).unwrap().0).unwrap();
        let dma = DmaPolicy::parse_mode("noncoherent").unwrap();
        let one = analyze_with_policy(&t, ModelConfig::default(), &dma, 1, |_| {});
        let lines: Vec<u64> = one.log.hazards().iter().map(|h| h.line_pa - 0x4020_0000).collect();
        assert_eq!(lines, [7, 6, 5, 4, 3, 2, 1, 0, 0].map(|i| 64 * i));
        for threads in [2, 3, 8] {
            let many = analyze_with_policy(&t, ModelConfig::default(), &dma, threads, |_| {});
            assert_eq!(many.log.hazards(), one.log.hazards(), "{threads} threads");
        }
    }
}
