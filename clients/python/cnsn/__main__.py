"""`python3 -m cnsn run|bench pipeline [flags]`: the TypeScript commands, batches through Python."""

from __future__ import annotations

import sys

from .bench_command import bench_pipeline
from .errors import CnsnError, UsageError
from .run_command import print_summary, run_command

USAGE = "usage: python3 -m cnsn run [flags] | python3 -m cnsn bench pipeline [flags] [--beside-ts]"


def main(argv: list[str]) -> int:
    try:
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
