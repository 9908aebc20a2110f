#!/usr/bin/env python3
"""Regenerates the fuzz seed corpus (fuzz/corpus/{npy,graph}/): small valid
files of every dtype and rank, header variants, and a few graphs.  Only the
standard library is needed; the bytes follow numpy's format and the .bsg
layout documented in src/graph_io.c."""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def npy(descr, shape, data, major=1, align=64, dict_text=None):
    if dict_text is None:
        shp = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        dict_text = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shp)
    pre = 10 if major == 1 else 12
    pad = (align - (pre + len(dict_text) + 1) % align) % align
    hdr = (dict_text + " " * pad + "\n").encode("latin1")
    lenfmt = "<H" if major == 1 else "<I"
    return b"\x93NUMPY" + bytes([major, 0]) + struct.pack(lenfmt, len(hdr)) + hdr + data


def npy_seeds():
    fmt = {"<f4": "f", "<f8": "d", "<i4": "i", "<i8": "q"}
    out = {}
    for descr, code in fmt.items():
        for shape in [(), (3,), (2, 3), (2, 1, 2)]:
            count = 1
            for s in shape:
                count *= s
            vals = [i - 1 for i in range(count)]
            data = struct.pack("<%d%s" % (count, code), *vals)
            name = "%s_%dd.npy" % (descr[1:], len(shape))
            out[name] = npy(descr, shape, data)
    out["f4_v2.npy"] = npy("<f4", (2,), struct.pack("<2f", 1.5, -2), major=2)
    out["i8_v3.npy"] = npy("<i8", (1,), struct.pack("<q", 7), major=3)
    out["py2_long.npy"] = npy("<i8", (2,), struct.pack("<2q", 1, 2), align=16,
                              dict_text="{'descr': '<i8', 'fortran_order': False, 'shape': (2L,), }")
    out["reordered.npy"] = npy("<f8", (1, 1), struct.pack("<d", 0.25),
                               dict_text="{\"shape\":(1,1),\"descr\":\"<f8\",\"fortran_order\":False}")
    out["empty.npy"] = npy("<f4", (0, 4), b"")
    out["f8_big.npy"] = npy("<f8", (1, 2), struct.pack("<2d", 1e300, 1.0))
    return out


def bsg(n, k, mode=1, block=256, m=None, seed=3):
    m = m if m is not None else k + 1
    hdr = b"BSGRAPH\0" + struct.pack("<IIqiiqQ", 1, mode, n, k, block, m, seed)
    ids = b"".join(struct.pack("<i", (i + 1 + j) % n) for i in range(n) for j in range(k))
    sims = b"".join(struct.pack("<f", 1.0 - j / k) for i in range(n) for j in range(k))
    body = hdr + ids + sims
    return body + struct.pack("<I", zlib.crc32(body) & 0xffffffff)


def graph_seeds():
    return {"n2_k1.bsg": bsg(2, 1, mode=2), "n5_k2.bsg": bsg(5, 2, mode=0),
            "n8_k3.bsg": bsg(8, 3, mode=1, block=4)}


def main():
    for sub, seeds in (("npy", npy_seeds()), ("graph", graph_seeds())):
        d = os.path.join(HERE, sub)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
