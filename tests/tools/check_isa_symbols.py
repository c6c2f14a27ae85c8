"""Fail if ISA-specific object files define weak symbols that generic code uses.

Why: *_avx2.cc / *_avx512.cc are compiled with -mavx2 / -mavx512f. An inline
function or template (std::vector growth, a header helper) instantiated in
such a file is a weak (COMDAT) symbol; if generic code also instantiates or
calls it, the linker keeps ONE copy, possibly the AVX-512 one, and the
library then crashes with SIGILL on an AVX2-only or older CPU, a bug no test
on this AVX-512 machine can see at run time. ISA files must keep such code
in anonymous namespaces (local symbols) or use only intrinsics and their
own static functions.

Usage: check_isa_symbols.py <object files...>   (CTest passes the core's objects)
"""
import re
import subprocess
import sys

ISA_FILE = re.compile(r"_(avx2|avx512)\.cc\.o$")


def symbols(obj):
    """(weak definitions, all referenced or defined global names) of an object."""
    out = subprocess.run(["nm", "-C", "--no-sort", obj], check=True, capture_output=True,
                         text=True).stdout
    weak, names = set(), set()
    for line in out.splitlines():
        parts = line.split(maxsplit=2) if line[:1] != " " else ["", *line.split(maxsplit=1)]
        if len(parts) < 3:
            continue
        kind, name = parts[1], parts[2]
        if kind in "WVu" and not name.startswith("DW.ref."):  # DW.ref: EH data, not code
            weak.add(name)
        if kind in "WVuTDBRU":
            names.add(name)
    return weak, names


def main(objs):
    isa = [o for o in objs if ISA_FILE.search(o)]
    generic = [o for o in objs if not ISA_FILE.search(o)]
    if not isa:
        print("no ISA-specific objects: nothing to check")
        return 0
    used = set()
    for o in generic:
        used |= symbols(o)[1]
    bad = []
    for o in isa:
        for name in sorted(symbols(o)[0] & used):
            bad.append(f"{o.rsplit('/', 1)[-1]}: {name}")
    if bad:
        print("ISA-compiled weak symbols shared with generic code (SIGILL risk on older CPUs):")
        print("\n".join("  " + b for b in bad))
        return 1
    print(f"ok: {len(isa)} ISA objects share no weak symbols with {len(generic)} generic objects")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
