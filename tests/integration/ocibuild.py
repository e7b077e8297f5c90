# SPDX-License-Identifier: MIT
"""Build OCI image layouts, oci-archives and docker-archives for tests, offline.

Everything is made with tarfile/gzip/json/hashlib (zstd through the `zstd` CLI) and is
reproducible: members carry a fixed mtime, gzip has no timestamp and JSON is written compactly
with sorted keys, so the same entries always give the same digests.

    layer = build_layer([Dir("data"), File("data/a", b"hello\\n")], compression="gzip")
    image = build_image([busybox_layer(), layer], arch="amd64", cmd=["/bin/sh"])
    layout = Layout(tmp / "oci")
    layout.add(image, ref="latest")            # then `skopeo copy oci:DIR:latest ...`
    write_oci_archive(layout.path, tmp / "img-oci.tar")
    write_docker_archive(image, tmp / "img-docker.tar", ["imgd-test/img:latest"])

Entries: File, Dir, Symlink, Hardlink, CharDev, BlockDev, Fifo, Whiteout (`<dir>/.wh.<name>`),
Opaque (`<dir>/.wh..wh..opq`) and Raw (any tar member, name and link written verbatim, for
malicious layers such as `../escape` or `/abs`). merged_view() applies layers the way a
conforming puller must, which gives the expected root filesystem of an image.
"""
import copy
import functools
import gzip
import hashlib
import io
import json
import posixpath
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

EPOCH = 1700000000  # mtime of every member (2023-11-14T22:13:20Z): reproducible digests
CREATED = "2023-11-14T22:13:20Z"

# Media types.
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
IN_TOTO = "application/vnd.in-toto+json"
REF_NAME = "org.opencontainers.image.ref.name"

LAYER_TYPES = {
    ("oci", "none"): OCI_LAYER, ("oci", "gzip"): OCI_LAYER_GZIP, ("oci", "zstd"): OCI_LAYER_ZSTD,
    ("docker", "none"): DOCKER_LAYER, ("docker", "gzip"): DOCKER_LAYER_GZIP,
    ("docker", "zstd"): DOCKER_LAYER_ZSTD,
}
MANIFEST_TYPES = {"oci": OCI_MANIFEST, "docker": DOCKER_MANIFEST}
CONFIG_TYPES = {"oci": OCI_CONFIG, "docker": DOCKER_CONFIG}
INDEX_TYPES = {"oci": OCI_INDEX, "docker": DOCKER_LIST}

BUSYBOX = Path("/bin/busybox")
BUSYBOX_APPLETS = ("sh", "ls", "cat", "echo", "true", "sleep", "id")


def sha256(data):
    """The digest string `sha256:<hex>` of bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj):
    """Compact JSON with sorted keys, as bytes (what every manifest/config here is made of)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------------------------
# Layer entries


@dataclass
class Entry:
    """One tar member: a TarInfo (its name already final) and the data of a regular file."""
    info: tarfile.TarInfo
    data: bytes = b""
    verbatim: bool = False  # a Raw member: never rewritten (dot_prefix)

    @property
    def path(self):
        """The member's path normalised like a puller should: no leading `/` or `./`."""
        return _norm(self.info.name)


def _norm(name):
    name = posixpath.normpath("/" + name).lstrip("/")
    return name or "."


def _info(path, kind, mode, uid=0, gid=0, mtime=EPOCH, verbatim=False):
    ti = tarfile.TarInfo(path if verbatim else _norm(path))
    ti.type = kind
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.uname = ti.gname = "root" if uid == 0 and gid == 0 else ""
    ti.mtime = mtime
    return ti


def File(path, content=b"", mode=0o644, uid=0, gid=0, mtime=EPOCH):
    """A regular file (content: bytes or str)."""
    if isinstance(content, str):
        content = content.encode()
    ti = _info(path, tarfile.REGTYPE, mode, uid, gid, mtime)
    ti.size = len(content)
    return Entry(ti, content)


def Dir(path, mode=0o755, uid=0, gid=0, mtime=EPOCH):
    """A directory."""
    return Entry(_info(path, tarfile.DIRTYPE, mode, uid, gid, mtime))


