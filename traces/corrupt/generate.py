#!/usr/bin/env python3
"""Rebuilds the hostile traces of traces/corrupt/ and their expected results from valid.ctrace.

    traces/corrupt/generate.py            rewrite every NAME.ctrace + NAME.expected from valid.ctrace
    traces/corrupt/generate.py --record   first re-record valid.ctrace (guest 01-nc-write-wb-read, 512 records
                                          per chunk; needs scripts/setup-qemu, scripts/build-guests and a
                                          release build)
    traces/corrupt/generate.py --check    run the CLI on every case and compare with NAME.expected

Both need the CLI (target/release/cohtrace, or $COHTRACE_BIN). The format of NAME.expected and the list of
cases are in traces/README.md; analyzer/tests/corrupt.rs checks them in the test suite.

Where the expected values come from: this script parses the framing itself (it does not use the Rust
reader), so it knows the chunk index and byte offset it damaged and computes every number in the error
text (lengths, CRC-32s with zlib) on its own; the error texts are the reader's and the CLI's message
templates. The one thing it asks the CLI is how many events (and whether hazards) the undamaged part
holds: it writes that part as a separate, clean trace (the header and the whole chunks before the damage)
and runs `cohtrace stats` and `cohtrace analyze` on it. A damaged trace must give exactly what its clean
prefix gives.
"""
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BASE = "valid.ctrace"
GUEST = "01-nc-write-wb-read"
BUFFER = 512

FILE_MAGIC, CHUNK_MAGIC = b"COHTRACE", b"CHNK"
HEADER_FIXED, CHUNK_HEADER = 20, 28
MAX_META, MAX_PAYLOAD = 64 * 1024, 256 * 1024 * 1024
# The chunk most cases damage: two whole chunks come before it.
K = 2


def cohtrace_bin():
    return os.environ.get("COHTRACE_BIN") or os.path.join(REPO, "target", "release", "cohtrace")


