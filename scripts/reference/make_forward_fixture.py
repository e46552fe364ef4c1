"""
  make_forward_fixture.py MODEL_DIR FIXTURE_DIR

Reads FIXTURE_DIR/ids.npy and mask.npy, runs the float64 torch re-implementation of transformers' forward
(hf_forward.py) on MODEL_DIR and writes FIXTURE_DIR/hidden.npy: [nLayer + 1, B, T, d] float64. Values at padded
positions are set to 0 (they are meaningless; tests compare real tokens only).
"""
import os
import sys

import numpy as np
import torch

from hf_forward import forward

torch.set_default_dtype(torch.float64)
model_dir, fixture_dir = sys.argv[1], sys.argv[2]
ids = np.load(os.path.join(fixture_dir, "ids.npy"))
mask = np.load(os.path.join(fixture_dir, "mask.npy"))
hidden = forward(model_dir, ids, mask)
out = torch.stack(hidden).numpy() * mask[None, :, :, None]
assert np.isfinite(out).all()
np.save(os.path.join(fixture_dir, "hidden.npy"), np.ascontiguousarray(out, dtype=np.float64))
