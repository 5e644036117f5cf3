#!/usr/bin/env python3
"""Validates SARIF files against the official SARIF 2.1.0 schema kept in docs/schemas/.

    check_sarif.py FILE...

Run with scripts/setup-pytools' python (jsonschema, and rfc3986-validator for the "uri" and
"uri-reference" formats, which code scanning's upload checks too). The validator is the one the schema's
"$schema" names (draft 4 for the OASIS schema), with every format jsonschema can check. Beyond the schema,
a few rules of the SARIF 2.1.0 text that a schema cannot state: a result's ruleIndex names the rule of its
ruleId (3.27.6), the [text](id) links of a result's message name its locations' or related locations' ids
(3.11.6), and a uriBaseId is one the run's originalUriBaseIds defines, when it has them (3.4.4).

Exit status: 0 when every file is valid; 1 when one is not, each error on stderr as
"FILE: /json/path: message"; 2 when the checker cannot check (schema changed, formats unchecked, unreadable
file).
"""

import hashlib
import json
import pathlib
import re
import sys

import jsonschema
import jsonschema.validators

REPO = pathlib.Path(__file__).resolve().parents[2]
SCHEMA = REPO / "docs" / "schemas" / "sarif-schema-2.1.0.json"
README = REPO / "docs" / "schemas" / "README.md"


def die(msg):
    print(f"check_sarif: {msg}", file=sys.stderr)
    sys.exit(2)


def load_schema():
    raw = SCHEMA.read_bytes()
    recorded = re.search(r"sha256 `([0-9a-f]{64})`", README.read_text())
    if not recorded or hashlib.sha256(raw).hexdigest() != recorded.group(1):
        die(f"{SCHEMA} does not have the sha256 that {README} records: refresh both as it says")
    schema = json.loads(raw)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    checker = jsonschema.FormatChecker()
    missing = {"uri", "uri-reference"} - set(checker.checkers)
    if missing:
        die(f"jsonschema cannot check the formats {sorted(missing)}: install rfc3986-validator (scripts/setup-pytools)")
    return cls(schema, format_checker=checker)


def path_of(parts):
    return "/" + "/".join(str(p) for p in parts)


def spec_errors(doc):
    """(path, message) for the rules of the SARIF text above that the schema cannot state."""
    for r, run in enumerate(doc.get("runs") or []):
        rules = ((run.get("tool") or {}).get("driver") or {}).get("rules") or []
        bases = run.get("originalUriBaseIds")
        for i, res in enumerate(run.get("results") or []):
            at = ["runs", r, "results", i]
            idx = res.get("ruleIndex")
            if idx is not None:
                if not 0 <= idx < len(rules):
                    yield at + ["ruleIndex"], f"ruleIndex {idx} names no rule (the driver has {len(rules)})"
                elif "ruleId" in res and rules[idx].get("id") != res["ruleId"]:
                    yield at + ["ruleIndex"], f"ruleIndex {idx} is rule {rules[idx].get('id')!r}, not ruleId {res['ruleId']!r}"
            ids = {loc.get("id") for key in ("locations", "relatedLocations") for loc in res.get(key) or []}
            text = (res.get("message") or {}).get("text") or ""
            for link in re.findall(r"(?<!\\)\[[^\]]*\]\((\d+)\)", text):
                if int(link) not in ids:
                    yield at + ["message", "text"], f"the link to location {link} names no location of the result"
            for key in ("locations", "relatedLocations"):
                for j, loc in enumerate(res.get(key) or []):
                    art = (loc.get("physicalLocation") or {}).get("artifactLocation") or {}
                    base = art.get("uriBaseId")
                    if base is not None and bases is not None and base not in bases:
                        yield at + [key, j, "physicalLocation", "artifactLocation", "uriBaseId"], f"uriBaseId {base!r} is not in the run's originalUriBaseIds"


def main(files):
    if not files:
        die("usage: check_sarif.py FILE...")
    validator = load_schema()
    bad = 0
    for f in files:
        try:
            doc = json.loads(pathlib.Path(f).read_text())
        except (OSError, ValueError) as e:
            die(f"{f}: {e}")
        errors = [(path_of(e.absolute_path), e.message) for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]
        errors += [(path_of(p), m) for p, m in spec_errors(doc)]
        for p, m in errors:
            print(f"{f}: {p}: {m}", file=sys.stderr)
        bad += bool(errors)
    if bad:
        print(f"check_sarif: {bad} of {len(files)} file(s) are not valid SARIF 2.1.0", file=sys.stderr)
        return 1
    print(f"check_sarif: {len(files)} file(s) valid against {SCHEMA.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