def run(args, cwd):
    p = subprocess.run([cohtrace_bin(), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


# --- framing ------------------------------------------------------------------------------------------------

class Trace:
    """A valid trace split into its parts; `chunks` are (offset, raw bytes) and include the end chunk."""

    def __init__(self, data):
        assert data[:8] == FILE_MAGIC
        meta_len = struct.unpack_from("<I", data, 16)[0]
        self.meta_end = HEADER_FIXED + meta_len
        assert zlib.crc32(data[:self.meta_end]) == struct.unpack_from("<I", data, self.meta_end)[0]
        self.header = data[:self.meta_end + 4]
        self.chunks = []
        pos = len(self.header)
        while pos < len(data):
            magic, kind, _, vcpu, plen, recs, seq, crc = struct.unpack_from("<4sBBHIIQI", data, pos)
            raw = data[pos:pos + CHUNK_HEADER + plen]
            assert magic == CHUNK_MAGIC and len(raw) == CHUNK_HEADER + plen
            assert zlib.crc32(raw[4:24] + raw[CHUNK_HEADER:]) == crc
            self.chunks.append((pos, raw))
            pos += len(raw)
        self.data = data
        assert self.kind(-1) == 2, "the base trace must be complete (end chunk last)"
        assert len({self.vcpu(i) for i in range(len(self.chunks) - 1)}) == 1, "the base trace must have one vCPU"
        assert len(self.chunks) >= K + 3

    def kind(self, i):
        return self.chunks[i][1][4]

    def vcpu(self, i):
        return struct.unpack_from("<H", self.chunks[i][1], 6)[0]

    def offset(self, i):
        return self.chunks[i][0]

    def payload_len(self, i):
        return len(self.chunks[i][1]) - CHUNK_HEADER

    def prefix(self, n):
        """The header and the first n chunks: the clean part of a trace damaged at chunk n."""
        return self.header + b"".join(raw for _, raw in self.chunks[:n])


def frame(kind, vcpu, records, first_seq, payload, flags=0):
    fields = struct.pack("<BBHIIQ", kind, flags, vcpu, len(payload), records, first_seq)
    return CHUNK_MAGIC + fields + struct.pack("<I", zlib.crc32(fields + payload)) + payload


def refield(raw, **kw):
    """A chunk with some header fields replaced and its CRC recomputed (so only the change is wrong)."""
    _, kind, flags, vcpu, plen, recs, seq, _ = struct.unpack_from("<4sBBHIIQI", raw, 0)
    payload = kw.get("payload", raw[CHUNK_HEADER:])
    fields = struct.pack("<BBHIIQ", kw.get("kind", kind), flags, vcpu, kw.get("plen", len(payload)),
                         kw.get("records", recs), seq)
    return CHUNK_MAGIC + fields + struct.pack("<I", zlib.crc32(fields + payload)) + payload


def header_crc(h):
    """A header (without its CRC) followed by its CRC."""
    return h + struct.pack("<I", zlib.crc32(h))


def hexlist(b):
    return "[" + ", ".join(f"{x:02x}" for x in b) + "]"


# --- the cases ----------------------------------------------------------------------------------------------

def cases(t):
    """Yields (name, what, bytes, outcome). outcome is ("header", message) for a file the reader refuses,
    ("index", chunk, offset, reason, clean_chunks) for damage found while indexing,
    ("decode", chunk, offset, reason, clean_chunks) for a payload that does not decode, or
    ("ok", clean_chunks, note) for no damage (note: None or "no-end")."""
    d, h = t.data, t.header
    n = len(t.chunks)
    off = t.offset(K)
    body_after = lambda i: b"".join(raw for _, raw in t.chunks[i:])

    yield "valid", "the undamaged base trace (the control case)", d, ("ok", n - 1, None)
    yield "empty", "a file of zero bytes", b"", ("header", 'not a cohtrace trace: the file starts with [], not "COHTRACE"')
    yield ("bad-magic", "the first byte of the file magic changed",
           b"X" + d[1:], ("header", f'not a cohtrace trace: the file starts with {hexlist(b"X" + d[1:8])}, not "COHTRACE"'))
    yield ("header-truncated-fixed", "cut 12 bytes in, inside the fixed part of the header",
           d[:12], ("header", "trace header is cut short: the file has 12 bytes"))
    cut = HEADER_FIXED + 10
    yield ("header-truncated-meta", "cut inside the header's metadata",
           d[:cut], ("header", f"trace header is cut short: the file has {cut} bytes"))
    v2 = header_crc(d[:8] + struct.pack("<H", 2) + d[10:t.meta_end]) + body_after(0)
    yield ("unsupported-version", "format version 2, header checksum correct",
           v2, ("header", "trace format version 2 is not supported (this cohtrace reads version 1)"))
    huge = d[:16] + struct.pack("<I", 0xFFFFFFFF) + d[20:]
    yield ("huge-meta-length", "metadata length 0xffffffff (must be refused before anything is allocated or read)",
           huge, ("header", f"trace header metadata claims {0xFFFFFFFF} bytes (at most {MAX_META} allowed)"))
    bad = bytearray(d)
    bad[HEADER_FIXED] ^= 0x20  # a metadata byte
    stored = struct.unpack_from("<I", d, t.meta_end)[0]
    yield ("header-checksum", "one metadata byte changed, header checksum not updated",
           bytes(bad), ("header", f"trace header checksum mismatch (stored {stored:#010x}, computed "
                                  f"{zlib.crc32(bytes(bad[:t.meta_end])):#010x})"))
    ls = header_crc(d[:10] + struct.pack("<H", 48) + d[12:t.meta_end]) + body_after(0)
    yield ("bad-line-size", "cache line size 48 in the header, header checksum correct",
           ls, ("header", "trace header: line size 48 is not a power of two between 16 and 4096"))

    # Damage found while indexing the chunks: everything before chunk K is used.
    cut = off + CHUNK_HEADER + t.payload_len(K) // 2
    left = cut - off - CHUNK_HEADER
    yield ("truncated-mid-chunk", f"cut in the middle of chunk {K}'s payload (a capture killed mid-write)",
           d[:cut], ("index", K, off, f"truncated: payload of {t.payload_len(K)} bytes but only {left} bytes left "
                                      "in the file", K))
    yield ("truncated-chunk-header", f"cut 10 bytes into chunk {K}'s header",
           d[:off + 10], ("index", K, off, f"truncated: 10 bytes left, a chunk header needs {CHUNK_HEADER}", K))
    yield ("truncated-at-chunk-boundary", f"cut right after chunk {K - 1}: no damage, but no end chunk (killed capture)",
           d[:off], ("ok", K, "no-end"))
    raw = t.chunks[K][1]
    big = d[:off] + raw[:8] + struct.pack("<I", 0xFFFFFFFF) + raw[12:] + body_after(K + 1)
    yield ("huge-payload-length", f"chunk {K} claims a payload of 0xffffffff bytes (must be refused before use)",
           big, ("index", K, off, f"payload length {0xFFFFFFFF} exceeds the {MAX_PAYLOAD}-byte limit", K))
    past = d[:off] + raw[:8] + struct.pack("<I", 1 << 20) + raw[12:] + body_after(K + 1)
    yield ("payload-length-past-eof", f"chunk {K} claims a 1 MiB payload, under the limit but past the end of the file",
           past, ("index", K, off, f"truncated: payload of {1 << 20} bytes but only {len(past) - off - CHUNK_HEADER} "
                                   "bytes left in the file", K))
    flipped = bytearray(d)
    flipped[off + CHUNK_HEADER + 5] ^= 0x10
    computed = zlib.crc32(bytes(flipped[off + 4:off + 24]) + bytes(flipped[off + CHUNK_HEADER:off + len(raw)]))
    stored = struct.unpack_from("<I", raw, 24)[0]
    yield ("chunk-checksum", f"one payload byte of chunk {K} flipped, its checksum not updated",
           bytes(flipped), ("index", K, off, f"checksum mismatch (stored {stored:#010x}, computed {computed:#010x})", K))
    garbage = bytes(range(0x40, 0x40 + CHUNK_HEADER))
    inserted = d[:off] + garbage + body_after(K)
    yield ("valid-chunks-after-bad-one",
           f"{CHUNK_HEADER} garbage bytes inserted before chunk {K}: every chunk after them is intact, and none is "
           "used (documented: the reader stops at the first bad chunk)",
           inserted, ("index", K, off, f"bad chunk magic {hexlist(garbage[:4])}", K))
    unknown = d[:off] + refield(raw, kind=3) + body_after(K + 1)
    yield ("unknown-chunk-kind", f"chunk {K} has kind 3, checksum correct",
           unknown, ("index", K, off, "unknown chunk kind 3", K))
    end_off = t.offset(n - 1)
    tail = bytes(100)
    yield ("garbage-after-end", "100 zero bytes after the end chunk: every event is used",
           d + tail, ("index", n, len(d), "100 bytes after the end chunk", n - 1))
    short_end = d[:end_off] + refield(t.chunks[n - 1][1], payload=bytes(16))
    yield ("end-chunk-wrong-size", "the end chunk has a 16-byte payload instead of 24, checksum correct",
           short_end, ("index", n - 1, end_off, "end chunk has 16 payload bytes, expected 24", n - 1))

    # Chunks that index fine (checksum correct) but whose payload does not decode: found during replay.
    def payload_case(name, what, payload, reason, records=None):
        c = refield(raw, payload=payload, **({"records": records} if records is not None else {}))
        return name, what, d[:off] + c + body_after(K + 1), ("decode", K, off, reason, K)

    yield payload_case("payload-does-not-decode", f"chunk {K}'s payload starts with the unknown record tag 0x7f",
                       b"\x7f" + raw[CHUNK_HEADER + 1:], "unknown record tag 0x7f at byte 0")
    yield payload_case("payload-cut-inside-record", f"chunk {K}'s payload is a regime tag with no value",
                       b"\x06", "payload ends inside a record at byte 0", records=1)
    yield payload_case("undefined-instruction", f"chunk {K}'s payload is an access by instruction 5 of none defined",
                       b"\x01\x05", "reference to undefined instruction 5 at byte 0", records=1)
    # An 8-byte Normal-WB load at PA 2^64 - 4 by a new instruction at pc 0x40100000, every field present: tag 2,
    # insn 0 + zigzag(pc), field mask 0xf, zigzag(pa - 0), zigzag(0) (VA offset), mem 0x3ff, info 3.
    top = b"\x02\x00\x80\x80\x80\x81\x08\x0f\x07\x00\xff\x07\x03"
    yield payload_case("out-of-range-address", f"chunk {K}'s payload is an access at physical address 2^64 - 4",
                       top, "physical address 0xfffffffffffffffc out of range at byte 0", records=1)
    # A table-walk extension record (tag 9, kind 1) whose length (2) leaves out all but its info byte and
    # one delta: the reader knows kind 1 and refuses it rather than skipping it.
    yield payload_case("malformed-walk-record", f"chunk {K}'s payload is a table-walk record cut short inside "
                       "its own length", b"\x09\x01\x02\x84\x00", "malformed extension record of kind 1 at byte 0",
                       records=1)
    # A device-transfer extension record (tag 9, kind 4, 4 bytes: info, pa delta, device, length) whose path
    # code is 5 of the four there are: refused, not skipped.
    yield payload_case("malformed-dma-record", f"chunk {K}'s payload is a DMA record with an unknown path code",
                       b"\x09\x04\x04\x85\x00\x01\x40", "malformed extension record of kind 4 at byte 0",
                       records=1)
    recs = struct.unpack_from("<I", raw, 12)[0]
    c = refield(raw, records=recs + 5)
    yield ("fewer-records-than-header", f"chunk {K}'s header claims 5 records more than its payload holds, checksum "
           "correct", d[:off] + c + body_after(K + 1),
           ("decode", K, off, FEWER_RECORDS(recs, recs + 5), K + 1))


def FEWER_RECORDS(found, claimed):
    return f"payload holds {found} records, its header says {claimed}"


# --- expected results ---------------------------------------------------------------------------------------

def clean_results(data, tmp):
    """(events, analyze exit status) of a clean trace, from the CLI."""
    p = os.path.join(tmp, "prefix.ctrace")
    with open(p, "wb") as f:
        f.write(data)
    status, out, err = run(["stats", p], tmp)
    assert status == 0, f"stats on a clean prefix failed: {err}"
    events = int(re.search(r"^events\s+(\d+)$", out, re.M).group(1))
    status, _, err = run(["analyze", p], tmp)
    assert status in (0, 1), f"analyze on a clean prefix failed: {err}"
    return events, status


def expected(t, name, outcome, tmp):
    f = name + ".ctrace"
    kind = outcome[0]
    if kind == "header":
        line = f"cohtrace: error: {f}: {outcome[1]}"
        return {"located": f"header: {outcome[1]}", "events": "-", "stats": 2, "stats-stderr": [line],
                "analyze": 2, "analyze-stderr": [line]}
    if kind == "ok":
        _, clean, note = outcome
        events, hz = clean_results(t.prefix(clean) + (t.chunks[-1][1] if note is None else b""), tmp)
        warn = [] if note is None else [
            f"cohtrace: warning: {f} has no end chunk (the capture did not exit cleanly); using its {clean} whole chunks"]
        return {"located": "none", "events": events, "stats": 0, "stats-stderr": warn, "analyze": hz,
                "analyze-stderr": warn}
    _, chunk, offset, reason, clean = outcome
    located = f"chunk {chunk} at byte offset {offset}: {reason}"
    events, hz = clean_results(t.prefix(clean), tmp)
    if kind == "index":
        line = f"cohtrace: warning: {f} is damaged at {located}; using the {clean} whole chunks before it"
        return {"located": located, "events": events, "stats": 0, "stats-stderr": [line], "analyze": hz,
                "analyze-stderr": [line]}
    # A payload that does not decode: the file indexes cleanly (with its end chunk), the replay stops.
    return {"located": located, "events": events, "stats": 2,
            "stats-stderr": [f"cohtrace: error: trace does not decode at {located}"], "analyze": hz,
            "analyze-stderr": [f"cohtrace: warning: {f} does not decode at {located}; analysed the events before it"]}


def write_expected(path, what, e):
    lines = [f"# {what}", f"located: {e['located']}", f"events: {e['events']}", f"stats: {e['stats']}"]
    lines += [f"stats-stderr: {l}" for l in e["stats-stderr"]]
    lines.append(f"analyze: {e['analyze']}")
    lines += [f"analyze-stderr: {l}" for l in e["analyze-stderr"]]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def record_base():
    def last_line(cmd):
        out = subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.PIPE, text=True).stdout
        return out.strip().splitlines()[-1]
    qemu = os.environ.get("COHTRACE_QEMU") or last_line(["scripts/setup-qemu"])
    guests = os.environ.get("COHTRACE_GUESTS") or last_line(["scripts/build-guests"])
    subprocess.run([cohtrace_bin(), "record", "--qemu", qemu, "--plugin", os.path.join(REPO, "target/release/libcohtrace.so"),
                    "--plugin-opt", f"buffer={BUFFER}", "-o", os.path.join(HERE, BASE), "--",
                    "-M", "virt,virtualization=on", "-m", "128M", "-nographic", "-nic", "none", "-semihosting",
                    "-cpu", "max", "-smp", "1", "-kernel", os.path.join(guests, GUEST + ".elf")],
                   check=True, stdout=subprocess.DEVNULL)


def check():
    bad = 0
    for name in sorted(n[:-len(".expected")] for n in os.listdir(HERE) if n.endswith(".expected")):
        e = {}
        with open(os.path.join(HERE, name + ".expected")) as f:
            for line in f:
                if not line.startswith("#"):
                    k, _, v = line.rstrip("\n").partition(": ")
                    e.setdefault(k, []).append(v)
        for cmd in ("stats", "analyze"):
            status, _, err = run([cmd, name + ".ctrace"], HERE)
            want = (int(e[cmd][0]), e.get(cmd + "-stderr", []))
            if (status, err.splitlines()) != want:
                bad += 1
                print(f"{name} {cmd}: expected {want}, got {(status, err.splitlines())}")
    print("all cases match" if not bad else f"{bad} mismatches")
    return bad == 0


def main():
    args = sys.argv[1:]
    if args == ["--check"]:
        sys.exit(0 if check() else 1)
    if args == ["--record"]:
        record_base()
    elif args:
        sys.exit(__doc__)
    with open(os.path.join(HERE, BASE), "rb") as f:
        t = Trace(f.read())
    for n in os.listdir(HERE):
        if n.endswith(".expected") or (n.endswith(".ctrace") and n != BASE):
            os.remove(os.path.join(HERE, n))
    with tempfile.TemporaryDirectory() as tmp:
        for name, what, data, outcome in cases(t):
            if name != "valid":
                with open(os.path.join(HERE, name + ".ctrace"), "wb") as f:
                    f.write(data)
            else:
                assert data == t.data
            write_expected(os.path.join(HERE, name + ".expected"), what, expected(t, name, outcome, tmp))
            print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
