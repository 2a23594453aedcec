"""`python3 -m cnsn run|bench pipeline [flags]`: the TypeScript commands, batches through Python."""

from __future__ import annotations

import subprocess
import sys

from .bench_command import bench_pipeline
from .errors import CnsnError, UsageError
from .gateway import find_node, gateway_command
from .run_command import print_summary, run_command

USAGE = "usage: python3 -m cnsn run [flags] | python3 -m cnsn bench pipeline [flags] [--beside-ts]"


def print_help(argv: list[str]) -> int:
    """The TypeScript command's own help: the flags are its flags."""
    command, env, _ = gateway_command(find_node())
    sub = ["bench", "pipeline"] if argv[:2] == ["bench", "pipeline"] else ["run"]
    done = subprocess.run([*command[:-1], *sub, "--help"], env=env, capture_output=True, text=True, check=False)
    print(f"python3 -m cnsn {' '.join(sub)}: `npm run cnsn -- {' '.join(sub)}` with batches entering and leaving through Python.")
    if sub[0] == "bench":
        print("Also: --beside-ts (time the TypeScript driver on the same batches, alternating), --rounds R (default 2).")
    print(done.stdout.replace("Usage: cnsn", "Usage: python3 -m cnsn"), end="")
    return done.returncode


def main(argv: list[str]) -> int:
    try:
        if argv[:1] in (["run"], ["bench"]) and ("--help" in argv or "-h" in argv):
            return print_help(argv)
        if argv[:1] == ["run"]:
            summary = run_command(argv[1:])
            print_summary(summary, "--json" in argv)
            return 0
        if argv[:2] == ["bench", "pipeline"]:
            bench_pipeline(argv[2:])
            return 0
        raise UsageError(f"unknown command {' '.join(argv[:2]) or '(none)'}; {USAGE}")
    except CnsnError as err:
        sys.stderr.write(f"cnsn: error: {err.message}\n")
        return int(getattr(err, "exit_code", None) or (2 if isinstance(err, UsageError) else 1))
    except KeyboardInterrupt:
        sys.stderr.write("cnsn: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