def Symlink(path, target, uid=0, gid=0):
    """A symbolic link; the target is written as given (absolute or relative)."""
    ti = _info(path, tarfile.SYMTYPE, 0o777, uid, gid)
    ti.linkname = target
    return Entry(ti)


def Hardlink(path, target, uid=0, gid=0):
    """A hard link to another member of the image (`target` is an archive path)."""
    ti = _info(path, tarfile.LNKTYPE, 0o644, uid, gid)
    ti.linkname = _norm(target)
    return Entry(ti)


def CharDev(path, major, minor, mode=0o666):
    """A character device node."""
    ti = _info(path, tarfile.CHRTYPE, mode)
    ti.devmajor, ti.devminor = major, minor
    return Entry(ti)


def BlockDev(path, major, minor, mode=0o660):
    """A block device node."""
    ti = _info(path, tarfile.BLKTYPE, mode)
    ti.devmajor, ti.devminor = major, minor
    return Entry(ti)


def Fifo(path, mode=0o644):
    """A named pipe."""
    return Entry(_info(path, tarfile.FIFOTYPE, mode))


def Whiteout(path):
    """Delete `path` from the lower layers: an empty file `<dir>/.wh.<name>`."""
    d, name = posixpath.split(_norm(path))
    return File(posixpath.join(d, ".wh." + name), b"", 0o600)


def Opaque(dir_path):
    """Hide every lower-layer child of `dir_path`: `<dir>/.wh..wh..opq`."""
    return File(posixpath.join(_norm(dir_path), ".wh..wh..opq"), b"", 0o600)


def Raw(name, kind=tarfile.REGTYPE, data=b"", linkname="", mode=0o644, **attrs):
    """Any tar member, name and linkname written verbatim (for malicious layers).

    kind is a tarfile type constant (REGTYPE, SYMTYPE, LNKTYPE, ...); attrs are set on the
    TarInfo (uid, gid, devmajor, ...)."""
    if isinstance(data, str):
        data = data.encode()
    ti = _info(name, kind, mode, verbatim=True)
    ti.linkname = linkname
    ti.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    for k, v in attrs.items():
        setattr(ti, k, v)
    return Entry(ti, data if ti.size else b"", verbatim=True)


