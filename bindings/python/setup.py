"""Builds libnhttps from this checkout (cargo) and ships it inside the
package, so that `pip install ./bindings/python` gives a working `import
nhttps` with no NHTTPS_LIBRARY and no `make`.

The library is found next to this file's checkout (`../../Cargo.toml`);
`pip install` builds in place, so that is where it looks. `NHTTPS_LIBRARY`
set at build time ships that file instead of building. Without either (a
source tree copied elsewhere), the package is built without the library
and loads the system's libnhttps at run time.

The wheel is tagged `py3-none-<platform>`: the library is native code for
this platform (linked against the system's OpenSSL 3) and uses no Python
ABI (ctypes loads it).
"""

import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

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


class PlatformWheel(bdist_wheel):
    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(cmdclass={"build_py": BuildWithLibrary, "bdist_wheel": PlatformWheel})
