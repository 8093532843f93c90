"""How the library is found: NHTTPS_LIBRARY, the package directory, the
repository's build output, the system loader — in that order."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from helpers import PACKAGE_ROOT

REPO = os.path.dirname(os.path.dirname(PACKAGE_ROOT))
BUILD_LIB = os.path.join(REPO, "build", "lib")
SO = os.path.join(BUILD_LIB, "libnhttps.so.0")
PRINT = "import nhttps; print(nhttps.library_path); print(nhttps.library_version)"


def run(code, pythonpath, cwd=None, **env_changes):
    env = dict(os.environ)
    for name in ("NHTTPS_LIBRARY", "LD_LIBRARY_PATH"):
        env.pop(name, None)
    env["PYTHONPATH"] = pythonpath
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30, env=env, cwd=cwd)


@unittest.skipUnless(os.path.exists(SO), "build/lib/libnhttps.so.0 is not built")
class LoadingTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="nhttps-py-load-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def copy_package(self):
        """The package alone, outside the repository."""
        root = os.path.join(self.tmp, "site")
        shutil.copytree(os.path.join(PACKAGE_ROOT, "nhttps"), os.path.join(root, "nhttps"),
                        ignore=shutil.ignore_patterns("__pycache__", "libnhttps*"))
        return root

    def test_import_from_the_repository_root(self):
        p = run(PRINT, "bindings/python", cwd=REPO)
        self.assertEqual(p.returncode, 0, p.stderr)
        path = p.stdout.split()[0]
        self.assertEqual(os.path.dirname(os.path.realpath(path)), os.path.realpath(BUILD_LIB))

    def test_environment_variable_comes_first(self):
        copy = os.path.join(self.tmp, "libnhttps-copy.so")
        shutil.copy(SO, copy)
        p = run(PRINT, PACKAGE_ROOT, NHTTPS_LIBRARY=copy)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split()[0], copy)

    def test_bad_environment_variable_is_an_import_error(self):
        p = run("import nhttps", PACKAGE_ROOT, NHTTPS_LIBRARY="/nonexistent/libnhttps.so")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ImportError", p.stderr)
        self.assertIn("NHTTPS_LIBRARY", p.stderr)

    def test_package_directory_before_the_system(self):
        root = self.copy_package()
        inside = os.path.join(root, "nhttps", "libnhttps.so")
        shutil.copy(SO, inside)
        p = run(PRINT, root, LD_LIBRARY_PATH=BUILD_LIB)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split()[0], inside)

    def test_system_loader_last(self):
        root = self.copy_package()
        p = run(PRINT, root, LD_LIBRARY_PATH=BUILD_LIB)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("libnhttps.so", p.stdout.split()[0])
        p = run("import nhttps", root)
        if p.returncode == 0:  # pragma: no cover - installed system-wide
            self.skipTest("libnhttps is installed on this system")
        self.assertIn("cannot load libnhttps", p.stderr)


if __name__ == "__main__":
    unittest.main()
