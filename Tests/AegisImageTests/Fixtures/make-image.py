#!/usr/bin/env python3
"""make-image.py — builds OCI image layouts for the image tests, hostile ones included.

Each --layer is a JSON file holding a list of tar entries, written in order exactly as given
(no sanitising: "../x", "/abs", links anywhere are the point of some tests):
  {"path": "etc/hello", "type": "file", "content": "hi\\n", "mode": 420, "uid": 0, "gid": 0,
   "mtime": 1700000000, "xattrs": {"user.k": "v"}}
  {"path": "bin", "type": "dir"}            {"path": "lib", "type": "symlink", "target": "usr/lib"}
  {"path": "x", "type": "hardlink", "target": "etc/hello"}    {"path": "p", "type": "fifo"}
  {"path": "dev/null", "type": "char", "major": 1, "minor": 3}
  {"path": "big", "type": "zeros", "size": 1048576}          (a regular file of that many zeros)
--layer-tar FILE adds a ready-made (uncompressed) tar as the next layer (e.g. GNU sparse from tar).

Usage: make-image.py OUT_LAYOUT --tag latest --layer l1.json [--layer-tar t.tar] ...
       [--compression gzip|zstd|none] [--docker] [--platforms linux/amd64,linux/arm64]
       [--env K=V ...] [--cmd JSON] [--entrypoint JSON] [--workdir DIR] [--user U]
       [--archive FILE.tar]  (also write the layout as an oci-archive tar) [--wrong-diff-id]
Prints the manifest digest (of the first platform) on stdout.
"""
import argparse, gzip, hashlib, io, json, os, subprocess, sys, tarfile

def add_blob(out, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)

def layer_tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e["path"])
            info.mode = e.get("mode", 0o755 if e["type"] == "dir" else 0o644)
            info.uid, info.gid = e.get("uid", 0), e.get("gid", 0)
            info.mtime = e.get("mtime", 1700000000)
            if "xattrs" in e:
                info.pax_headers = {"SCHILY.xattr." + k: v for k, v in e["xattrs"].items()}
            t = e["type"]
            data = None
            if t == "file":
                data = e.get("content", "").encode()
                info.size = len(data)
            elif t == "zeros":
                info.size = e["size"]
            elif t == "dir":
                info.type = tarfile.DIRTYPE
            elif t == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e["target"]
            elif t == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, e["target"]
            elif t == "fifo":
                info.type = tarfile.FIFOTYPE
            elif t == "char":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, e.get("major", 1), e.get("minor", 3)
            else:
                sys.exit("make-image: unknown entry type " + t)
            if t == "zeros":
                tar.addfile(info, ZeroReader(info.size))
            else:
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()

class ZeroReader:
    def __init__(self, n): self.left = n
    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)

def compress(data, how):
    if how == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, stdout=subprocess.PIPE, check=True).stdout
    return data

def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--tag", default="latest")
    p.add_argument("--layer", action="append", default=[], dest="layers")
    p.add_argument("--layer-tar", action="append", default=[], dest="layers_tar")
    p.add_argument("--compression", default="gzip", choices=["gzip", "zstd", "none"])
    p.add_argument("--docker", action="store_true")
    p.add_argument("--platforms", default="linux/amd64")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--cmd")
    p.add_argument("--entrypoint")
    p.add_argument("--workdir")
    p.add_argument("--user")
    p.add_argument("--archive")
    p.add_argument("--wrong-diff-id", action="store_true", help="the config lies about layer 1's uncompressed digest")
    a = p.parse_args()
    os.makedirs(os.path.join(a.out, "blobs", "sha256"), exist_ok=True)
    layers = []
    for spec in a.layers:
        with open(spec) as f:
            layers.append(layer_tar(json.load(f)))
    for t in a.layers_tar:
        with open(t, "rb") as f:
            layers.append(f.read())
    if a.docker and a.compression != "gzip":
        sys.exit("make-image: Docker media types need gzip layers")
    layer_type = {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
                  "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
                  "none": "application/vnd.oci.image.layer.v1.tar"}[a.compression]
    if a.docker:
        layer_type = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    layer_descs, diff_ids = [], []
    for raw in layers:
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        d, n = add_blob(a.out, compress(raw, a.compression))
        layer_descs.append({"mediaType": layer_type, "digest": d, "size": n})
    if a.wrong_diff_id:
        diff_ids[0] = "sha256:" + hashlib.sha256(b"not this layer").hexdigest()
    manifests = []
    for plat in a.platforms.split(","):
        os_, arch = plat.split("/")
        conf = {}
        if a.env: conf["Env"] = a.env
        if a.cmd: conf["Cmd"] = json.loads(a.cmd)
        if a.entrypoint: conf["Entrypoint"] = json.loads(a.entrypoint)
        if a.workdir: conf["WorkingDir"] = a.workdir
        if a.user: conf["User"] = a.user
        config = {"architecture": arch, "os": os_, "config": conf,
                  "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        cd, cn = add_blob(a.out, json.dumps(config, sort_keys=True).encode())
        manifest = {"schemaVersion": 2,
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json" if a.docker
                    else "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.docker.container.image.v1+json" if a.docker
                               else "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
                    "layers": layer_descs}
        md, mn = add_blob(a.out, json.dumps(manifest, sort_keys=True).encode())
        manifests.append({"mediaType": manifest["mediaType"], "digest": md, "size": mn,
                          "platform": {"architecture": arch, "os": os_}})
    index_path = os.path.join(a.out, "index.json")
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != a.tag]
    if len(manifests) == 1:
        entry = dict(manifests[0])
    else:
        nested = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
        nd, nn = add_blob(a.out, json.dumps(nested, sort_keys=True).encode())
        entry = {"mediaType": nested["mediaType"], "digest": nd, "size": nn}
    entry["annotations"] = {"org.opencontainers.image.ref.name": a.tag}
    index["manifests"].append(entry)
    with open(index_path, "w") as f:
        json.dump(index, f, sort_keys=True)
    with open(os.path.join(a.out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    if a.archive:
        with tarfile.open(a.archive, "w") as tar:
            for name in sorted(os.listdir(a.out)):
                tar.add(os.path.join(a.out, name), arcname=name)
    print(manifests[0]["digest"])

main()
