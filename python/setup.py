"""The C extension of the `batchsampler` package, for setuptools.

The package's metadata is in pyproject.toml; install with pip
(docs/python.md, "Install"):

    pip install ./python                       # online, in a venv
    pip install --no-build-isolation ./python  # offline: the system's setuptools

or build the extension in place for a checkout:

    /usr/bin/python3 python/setup.py build_ext --inplace   # python/batchsampler/_batchsampler*.so

By default the extension is compiled together with the library's sources
(../src/*.c), so nothing has to be installed first; it needs Debian's
libopenblas-openmp-dev, zlib1g-dev and an OpenMP compiler (gcc).

To link against an installed libbatchsampler instead (cmake --install), set
BATCHSAMPLER_PREFIX to its prefix (e.g. /usr/local): the extension then uses
<prefix>/include/batchsampler.h and links <prefix>/lib/libbatchsampler.so.
"""

import glob
import os
import sys

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
os.chdir(HERE)  # setuptools wants relative paths from setup.py's directory


def _check_version():
    """The package version (batchsampler/_version.py) must be the
    library's (BS_VERSION_STRING): the package checks it at import."""
    want = None
    with open(os.path.join(ROOT, "include", "batchsampler.h")) as f:
        for line in f:
            if line.startswith("#define BS_VERSION_STRING"):
                want = line.split('"')[1]
    ns = {}
    with open(os.path.join(HERE, "batchsampler", "_version.py")) as f:
        exec(f.read(), ns)
    if want != ns["__version__"]:
        sys.exit("setup.py: batchsampler/_version.py says %s but "
                 "include/batchsampler.h says %s: make them equal"
                 % (ns["__version__"], want))


if not os.path.exists(os.path.join(ROOT, "include", "batchsampler.h")):
    sys.exit("setup.py: %s/include/batchsampler.h not found: build from a "
             "checkout of the whole repository (pip install ./python from "
             "its root)" % ROOT)
_check_version()


def _multiarch():
    try:
        import sysconfig

        return sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
    except Exception:  # pragma: no cover
        return "x86_64-linux-gnu"


def _openblas():
    """(include dir, lib dir) of OpenBLAS, preferring the OpenMP build as the
    CMake build does."""
    ma = _multiarch()
    for flavour in ("openblas-openmp", "openblas-pthread"):
        inc = "/usr/include/%s/%s" % (ma, flavour)
        lib = "/usr/lib/%s/%s" % (ma, flavour)
        if os.path.exists(os.path.join(inc, "cblas.h")) and os.path.isdir(lib):
            return inc, lib
    if os.path.exists("/usr/include/openblas/cblas.h"):
        return "/usr/include/openblas", None
    sys.exit("setup.py: OpenBLAS not found (apt-get install libopenblas-openmp-dev)")


prefix = os.environ.get("BATCHSAMPLER_PREFIX")
ext_src = [os.path.join("src", "_batchsampler.c")]
common = dict(
    extra_compile_args=["-std=c11", "-O3", "-fopenmp", "-Wall", "-Wextra"],
    extra_link_args=["-fopenmp"],
)

if prefix:
    libdirs = [d for d in (os.path.join(prefix, "lib", _multiarch()), os.path.join(prefix, "lib"))
               if glob.glob(os.path.join(d, "libbatchsampler.so*"))]
    if not libdirs:
        sys.exit("setup.py: no libbatchsampler.so under %s/lib" % prefix)
    ext = Extension(
        "batchsampler._batchsampler",
        sources=ext_src,
        include_dirs=[os.path.join(prefix, "include")],
        library_dirs=libdirs[:1],
        runtime_library_dirs=libdirs[:1],
        libraries=["batchsampler"],
        **common,
    )
else:
    blas_inc, blas_lib = _openblas()
    lib_src = sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(ROOT, "src", "*.c")))
    # Prefer the static OpenMP OpenBLAS, kept private (see python/CMakeLists.txt:
    # the shared flavours share one SONAME, and torch/numpy load the pthread one).
    static_blas = os.path.join(blas_lib, "libopenblas.a") if blas_lib else None
    if static_blas and os.path.exists(static_blas) and not os.environ.get("BATCHSAMPLER_SHARED_BLAS"):
        blas = dict(extra_objects=[static_blas], libraries=["z", "m"])
        link = ["-Wl,--exclude-libs,ALL"]
    else:
        blas = dict(library_dirs=[blas_lib] if blas_lib else [],
                    runtime_library_dirs=[blas_lib] if blas_lib else [],
                    libraries=["openblas", "z", "m"])
        link = []
    ext = Extension(
        "batchsampler._batchsampler",
        sources=ext_src + lib_src,
        include_dirs=[os.path.join(ROOT, "include"), os.path.join(ROOT, "src"), blas_inc],
        **blas,
        **common,
    )
    # the library's symbols stay private to the extension
    ext.extra_compile_args.append("-fvisibility=hidden")
    ext.extra_link_args.extend(link)

setup(ext_modules=[ext])
