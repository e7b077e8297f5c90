# SPDX-License-Identifier: MIT
"""Checks of what imgd stored: the merged view of an image's layers, mounted read-only with
overlayfs exactly as a container would see it."""
import contextlib
import os
import stat
import subprocess
import tempfile
from pathlib import Path


@contextlib.contextmanager
def merged_view(state_dir, image):
    """Mount the layers of `image` (the JSON of GET /api/v1/images/{ref}) read-only and yield
    the mountpoint. A single layer is its own view."""
    dirs = [Path(state_dir) / "layers" / layer["chain_id"].split(":", 1)[1]
            for layer in image["layers"]]
    for d in dirs:
        assert d.is_dir(), f"layer directory {d} is missing"
    if len(dirs) == 1:
        yield dirs[0]
        return
    mnt = tempfile.mkdtemp(prefix="imgd-merged-")
    lower = ":".join(str(d) for d in reversed(dirs))  # topmost first
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"ro,lowerdir={lower}", mnt],
                   check=True)
    try:
        yield Path(mnt)
    finally:
        subprocess.run(["umount", mnt], check=False)
        os.rmdir(mnt)


def check_files(root, files, absent):
    """files: {"/path": {"type", "mode", "content"?, "target"?}}; absent: paths."""
    for path, want in files.items():
        p = Path(root) / path.lstrip("/")
        st = os.lstat(p)
        kind = want["type"]
        if kind in ("file", "hardlink") and "content" in want:
            assert stat.S_ISREG(st.st_mode), path
            assert p.read_bytes() == want["content"], path
        elif kind == "dir":
            assert stat.S_ISDIR(st.st_mode), path
        elif kind == "symlink":
            assert stat.S_ISLNK(st.st_mode), path
            assert os.readlink(p) == want["target"], path
        if kind in ("file", "dir"):
            assert stat.S_IMODE(st.st_mode) == want["mode"] & 0o7777, (path, oct(st.st_mode))
    for path in absent:
        assert not os.path.lexists(Path(root) / path.lstrip("/")), f"{path} should be hidden"
