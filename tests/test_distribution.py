"""README's "build the wheel" instructions work: `pip wheel . --no-deps -w dist` gives an installable bbvars wheel
with every module and the `bbvars` command."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from tests.support import ROOT


def test_the_wheel_builds_with_every_module_and_the_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("bbvars-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    modules = {str(p.relative_to(ROOT / "src")) for p in (ROOT / "src" / "bbvars").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    assert "bbvars = bbvars.surfaces.cli.main:entry" in entry_points
    for requirement in ("httpx", "tenacity", "pyyaml"):
        assert f"Requires-Dist: {requirement}" in metadata.replace("PyYAML", "pyyaml")
