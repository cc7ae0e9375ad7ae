"""A PEP 517 build backend for the zcfs package, standard library only: the wheel is the zcfs/
directory and its metadata, nothing compiled. Keeps `pip install ./python` offline."""
import base64
import hashlib
import os
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG = "py3-none-any"


def _project():
    text = open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8").read()
    get = lambda key: re.search(rf'^{key} = "([^"]*)"', text, re.M).group(1)
    return get("name"), get("version"), get("description"), get("requires-python")


def _metadata():
    name, version, summary, python = _project()
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    return (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n"
            f"Requires-Python: {python}\nProvides-Extra: torch\nRequires-Dist: torch; extra == \"torch\"\n"
            f"Description-Content-Type: text/markdown\n\n{readme}")


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name, version = _project()[:2]
    d = os.path.join(metadata_directory, f"{name}-{version}.dist-info")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    with open(os.path.join(d, "WHEEL"), "w") as f:
        f.write(f"Wheel-Version: 1.0\nGenerator: zcfs-backend\nRoot-Is-Purelib: true\nTag: {TAG}\n")
    return os.path.basename(d)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version = _project()[:2]
    dist = f"{name}-{version}.dist-info"
    files = {}
    for base, _, names in os.walk(os.path.join(ROOT, "zcfs")):
        for n in sorted(names):
            if n.endswith(".py"):
                path = os.path.join(base, n)
                files[os.path.relpath(path, ROOT)] = open(path, "rb").read()
    files[f"{dist}/METADATA"] = _metadata().encode()
    files[f"{dist}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: zcfs-backend\nRoot-Is-Purelib: true\nTag: {TAG}\n".encode()
    record = []
    for arc, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{arc},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = f"{name}-{version}-{TAG}.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in files.items():
            z.writestr(arc, data)
    return wheel


def build_sdist(sdist_directory, config_settings=None):
    name, version = _project()[:2]
    base = f"{name}-{version}"
    out = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, out), "w:gz") as t:
        for rel in ("pyproject.toml", "README.md", "_build/backend.py", "zcfs/__init__.py", "zcfs/torch.py"):
            t.add(os.path.join(ROOT, rel), arcname=f"{base}/{rel}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        data = _metadata().encode()
        info.size = len(data)
        import io
        t.addfile(info, io.BytesIO(data))
    return out