def tar_bytes(entries, dot_prefix=False):
    """The uncompressed tar (PAX format, like Docker writes) of a list of entries, in order.

    dot_prefix=True names members `./path` as `tar -C dir -cf - .` does (Raw entries keep
    their name)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = e.info
            if dot_prefix and not e.verbatim:
                ti = copy.copy(ti)
                ti.name = "./" + ti.name
            tf.addfile(ti, io.BytesIO(e.data) if ti.isreg() else None)
    return buf.getvalue()


def compress(data, compression, level=None):
    """Compress tar bytes: "none", "gzip" (no name/mtime in the header) or "zstd" (CLI)."""
    if compression == "none":
        return data
    if compression == "gzip":
        return gzip.compress(data, compresslevel=6 if level is None else level, mtime=0)
    if compression == "zstd":
        if shutil.which("zstd") is None:
            raise RuntimeError("the `zstd` CLI is needed for zstd layers")
        return subprocess.run(["zstd", "-q", "-c", f"-{level or 3}", "--no-check"], input=data,
                              stdout=subprocess.PIPE, check=True).stdout
    raise ValueError(f"unknown compression {compression!r}")


def decompress(blob):
    """Uncompress a layer blob by sniffing its magic (gzip 1f8b, zstd 28b52ffd, else tar)."""
    if blob[:2] == b"\x1f\x8b":
        return gzip.decompress(blob)
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        return subprocess.run(["zstd", "-q", "-d", "-c"], input=blob, stdout=subprocess.PIPE,
                              check=True).stdout
    return blob


def tar_members(blob):
    """[(TarInfo, bytes or None)] of a layer blob (compressed or not), names as stored."""
    out = []
    with tarfile.open(fileobj=io.BytesIO(decompress(blob)), mode="r:") as tf:
        for ti in tf:
            out.append((ti, tf.extractfile(ti).read() if ti.isreg() else None))
    return out


# ---------------------------------------------------------------------------------------------
# Blobs, layers, images, indexes


@dataclass
class Blob:
    """Content plus its descriptor fields. `data` may be dropped (None) once written."""
    data: bytes
    media_type: str
    digest: str = ""
    size: int = 0
    annotations: dict = None

    def __post_init__(self):
        if self.data is not None and not self.digest:
            self.digest, self.size = sha256(self.data), len(self.data)

    def descriptor(self):
        d = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d


@dataclass
class Layer(Blob):
    """A layer blob; `tar` is the uncompressed tar and `diff_id` its digest."""
    tar: bytes = None
    diff_id: str = ""
    compression: str = "gzip"
    entries: list = None


def build_layer(entries, compression="gzip", media="oci", dot_prefix=False, level=None):
    """A Layer from entries. compression: none|gzip|zstd; media: oci|docker."""
    tar = tar_bytes(entries, dot_prefix)
    blob = compress(tar, compression, level)
    return Layer(blob, LAYER_TYPES[(media, compression)], tar=tar, diff_id=sha256(tar),
                 compression=compression, entries=list(entries))


def layer_from_tar(tar, compression="gzip", media="oci", level=None):
    """A Layer from an existing uncompressed tar."""
    return Layer(compress(tar, compression, level), LAYER_TYPES[(media, compression)], tar=tar,
                 diff_id=sha256(tar), compression=compression)


@dataclass
class Image:
    """A single-platform image: manifest, config and layers (all Blobs)."""
    manifest: dict
    manifest_blob: Blob
    config: dict
    config_blob: Blob
    layers: list
    platform: dict
    extra_blobs: list = field(default_factory=list)

    @property
    def digest(self):
        return self.manifest_blob.digest

    @property
    def media_type(self):
        return self.manifest_blob.media_type

    @property
    def diff_ids(self):
        return list(self.config["rootfs"]["diff_ids"])

    def blobs(self):
        """Every blob to store, manifest last."""
        return [*self.layers, *self.extra_blobs, self.config_blob, self.manifest_blob]

    def descriptor(self, with_platform=True, annotations=None):
        d = self.manifest_blob.descriptor()
        if with_platform and self.platform:
            d["platform"] = dict(self.platform)
        if annotations:
            d["annotations"] = dict(annotations)
        return d


def platform_of(arch, os_="linux", variant=None):
    p = {"architecture": arch, "os": os_}
    if variant:
        p["variant"] = variant
    return p


def build_config(diff_ids, arch="amd64", os_="linux", variant=None, cmd=("/bin/sh",),
                 env=("PATH=/bin",), entrypoint=None, workdir=None, user=None, labels=None,
                 history=None, extra=None):
    """An image config dict. history defaults to one entry per layer plus one for the Cmd."""
    cfg = {}
    if env is not None:
        cfg["Env"] = list(env)
    if cmd is not None:
        cfg["Cmd"] = list(cmd)
    if entrypoint is not None:
        cfg["Entrypoint"] = list(entrypoint)
    if workdir:
        cfg["WorkingDir"] = workdir
    if user is not None:
        cfg["User"] = user
    if labels:
        cfg["Labels"] = dict(labels)
    if history is None:
        history = [{"created": CREATED, "created_by": f"ocibuild: layer {i + 1}"}
                   for i in range(len(diff_ids))]
        history.append({"created": CREATED, "created_by": f"ocibuild: CMD {list(cmd or [])}",
                        "empty_layer": True})
    conf = {"created": CREATED, "architecture": arch, "os": os_, "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": list(diff_ids)}, "history": history}
    if variant:
        conf["variant"] = variant
    conf.update(extra or {})
    return conf


def build_image(layers, arch="amd64", os_="linux", variant=None, media="oci", config=None,
                annotations=None, **config_kw):
    """An Image from Layers. config_kw go to build_config (cmd, env, entrypoint, history...);
    config= replaces the whole config dict. media oci|docker sets the manifest and config
    media types; the layers keep theirs, so build them with the same media."""
    if config is None:
        config = build_config([layer.diff_id for layer in layers], arch, os_, variant,
                              **config_kw)
    config_blob = Blob(canonical_json(config), CONFIG_TYPES[media])
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPES[media],
                "config": config_blob.descriptor(),
                "layers": [layer.descriptor() for layer in layers]}
    if annotations:
        manifest["annotations"] = dict(annotations)
    manifest_blob = Blob(canonical_json(manifest), MANIFEST_TYPES[media])
    return Image(manifest, manifest_blob, config, config_blob, list(layers),
                 platform_of(config.get("architecture"), config.get("os"),
                             config.get("variant")))


def attestation_for(image):
    """A BuildKit-style attestation manifest for `image` (index platform unknown/unknown):
    an in-toto layer and a config with architecture/os "unknown". Pullers must skip it."""
    stmt = canonical_json({"_type": "https://in-toto.io/Statement/v0.1",
                           "predicateType": "https://spdx.dev/Document",
                           "subject": [{"name": "imgd-test",
                                        "digest": {"sha256": image.digest.split(":")[1]}}],
                           "predicate": {"spdxVersion": "SPDX-2.3"}})
    layer = Layer(stmt, IN_TOTO, annotations={"in-toto.io/predicate-type":
                                              "https://spdx.dev/Document"})
    layer.diff_id = layer.digest
    config = {"architecture": "unknown", "os": "unknown", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [layer.digest]}}
    return build_image([layer], config=config)


@dataclass
class Index:
    """An image index / manifest list over Images (and raw descriptors)."""
    index: dict
    blob: Blob
    images: list
    annotated: list  # [(Image, annotations)]

    @property
    def digest(self):
        return self.blob.digest

    @property
    def media_type(self):
        return self.blob.media_type

    def blobs(self):
        out = []
        for img in self.images:
            out += img.blobs()
        return out + [self.blob]

    def descriptor(self, annotations=None):
        d = self.blob.descriptor()
        if annotations:
            d["annotations"] = dict(annotations)
        return d


def build_index(images, media="oci", attestations=(), annotations=None):
    """An index of Images in the given order. attestations (True = every image, or a list of
    the images to attest) adds, after all images, one BuildKit attestation manifest per image
    (platform unknown/unknown, annotated with vnd.docker.reference.digest/type) as
    `docker buildx` does."""
    entries = [(img, None) for img in images]
    if attestations:
        for img in (images if attestations is True else attestations):
            att = attestation_for(img)
            entries.append((att, {"vnd.docker.reference.digest": img.digest,
                                  "vnd.docker.reference.type": "attestation-manifest"}))
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPES[media],
             "manifests": [img.descriptor(annotations=ann) for img, ann in entries]}
    if annotations:
        index["annotations"] = dict(annotations)
    blob = Blob(canonical_json(index), INDEX_TYPES[media])
    return Index(index, blob, [img for img, _ in entries], entries)


# ---------------------------------------------------------------------------------------------
# Output formats


class Layout:
    """An OCI image layout directory: oci-layout, index.json, blobs/sha256/<hex>."""

    def __init__(self, path):
        self.path = Path(path)
        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        index = self.path / "index.json"
        self.index = (json.loads(index.read_text()) if index.exists()
                      else {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
        self._save()

    def blob_path(self, digest):
        alg, hexd = digest.split(":", 1)
        return self.path / "blobs" / alg / hexd

    def write_blob(self, blob):
        """Store a Blob (or bytes) unless present; returns the digest."""
        if isinstance(blob, (bytes, bytearray)):
            blob = Blob(bytes(blob), "application/octet-stream")
        p = self.blob_path(blob.digest)
        if not p.exists():
            if blob.data is None:
                raise ValueError(f"blob {blob.digest} has no data and is not in {self.path}")
            tmp = p.with_name(p.name + ".tmp")
            tmp.write_bytes(blob.data)
            tmp.rename(p)
        return blob.digest

    def add(self, obj, ref=None, annotations=None):
        """Store an Image or Index with all its blobs and list it in index.json, with the
        org.opencontainers.image.ref.name annotation when ref is given (an existing entry
        with that ref is replaced). Returns the descriptor."""
        for blob in obj.blobs():
            self.write_blob(blob)
        desc = (obj.descriptor(annotations=annotations) if isinstance(obj, Index)
                else obj.descriptor(with_platform=False, annotations=annotations))
        if ref is not None:
            desc.setdefault("annotations", {})[REF_NAME] = ref
            self.index["manifests"] = [m for m in self.index["manifests"]
                                       if m.get("annotations", {}).get(REF_NAME) != ref]
        self.index["manifests"].append(desc)
        self._save()
        return desc

    def refs(self):
        return [m["annotations"][REF_NAME] for m in self.index["manifests"]
                if REF_NAME in m.get("annotations", {})]

    def _save(self):
        (self.path / "index.json").write_bytes(canonical_json(self.index))


def _tar_dir(src, out, arc_root=""):
    src = Path(src)
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        for p in sorted(src.rglob("*")):
            ti = tf.gettarinfo(str(p), posixpath.join(arc_root, p.relative_to(src).as_posix()))
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            ti.mtime = EPOCH
            if ti.isreg():
                with open(p, "rb") as f:
                    tf.addfile(ti, f)
            else:
                tf.addfile(ti)


def write_oci_archive(layout_dir, out):
    """An oci-archive: a plain tar of the layout directory (oci-layout, index.json, blobs/)."""
    _tar_dir(layout_dir, out)
    return Path(out)


def write_docker_archive(image, out, repo_tags):
    """A `docker save` archive of one Image: manifest.json [{Config, RepoTags, Layers}],
    <config hex>.json, <layer id>/{layer.tar,VERSION,json} (uncompressed) and `repositories`.
    Layer ids are the chain ids' hex, as docker >= 1.10 names them in `docker save`."""
    members = []  # (name, bytes)
    config_name = image.config_blob.digest.split(":")[1] + ".json"
    members.append((config_name, image.config_blob.data))
    layer_names, parent, chain = [], None, None
    for i, layer in enumerate(image.layers):
        tar = layer.tar if layer.tar is not None else decompress(layer.data)
        chain = layer.diff_id if chain is None else sha256(f"{chain} {layer.diff_id}".encode())
        lid = chain.split(":")[1]
        v1 = {"id": lid, "created": CREATED}
        if parent:
            v1["parent"] = parent
        if i == len(image.layers) - 1:
            v1["config"] = image.config.get("config", {})
            v1["architecture"], v1["os"] = image.config.get("architecture"), image.config.get("os")
        members += [(f"{lid}/VERSION", b"1.0"), (f"{lid}/json", canonical_json(v1)),
                    (f"{lid}/layer.tar", tar)]
        layer_names.append(f"{lid}/layer.tar")
        parent = lid
    manifest = [{"Config": config_name, "RepoTags": list(repo_tags), "Layers": layer_names}]
    members.append(("manifest.json", canonical_json(manifest)))
    repos = {}
    for tag in repo_tags:
        name, _, t = tag.rpartition(":")
        repos.setdefault(name, {})[t] = parent
    members.append(("repositories", canonical_json(repos)))
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        dirs = set()
        for name, data in members:
            d = posixpath.dirname(name)
            if d and d not in dirs:
                dirs.add(d)
                tf.addfile(_info(d, tarfile.DIRTYPE, 0o755))
            ti = _info(name, tarfile.REGTYPE, 0o644)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return Path(out)


