#!/usr/bin/env python3
"""wasm-audit: a regscan external scanner plugin for WebAssembly artifacts.

Reads the artifact regscan wrote as an OCI image layout in $REGSCAN_ARTIFACT_DIR, finds its
WebAssembly layers (by media type, or by the `\\0asm` magic), parses each module's import and
export sections (and, for components, the core modules nested inside them and the interfaces
the component imports), and reports the host capabilities the module asks for:

  WASM-PROC-001  critical  runs host processes (wasmedge_process, WASIX proc_exec/proc_spawn/...)
  WASM-NET-001   high      opens network sockets or makes outgoing HTTP requests
  WASM-FS-002    medium    modifies the filesystem (unlink, rename, mkdir, symlink, ...)
  WASM-FS-001    low       opens or lists files in preopened directories
  WASM-ENV-001   low       reads environment variables (where secrets often live)
  WASM-HOST-001  low       imports from a host module outside WASI (medium with --strict)
  WASM-BAD-001   medium    a WebAssembly layer that does not parse (could not be audited)
  WASM-NONE-001  unknown   no WebAssembly layer at all (nothing was audited)

Every import and export is listed in `details`. Standard library only; Python 3.8+.

Options:
  --strict              host imports outside WASI are medium instead of low
  --allow-module NAME   do not report imports from host module NAME (repeatable)
  --max-module-bytes N  refuse to parse a layer larger than N bytes (default 64 MiB)

Contract (regscan README, "External scanner plugins"): one JSON object on stdout, exit 0; on a
failure of the plugin itself, a message on stderr and exit 1.
"""

import argparse
import json
import os
import re
import sys

VERSION = "1.0"
WASM_LAYER_TYPES = {
    "application/vnd.wasm.content.layer.v1+wasm",
    "application/wasm",
    "application/vnd.module.wasm.content.layer.v1+wasm",
    "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm",
}
MAGIC = b"\0asm"
MODULE_VERSION = b"\x01\0\0\0"
COMPONENT_VERSION = b"\x0d\0\x01\0"
WASI_MODULES = {"wasi_snapshot_preview1", "wasi_unstable", "wasi", "wasi_snapshot_preview2"}
WASIX_MODULES = {"wasix_32v1", "wasix_64v1"}
MAX_LISTED = 1000  # imports/exports listed per module in details
MAX_DEPTH = 4  # nesting of components
MAX_ITEMS = 100_000  # imports or exports of one module; no real module comes near

IMPORT_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}

FS_READ = {"path_open", "fd_readdir", "path_filestat_get", "path_readlink"}
FS_WRITE = {
    "path_unlink_file",
    "path_remove_directory",
    "path_rename",
    "path_create_directory",
    "path_symlink",
    "path_link",
    "path_filestat_set_times",
}
ENV = {"environ_get", "environ_sizes_get"}
PROC_MODULES = {"wasmedge_process"}
PROC_FUNCS = {"proc_exec", "proc_exec2", "proc_exec3", "proc_spawn", "proc_fork", "proc_spawn2"}
NET_MODULES = {"wasi_experimental_http", "wasmedge_httpsreq", "wasmedge_wasi_socket"}
INTERFACE_RE = re.compile(rb"[a-z][a-z0-9-]*:[a-z][a-z0-9-]*/[a-z][a-z0-9-]*(?:@[0-9A-Za-z.+-]+)?")


class Malformed(Exception):
    """The bytes are not a well-formed WebAssembly binary."""


