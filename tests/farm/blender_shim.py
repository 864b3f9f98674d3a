"""A `blender` executable for the farm tests: Blender's command line, run on the bpy module.

The Flamenco tests write a two-line `blender` script that execs this file with the virtualenv's
Python, and point the Manager's `{blender}` variable at it. It reads a Blender command line the
way Blender does for what the s2l-bake job type uses, in order: `-b`/`--background` (required:
without it Blender would open a window), `-y`, `--python-exit-code N`, a .blend to open, and
`--python FILE`, which runs FILE as `__main__` with `sys.argv` holding the whole command line
(Blender's own sys.argv; the script reads what follows `--`). A SystemExit from the script ends
the process with its code, as in Blender; any other exception prints its traceback and exits
with the `--python-exit-code` (0 when not given, as Blender does). Any other argument is refused
with exit status 99, so a command line that this stand-in does not understand never passes.
"""

from __future__ import annotations

import runpy
import sys
import traceback


def main(argv: list[str]) -> int:
    background = False
    exit_code = 0
    steps: list[tuple[str, str]] = []
    i = 0
    while i < len(argv) and argv[i] != "--":
        arg = argv[i]
        if arg in ("-b", "--background"):
            background = True
        elif arg in ("-y", "--enable-autoexec"):
            pass
        elif arg == "--python-exit-code" and i + 1 < len(argv):
            i += 1
            exit_code = int(argv[i])
        elif arg in ("-P", "--python") and i + 1 < len(argv):
            i += 1
            steps.append(("python", argv[i]))
        elif not arg.startswith("-"):
            steps.append(("open", arg))
        else:
            print(f"blender shim: unsupported argument {arg!r}", file=sys.stderr)
            return 99
        i += 1
    if not background:
        print("blender shim: no -b/--background, Blender would open a window", file=sys.stderr)
        return 99
    import bpy

    for kind, value in steps:
        if kind == "open":
            bpy.ops.wm.open_mainfile(filepath=value)
            continue
        sys.argv = ["blender", *argv]
        try:
            runpy.run_path(value, run_name="__main__")
        except SystemExit:
            raise
        except BaseException:
            traceback.print_exc()
            if exit_code:
                return exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
