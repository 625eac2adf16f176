"""Builds the `dataparallel` wheel (pyproject.toml holds the metadata; docs/python.md, "pip").

CMake builds libdataparallel, its MPI plugin (when MPI is found) and the SWIG extension; the wheel
bundles libdataparallel.so.0 next to the extension, which finds it through RPATH $ORIGIN. The
pure-Python package comes from bindings/python/dataparallel. Uses only what Debian packages
(setuptools, wheel; CMake, SWIG, the -dev packages of scripts/deps): build with
``pip install --no-build-isolation .`` or ``python3 -m build --wheel --no-isolation``.

Environment: DP_WHEEL_BUILD_DIR, where setuptools and CMake build (default build-wheel/ in the
source tree; kept, so a second build is incremental); CMAKE_BUILD_PARALLEL_LEVEL, build jobs.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
BUILD_BASE = os.environ.get("DP_WHEEL_BUILD_DIR") or str(ROOT / "build-wheel")
os.makedirs(BUILD_BASE, exist_ok=True)  # egg_info writes there and wants it to exist


def version():
    """The version dp_version_string() returns: DP_VERSION_MAJOR.MINOR.PATCH of the header."""
    text = (ROOT / "include" / "dataparallel" / "core.h").read_text()
    parts = [re.search(rf"#define DP_VERSION_{k} (\d+)", text).group(1) for k in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


class CMakeBuild(build_ext):
    """Builds the extension with the project's CMake instead of compiling sources itself."""

    def build_extension(self, ext):
        cmake_dir = Path(self.build_temp).resolve() / "cmake"
        configure = ["cmake", "-S", str(ROOT), "-B", str(cmake_dir), "-DCMAKE_BUILD_TYPE=Release",
                     "-DDP_PYTHON=ON", "-DDP_PYTHON_WHEEL=ON", "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON",
                     "-DDP_BUILD_TESTS=OFF", "-DDP_BUILD_TOOLS=OFF", f"-DPython3_EXECUTABLE={sys.executable}"]
        subprocess.run(configure, check=True, stdout=subprocess.DEVNULL)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
        subprocess.run(["cmake", "--build", str(cmake_dir), "-j", jobs], check=True)

        built = cmake_dir / "python" / "dataparallel"
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        extension = list(built.glob("_capi.*.so"))
        if len(extension) != 1:
            raise RuntimeError(f"expected one _capi extension in {built}, found {extension}")
        shutil.copyfile(extension[0], target)
        shutil.copyfile(built / "capi.py", target.parent / "capi.py")
        # The SONAME files only (copyfile follows the symlinks): a wheel cannot hold symlinks.
        for lib in ("libdataparallel.so.0", "libdataparallel_mpi.so.0"):
            if (cmake_dir / "lib" / lib).exists():
                shutil.copyfile(cmake_dir / "lib" / lib, target.parent / lib)


setup(
    version=version(),
    ext_modules=[Extension("dataparallel._capi", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    options={"build": {"build_base": BUILD_BASE}, "egg_info": {"egg_base": BUILD_BASE}},
)
