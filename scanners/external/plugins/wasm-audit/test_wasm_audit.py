"""Tests of wasm-audit on WebAssembly binaries assembled by hand, and on a layout on disk.

Run: python3 -m unittest discover -s scanners/external/plugins/wasm-audit
"""

import hashlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("wasm_audit", os.path.join(HERE, "wasm_audit.py"))
wa = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wa)


def uleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def name(s):
    b = s.encode()
    return uleb(len(b)) + b


def section(sid, body):
    return bytes([sid]) + uleb(len(body)) + body


def module(imports=(), exports=(), start=False):
    """A valid core module: one type `() -> ()`, the given function imports, one defined
    function, the given exports (all of that function), optionally a start section."""
    types = section(1, uleb(1) + b"\x60\x00\x00")
    imp = section(2, uleb(len(imports)) + b"".join(name(m) + name(n) + b"\x00" + uleb(0) for m, n in imports))
    funcs = section(3, uleb(1) + uleb(0))
    exp = section(7, uleb(len(exports)) + b"".join(name(e) + b"\x00" + uleb(len(imports)) for e in exports))
    st = section(8, uleb(len(imports))) if start else b""
    code = section(10, uleb(1) + uleb(2) + b"\x00\x0b")
    return b"\0asm\x01\0\0\0" + types + imp + funcs + exp + st + code


def component(core_modules, import_names=()):
    imports = section(10, uleb(len(import_names)) + b"".join(b"\x00" + name(n) + b"\x05\x00" for n in import_names))
    return b"\0asm\x0d\0\x01\0" + imports + b"".join(section(1, m) for m in core_modules)


def ids(findings):
    return {f["id"]: f["severity"] for f in findings}


class ParseTest(unittest.TestCase):
    def test_imports_exports_and_start(self):
        m = wa.parse(module([("wasi_snapshot_preview1", "fd_write")], ["_start", "run"], start=True))
        self.assertEqual(m["imports"], [{"module": "wasi_snapshot_preview1", "name": "fd_write", "kind": "func"}])
        self.assertEqual([e["name"] for e in m["exports"]], ["_start", "run"])
        self.assertTrue(m["start_function"])

    def test_truncated_and_garbage_are_malformed(self):
        good = module([("env", "f")], ["x"])
        for bad in [good[:-3], good[:12], b"\0asm\x01\0\0\0\x02\xff\xff\xff\xff\x0f", b"MZ\x90\0", b"\0asm\x02\0\0\0"]:
            with self.assertRaises(wa.Malformed, msg=bad[:16]):
                wa.parse(bad)

    def test_too_many_imports_is_malformed_not_a_memory_bomb(self):
        data = b"\0asm\x01\0\0\0" + section(2, uleb(10_000_000))
        with self.assertRaises(wa.Malformed):
            wa.parse(data)


class AuditTest(unittest.TestCase):
    def test_capabilities_and_severities(self):
        m = wa.parse(
            module(
                [
                    ("wasi_snapshot_preview1", "sock_accept"),
                    ("wasi_snapshot_preview1", "path_open"),
                    ("wasi_snapshot_preview1", "path_unlink_file"),
                    ("wasi_snapshot_preview1", "environ_get"),
                    ("wasi_snapshot_preview1", "fd_write"),
                    ("wasmedge_process", "wasmedge_process_run"),
                    ("env", "host_log"),
                ]
            )
        )
        f = ids(wa.audit(m, "sha256:x"))
        self.assertEqual(
            f,
            {
                "WASM-PROC-001": "critical",
                "WASM-NET-001": "high",
                "WASM-FS-002": "medium",
                "WASM-ENV-001": "low",
                "WASM-HOST-001": "low",
            },
        )
        self.assertEqual(ids(wa.audit(m, "x", strict=True))["WASM-HOST-001"], "medium")
        self.assertNotIn("WASM-HOST-001", ids(wa.audit(m, "x", allowed={"env"})))

    def test_a_plain_wasi_command_is_quiet(self):
        m = wa.parse(module([("wasi_snapshot_preview1", "fd_write"), ("wasi_snapshot_preview1", "proc_exit")], ["_start"]))
        self.assertEqual(wa.audit(m, "x"), [])

    def test_components_are_audited_through_their_interfaces_and_core_modules(self):
        c = wa.parse(
            component(
                [module([("wasi:filesystem/types@0.2.0", "[method]descriptor.write")])],
                ["wasi:sockets/tcp@0.2.0", "wasi:cli/stdout@0.2.0"],
            )
        )
        self.assertEqual(c["kind"], "component")
        self.assertIn("wasi:sockets/tcp@0.2.0", c["interfaces"])
        f = ids(wa.audit(c, "x"))
        self.assertEqual(f["WASM-NET-001"], "high")
        self.assertEqual(f["WASM-FS-002"], "medium")


class LayoutTest(unittest.TestCase):
    def write_layout(self, root, layers):
        os.makedirs(os.path.join(root, "blobs", "sha256"))

        def put(data):
            d = hashlib.sha256(data).hexdigest()
            with open(os.path.join(root, "blobs", "sha256", d), "wb") as f:
                f.write(data)
            return {"digest": "sha256:" + d, "size": len(data)}

        config = dict(put(b"{}"), mediaType="application/vnd.wasm.config.v0+json")
        manifest = {
            "schemaVersion": 2,
            "config": config,
            "layers": [dict(put(data), mediaType=mt) for mt, data in layers],
        }
        m = put(json.dumps(manifest).encode())
        with open(os.path.join(root, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": [m]}, f)
        return manifest

    def test_the_plugin_reads_the_layout_and_prints_the_result(self):
        with tempfile.TemporaryDirectory() as root:
            manifest = self.write_layout(
                root,
                [
                    ("application/vnd.wasm.content.layer.v1+wasm", module([("wasi_snapshot_preview1", "sock_send")], ["run"])),
                    ("application/octet-stream", b"not wasm"),
                    ("application/wasm", b"\0asm\x01\0\0\0\x07\x05"),
                ],
            )
            os.environ["REGSCAN_ARTIFACT_DIR"] = root
            out = io.StringIO()
            old_stdin = sys.stdin
            sys.stdin = io.StringIO("{}")
            try:
                with redirect_stdout(out):
                    self.assertEqual(wa.main([]), 0)
            finally:
                sys.stdin = old_stdin
                del os.environ["REGSCAN_ARTIFACT_DIR"]
            result = json.loads(out.getvalue())
            self.assertEqual(ids(result["findings"]), {"WASM-NET-001": "high", "WASM-BAD-001": "medium"})
            layers = result["details"]["layers"]
            self.assertEqual(len(layers), 2, layers)
            self.assertEqual(layers[0]["exports"], [{"name": "run", "kind": "func"}])
            self.assertEqual(layers[0]["digest"], manifest["layers"][0]["digest"])

    def test_no_wasm_layer_is_said(self):
        with tempfile.TemporaryDirectory() as root:
            self.write_layout(root, [("application/octet-stream", b"x")])
            self.assertEqual(ids(wa.run(root)["findings"]), {"WASM-NONE-001": "unknown"})


if __name__ == "__main__":
    unittest.main()
