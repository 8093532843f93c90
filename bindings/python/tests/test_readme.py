"""The README's example runs as printed (bindings/python/README.md, and the
same block in the top-level README)."""
import contextlib
import io
import os
import re
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
READMES = [os.path.join(HERE, "..", "README.md"), os.path.join(HERE, "..", "..", "..", "README.md")]


def first_python_block(path):
    with open(path, encoding="utf-8") as f:
        match = re.search(r"```python\n(.*?)```", f.read(), re.S)
    return match.group(1) if match else None


class ReadmeTest(unittest.TestCase):
    def test_the_readme_examples_run_as_printed(self):
        for path in READMES:
            with self.subTest(readme=os.path.relpath(path)):
                block = first_python_block(path)
                self.assertIsNotNone(block, "no python block in %s" % path)
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    exec(compile(block, path, "exec"), {"__name__": "readme"})
                self.assertIn("200", out.getvalue())
                self.assertIn("hello world", out.getvalue())


if __name__ == "__main__":
    unittest.main()
