"""The xcb check runs before Qt: what it finds missing and what it tells the user to install."""
from __future__ import annotations

import subprocess
from pathlib import Path

import PySide6

from app.ui.system_libs import XCB_PLUGIN_LIBRARIES, check_xcb

X11 = {"DISPLAY": ":0"}


def test_missing_xcb_libraries_give_the_exact_apt_line() -> None:
    missing = {"xcb-icccm", "xcb-keysyms"}
    message = check_xcb(X11, find=lambda name: None if name in missing else f"lib{name}.so")
    assert message is not None
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1\n" in message


def test_nothing_to_say_when_all_are_there_or_xcb_is_not_used() -> None:
    assert check_xcb(X11, find=lambda name: f"lib{name}.so") is None
    assert check_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, find=lambda name: None) is None
    assert check_xcb({}, find=lambda name: None) is None


def test_the_list_covers_what_the_xcb_plugin_links() -> None:
    qt = Path(PySide6.__file__).parent / "Qt"
    linked: set[str] = set()
    for lib in (qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt6XcbQpa.so.6"):
        out = subprocess.run(["ldd", str(lib)], capture_output=True, text=True, check=True).stdout
        linked |= {line.split()[0] for line in out.splitlines() if line.strip()}
    ours = {f"lib{name}.so" for name in XCB_PLUGIN_LIBRARIES}
    system = {so.split(".so")[0] + ".so" for so in linked
              if (so.startswith("libxcb") or so.startswith("libxkb") or so.startswith("libX11"))}
    assert system <= ours, system - ours


def test_the_readme_line_is_complete() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    for package in sorted(set(XCB_PLUGIN_LIBRARIES.values())):
        assert package in readme, package
