"""Builds libnhttps from this checkout (cargo) and ships it inside the
package, so that `pip install ./bindings/python` gives a working `import
nhttps` with no NHTTPS_LIBRARY and no `make`.

The library is found next to this file's checkout (`../../Cargo.toml`);
`pip install` builds in place, so that is where it looks. `NHTTPS_LIBRARY`
set at build time ships that file instead of building. Without either (a
source tree copied elsewhere), the package is built without the library
and loads the system's libnhttps at run time.

The package also builds nhttps._speedups, a small C extension that makes
the WSGI server's per-request calls into libnhttps without ctypes (it
needs Python's headers; where it cannot be built, the package goes on
without it and nhttps.wsgi makes those calls through ctypes). The wheel is
therefore tagged for this interpreter and platform
(`cp311-cp311-linux_x86_64`): the extension uses CPython's ABI and the
library is native code linked against the system's OpenSSL 3.
"""

import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, os.pardir, os.pardir))
LIBRARY = "libnhttps.so"


def library_to_ship():
    """The path of the libnhttps to copy into the package, building it
    first from the checkout; None when there is none to ship."""
    given = os.environ.get("NHTTPS_LIBRARY")
    if given:
        return given
    if not os.path.exists(os.path.join(REPO, "Cargo.toml")):
        return None
    cargo = os.environ.get("CARGO", "cargo")
    print("nhttps: building libnhttps with %s in %s" % (cargo, REPO), file=sys.stderr)
    subprocess.run([cargo, "build", "--release", "--lib"], cwd=REPO, check=True)
    return os.path.join(REPO, "target", "release", LIBRARY)


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        library = library_to_ship()
        if library is None:
            print("nhttps: no checkout to build libnhttps from and no NHTTPS_LIBRARY: "
                  "the package will load the system's libnhttps", file=sys.stderr)
            return
        target = os.path.join(self.build_lib, "nhttps", LIBRARY)
        shutil.copyfile(library, target)
        os.chmod(target, 0o755)


setup(
    cmdclass={"build_py": BuildWithLibrary},
    ext_modules=[Extension("nhttps._speedups", ["nhttps/_speedups.c"], optional=True)],
)
