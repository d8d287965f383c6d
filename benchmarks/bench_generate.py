"""Generator benchmark: `python benchmarks/bench_generate.py [--scale 1] [--workers N]` (`globalbev bench generate`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_generators.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", "generate", *sys.argv[1:]]))
