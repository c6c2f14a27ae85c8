"""Which BLAS numpy uses, and which kernel: every benchmark prints this line.

Debian's numpy links libblas.so.3, an alternative that points to the slow
reference BLAS unless OpenBLAS is installed; OpenBLAS's kernel choice can be
forced with OPENBLAS_CORETYPE (the environment here may set Haswell, which
halves its speed on an AVX-512 machine).
"""
import ctypes
import os

import numpy as np


def _openblas():
    """The loaded OpenBLAS as a ctypes library, or None."""
    np.ones((2, 2), np.float32) @ np.ones((2, 2), np.float32)  # make sure the BLAS is loaded
    libs = sorted({line.split()[-1] for line in open("/proc/self/maps")
                   if "blas" in line.rsplit("/", 1)[-1] and ".so" in line})
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib
        except (OSError, AttributeError):
            continue
    return None


def set_blas_threads(n):
    """Set OpenBLAS's thread count (no-op for other BLAS); returns whether it applied."""
    lib = _openblas()
    if lib is None or not hasattr(lib, "openblas_set_num_threads"):
        return False
    lib.openblas_set_num_threads(int(n))
    return True


def blas_description():
    numpy_probe = np.ones((2, 2), np.float32)
    numpy_probe @ numpy_probe  # make sure the BLAS is loaded
    libs = sorted({line.split()[-1] for line in open("/proc/self/maps")
                   if "blas" in line.rsplit("/", 1)[-1] and ".so" in line})
    core = None
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            fn = lib.openblas_get_corename
            fn.restype = ctypes.c_char_p
            core = fn().decode()
            break
        except (OSError, AttributeError):
            continue
    kind = "OpenBLAS" if core else ("reference BLAS" if libs else "unknown BLAS")
    forced = os.environ.get("OPENBLAS_CORETYPE")
    text = f"numpy {np.__version__} uses {kind}"
    if core:
        text += f" (kernel {core}"
        text += f", forced by OPENBLAS_CORETYPE={forced})" if forced else ")"
    return text + (f" [{libs[0]}]" if libs else "")


if __name__ == "__main__":
    print(blas_description())