# ---------------------------------------------------------------------------------------------
# Ready-made content


def busybox_entries(busybox=BUSYBOX, applets=BUSYBOX_APPLETS):
    """The base root filesystem: static busybox at /bin/busybox, symlinks /bin/<applet> ->
    /bin/busybox (as `busybox --install -s` makes them), /etc/passwd and /etc/group with
    root, and the usual empty dirs (/proc /sys /dev /tmp 1777 /root 0700)."""
    data = Path(busybox).read_bytes()
    entries = [Dir("bin"), File("bin/busybox", data, 0o755)]
    entries += [Symlink(f"bin/{a}", "/bin/busybox") for a in applets]
    entries += [Dir("dev"), Dir("etc"),
                File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
                File("etc/group", "root:x:0:\n"),
                Dir("proc", 0o555), Dir("root", 0o700), Dir("sys", 0o555), Dir("tmp", 0o1777)]
    return entries


@functools.lru_cache(maxsize=None)
def _busybox_layer_cached(busybox, compression, media):
    return build_layer(busybox_entries(busybox), compression, media)


def busybox_layer(compression="gzip", media="oci", busybox=BUSYBOX):
    """The base busybox layer (cached per process: building it gzips ~2 MB)."""
    if not Path(busybox).is_file():
        raise FileNotFoundError(f"{busybox} (package busybox-static) is needed")
    return copy.copy(_busybox_layer_cached(str(busybox), compression, media))


