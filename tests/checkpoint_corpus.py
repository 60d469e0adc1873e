"""A seeded corpus of hostile checkpoints, made by mutating one good file.

Kinds of mutation: byte flips, truncations, edits of the 8-byte header length, every
metadata field replaced by values of the wrong type or range (strings for numbers, 10^400,
NaN, deep nesting, huge strings and lists), tensor header edits (dtype, shape, offsets),
and NaN/inf weights. ``corpus(good_bytes, n, seed)`` yields ``(label, bytes)``.
"""

from __future__ import annotations

import json
import random
import struct

WRONG_VALUES = [
    '"x"', "-1", "0", "1.5", "1e400", "-1e400", "NaN", "Infinity", "null", "true", "[]", "{}", "[0]",
    "[NaN]", "1" + "0" * 400, "1" + "0" * 18, '"' + "a" * 5000 + '"', "[" * 1000 + "]" * 1000,
    '{"a": ' * 300 + "1" + "}" * 300, "[" + ",".join(["1"] * 5000) + "]", '"\\u001b[31mred\\n"',
]


def split(data: bytes) -> tuple[dict, bytes]:
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def join(header: dict | str, body: bytes) -> bytes:
    raw = (header if isinstance(header, str) else json.dumps(header)).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def _paths(value, prefix=()):
    """Every path into a JSON value (dict keys and list indices), leaves and branches."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            yield from _paths(v, prefix + (i,))


def _replace_raw(doc, path, raw: str) -> str:
    """``doc`` as JSON text with the value at ``path`` replaced by the raw JSON text ``raw``."""
    marker = "__CNN_GUI_FUZZ__"
    if not path:
        return raw
    target = doc
    for key in path[:-1]:
        target = target[key]
    old = target[path[-1]]
    target[path[-1]] = marker
    try:
        return json.dumps(doc).replace(f'"{marker}"', raw)
    finally:
        target[path[-1]] = old


def corpus(good: bytes, n: int, seed: int = 0):
    rng = random.Random(seed)
    header, body = split(good)
    meta_doc = json.loads(header["__metadata__"]["cnn_gui"])
    meta_paths = list(_paths(meta_doc))[1:]
    tensor_names = [k for k in header if k != "__metadata__"]
    kinds = ["flip", "truncate", "length", "meta", "meta", "meta", "meta", "tensor", "nan"]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind == "flip":
            data = bytearray(good)
            for _ in range(rng.randint(1, 8)):
                pos = rng.randrange(len(data)) if rng.random() < 0.3 else rng.randrange(min(len(data), 8 + 4000))
                data[pos] ^= 1 << rng.randrange(8)
            yield f"flip-{i}", bytes(data)
        elif kind == "truncate":
            yield f"truncate-{i}", good[: rng.randrange(len(good))]
        elif kind == "length":
            value = rng.choice([0, 1, 2, len(good), 2**63, 2**64 - 1, rng.randrange(2**32)])
            yield f"length-{i}", struct.pack("<Q", value) + good[8:]
        elif kind == "meta":
            path = rng.choice(meta_paths)
            raw = rng.choice(WRONG_VALUES)
            text = _replace_raw(meta_doc, path, raw)
            h = dict(header)
            h["__metadata__"] = {"cnn_gui": text}
            label = "meta-" + ".".join(map(str, path)) + f"={raw[:12]}"
            yield label, join(h, body)
        elif kind == "tensor":
            name = rng.choice(tensor_names)
            h = json.loads(json.dumps(header))
            entry = h[name]
            what = rng.choice(["dtype", "shape", "offsets", "swap", "drop"])
            if what == "dtype":
                entry["dtype"] = rng.choice(["F16", "I64", "U8", "BOOL", "F64", "X9", 7])
            elif what == "shape":
                entry["shape"] = rng.choice([[], [0], [10**12], [-1], ["a"], entry["shape"][::-1] + [1]])
            elif what == "offsets":
                a, b = entry["data_offsets"]
                entry["data_offsets"] = rng.choice([[b, a], [a, b + 4], [a + 1, b], [-4, b], [a, "x"]])
            elif what == "swap" and len(tensor_names) > 1:
                other = h[rng.choice(tensor_names)]
                entry["data_offsets"], other["data_offsets"] = other["data_offsets"], entry["data_offsets"]
            else:
                del h[name]
            yield f"tensor-{what}-{name}", join(h, body)
        else:  # NaN or inf inside a float tensor's bytes
            name = rng.choice([k for k in tensor_names if header[k]["dtype"] == "F32"] or tensor_names)
            a, b = header[name]["data_offsets"]
            data = bytearray(body)
            if b - a >= 4:
                pos = a + 4 * rng.randrange((b - a) // 4)
                data[pos : pos + 4] = struct.pack("<f", rng.choice([float("nan"), float("inf"), float("-inf")]))
            yield f"nan-{name}", join(header, bytes(data))
