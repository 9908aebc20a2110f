#!/usr/bin/env python3
"""Regenerates the checkpoint fuzz seeds (fuzz/corpus/ckpt/): small valid
files in the format of train/ckpt.h, written independently of the C writer
with the standard library only (struct, zlib.crc32)."""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def ckpt(sections):
    out = b"BSCKPT\0\0" + struct.pack("<II", 1, len(sections))
    for name, payload in sections:
        out += struct.pack("<I", len(name)) + name
        out += struct.pack("<QI", len(payload), zlib.crc32(payload)) + payload
    return out + struct.pack("<I", zlib.crc32(out))


def seeds():
    return {
        "empty.ckpt": ckpt([]),
        "one_empty_section.ckpt": ckpt([(b"e", b"")]),
        "small.ckpt": ckpt([(b"a", bytes([1, 2, 3])),
                            (b"step", struct.pack("<Q", 12345)),
                            (b"e", b"")]),
        "trainer.ckpt": ckpt([
            (b"config", b"loss=dcl tau=0.5 tau_plus=0.1 batch=64 seed=7"),
            (b"model.conv1.W", struct.pack("<12f", *[i / 8 - 0.7 for i in range(12)])),
            (b"model.bn1.running_mean", struct.pack("<3f", 0.1, -0.2, 0.3)),
            (b"model.bn1.running_var", struct.pack("<3f", 1.0, 0.9, 1.1)),
            (b"adamw.m", struct.pack("<4f", 0, 1e-3, -2e-3, 0)),
            (b"adamw.v", struct.pack("<4f", 0, 1e-6, 4e-6, 0)),
            (b"adamw.t", struct.pack("<Q", 1000)),
            (b"lr", struct.pack("<d", 0.0003)),
            (b"rng.epoch", struct.pack("<Q", 3)),
            (b"sampler.state", bytes(range(40))),
        ]),
        "long_name.ckpt": ckpt([(b"n" * 64, b"x"), (b"~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}", b"")]),
    }


if __name__ == "__main__":
    for name, data in seeds().items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
