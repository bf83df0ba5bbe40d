#!/usr/bin/env python3
# make_corpus.py: writes the seed corpus of every fuzzer under corpus/<target>/: a handful of small
# valid inputs and edge cases each, so that a short run starts from the shapes that matter. Only
# Python's standard library (msgpack is encoded here). The output is committed; run this again
# after changing it (it rewrites the directories it owns) and commit the result.
import gzip
import io
import json
import os
import shutil
import struct
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
HEX = "0123456789abcdef" * 4
DIGEST = "sha256:" + HEX


# ---- msgpack (bytes are bin, str is str) ------------------------------------------------------

class Raw(bytes):
    """Bytes inserted as they are: hand-made, possibly malformed msgpack."""


def mp(v):
    if isinstance(v, Raw):
        return bytes(v)
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if 0 <= v < 1 << 8:
            return b"\xcc" + struct.pack(">B", v)
        if 0 <= v < 1 << 16:
            return b"\xcd" + struct.pack(">H", v)
        if 0 <= v < 1 << 32:
            return b"\xce" + struct.pack(">I", v)
        if v >= 0:
            return b"\xcf" + struct.pack(">Q", v)
        if v >= -(1 << 31):
            return b"\xd2" + struct.pack(">i", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        if len(b) < 256:
            return b"\xd9" + bytes([len(b)]) + b
        return b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(v, bytes):
        if len(v) < 256:
            return b"\xc4" + bytes([len(v)]) + v
        return b"\xc5" + struct.pack(">H", len(v)) + v
    if isinstance(v, (list, tuple)):
        head = bytes([0x90 | len(v)]) if len(v) < 16 else b"\xdc" + struct.pack(">H", len(v))
        return head + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        head = bytes([0x80 | len(v)]) if len(v) < 16 else b"\xde" + struct.pack(">H", len(v))
        return head + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)


def request(msgid, method, arg=None):
    return mp([0, msgid, method, [] if arg is None else [arg]])


def response(msgid, result, error=None):
    return mp([1, msgid, error, result])


def notification(method, arg):
    return mp([2, method, [arg]])


# ---- writing ----------------------------------------------------------------------------------

