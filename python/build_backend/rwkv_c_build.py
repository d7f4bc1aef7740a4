"""A PEP 517 build backend for rwkv_c with no dependencies (standard library only), so that
`pip install ./python` works without a network: a wheel is a zip of the package's .py files
and its metadata. When the rwkv.c build tree next to this folder has librwkv.so, its folder is
recorded in rwkv_c/_install.py as one of the places the package looks for the library."""
import base64
import hashlib
import os
import zipfile

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)  # python/
PKG = "rwkv_c"


def _project():
    if tomllib is None:
        return {"name": PKG, "version": "0.1.0", "description": "", "requires-python": ">=3.8"}
    with open(os.path.join(SRC, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def _metadata():
    p = _project()
    lines = ["Metadata-Version: 2.1", "Name: %s" % p["name"], "Version: %s" % p["version"],
             "Summary: %s" % p.get("description", ""),
             "Requires-Python: %s" % p.get("requires-python", ">=3.8"),
             "Provides-Extra: numpy", 'Requires-Dist: numpy; extra == "numpy"']
    return p["name"], p["version"], "\n".join(lines) + "\n"


def _wheel_file(tag="py3-none-any"):
    return ("Wheel-Version: 1.0\nGenerator: rwkv_c_build\nRoot-Is-Purelib: true\nTag: %s\n"
            % tag)


def _build_dir():
    b = os.path.join(os.path.dirname(SRC), "build")
    return b if os.path.exists(os.path.join(b, "librwkv.so")) else None


def _write(wheel_directory, files):
    name, version, _ = _metadata()
    whl = "%s-%s-py3-none-any.whl" % (name, version)
    dist = "%s-%s.dist-info" % (name, version)
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, whl), "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in files:
            z.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append("%s,sha256=%s,%d" % (arc, digest.decode(), len(data)))
        record.append("%s/RECORD,," % dist)
        z.writestr("%s/RECORD" % dist, "\n".join(record) + "\n")
    return whl


def _dist_info_files():
    name, version, meta = _metadata()
    dist = "%s-%s.dist-info" % (name, version)
    return [("%s/METADATA" % dist, meta.encode()), ("%s/WHEEL" % dist, _wheel_file().encode())]


def get_requires_for_build_wheel(config_settings=None):
    return []


get_requires_for_build_editable = get_requires_for_build_wheel
get_requires_for_build_sdist = get_requires_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = []
    pkg_dir = os.path.join(SRC, PKG)
    for fn in sorted(os.listdir(pkg_dir)):
        if fn.endswith(".py") and fn != "_install.py":
            with open(os.path.join(pkg_dir, fn), "rb") as f:
                files.append(("%s/%s" % (PKG, fn), f.read()))
    build = _build_dir()
    if build:
        files.append(("%s/_install.py" % PKG,
                      ("# written by the build backend: the build tree installed from\n"
                       "BUILD_DIR = %r\n" % build).encode()))
    return _write(wheel_directory, files + _dist_info_files())


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # a .pth file that puts python/ on sys.path: the package runs from the source tree
    return _write(wheel_directory, [("%s.pth" % PKG, (SRC + "\n").encode())] +
                  _dist_info_files())


def build_sdist(sdist_directory, config_settings=None):
    import tarfile
    name, version, meta = _metadata()
    base = "%s-%s" % (name, version)
    out = "%s.tar.gz" % base
    with tarfile.open(os.path.join(sdist_directory, out), "w:gz") as t:
        for sub in ("pyproject.toml", "build_backend", PKG):
            t.add(os.path.join(SRC, sub), arcname="%s/%s" % (base, sub),
                  filter=lambda i: None if "__pycache__" in i.name or
                  i.name.endswith("_install.py") else i)
        info = tarfile.TarInfo("%s/PKG-INFO" % base)
        data = meta.encode()
        info.size = len(data)
        import io
        t.addfile(info, io.BytesIO(data))
    return out