class Reader:
    """Bounded reads over a bytes object; every overrun is Malformed, never an IndexError."""

    def __init__(self, data, pos=0, end=None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def byte(self):
        if self.pos >= self.end:
            raise Malformed("unexpected end at offset %d" % self.pos)
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self, bits=32):
        result, shift = 0, 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
            if shift >= bits + 7:
                raise Malformed("LEB128 integer too long at offset %d" % self.pos)
        if result >= 1 << bits:
            raise Malformed("LEB128 integer out of range at offset %d" % self.pos)
        return result

    def take(self, n):
        if n < 0 or self.pos + n > self.end:
            raise Malformed("length %d runs past the end at offset %d" % (n, self.pos))
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def name(self):
        raw = self.take(self.uleb())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed("name is not UTF-8 at offset %d" % self.pos)

    def limits(self):
        flags = self.byte()
        if flags > 0x07:
            raise Malformed("bad limits flags 0x%02x" % flags)
        bits = 64 if flags & 0x04 else 32
        self.uleb(bits)
        if flags & 0x01:
            self.uleb(bits)

    def done(self):
        return self.pos >= self.end


def parse_module(data):
    """Parse a core module: imports, exports, start function, producers."""
    if data[:4] != MAGIC or data[4:8] != MODULE_VERSION:
        raise Malformed("not a WebAssembly core module (bad magic or version)")
    r = Reader(data, 8)
    out = {"kind": "module", "imports": [], "exports": [], "start_function": False, "producers": {}}
    while not r.done():
        sid = r.byte()
        size = r.uleb()
        body = Reader(data, r.pos, r.pos + size)
        r.take(size)
        if sid == 2:
            count = body.uleb()
            if count > MAX_ITEMS:
                raise Malformed("%d imports (more than %d)" % (count, MAX_ITEMS))
            for _ in range(count):
                module, name = body.name(), body.name()
                kind = body.byte()
                if kind == 0:
                    body.uleb()
                elif kind == 1:
                    body.byte()
                    body.limits()
                elif kind == 2:
                    body.limits()
                elif kind == 3:
                    body.byte()
                    body.byte()
                elif kind == 4:
                    body.byte()
                    body.uleb()
                else:
                    raise Malformed("unknown import kind 0x%02x for %s.%s" % (kind, module, name))
                out["imports"].append({"module": module, "name": name, "kind": IMPORT_KINDS[kind]})
        elif sid == 7:
            count = body.uleb()
            if count > MAX_ITEMS:
                raise Malformed("%d exports (more than %d)" % (count, MAX_ITEMS))
            for _ in range(count):
                name = body.name()
                kind = body.byte()
                if kind not in IMPORT_KINDS:
                    raise Malformed("unknown export kind 0x%02x for %s" % (kind, name))
                body.uleb()
                out["exports"].append({"name": name, "kind": IMPORT_KINDS[kind]})
        elif sid == 8:
            out["start_function"] = True
        elif sid == 0:
            custom = body.name()
            if custom == "producers":
                try:
                    for _ in range(body.uleb()):
                        field = body.name()
                        out["producers"][field] = [
                            {"name": body.name(), "version": body.name()} for _ in range(body.uleb())
                        ]
                except Malformed:
                    pass  # a custom section may be anything; it does not make the module invalid
        elif sid > 12:
            raise Malformed("unknown section id %d" % sid)
    return out


def parse_component(data, depth=0):
    """Parse a component: the interfaces it imports and the core modules nested inside it."""
    if depth > MAX_DEPTH:
        raise Malformed("components nested more than %d deep" % MAX_DEPTH)
    r = Reader(data, 8)
    out = {"kind": "component", "interfaces": [], "modules": []}
    while not r.done():
        sid = r.byte()
        size = r.uleb()
        body = r.take(size)
        if sid == 1:
            out["modules"].append(parse_module(body))
        elif sid == 4:
            nested = parse_component(body, depth + 1)
            out["interfaces"].extend(nested["interfaces"])
            out["modules"].extend(nested["modules"])
        elif sid == 10:
            # Import names are plain strings in the section; the interface names are what matter.
            for m in INTERFACE_RE.finditer(body):
                name = m.group(0).decode("ascii")
                if name not in out["interfaces"]:
                    out["interfaces"].append(name)
    return out