def write_corpus(target, files):
    d = os.path.join(CORPUS, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in files.items():
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def rpc_decode():
    spec = {"name": "web", "image": "busybox", "cmd": ["echo", "hi"], "env": ["A=1"],
            "cpus": 1.5, "memory": 268435456, "auto_remove": True,
            "mounts": [{"type": "volume", "source": "data", "target": "/data", "readonly": False}]}
    return {
        "ping": request(7, "system.ping"),
        "ping_answer": response(7, {}),
        "error_answer": response(0, None, {"code": 7, "message": "message is not an array"}),
        "unknown_code": response(3, None, {"code": 200, "message": 5}),
        "create": request(1, "container.create", spec),
        "exec": request(9, "container.exec", {"container": "web", "cmd": ["sh"], "tty": True,
                                              "rows": 24, "cols": 80}),
        "stream_data": notification("stream.data", {"stream_id": 1, "fd": 1,
                                                    "time": 1700000000000000000, "data": b"hi\n"}),
        "pipelined": request(1, "system.info") + request(2, "image.list") + request(3, "x")[:5],
        "stdin_chunk": request(4, "stream.stdin", {"stream_id": 2, "data": b"\x00" * 64}),
        "wrong_types": request(5, "container.stop", {"container": 17, "timeout": "ten"}),
        "two_params": mp([0, 6, "system.ping", [{}, {}]]),
        "id_too_big": mp([0, 1 << 33, "system.ping", []]),
        "method_empty": mp([0, 1, "", []]),
        "params_map": mp([0, 1, "system.ping", {}]),
        "deep": mp([0, 1, "x", [Raw(b"\x91" * 40 + b"\xc0")]]),
        "huge_str_header": mp([0, 1, "x", [Raw(b"\xdb\xff\xff\xff\xff")]]),
        "huge_array_header": Raw(b"\xdd\xff\xff\xff\xff"),
        "ext_and_floats": mp([0, 2, "container.create",
                              [{"cpus": Raw(b"\xca\x7f\xc0\x00\x00"),
                                "memory": Raw(b"\xd4\x01\x02"), "name": Raw(b"\xc7\x03\x05abc")}]]),
        # Each limit of the harness's tight decoder (depth 4, 16 entries, 256 bytes), met and
        # exceeded by one.
        "depth_at_limit": mp([0, 1, "x", [[[1]]]]),
        "depth_over_limit": mp([0, 1, "x", [[[[1]]]]]),
        "entries_at_limit": mp([0, 1, "x", [list(range(16))]]),
        "entries_over_limit": mp([0, 1, "x", [list(range(17))]]),
        "blob_at_limit": mp([0, 1, "x", [b"b" * 256, "s" * 256]]),
        "blob_over_limit": mp([0, 1, "x", [b"b" * 257]]),
    }


def agent_decode():
    file_info = {"path": "/etc/passwd", "type": "file", "mode": 0o644, "uid": 0, "gid": 0,
                 "size": 42, "mtime_ns": 1700000000000000000, "link": ""}
    return {
        "version": request(1, "version", {"host_time_ns": 1700000000000000000}),
        "mount_root": request(2, "mount_root", {
            "image_serial": "image", "disk_serial": "rootfs", "readonly_root": True,
            "mounts": [{"type": "tmpfs", "source": "", "target": "/tmp", "readonly": False,
                        "options": "size=64m"}],
            "hostname": "web", "hosts": "127.0.0.1 localhost\n", "resolv_conf": ""}),
        "start": request(3, "start", {"id": "main", "args": ["/bin/sh", "-c", "echo hi"],
                                      "env": ["PATH=/bin"], "cwd": "/", "user": "1000:1000",
                                      "terminal": True, "rows": 24, "cols": 80, "join": ""}),
        "signal": request(4, "signal", {"id": "main", "signal": -9}),
        "stdin": request(5, "stdin", {"id": "main", "data": b"ls\n"}),
        "resize": request(6, "resize", {"id": "main", "rows": 70000, "cols": 80}),
        "read": request(7, "read", {"path": "/etc/passwd", "offset": 1 << 62, "length": 1 << 20}),
        "write": request(8, "write", {"path": "/tmp/x", "offset": 0, "data": "text as str",
                                      "create": True, "mode": 0o4755}),
        "mkdir": request(9, "mkdir", dict(file_info, type="dir", path="/new")),
        "network": request(10, "configure_network", {"interfaces": [
            {"mac": "02:42:0a:59:00:05", "address": "10.89.0.5", "prefix_len": 300,
             "gateway": "10.89.0.1", "mtu": 1500}]}),
        "version_answer": response(1, {"agent": "berth-init 0.1.0", "protocol": 2,
                                       "kernel": "6.1.0", "transport": "vsock",
                                       "uptime_ms": 12}),
        "list_answer": response(11, [file_info, dict(file_info, path="..", type="symlink",
                                                     link="/")]),
        "stats_answer": response(12, {"cpu_ns": 1, "cpus": 2, "memory_total": 1 << 30,
                                      "disks": [{"name": "rootfs", "read_bytes": 1}],
                                      "networks": None}),
        "read_answer": response(13, {"data": b"\x00\x01", "eof": True}),
        "output": notification("output", {"id": "main", "fd": 2, "data": b"err\n"}),
        "exit": notification("exit", {"id": "main", "exit_code": 137, "signal": 9}),
        "error_answer": response(14, None, {"code": 2, "message": "no process \"x\""}),
        "bare_file_info": mp(file_info),
        "bare_wrong_types": mp({"pid": "12", "id": ["main"], "fd": -1, "data": 5}),
        "bare_nested": mp({"interfaces": [[Raw(b"\x91" * 20 + b"\xc0")]]}),
    }


def descriptor(media_type, size=1234, **extra):
    d = {"mediaType": media_type, "digest": DIGEST, "size": size}
    d.update(extra)
    return d


def manifest():
    oci_m = "application/vnd.oci.image.manifest.v1+json"
    oci_i = "application/vnd.oci.image.index.v1+json"
    dk_m = "application/vnd.docker.distribution.manifest.v2+json"
    dk_l = "application/vnd.docker.distribution.manifest.list.v2+json"
    oci_c = "application/vnd.oci.image.config.v1+json"
    layer = "application/vnd.oci.image.layer.v1.tar+gzip"
    return {
        "oci_manifest.json": json.dumps({
            "schemaVersion": 2, "mediaType": oci_m, "config": descriptor(oci_c),
            "layers": [descriptor(layer), descriptor("application/vnd.oci.image.layer.v1.tar+zstd")],
            "annotations": {"org.opencontainers.image.ref.name": "latest"}}),
        "docker_manifest.json": json.dumps({
            "schemaVersion": 2, "mediaType": dk_m,
            "config": descriptor("application/vnd.docker.container.image.v1+json"),
            "layers": [descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip")]}),
        "oci_index.json": json.dumps({
            "schemaVersion": 2, "mediaType": oci_i, "manifests": [
                descriptor(oci_m, platform={"os": "linux", "architecture": "amd64"}),
                descriptor(oci_m, platform={"os": "linux", "architecture": "arm64", "variant": "v8"}),
                descriptor(oci_m, platform={"os": "unknown", "architecture": "unknown"},
                           annotations={"vnd.docker.reference.type": "attestation-manifest"})]}),
        "docker_list.json": json.dumps({
            "schemaVersion": 2, "mediaType": dk_l, "manifests": [
                descriptor(dk_m, platform={"os": "linux", "architecture": "arm", "variant": "v7"}),
                descriptor(dk_m, platform={"os": "linux", "architecture": "x86_64"})]}),
        "config.json": json.dumps({
            "created": "2024-01-01T10:00:00.123456789+01:00", "os": "linux",
            "architecture": "amd64",
            "config": {"Entrypoint": "/entry.sh", "Cmd": None, "Env": ["PATH=/bin"],
                       "WorkingDir": "/app", "User": "1000:1000", "StopSignal": "SIGINT",
                       "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}},
                       "Labels": {"a": "b"}},
            "rootfs": {"type": "layers", "diff_ids": [DIGEST]}}),
        "config_zero_time.json": json.dumps({
            "created": "0001-01-01T00:00:00Z", "config": {"Cmd": []},
            "rootfs": {"type": "layers", "diff_ids": []}}),
        "schema1.json": json.dumps({"schemaVersion": 1, "name": "x", "fsLayers": []}),
        "both_shapes.json": json.dumps({"schemaVersion": 2, "config": descriptor(oci_c),
                                        "layers": [], "manifests": []}),
        "bad_fields.json": json.dumps({
            "schemaVersion": 2, "config": {"mediaType": oci_c, "digest": "sha512:ab", "size": -1},
            "layers": [{"mediaType": layer, "digest": DIGEST, "size": 1.5}]}),
        "deep.json": "[" * 70 + "]" * 70,
        "unicode.json": '{"schemaVersion": 2, "mediaType": "\\ud800", "manifests": [], '
                        '"annotations": {"\\u0000": "\\u00e9"}}',
        "platform": "Linux/AArch64/V8",
    }


def reference():
    return {
        "short": "busybox",
        "tag": "busybox:1.36",
        "user": "user/app:1",
        "port": "localhost:5000/a/b:t",
        "digest": "host.example/x@" + DIGEST,
        "tag_and_digest": "busybox:1.36@" + DIGEST,
        "ipv6": "[::1]:5000/x:y",
        "hub_index": "index.docker.io/library/busybox",
        "upper_host": "Host/x",
        "separators": "a__b/c--d.e_f:T_1.0-rc",
        "image_id": HEX,
        "bad_algorithm": "x@sha512:" + HEX,
        "empty_tag": "x:",
        "dotted_hub_path": "docker.io/example.com/app",
        "localhost_hub_path": "docker.io/localhost/app:1",
    }


def tar_bytes(entries, compress=False):
    """entries: (name, kind, data_or_target, mode); kind f, d, l, h, c, p."""
    tarfile.RECORDSIZE = 512  # no padding to 10 KiB: keeps the seeds small
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, arg, mode in entries:
            info = tarfile.TarInfo(name)
            info.mode = mode
            info.mtime = 1700000000
            data = None
            if kind == "f":
                data = arg.encode()
                info.size = len(data)
            elif kind == "d":
                info.type = tarfile.DIRTYPE
            elif kind == "l":
                info.type = tarfile.SYMTYPE
                info.linkname = arg
            elif kind == "h":
                info.type = tarfile.LNKTYPE
                info.linkname = arg
            elif kind == "c":
                info.type = tarfile.CHRTYPE
                info.devmajor, info.devminor = 1, 3
            elif kind == "p":
                info.type = tarfile.FIFOTYPE
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    out = buf.getvalue()
    return gzip.compress(out, mtime=0) if compress else out


def unpack():
    base = [("etc", "d", None, 0o755), ("etc/passwd", "f", "root:x:0:0::/root:/bin/sh\n", 0o644),
            ("bin", "d", None, 0o755), ("bin/sh", "f", "#!\n", 0o4755),
            ("bin/ash", "h", "bin/sh", 0o755), ("usr", "l", "/", 0o777),
            ("dev/null", "c", None, 0o666), ("run/fifo", "p", None, 0o600)]
    return {
        "base.tar": tar_bytes(base),
        "base.tar.gz": tar_bytes(base, compress=True),
        "dotdot.tar": tar_bytes([("../../../escape", "f", "x", 0o644)]),
        "absolute.tar": tar_bytes([("/etc/abs", "f", "x", 0o644), ("./.", "d", None, 0o700)]),
        "symlink_parent.tar": tar_bytes([("up", "l", "../../../..", 0o777),
                                         ("up/escape", "f", "x", 0o644)]),
        "hardlink_out.tar": tar_bytes([("h", "h", "../../../../blobs/layer0", 0o644)]),
        "long_name.tar": tar_bytes([("d/" * 60 + "f", "f", "x", 0o644)]),
        "whiteouts.script": "#!layers\n"
                            "d755 a\nf a/keep k\nf a/gone g\nd b\nf b/old o\n"
                            "---\n"
                            "f a/.wh.gone \nf b/.wh..wh..opq \nf b/new n\nf .wh.missing \n",
        "escapes.script": "#!layers\n"
                          "l link ../../..\nl abs /\nd dir\n"
                          "---\n"
                          "f link/out x\nf abs/etc/out x\nh hard ../outside\nh hard2 dir\n"
                          "---\n"
                          "f dir/x x\nl dir/x/y z\nf . root\nd ..\nh self self\n",
        # An entry the disk refuses (a symlink with an empty target; see unpack_test.cpp).
        "unwritable.script": "#!layers\n"
                             "d d\nl d/a x\nl d/broken-link-with-a-long-name \n",
        "replace.script": "#!layers\n"
                          "d a\nf a/f 1\nl s a\n"
                          "---\n"
                          "f a x\nd s\nf s/in y\nh a/h a\nc dev\np fifo\nf0 zero\n",
    }


def main():
    write_corpus("rpc_decode", rpc_decode())
    write_corpus("agent_decode", agent_decode())
    write_corpus("manifest", manifest())
    write_corpus("reference", reference())
    write_corpus("unpack", unpack())


if __name__ == "__main__":
    main()
