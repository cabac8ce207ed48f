"""Load time and peak memory of a CIFAR-10-sized data set in the official layouts.

    .venv/bin/python tests/benchmarks/data_load.py [--images 50000] [--test 10000]

Writes 50,000 training and 10,000 test random 32×32×3 images in the python (pickled batches)
and the binary layout into a temp folder, then loads each in a fresh Python process and
prints the wall time, the growth of the peak resident memory over the bare process, and the
bytes the DataSet holds. The embedded sets are timed too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "data")]

from data_files import write_cifar10_binary, write_cifar10_python  # noqa: E402

from engine.shapes import format_bytes  # noqa: E402

# Runs in a fresh process so that its peak memory is the loader's alone.
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent into a child process.
PROBE = """
import json, sys, time
sys.path.insert(0, {root!r})
from engine.data import load_data
from engine.spec import Volume
def high_water():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
before = high_water()
start = time.perf_counter()
data = load_data({source!r}, {volume})
seconds = time.perf_counter() - start
peak = high_water()
held = sum(a.nbytes for a in (data.train_x, data.val_x, data.test_x) if a is not None)
print(json.dumps({{"seconds": seconds, "peak_growth": (peak - before) * 1024, "held": held,
                  "train": len(data.train_y), "val": len(data.val_y),
                  "test": 0 if data.test_y is None else len(data.test_y)}}))
"""


def probe(source: str, volume: str = "None") -> dict:
    code = PROBE.format(root=str(ROOT), source=source, volume=volume)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--test", type=int, default=10_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
    y = np.arange(args.images) % 10
    test_x = rng.integers(0, 256, (args.test, 32, 32, 3), dtype=np.uint8)
    test_y = np.arange(args.test) % 10
    print(f"CIFAR-10-sized set: {args.images:,} + {args.test:,} images of 32×32×3 "
          f"({format_bytes(x.nbytes + test_x.nbytes)} as uint8, "
          f"{format_bytes(4 * (x.nbytes + test_x.nbytes))} as float32)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        layouts = {
            "python (pickled batches)": write_cifar10_python(root / "py", x, y, test_x, test_y),
            "binary (3,073-byte records)": write_cifar10_binary(root / "bin", x, y, test_x,
                                                                test_y),
        }
        del x, test_x
        for name, folder in layouts.items():
            r = probe(str(folder), "Volume(32, 32, 3)")
            print(f"  {name:<28} load {r['seconds']:.2f} s, peak memory +"
                  f"{format_bytes(r['peak_growth'])}, data set holds {format_bytes(r['held'])} "
                  f"({r['train']:,} train / {r['val']:,} validation / {r['test']:,} test)")
    for name in ("digits", "shapes"):
        r = probe(name)
        print(f"  embedded {name:<19} load {r['seconds']:.3f} s, peak memory +"
              f"{format_bytes(r['peak_growth'])}, data set holds {format_bytes(r['held'])}")


if __name__ == "__main__":
    main()