def busybox_image(arch="amd64", media="oci", extra_layers=(), **config_kw):
    """busybox as a one-layer image (plus extra_layers), Cmd /bin/sh, Env PATH=/bin."""
    return build_image([busybox_layer(media=media), *extra_layers], arch=arch, media=media,
                       **config_kw)


# ---------------------------------------------------------------------------------------------
# The expected result of unpacking


def merged_view(layer_entries):
    """Apply layers (lists of Entries, base first) like a conforming puller: whiteouts delete
    lower paths, opaque markers hide lower children of their dir (whatever their position in
    the layer), and neither is materialised. Returns {path: Entry} of the final rootfs
    (paths without leading `/`; implicit parent dirs are not listed)."""
    view = {}
    for entries in layer_entries:
        paths = [e.path for e in entries]
        # whiteouts act on the lower layers only, whatever their position in this layer
        for p in paths:
            d, name = posixpath.split(p)
            if name == ".wh..wh..opq":
                gone = [q for q in view if d == "" or q.startswith(d + "/")]
            elif name.startswith(".wh."):
                target = posixpath.join(d, name[4:])
                gone = [q for q in view if q == target or q.startswith(target + "/")]
            else:
                continue
            for q in gone:
                del view[q]
        for e, p in zip(entries, paths):
            if posixpath.basename(p).startswith(".wh."):
                continue
            old = view.get(p)
            if old is not None and not (old.info.isdir() and e.info.isdir()):
                for q in [q for q in view if q.startswith(p + "/")]:
                    del view[q]
            view[p] = e
    return view


