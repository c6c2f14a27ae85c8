"""In-tree PEP 517/660 build backend for fp4train.

Why: CMakeLists.txt is the one description of the build, and Debian 12 has
neither scikit-build-core nor a pybind11 new enough for it, so this ~150-line
backend drives CMake itself and zips the wheel with the standard library.

- build_wheel: configures ``build/wheel`` (tests and benches off), builds the
  ``_core`` target and packs python/fp4train plus the module.
- build_editable: builds ``_core`` into python/fp4train (the CMake option
  FP4TRAIN_MODULE_IN_SOURCE) using ``build/`` — the same tree the test
  command uses, so nothing is compiled twice — and installs a .pth file that
  points at python/.
- build_sdist: the git-tracked files (or the whole tree without git).
"""
import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        if tomllib is not None:
            return tomllib.load(f)["project"]
    # Minimal fallback: name and version lines are all the backend needs.
    meta = {}
    for line in open(os.path.join(ROOT, "pyproject.toml")):
        if line.startswith(("name = ", "version = ")):
            k, v = line.split(" = ", 1)
            meta[k] = v.strip().strip('"')
    meta.setdefault("dependencies", ["numpy>=1.21"])
    return meta


def _cmake_build(build_dir, in_source):
    jobs = str(os.cpu_count() or 2)
    configure = [
        "cmake", "-S", ROOT, "-B", build_dir,
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DPython_EXECUTABLE={sys.executable}",
        f"-DFP4TRAIN_MODULE_IN_SOURCE={'ON' if in_source else 'OFF'}",
    ]
    if not in_source:
        configure += ["-DFP4TRAIN_BUILD_TESTS=OFF", "-DFP4TRAIN_BUILD_BENCH=OFF"]
    subprocess.check_call(configure)
    subprocess.check_call(["cmake", "--build", build_dir, "--target", "_core", "-j", jobs])


def _find_module(directory):
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    for dirpath, _, files in os.walk(directory):
        for name in files:
            if name.startswith("_core") and name.endswith(suffix):
                return os.path.join(dirpath, name)
    raise RuntimeError(f"_core{suffix} not found under {directory}")


def _tag():
    impl = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{impl}-{impl}-{plat}"


def _dist_info(meta):
    name, version = meta["name"], meta["version"]
    lines = [
        "Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
        f"Summary: {meta.get('description', '')}",
    ]
    lines += [f"Requires-Dist: {d}" for d in meta.get("dependencies", [])]
    files = {"METADATA": "\n".join(lines) + "\n",
             "WHEEL": ("Wheel-Version: 1.0\nGenerator: fp4train_backend\n"
                       f"Root-Is-Purelib: false\nTag: {_tag()}\n")}
    scripts = meta.get("scripts", {})
    if scripts:
        files["entry_points.txt"] = "[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in scripts.items())
    return f"{name}-{version}.dist-info", files


def _write_wheel(wheel_directory, entries):
    """entries: list of (archive name, bytes)."""
    meta = _project()
    info_dir, info_files = _dist_info(meta)
    entries = list(entries) + [(f"{info_dir}/{k}", v.encode()) for k, v in info_files.items()]
    record = []
    wheel_name = f"{meta['name']}-{meta['version']}-{_tag()}.whl"
    path = os.path.join(wheel_directory, wheel_name)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, data in entries:
            zf.writestr(arcname, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{arcname},sha256={digest.decode()},{len(data)}")
        record.append(f"{info_dir}/RECORD,,")
        zf.writestr(f"{info_dir}/RECORD", "\n".join(record) + "\n")
    return wheel_name


def _package_entries(module_path):
    pkg_root = os.path.join(ROOT, "python", "fp4train")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    for dirpath, dirnames, files in os.walk(pkg_root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in sorted(files):
            if name.endswith((".pyc", suffix)) or (name.startswith("_core") and name.endswith(".so")):
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, os.path.join(ROOT, "python"))
            with open(full, "rb") as f:
                yield rel.replace(os.sep, "/"), f.read()
    with open(module_path, "rb") as f:
        yield "fp4train/" + os.path.basename(module_path), f.read()


def _build_dir():
    return os.path.join(ROOT, "build")


# ---- PEP 517 hooks -------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    build_dir = os.path.join(_build_dir(), "wheel")
    _cmake_build(build_dir, in_source=False)
    return _write_wheel(wheel_directory, _package_entries(_find_module(build_dir)))


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _cmake_build(_build_dir(), in_source=True)
    pth = (os.path.join(ROOT, "python") + "\n").encode()
    return _write_wheel(wheel_directory, [("fp4train_editable.pth", pth)])


def build_sdist(sdist_directory, config_settings=None):
    meta = _project()
    base = f"{meta['name']}-{meta['version']}"
    try:
        files = subprocess.check_output(["git", "ls-files"], cwd=ROOT, text=True).split()
    except (OSError, subprocess.CalledProcessError):
        files = [os.path.relpath(os.path.join(d, f), ROOT)
                 for d, _, fs in os.walk(ROOT) for f in fs
                 if "/build" not in d and "/.git" not in d and "__pycache__" not in d]
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        for rel in files:
            tar.add(os.path.join(ROOT, rel), arcname=f"{base}/{rel}")
    return name
