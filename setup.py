"""Build of the optional compiled fan-out core; everything else is declared in pyproject.toml.

The core (rtmpconf/reference_server/_fanout_send.c, through cffi) is an optional extension: an
install without a C compiler goes on without it and the reference server flushes in pure Python.
"""

import importlib.util
from pathlib import Path

from setuptools import setup


def fanout_core() -> list:
    try:
        import cffi  # noqa: F401  (build requirement; absent only when building without isolation)
    except ImportError:
        print("rtmp-conformance: cffi missing at build time; the compiled fan-out core is not built")
        return []
    here = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location(
        "_fanout_build", here / "rtmpconf" / "reference_server" / "_fanout_build.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ext = mod.ffibuilder.distutils_extension(tmpdir=str(here / "build" / "cffi"))
    ext.optional = True  # no compiler: a warning, and the pure-Python path
    return [ext]


setup(ext_modules=fanout_core())
