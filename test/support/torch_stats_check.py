"""Checks the pipeline's returned statistics against the PyTorch reference's instance_stats.

argv: the reference's directory (tools/reference), then a directory holding batch-K.f32 (the delivered CrossNorm
output), batch-K.mean.f64 and batch-K.std.f64, and shapes.json ([[N, C, H, W], ...]).
Prints one JSON line: the largest absolute and relative differences, in float64 and against the
reference's float32 computation (the paper's operations).
"""
import json
import sys

import numpy as np
import torch

sys.path.insert(0, sys.argv[1])
from cnsn_reference import instance_stats  # noqa: E402

folder = sys.argv[2]
shapes = json.load(open(f"{folder}/shapes.json"))
worst = {"f64Abs": 0.0, "f64Rel": 0.0, "f32Rel": 0.0, "batches": len(shapes)}
for k, shape in enumerate(shapes):
    n, c, _, _ = shape
    x = np.fromfile(f"{folder}/batch-{k}.f32", dtype="<f4").reshape(shape)
    ours = {s: np.fromfile(f"{folder}/batch-{k}.{s}.f64", dtype="<f8").reshape(n, c) for s in ("mean", "std")}
    for dtype, key in ((torch.float64, "f64"), (torch.float32, "f32")):
        mean, std = instance_stats(torch.from_numpy(x).to(dtype), eps=1e-12)
        for name, ref in (("mean", mean), ("std", std)):
            ref = ref.reshape(n, c).double().numpy()
            diff = np.abs(ours[name] - ref)
            if key == "f64":
                worst["f64Abs"] = max(worst["f64Abs"], float(diff.max()))
            worst[f"{key}Rel"] = max(worst[f"{key}Rel"], float((diff / (1 + np.abs(ref))).max()))
print(json.dumps(worst))
