"""Writes the small images the test fixtures use (run from tests/; output is committed).

Plain zlib/struct writers, so no imaging library is needed to regenerate them.
"""
import os, struct, zlib

def png(path, w, h, color_type, pixel):
    """color_type 0 = gray, 2 = RGB; pixel(x, y) gives a tuple of samples."""
    raw = b"".join(b"\x00" + bytes(v for x in range(w) for v in pixel(x, y)) for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").write(data)

def bmp(path, w, h, pixel):
    """24-bit bottom-up BMP."""
    row = (w * 3 + 3) & ~3
    body = b"".join(
        bytes(v for x in range(w) for v in reversed(pixel(x, y))) + b"\x00" * (row - w * 3)
        for y in reversed(range(h)))
    header = b"BM" + struct.pack("<IHHI", 54 + len(body), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(body), 2835, 2835, 0, 0)
    open(path, "wb").write(header + info + body)

rgb = lambda x, y: ((x * 8) % 256, (y * 8) % 256, (x ^ y) % 256)
gray = lambda x, y: ((x * 5 + y * 3) % 256,)
d = "fixtures/detection-basic/chips/"
png(d + "a.png", 32, 32, 2, rgb)
png(d + "b.png", 40, 30, 0, gray)
png(d + "c.PNG", 32, 32, 2, lambda x, y: (200, x * 4, y * 4))
png(d + "d.png", 16, 16, 0, gray)
png(d + "e.png", 16, 16, 0, gray)
png(d + "sub/f.png", 24, 24, 2, rgb)
bmp(d + "g.bmp", 20, 10, rgb)
i = "fixtures/instance-polygons/chips/"
png(i + "roofs.png", 32, 32, 2, rgb)
png(i + "empty.png", 32, 32, 2, rgb)
s = "fixtures/semantic-masks/"
png(s + "chips/tile.png", 16, 16, 2, rgb)
png(s + "masks/tile.png", 16, 16, 0, lambda x, y: (1 if x < 8 else (2 if y < 8 else 0),))
png(s + "chips/poly.png", 16, 16, 2, rgb)
png("bad/ext-mismatch/x.jpg", 8, 8, 0, gray)
png("bad/mask-size/mask.png", 8, 8, 0, gray)
png("bad/mask-size/chip.png", 16, 16, 0, gray)
os.makedirs("bad/corrupt-image", exist_ok=True)
open("bad/corrupt-image/broken.png", "wb").write(b"\x89PNG\r\n\x1a\n\x00\x00")

def tiff(path, w, h, pixel, extra=()):
    """Uncompressed 8-bit gray little-endian TIFF, one strip; `extra` adds
    (tag, type, values) entries (type 12 = DOUBLE, 3 = SHORT)."""
    data = bytes(pixel(x, y) for y in range(h) for x in range(w))
    entries = [(256, 3, [w]), (257, 3, [h]), (258, 3, [8]), (259, 3, [1]), (262, 3, [1]),
               (273, 4, [0]), (277, 3, [1]), (278, 3, [h]), (279, 4, [len(data)])] + list(extra)
    entries.sort()
    fmt = {3: "H", 4: "I", 12: "d"}
    ifd_at = 8 + len(data) + (len(data) & 1)
    blob_at = ifd_at + 2 + 12 * len(entries) + 4
    ifd, blob = struct.pack("<H", len(entries)), b""
    for tag, typ, vals in entries:
        if tag == 273:
            vals = [8]
        raw = struct.pack("<" + fmt[typ] * len(vals), *vals)
        if len(raw) <= 4:
            ifd += struct.pack("<HHI", tag, typ, len(vals)) + raw.ljust(4, b"\0")
        else:
            ifd += struct.pack("<HHII", tag, typ, len(vals), blob_at + len(blob))
            blob += raw
    out = b"II*\0" + struct.pack("<I", ifd_at) + data + b"\0" * (len(data) & 1) + ifd + b"\0\0\0\0" + blob
    open(path, "wb").write(out)

tiff(d + "t.tif", 15, 9, lambda x, y: (x * 17 + y) % 256)
os.makedirs("bad/broken-geotiff", exist_ok=True)
tiff("bad/broken-geotiff/broken.tif", 4, 4, lambda x, y: x,
     [(33550, 12, [1.0, 1.0, 0.0]), (33922, 12, [0.0, 0.0, 0.0, 5.0])])
png("bad/mask-value/chip.png", 16, 16, 0, gray)
png("bad/mask-value/mask.png", 16, 16, 0, lambda x, y: (7 if (x, y) == (5, 3) else 1,))
