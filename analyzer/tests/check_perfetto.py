#!/usr/bin/env python3
"""Checks a `cohtrace export --perfetto` file with Perfetto's own trace schema and prints what it holds.

    check_perfetto.py TRACE [--track NAME]...

The file is parsed with the generated classes of Perfetto's whole trace schema (the `perfetto` package on
PyPI: perfetto.protos.perfetto.trace.perfetto_trace_pb2.Trace), with unknown fields refused. Asserted:

- every packet is on one trusted packet sequence, the first one clears its incremental state;
- track descriptors: unique uuids, every parent declared, every `--track NAME` present;
- every track event has a timestamp and a declared track, timestamps never go back on a track;
- every TYPE_SLICE_BEGIN has its TYPE_SLICE_END on the same track, in order, and none is left open;
- every flow id appears exactly once in flow_ids and once in terminating_flow_ids, on two different
  events, the first not after the second.

Prints one JSON object for the Rust test (analyzer/tests/perfetto.rs) to assert further on:
{"tracks": [{"uuid", "name", "parent"}], "slices": [{"track", "name", "begin", "end", "annotations"}],
 "instants": [{"track", "name", "ts", "categories", "annotations"}],
 "flows": [{"id", "from": {"track", "name", "ts"}, "to": {...}}]}
Exit status 0 when every check holds, 1 (with the reason on stderr) when one fails.
"""

import argparse
import json
import sys

from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

TrackEvent = pb.TrackEvent


def fail(msg):
    print(f"check_perfetto: {msg}", file=sys.stderr)
    sys.exit(1)


def annotations(ev):
    out = {}
    for a in ev.debug_annotations:
        kind = a.WhichOneof("value")
        out[a.name] = getattr(a, kind) if kind else None
    return out


def unknown_fields(msg, path="trace"):
    """Fields the schema does not know (a wrong field number or wire type lands there)."""
    # upb's messages expose UnknownFields() through the unknown_fields module.
    from google.protobuf import unknown_fields as uf

    found = []
    if len(uf.UnknownFieldSet(msg)):
        found.append(path)
    for field, value in msg.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
        if repeated:
            for i, v in enumerate(value):
                found += unknown_fields(v, f"{path}.{field.name}[{i}]")
        else:
            found += unknown_fields(value, f"{path}.{field.name}")
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--track", action="append", default=[], help="a track name that must be declared")
    args = ap.parse_args()

    trace = pb.Trace()
    with open(args.trace, "rb") as f:
        data = f.read()
    try:
        trace.ParseFromString(data)
    except Exception as e:  # noqa: BLE001 (any parse error is the verdict)
        fail(f"{args.trace} does not parse as perfetto.protos.Trace: {e}")
    if trace.SerializeToString() != data:
        # Not an error by itself (field order may differ), but ours writes in field order: a difference
        # means something was dropped or reinterpreted.
        fail("re-serializing the parsed trace does not give the same bytes")
    bad = unknown_fields(trace)
    if bad:
        fail(f"fields unknown to Perfetto's schema in {', '.join(bad[:5])}")
    if not trace.packet:
        fail("no packets")

    tracks = {}
    order = []
    sequences = set()
    for i, p in enumerate(trace.packet):
        if not p.HasField("trusted_packet_sequence_id"):
            fail(f"packet {i} has no trusted_packet_sequence_id")
        sequences.add(p.trusted_packet_sequence_id)
        if p.HasField("track_descriptor"):
            d = p.track_descriptor
            if not d.HasField("uuid") or d.uuid in tracks:
                fail(f"packet {i}: track descriptor without a uuid or with a uuid seen before ({d.uuid})")
            tracks[d.uuid] = {"uuid": d.uuid, "name": d.name, "parent": d.parent_uuid if d.HasField("parent_uuid") else None}
            order.append(d.uuid)
    if len(sequences) != 1:
        fail(f"packets on {len(sequences)} sequences")
    first = trace.packet[0]
    if not first.sequence_flags & pb.TracePacket.SEQ_INCREMENTAL_STATE_CLEARED:
        fail("the first packet does not clear the sequence's incremental state")
    for t in tracks.values():
        if t["parent"] is not None and t["parent"] not in tracks:
            fail(f"track {t['name']!r} has an undeclared parent {t['parent']}")
    names = {t["name"] for t in tracks.values()}
    for want in args.track:
        if want not in names:
            fail(f"no track named {want!r} (tracks: {sorted(names)})")

    open_slices = {}  # track uuid -> stack of (name, begin, annotations)
    last_ts = {}
    slices, instants = [], []
    flow_from, flow_to = {}, {}
    for i, p in enumerate(trace.packet):
        if not p.HasField("track_event"):
            continue
        ev = p.track_event
        if not p.HasField("timestamp"):
            fail(f"packet {i}: track event without a timestamp")
        if not ev.HasField("track_uuid") or ev.track_uuid not in tracks:
            fail(f"packet {i}: track event on an undeclared track {ev.track_uuid}")
        ts, uuid = p.timestamp, ev.track_uuid
        tname = tracks[uuid]["name"]
        if ts < last_ts.get(uuid, 0):
            fail(f"packet {i}: time goes back on track {tname!r} ({last_ts[uuid]} -> {ts})")
        last_ts[uuid] = ts
        where = {"track": tname, "name": ev.name, "ts": ts, "packet": i}
        if ev.type == TrackEvent.TYPE_SLICE_BEGIN:
            if not ev.name:
                fail(f"packet {i}: a slice without a name")
            open_slices.setdefault(uuid, []).append((ev.name, ts, annotations(ev)))
        elif ev.type == TrackEvent.TYPE_SLICE_END:
            stack = open_slices.get(uuid)
            if not stack:
                fail(f"packet {i}: TYPE_SLICE_END on track {tname!r} with no slice open")
            name, begin, notes = stack.pop()
            slices.append({"track": tname, "name": name, "begin": begin, "end": ts, "annotations": notes})
        elif ev.type == TrackEvent.TYPE_INSTANT:
            instants.append({"track": tname, "name": ev.name, "ts": ts, "categories": list(ev.categories), "annotations": annotations(ev)})
        else:
            fail(f"packet {i}: unexpected track event type {ev.type}")
        for fid in ev.flow_ids:
            if fid in flow_from:
                fail(f"flow {fid} starts twice (packets {flow_from[fid]['packet']} and {i})")
            flow_from[fid] = where
        for fid in ev.terminating_flow_ids:
            if fid in flow_to:
                fail(f"flow {fid} terminates twice (packets {flow_to[fid]['packet']} and {i})")
            flow_to[fid] = where
    for uuid, stack in open_slices.items():
        if stack:
            fail(f"track {tracks[uuid]['name']!r}: slice {stack[-1][0]!r} begun at {stack[-1][1]} never ends")
    if set(flow_from) != set(flow_to):
        fail(f"flows without both ends: started {sorted(flow_from)}, terminated {sorted(flow_to)}")
    flows = []
    for fid in sorted(flow_from):
        a, b = flow_from[fid], flow_to[fid]
        if a["packet"] >= b["packet"] or a["ts"] > b["ts"]:
            fail(f"flow {fid} runs backwards: {a} -> {b}")
        flows.append({"id": fid, "from": a, "to": b})

    json.dump(
        {"tracks": [tracks[u] for u in order], "slices": slices, "instants": instants, "flows": flows},
        sys.stdout,
        indent=1,
    )
    print()


if __name__ == "__main__":
    main()
