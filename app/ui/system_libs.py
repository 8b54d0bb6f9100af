"""Before Qt starts: are the system libraries its X11 (xcb) platform plugin needs installed?

Without one, Qt aborts with "could not load the Qt platform plugin xcb" and no word on what is
missing. This runs first and prints the exact install line instead. No Qt import here: it must
work when Qt cannot. The list is what PySide6 6.12's `plugins/platforms/libqxcb.so` and
`libQt6XcbQpa.so.6` link against (`ldd`), with their Debian 12 / Ubuntu package names.
"""
from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Callable, Mapping

# library name as ctypes.util.find_library takes it → Debian 12 package
XCB_PLUGIN_LIBRARIES: dict[str, str] = {
    "GL": "libgl1", "EGL": "libegl1", "fontconfig": "libfontconfig1", "freetype": "libfreetype6",
    "dbus-1": "libdbus-1-3", "glib-2.0": "libglib2.0-0", "X11": "libx11-6", "X11-xcb": "libx11-xcb1",
    "xkbcommon": "libxkbcommon0", "xkbcommon-x11": "libxkbcommon-x11-0", "xcb": "libxcb1",
    "xcb-cursor": "libxcb-cursor0", "xcb-icccm": "libxcb-icccm4", "xcb-image": "libxcb-image0",
    "xcb-keysyms": "libxcb-keysyms1", "xcb-randr": "libxcb-randr0", "xcb-render": "libxcb-render0",
    "xcb-render-util": "libxcb-render-util0", "xcb-shape": "libxcb-shape0", "xcb-shm": "libxcb-shm0",
    "xcb-sync": "libxcb-sync1", "xcb-util": "libxcb-util1", "xcb-xfixes": "libxcb-xfixes0",
    "xcb-xkb": "libxcb-xkb1",
}


def uses_xcb(environ: Mapping[str, str]) -> bool:
    """Qt will try the xcb plugin: Linux, a DISPLAY, and no other platform asked for."""
    platform = environ.get("QT_QPA_PLATFORM", "")
    return sys.platform.startswith("linux") and bool(environ.get("DISPLAY")) and platform in ("", "xcb")


def missing_packages(find: Callable[[str], str | None] = ctypes.util.find_library) -> list[str]:
    return sorted({package for library, package in XCB_PLUGIN_LIBRARIES.items() if find(library) is None})


def install_line(packages: list[str]) -> str:
    return "sudo apt-get install " + " ".join(packages)


def check_xcb(environ: Mapping[str, str] | None = None, *,
              find: Callable[[str], str | None] = ctypes.util.find_library) -> str | None:
    """The message to print when Qt's xcb plugin would fail for a missing library, else None."""
    environ = os.environ if environ is None else environ
    if not uses_xcb(environ):
        return None
    missing = missing_packages(find)
    if not missing:
        return None
    return ("tutorloop's window needs system libraries that are not installed: "
            f"{', '.join(missing)}.\nOn Debian or Ubuntu install them with:\n\n    {install_line(missing)}\n\n"
            "(or run without a window: tutorloop ask, tutorloop review, … work without them).")
