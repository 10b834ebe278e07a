#!/usr/bin/env python3
"""Regenerates the corrupt chips of tests/bad/ (issue 13, item 7): a JPEG
cut in half (with a world file, and without), TIFFs with SamplesPerPixel
65535, BitsPerSample 0 and a strip past the end of the file, and a PNG with
a bad CRC. The sound images come from GDAL's gdal_translate (gdal-bin) and
the fixture tests/fixtures/semantic-masks/chips/tile.png; the damage is
done here, byte by byte."""

import json
import os
import shutil
import struct
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.join(ROOT, "bad")
SOURCE = os.path.join(ROOT, "fixtures", "semantic-masks", "chips", "tile.png")
WORLD = "0.5\n0\n0\n-0.5\n500000.25\n4600000.75\n"


def translate(fmt, ext, *options):
    """The fixture PNG as GDAL writes it in `fmt`, without any sidecar."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src.png")
        shutil.copy(SOURCE, src)
        out = os.path.join(tmp, "out." + ext)
        subprocess.run(
            ["gdal_translate", "-q", "-of", fmt, *options, src, out], check=True
        )
        with open(out, "rb") as f:
            return bytearray(f.read())


def ifd_entry(tiff, tag):
    """Offset of the little-endian classic TIFF's first-IFD entry for `tag`."""
    assert tiff[:4] == b"II*\0"
    (ifd,) = struct.unpack_from("<I", tiff, 4)
    (count,) = struct.unpack_from("<H", tiff, ifd)
    for i in range(count):
        at = ifd + 2 + 12 * i
        if struct.unpack_from("<H", tiff, at)[0] == tag:
            return at
    raise KeyError(tag)


def case(name, image_name, image, expect, world=None):
    folder = os.path.join(BAD, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, image_name), "wb") as f:
        f.write(image)
    chip = {"id": "c", "image": image_name,
            "labels": [{"class": "ship", "bbox": [0, 0, 1, 1]}]}
    if world:
        with open(os.path.join(folder, world), "w") as f:
            f.write(WORLD)
        chip["world_file"] = world
    project = {"labelstore": 1, "name": "bad", "labeling_type": "object_detection",
               "srid": 32632, "classes": [{"id": 1, "name": "ship"}], "chips": [chip]}
    with open(os.path.join(folder, "project.json"), "w") as f:
        json.dump(project, f)
        f.write("\n")
    with open(os.path.join(folder, "expect.txt"), "w") as f:
        f.write(expect + "\n")


def main():
    # Big enough that its first half holds every header and some image data.
    jpeg = translate("JPEG", "jpg", "-outsize", "256", "256", "-r", "bilinear")
    half = jpeg[: len(jpeg) // 2]
    no_eoi = ("cut.jpg: chip \"c\": chips[0].image: corrupt JPEG image: cut short: "
              "the image data ends without an end-of-image (EOI) marker")
    case("jpeg-cut-georef", "cut.jpg", half, no_eoi, world="cut.jgw")
    case("jpeg-cut-plain", "cut.jpg", half, no_eoi)

    tiff = translate("GTiff", "tif", "-co", "TILED=NO")
    spp = bytearray(tiff)
    struct.pack_into("<H", spp, ifd_entry(spp, 277) + 8, 65535)
    case("tiff-samples-65535", "spp.tif", spp,
         "spp.tif: chip \"c\": chips[0].image: corrupt TIFF image: SamplesPerPixel 65535",
         world="spp.tfw")

    bits = bytearray(tiff)
    at = ifd_entry(bits, 258)
    (where,) = struct.unpack_from("<I", bits, at + 8)
    struct.pack_into("<HHH", bits, where, 0, 0, 0)
    case("tiff-bits-0", "bits.tif", bits,
         "bits.tif: chip \"c\": chips[0].image: corrupt TIFF image: BitsPerSample 0",
         world="bits.tfw")

    past = bytearray(tiff)
    at = ifd_entry(past, 273)
    assert struct.unpack_from("<I", past, at + 4)[0] == 1, "one strip expected"
    struct.pack_into("<I", past, at + 8, 10_000_000)
    case("tiff-strip-past-end", "past.tif", past,
         "past.tif: chip \"c\": chips[0].image: corrupt TIFF image: strip 0 (768 bytes at "
         "offset 10000000) lies past the end of the file")

    with open(SOURCE, "rb") as f:
        png = bytearray(f.read())
    at = png.index(b"IDAT") + 4
    png[at + 10] ^= 0x55
    case("png-bad-crc", "crc.png", png,
         "crc.png: chip \"c\": chips[0].image: corrupt PNG image: chunk IDAT of")


if __name__ == "__main__":
    main()