def parse(data):
    if data[:4] != MAGIC:
        raise Malformed("no WebAssembly magic")
    if data[4:8] == COMPONENT_VERSION:
        return parse_component(data)
    return parse_module(data)


def imports_of(parsed):
    """All (module, name) imports of a module or of every core module in a component, plus the
    component's interfaces as (interface, '')."""
    if parsed["kind"] == "module":
        return [(i["module"], i["name"]) for i in parsed["imports"]]
    found = [(i, "") for i in parsed["interfaces"]]
    for m in parsed["modules"]:
        found.extend((i["module"], i["name"]) for i in m["imports"])
    return found


def is_wasi(module):
    return module in WASI_MODULES or module.startswith("wasi:")


def wasi_like(module):
    return is_wasi(module) or module in WASIX_MODULES


# (id, severity, title, does this import match, remediation, unless this rule matched too)
RULES = [
    (
        "WASM-PROC-001",
        "critical",
        "Module can run host processes, escaping the WebAssembly sandbox",
        lambda m, n: m in PROC_MODULES or (n in PROC_FUNCS and wasi_like(m)),
        "Do not grant process capabilities; run the module in a runtime without them.",
        None,
    ),
    (
        "WASM-NET-001",
        "high",
        "Module can open network connections",
        lambda m, n: m in NET_MODULES
        or m.startswith(("wasi:sockets", "wasi:http/outgoing-handler"))
        or (n.startswith("sock_") and wasi_like(m)),
        "Run it without network capabilities unless it needs them.",
        None,
    ),
    (
        "WASM-FS-002",
        "medium",
        "Module can modify the filesystem it is given",
        lambda m, n: (n in FS_WRITE and wasi_like(m)) or m.startswith("wasi:filesystem"),
        "Preopen directories read-only, or none.",
        None,
    ),
    (
        "WASM-FS-001",
        "low",
        "Module can open and list files in preopened directories",
        lambda m, n: n in FS_READ and wasi_like(m),
        None,
        "WASM-FS-002",
    ),
    (
        "WASM-ENV-001",
        "low",
        "Module reads environment variables",
        lambda m, n: (n in ENV and wasi_like(m)) or m.startswith("wasi:cli/environment"),
        "Pass it only the variables it needs; never secrets.",
        None,
    ),
]


def audit(parsed, location, strict=False, allowed=()):
    """Findings for one parsed layer."""
    imports = imports_of(parsed)
    findings = []

    def finding(fid, severity, title, names, package=None, remediation=None):
        shown = sorted(set(names))
        listed = ", ".join(shown[:8]) + (", …" if len(shown) > 8 else "")
        findings.append(
            {
                "id": fid,
                "severity": severity,
                "title": "%s (%s)" % (title, listed) if listed else title,
                "package": package,
                "installed_version": None,
                "fixed_version": None,
                "location": location,
                "references": ["https://github.com/WebAssembly/WASI"],
                "remediation": remediation,
            }
        )

    matched = set()
    for fid, severity, title, matches, remediation, unless in RULES:
        names = [("%s.%s" % (m, n)) if n else m for m, n in imports if matches(m, n)]
        if names and unless not in matched:
            matched.add(fid)
            finding(fid, severity, title, names, remediation=remediation)
    hosts = {}
    for m, n in imports:
        if wasi_like(m) or m in PROC_MODULES or m in NET_MODULES or m in allowed:
            continue
        if ":" in m and "/" in m:
            continue  # a component interface other than WASI: listed in details
        hosts.setdefault(m, []).append(n)
    for module, names in sorted(hosts.items()):
        finding(
            "WASM-HOST-001",
            "medium" if strict else "low",
            "Module imports %d item(s) from host module %r, outside WASI" % (len(names), module),
            names,
            package=module,
            remediation="Check what the host provides under this module; allow it with --allow-module.",
        )
    return findings


