#!/usr/bin/env python3
"""Read and check the guest manifests (guests/scenarios/*.toml, guests/bench/*.toml) for scripts/build-guests and
scripts/run-guests. Standard library only (tomllib: Python >= 3.11).

  manifest.py list  MANIFEST...          one line per variant, fields separated by TAB:
                                         name, source path, manifest path, defsyms (NAME=VALUE,
                                         separated by spaces), qemu_args (separated by 0x1f)
  manifest.py command VARIANT ELF MANIFEST...
                                         the variant's whole QEMU argument list, one per line:
                                         its manifest's qemu_args, then -kernel ELF
  manifest.py check NM ELF_DIR MANIFEST...  every label a manifest names (line, observer, cause)
                                         must be a global symbol of the variant's ELF
"""
import os
import subprocess
import sys
import tomllib

CLASSES = {"stale-read", "dirty-bypass", "lost-write", "stale-ifetch", "set-way-maintenance"}
MODES = {"speculative", "precise"}
TOP_KEYS = {"source", "description", "qemu_args", "variant"}
# Every variant's command line is complete in its manifest: scripts and tests add only -kernel and -plugin.
REQUIRED_ARGS = ["-M", "-m", "-nographic", "-semihosting"]
VARIANT_KEYS = {"name", "defsym", "hazard", "stock_miss"}
HAZARD_KEYS = {"class", "line", "observer", "cause", "modes", "dma", "stock_miss"}
# stock_miss = "REASON": the plugin on a QEMU without qemu-patches/ (stock-API mode) cannot see this hazard
# (REASON says which patch it needs); the stock tier (analyzer/tests/stock.rs) requires it absent there.
# A hazard with dma = "noncoherent" is reported only when its device is judged non-coherent (analyze --dma).
DMA_JUDGEMENTS = {"noncoherent"}


def fail(path, msg):
    sys.exit(f"{path}: {msg}")


def load(path):
    with open(path, "rb") as f:
        m = tomllib.load(f)
    for key in ("source", "description", "qemu_args", "variant"):
        if key not in m:
            fail(path, f"missing key {key!r}")
    if set(m) - TOP_KEYS:
        fail(path, f"unknown keys {sorted(set(m) - TOP_KEYS)}")
    args = m.get("qemu_args", [])
    if not all(isinstance(a, str) for a in args):
        fail(path, "qemu_args must be a list of strings")
    missing = [a for a in REQUIRED_ARGS if a not in args]
    if missing:
        fail(path, f"qemu_args must be the whole QEMU command line (less -kernel); it lacks {missing}")
    for v in m["variant"]:
        if set(v) - VARIANT_KEYS or "name" not in v:
            fail(path, f"bad variant {v}")
        for sym, val in v.get("defsym", {}).items():
            if not sym.isidentifier() or not isinstance(val, int):
                fail(path, f"{v['name']}: defsym {sym} = {val!r} must be NAME = integer")
        for h in v.get("hazard", []):
            if set(h) - HAZARD_KEYS or not {"class", "line", "observer", "cause"} <= set(h):
                fail(path, f"{v['name']}: bad hazard {h}")
            if h["class"] not in CLASSES:
                fail(path, f"{v['name']}: unknown class {h['class']!r}")
            if not set(h.get("modes", list(MODES))) <= MODES:
                fail(path, f"{v['name']}: bad modes {h['modes']}")
            if h.get("dma", "noncoherent") not in DMA_JUDGEMENTS:
                fail(path, f"{v['name']}: bad dma {h['dma']!r} (only \"noncoherent\")")
    return m


def manifests(paths):
    seen = {}
    for path in paths:
        m = load(path)
        for v in m["variant"]:
            if v["name"] in seen:
                fail(path, f"variant {v['name']} also defined in {seen[v['name']]}")
            seen[v["name"]] = path
            yield path, m, v


def cmd_list(paths):
    for path, m, v in manifests(paths):
        src = os.path.join(os.path.dirname(path), m["source"])
        defsyms = " ".join(f"{k}={val}" for k, val in v.get("defsym", {}).items())
        args = "\x1f".join(m.get("qemu_args", []))
        print("\t".join([v["name"], src, path, defsyms, args]))


def cmd_command(name, elf, paths):
    for _path, m, v in manifests(paths):
        if v["name"] == name:
            print("\n".join(m.get("qemu_args", []) + ["-kernel", elf]))
            return
    sys.exit(f"no variant {name!r} in the manifests")


def global_symbols(nm, elf):
    out = subprocess.run([nm, elf], check=True, capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isupper():
            syms[parts[2]] = int(parts[0], 16)
    return syms


def cmd_check(nm, elf_dir, paths):
    bad = 0
    for path, m, v in manifests(paths):
        elf = os.path.join(elf_dir, v["name"] + ".elf")
        syms = global_symbols(nm, elf)
        for h in v.get("hazard", []):
            for key in ("line", "observer", "cause"):
                if key != "line" and h[key].startswith("dma:"):
                    continue  # a device's side: named by the device, not by a symbol
                sym = h[key].split("+")[0].strip()
                if sym not in syms:
                    print(f"{path}: {v['name']}: {key} {sym!r} is not a global symbol of {elf}",
                          file=sys.stderr)
                    bad += 1
    if bad:
        sys.exit(1)


def main(argv):
    if len(argv) >= 2 and argv[1] == "list":
        cmd_list(argv[2:])
    elif len(argv) >= 5 and argv[1] == "command":
        cmd_command(argv[2], argv[3], argv[4:])
    elif len(argv) >= 4 and argv[1] == "check":
        cmd_check(argv[2], argv[3], argv[4:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