def describe(entry):
    """A small dict for assertions: {"type": file|dir|symlink|hardlink|char|block|fifo,
    "mode": int, ...} plus "content" (files), "target" (links), "major"/"minor" (devices)."""
    ti = entry.info
    kinds = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir",
             tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink", tarfile.CHRTYPE: "char",
             tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}
    d = {"type": kinds.get(ti.type, repr(ti.type)), "mode": ti.mode, "uid": ti.uid,
         "gid": ti.gid}
    if ti.isreg():
        d["content"] = entry.data
    elif ti.issym() or ti.islnk():
        d["target"] = ti.linkname
    elif ti.ischr() or ti.isblk():
        d["major"], d["minor"] = ti.devmajor, ti.devminor
    return d


def expected_files(layer_entries):
    """{"/path": describe(entry)} of the merged view, absolute paths."""
    return {"/" + p: describe(e) for p, e in merged_view(layer_entries).items()}


def random_layer(path_in_image, size, seed, compression="gzip", level=0, media="oci"):
    """A layer holding one file of `size` pseudo-random (incompressible, reproducible per
    seed) bytes. level=0 writes gzip stored blocks: valid gzip, fast to build, and the same
    cost to decompress as level 1 on random data."""
    import random
    data = random.Random(seed).randbytes(size)
    d = posixpath.dirname(_norm(path_in_image))
    entries = ([Dir(d)] if d else []) + [File(path_in_image, data)]
    return build_layer(entries, compression, media, level=level)


__all__ = [n for n in dir() if not n.startswith("_") and n not in (
    "copy", "functools", "gzip", "hashlib", "io", "json", "posixpath", "shutil",
    "subprocess", "tarfile", "dataclass", "field", "Path")]