def describe(parsed):
    """The details entry of a parsed layer, lists truncated to MAX_LISTED."""
    if parsed["kind"] == "module":
        d = {
            "kind": "module",
            "imports": parsed["imports"][:MAX_LISTED],
            "import_count": len(parsed["imports"]),
            "exports": parsed["exports"][:MAX_LISTED],
            "export_count": len(parsed["exports"]),
            "start_function": parsed["start_function"],
        }
        if parsed["producers"]:
            d["producers"] = parsed["producers"]
        return d
    return {
        "kind": "component",
        "interfaces": parsed["interfaces"][:MAX_LISTED],
        "modules": [describe(m) for m in parsed["modules"][:MAX_LISTED]],
    }


def blob_path(root, digest):
    alg, _, hexd = digest.partition(":")
    if alg not in ("sha256", "sha512") or not re.fullmatch(r"[0-9a-f]{64}|[0-9a-f]{128}", hexd):
        raise ValueError("unexpected digest %r" % digest)
    return os.path.join(root, "blobs", alg, hexd)


def run(root, strict=False, allowed=(), max_module_bytes=64 << 20):
    with open(os.path.join(root, "index.json"), "rb") as f:
        index = json.load(f)
    with open(blob_path(root, index["manifests"][0]["digest"]), "rb") as f:
        manifest = json.load(f)
    findings, layers = [], []
    for layer in manifest.get("layers", []):
        digest, media_type, size = layer["digest"], layer.get("mediaType", ""), layer.get("size", 0)
        path = blob_path(root, digest)
        with open(path, "rb") as f:
            head = f.read(8)
        if media_type not in WASM_LAYER_TYPES and head[:4] != MAGIC:
            continue
        entry = {"digest": digest, "media_type": media_type, "size": size}
        layers.append(entry)
        if size > max_module_bytes or os.path.getsize(path) > max_module_bytes:
            entry["error"] = "larger than --max-module-bytes (%d)" % max_module_bytes
            findings.append(bad(digest, entry["error"]))
            continue
        with open(path, "rb") as f:
            data = f.read(max_module_bytes + 1)
        try:
            parsed = parse(data)
        except Malformed as e:
            entry["error"] = str(e)
            findings.append(bad(digest, str(e)))
            continue
        entry.update(describe(parsed))
        findings.extend(audit(parsed, digest, strict, allowed))
    if not layers:
        findings.append(
            {
                "id": "WASM-NONE-001",
                "severity": "unknown",
                "title": "No WebAssembly layer in the artifact; nothing was audited",
                "location": None,
                "references": [],
            }
        )
    return {"findings": findings, "details": {"wasm_audit": VERSION, "strict": strict, "layers": layers}}


def bad(digest, why):
    return {
        "id": "WASM-BAD-001",
        "severity": "medium",
        "title": "WebAssembly layer could not be audited: %s" % why,
        "location": digest,
        "references": [],
    }


def main(argv=None):
    p = argparse.ArgumentParser(prog="wasm-audit", description=__doc__.split("\n\n")[0])
    p.add_argument("--strict", action="store_true")
    p.add_argument("--allow-module", action="append", default=[])
    p.add_argument("--max-module-bytes", type=int, default=64 << 20)
    args = p.parse_args(argv)
    root = os.environ.get("REGSCAN_ARTIFACT_DIR")
    if not root:
        print("wasm-audit: REGSCAN_ARTIFACT_DIR is not set (run me from regscan)", file=sys.stderr)
        return 1
    try:
        sys.stdin.read()  # the artifact description; the layout holds all we need
    except (OSError, ValueError):
        pass
    try:
        result = run(root, args.strict, set(args.allow_module), args.max_module_bytes)
    except (OSError, ValueError, KeyError, IndexError) as e:
        print("wasm-audit: cannot read the artifact layout in %s: %s" % (root, e), file=sys.stderr)
        return 1
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
