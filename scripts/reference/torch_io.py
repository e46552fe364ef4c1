"""
Checks our torch.save-compatible files against real PyTorch, both ways.

  torch_io.py check-load PAIR...      PAIR = BIN_DIR:SAFETENSORS_DIR. Loads BIN_DIR/pytorch_model.bin with
                                      torch.load(map_location='cpu', weights_only=True) and compares every tensor,
                                      bit for bit, to SAFETENSORS_DIR/model.safetensors (same model written by
                                      our safetensors writer). Also checks tied weights share storage in torch.
                                      Prints one JSON object per pair; exits 1 on any mismatch.
  torch_io.py write-fixture OUT_DIR   Writes state dicts with real torch.save (zip and legacy formats) plus the
                                      expected values of every tensor as float64 .npy, for test/ref-torch-bin.
"""
import json
import os
import sys

import numpy as np
import torch

from hf_forward import read_safetensors


def check_load(pair):
    bin_dir, st_dir = pair.split(":")
    sd = torch.load(os.path.join(bin_dir, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    ref = read_safetensors(os.path.join(st_dir, "model.safetensors"))
    problems = []
    compared = 0
    for name, want in ref.items():
        if name not in sd:
            problems.append(f"{name}: missing from torch.load result")
            continue
        got = sd[name]
        if list(got.shape) != list(want.shape):
            problems.append(f"{name}: shape {list(got.shape)} vs {list(want.shape)}")
            continue
        if got.dtype == torch.bfloat16:
            same = np.array_equal(got.float().numpy(), want)  # the reader widened bf16 to float32 exactly
        elif got.numpy().dtype != want.dtype:
            problems.append(f"{name}: dtype {got.dtype} vs {want.dtype}")
            continue
        else:
            same = got.contiguous().numpy().tobytes() == want.tobytes()  # bit for bit
        if not same:
            diff = np.max(np.abs(got.double().numpy() - want.astype(np.float64)))
            problems.append(f"{name}: values differ (max abs {float(diff)})")
            continue
        compared += 1
    extra = sorted(set(sd) - set(ref))
    tied = None
    for a, b in (("transformer.wte.weight", "lm_head.weight"), ("model.embed_tokens.weight", "lm_head.weight")):
        if a in sd and b in sd and b not in ref:
            tied = sd[a].data_ptr() == sd[b].data_ptr() and torch.equal(sd[a], sd[b])
            if not tied:
                problems.append(f"{b} should share {a}'s storage")
    for name in extra:
        if name == "lm_head.weight" or name.endswith("attn.masked_bias"):
            continue
        problems.append(f"{name}: only in the .bin")
    report = {"bin": bin_dir, "tensors": compared, "extraInBin": extra, "tiedSharesStorage": tied, "problems": problems}
    print(json.dumps(report))
    return not problems


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(7, 4)
        self.lin = torch.nn.Linear(4, 3)
        self.head = torch.nn.Linear(4, 7, bias=False)
        self.head.weight = self.emb.weight  # tied: one storage, two names
        self.register_buffer("steps", torch.tensor(5, dtype=torch.int64))


def write_fixture(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    m = Tiny()
    sd = m.state_dict()
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 7 - 1
    sd["half"] = (torch.randn(3, 5) * 3).to(torch.float16)
    sd["bf16"] = (torch.randn(2, 3) * 100).to(torch.bfloat16)
    sd["double"] = torch.randn(5, dtype=torch.float64)
    sd["transposed"] = base.t()  # non-contiguous: stride (1, 6)
    sd["row_slice"] = base[1:3]  # storage offset 6, shares base's storage
    sd["col_slice"] = base[:, 2:5]  # offset 2, stride (6, 1)
    sd["base"] = base
    sd["scalar"] = torch.tensor(2.5)
    sd["int32"] = torch.tensor([[1, -2], [3, 40000]], dtype=torch.int32)
    expected = {k: v.detach().to(torch.float64).contiguous().numpy() for k, v in sd.items()}
    torch.save(sd, os.path.join(out, "torch-zip.bin"))
    torch.save(sd, os.path.join(out, "torch-legacy.bin"), _use_new_zipfile_serialization=False)
    # A dict of nn.Parameters (pickled through torch._utils._rebuild_parameter), nested one level.
    params = {"model": {"w": torch.nn.Parameter(torch.randn(2, 2)), "b": torch.nn.Parameter(torch.randn(2))}}
    torch.save(params, os.path.join(out, "torch-params.bin"))
    expected["model.w"] = params["model"]["w"].detach().double().numpy()
    expected["model.b"] = params["model"]["b"].detach().double().numpy()
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)
    for k, v in expected.items():
        np.save(os.path.join(out, "expected", k + ".npy"), v)
    meta = {
        "torch": torch.__version__,
        "files": {"torch-zip.bin": sorted(sd.keys()), "torch-legacy.bin": sorted(sd.keys()), "torch-params.bin": ["model.b", "model.w"]},
        "dtypes": {k: str(v.dtype).replace("torch.", "") for k, v in sd.items()},
        "tied": [["emb.weight", "head.weight"]],
    }
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "check-load":
        ok = all([check_load(p) for p in sys.argv[2:]])
        sys.exit(0 if ok else 1)
    elif cmd == "write-fixture":
        write_fixture(sys.argv[2])
    else:
        sys.exit(f"unknown command {cmd}")
