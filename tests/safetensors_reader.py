#!/usr/bin/python3
# safetensors_reader.py — a plain safetensors reader in numpy (no kiln code, no safetensors
# package), used to prove .kiln files are ordinary safetensors files:
#   /usr/bin/python3 tests/safetensors_reader.py MODEL.kiln EXPECTED_DIR
# compares every parameter with EXPECTED_DIR/<name, '/' -> '__'>.f32 (raw little-endian
# float32 written by tests/test_interop.c) and checks kiln's metadata. Exit 0 when all match.
import json, os, struct, sys
import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I32": np.int32, "I64": np.int64,
          "U8": np.uint8, "I8": np.int8, "I16": np.int16, "BOOL": np.bool_}

def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, t in header.items():
        start, end = t["data_offsets"]
        arr = np.frombuffer(data[base + start:base + end], dtype=DTYPES[t["dtype"]]).newbyteorder("<")
        tensors[name] = arr.reshape(t["shape"])
    return tensors, meta, base

def main():
    path, expected = sys.argv[1], sys.argv[2]
    tensors, meta, base = read_safetensors(path)
    ok = True
    assert meta.get("kiln.format_version") == "1", meta
    arch = json.loads(meta["kiln.architecture"])
    ok &= arch["type"] == "sequential"
    for name, arr in tensors.items():
        if name.startswith("kiln.pad."):
            continue
        want = np.fromfile(os.path.join(expected, name.replace("/", "__") + ".f32"), dtype="<f4")
        if arr.dtype != np.float32 or arr.size != want.size or not np.array_equal(arr.ravel(), want):
            print(f"FAIL {name}: shape {arr.shape} differs from kiln's values")
            ok = False
        else:
            print(f"ok {name} {tuple(arr.shape)}")
    if base % 64:
        print(f"FAIL data section at byte {base}, not 64-byte aligned")
        ok = False
    layers = [l for l in arch["layers"] if l["type"] == "dense"]
    n_params = sum(1 + (1 if l.get("use_bias", True) else 0) for l in layers)
    if sum(1 for k in tensors if not k.startswith("kiln.pad.")) != n_params:
        print("FAIL parameter count differs from the architecture")
        ok = False
    print("safetensors interop: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
