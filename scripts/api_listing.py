#!/usr/bin/env python3
"""Turns one module's symbol graph into the text listing of its public API, and finds its undocumented symbols.

Used by scripts/api-check (read its header for the rules); standard library only.

    python3 scripts/api_listing.py MODULE GRAPH_DIR LISTING_OUT UNDOCUMENTED_OUT

GRAPH_DIR holds what `swift symbolgraph-extract -emit-extension-block-symbols` wrote for MODULE:
MODULE.symbols.json and one MODULE@Other.symbols.json per module whose types MODULE extends.
LISTING_OUT gets the listing without its header, sorted; UNDOCUMENTED_OUT gets one line per
listed symbol that needs a doc comment and has none ("file:line: kind path"). Prints the counts of
public symbols and conformances.
"""

import glob
import json
import os
import re
import sys

# Conformances every type has unless its declaration suppresses them (`~Copyable`, which the
# declaration line shows), and the one `Sendable` implies: listing them adds nothing.
IMPLICIT_PROTOCOLS = {"Swift.Copyable", "Swift.Escapable", "Swift.SendableMetatype"}


def text(fragments):
    """Declaration fragments joined as text, whitespace runs folded to one space."""
    return re.sub(r"\s+", " ", "".join(f["spelling"] for f in fragments)).strip()


def qualified(fragments, module):
    """The fragments with each type from another module spelled with its module's name, where the
    type's precise identifier names the module (`s:8SyncCore9JSONValueO`; the standard library's
    own abbreviations, such as `s:SS`, do not). For typealiases: what they alias is the point."""
    out = []
    for f in fragments:
        m = re.match(r"s:(\d+)", f.get("preciseIdentifier", "")) if f["kind"] == "typeIdentifier" else None
        if m:
            start = m.end()
            owner = f["preciseIdentifier"][start : start + int(m.group(1))]
            if owner != module and not f["spelling"].startswith(owner + "."):
                f = dict(f, spelling=f"{owner}.{f['spelling']}")
        out.append(f)
    return out


def constraints_text(constraints):
    parts = []
    for c in constraints or []:
        op = "==" if c["kind"] == "sameType" else ":"
        parts.append(f"{c['lhs']}{' ' if op == '==' else ''}{op} {c['rhs']}")
    return ", ".join(parts)


def version(v):
    return ".".join(str(v[k]) for k in ("major", "minor", "patch") if k in v)


def availability_text(entries):
    """`@available(...)` attributes as the source would spell them, in a stable order."""
    out = []
    for a in entries or []:
        args = [a.get("domain", "*")]
        if a.get("isUnconditionallyUnavailable"):
            args.append("unavailable")
        if a.get("isUnconditionallyDeprecated"):
            args.append("deprecated")
        for key in ("introduced", "deprecated", "obsoleted"):
            if key in a:
                args.append(f"{key}: {version(a[key])}")
        for key in ("renamed", "message"):
            if key in a:
                args.append(f"{key}: {json.dumps(a[key])}")
        out.append(f"@available({', '.join(args)})")
    return " ".join(sorted(out))


def location(symbol, root):
    loc = symbol.get("location")
    if not loc:
        return "?"
    path = loc["uri"].removeprefix("file://")
    if path.startswith(root + "/"):
        path = path[len(root) + 1 :]
    return f"{path}:{loc['position']['line'] + 1}"


def main():
    module, graph_dir, listing_out, undocumented_out = sys.argv[1:5]
    root = os.getcwd()
    files = sorted(glob.glob(os.path.join(graph_dir, f"{module}.symbols.json")))
    files += sorted(glob.glob(os.path.join(graph_dir, f"{module}@*.symbols.json")))
    if not files:
        sys.exit(f"api_listing: no symbol graph for {module} in {graph_dir}")

    symbols = {}  # precise identifier -> symbol, over all of the module's graph files
    relationships = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            graph = json.load(f)
        for s in graph["symbols"]:
            symbols[s["identifier"]["precise"]] = s
        relationships += graph["relationships"]

    # A member that implements a protocol requirement or overrides a superclass member: its
    # relationship names the origin (`sourceOrigin`).
    implements = {r["source"]: r["sourceOrigin"]["displayName"] for r in relationships if "sourceOrigin" in r}
    # A protocol extension's implementation of the protocol's own requirement has the requirement's
    # path and declaration: marked, so the two lines differ.
    defaults = {r["source"] for r in relationships if r["kind"] == "defaultImplementationOf"}

    lines, undocumented = [], []
    for usr, s in symbols.items():
        kind = s["kind"]["identifier"].removeprefix("swift.")
        # Members the compiler copies onto a type from a protocol extension (`!=`, AsyncSequence's
        # `map`, …) are the protocol's API, listed (if at all) where the protocol is declared.
        # Extension blocks only name the external type a conformance or member belongs to.
        if "::SYNTHESIZED::" in usr or kind == "extension":
            continue
        path = ".".join(s["pathComponents"])
        fragments = s["declarationFragments"]
        declaration = text(qualified(fragments, module) if kind == "typealias" else fragments)
        if s.get("accessLevel") == "open":
            declaration = "open " + declaration
        extra = ["[default implementation]"] if usr in defaults else []
        ext_constraints = constraints_text((s.get("swiftExtension") or {}).get("constraints"))
        if ext_constraints:
            extra.append(f"[in extension where {ext_constraints}]")
        availability = availability_text(s.get("availability"))
        if availability:
            extra.append(availability)
        lines.append((path, " ".join([kind, path, declaration] + extra)))

        # The rule is in scripts/api-check's header. A doc comment from another module can only
        # be one inherited from what the symbol implements or overrides.
        doc = s.get("docComment") or {}
        if kind == "enum.case" or (doc.get("lines") and (usr in implements or doc.get("module", module) == module)):
            continue
        why = f" (implements {implements[usr]}, which has no documentation to inherit)" if usr in implements else ""
        undocumented.append(f"{location(s, root)}: {kind} {path}{why}")

    conformances = set()
    for r in relationships:
        if r["kind"] != "conformsTo":
            continue
        source = symbols.get(r["source"])
        if source is None:
            continue
        target = symbols.get(r["target"])
        protocol = ".".join(target["pathComponents"]) if target else r.get("targetFallback", r["target"])
        if protocol in IMPLICIT_PROTOCOLS:
            continue
        where = constraints_text(r.get("swiftConstraints") or (source.get("swiftExtension") or {}).get("constraints"))
        path = ".".join(source["pathComponents"])
        line = f"conformance {path}: {protocol}" + (f" where {where}" if where else "")
        if (path, line) not in conformances:
            conformances.add((path, line))
            lines.append((path, line))

    # Ordered by path, so that a type is followed by its conformances and then its members; then
    # by line, in code-point order whatever the locale. Symbols may repeat a line (overloads that
    # differ only where the listing does not look); a conformance is listed once.
    def order(entry):
        path, line = entry
        return (path, line.startswith("conformance "), line)

    with open(listing_out, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for _, line in sorted(lines, key=order))
    with open(undocumented_out, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in sorted(undocumented))
    print(f"{len(lines) - len(conformances)} public symbols, {len(conformances)} conformances")


if __name__ == "__main__":
    main()
