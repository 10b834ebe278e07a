#!/usr/bin/python3
"""Regenerates esri.tsv, the ESRI names that crs.rs puts into .prj files.

ESRI's WKT names its objects its own way ("WGS_1984_UTM_Zone_32N",
"GCS_ETRS_1989", "D_ETRS_1989", "Foot_US") and no rule derives them from
the EPSG names, so crs.rs takes them from this table, made with GDAL (the
reference for `.prj` files, `gdalsrsinfo -o wkt_esri EPSG:n`):

    /usr/bin/python3 crates/raster-georef/src/crs/gen_esri_tsv.py

needs Debian's python3-gdal and the crs-definitions sources (any cargo
build of the workspace fetches them). Lines, tab-separated:

    U  unit-EPSG-code  ESRI-name  ESRI-value
    G  geographic-CRS-code  GCS-name  datum-name  spheroid-name  prime-meridian-name  prime-meridian-value
    P  projected-CRS-code  PROJCS-name  [ESRI projection name, when not the default for the WKT1 one]

A code is left out (crs.rs then refuses its .prj) when GDAL itself writes no
real ESRI definition for it (WKT1 parameter names left in), when GDAL's
definition does not match the crs-definitions one (a newer EPSG base CRS, a
unit named otherwise, or other numbers: DIFFERS below, found with --check).
"""

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from osgeo import gdal, osr

gdal.UseExceptions()

HERE = Path(__file__).resolve().parent

# The ESRI projection crs.rs assumes for each WKT1 projection (keep in step
# with `default_projection` in crs.rs).
DEFAULT_PROJECTION = {
    "Transverse_Mercator": "Transverse_Mercator",
    "Lambert_Conformal_Conic_1SP": "Lambert_Conformal_Conic",
    "Lambert_Conformal_Conic_2SP": "Lambert_Conformal_Conic",
    "Oblique_Stereographic": "Double_Stereographic",
    "Cassini_Soldner": "Cassini",
    "Albers_Conic_Equal_Area": "Albers",
    "Lambert_Azimuthal_Equal_Area": "Lambert_Azimuthal_Equal_Area",
    "Mercator_1SP": "Mercator",
    "Mercator_2SP": "Mercator",
    "Hotine_Oblique_Mercator": "Hotine_Oblique_Mercator_Azimuth_Natural_Origin",
    "Hotine_Oblique_Mercator_Azimuth_Center": "Hotine_Oblique_Mercator_Azimuth_Center",
    "Equirectangular": "Equidistant_Cylindrical",
    "Polyconic": "Polyconic",
    "Azimuthal_Equidistant": "Azimuthal_Equidistant",
    "Polar_Stereographic": None,  # always named: Stereographic_North_Pole / _South_Pole
    "Cylindrical_Equal_Area": None,
    "New_Zealand_Map_Grid": "New_Zealand_Map_Grid",
    "Laborde_Oblique_Mercator": "Laborde_Oblique_Mercator",
}

# Codes whose GDAL definition differs in substance from the crs-definitions
# one crs.rs writes (EPSG revisions between the two databases, ESRI's own
# variant of a deprecated CRS): found with --check, see below.
DIFFERS = [
    2085, 2086, 2155, 2156, 2171, 2194, 2244, 2245, 2577, 2694, 2889, 2890, 2983, 2984,
    2989, 2990, 3064, 3065, 3073, 3076, 3167, 3314, 3349, 3454, 3842, 3843, 3985, 4035,
    4228, 4234, 4260, 4268, 4291, 4296, 4635, 4640, 4645, 4670, 4685, 4731, 4855, 4856,
    4857, 4858, 4859, 4860, 4861, 4862, 4863, 4864, 4865, 4866, 4867, 4868, 4869, 4870,
    4871, 4872, 4873, 4874, 4875, 4876, 4877, 4878, 4879, 4880, 5247, 5340, 5343, 5344,
    5345, 5346, 5347, 5348, 5349, 5388, 5570, 5571, 5572, 5573, 5574, 5575, 5576, 5577,
    5578, 5579, 5580, 5581, 5582, 5583, 6141, 6956, 6957, 6958, 6959, 6980, 6987, 7804,
    22832, 23433, 26193, 26747, 26801, 26802, 26803, 26811, 26812, 26813, 26979, 29100,
    29118, 29119, 29120, 29121, 29122, 29177, 29178, 29179, 29180, 29181, 29182, 29183,
    29184, 29185, 29635, 29636, 31265, 31266, 31267, 31268, 31278, 31900, 32018, 32029,
    32036
]
SKIP = {code: "GDAL's ESRI definition differs from crs-definitions'" for code in DIFFERS}


def crs_definitions_rows():
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1"],
            cwd=HERE, check=True, capture_output=True, text=True,
        ).stdout
    )
    manifest = next(
        p["manifest_path"] for p in meta["packages"] if p["name"] == "crs-definitions"
    )
    defs = Path(manifest).parent / "src" / "defs.rs"
    rows = []
    for line in defs.read_text().splitlines():
        m = re.match(r'EPSG_\w+\|(\d+)\|"(.*?)"\|r#"(.*)"#\|$', line)
        if m and m.group(3).startswith(("PROJCS[", "GEOGCS[")):
            rows.append((int(m.group(1)), m.group(3)))
    return rows


def esri(code):
    s = osr.SpatialReference()
    s.ImportFromEPSG(code)
    return s.ExportToWkt(["FORMAT=WKT1_ESRI"])


def check(dump):
    """Compares crs.rs's output with GDAL's for every code.

    `dump` holds one line per code, `code<TAB>esri_wkt or ERROR ...<TAB>ok or
    ERROR ...`, written from `Crs::from_epsg(code)` and `esri_wkt()` for every
    code up to 65535 by a throwaway program (not part of the test suite,
    which runs no test that only writes a file). Prints the codes whose text
    differs beyond rounding in the 15th digit and ESRI's unit names (crs.rs
    writes "Foot_US" where GDAL 3.6 writes "US survey foot"): DIFFERS is that
    list. After a change of GDAL or crs-definitions: empty DIFFERS, generate,
    build, dump, check, and put the printed codes into DIFFERS.
    """
    def tokens(text):
        text = re.sub(r'UNIT\["[^"]*",([^\]]*)\]\]$', r'UNIT["",\1]]', text)
        return re.findall(r'"[^"]*"|[-+0-9.eE]+|[A-Za-z_]+|[\[\],]', text)

    def same(a, b):
        ta, tb = tokens(a), tokens(b)
        if len(ta) != len(tb):
            return False
        for x, y in zip(ta, tb):
            if x != y:
                try:
                    if abs(float(x) - float(y)) > 1e-12 * max(1.0, abs(float(x))):
                        return False
                except ValueError:
                    return False
        return True

    counts, differs = {}, []
    for line in Path(dump).read_text().splitlines():
        code, _geographic, ours, _wgs84 = line.split("\t")
        if ours.startswith("ERROR"):
            kind = "refused"
        else:
            gdal_text = esri(int(code))
            kind = "identical" if ours == gdal_text else "same" if same(ours, gdal_text) else "differs"
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "differs":
            differs.append(int(code))
    print(counts, file=sys.stderr)
    print(differs)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        return check(sys.argv[2])
    rows = crs_definitions_rows()
    units, geogs, projs, left_out = {}, {}, {}, {}
    seen_units = {}  # unit code -> {(name, value): [CRS codes]}

    def unit(code, name, value, crs):
        seen_units.setdefault(code, {}).setdefault((name, value), []).append(crs)

    geog_text = {}
    for code, wkt in rows:
        if not wkt.startswith("GEOGCS["):
            continue
        e = esri(code)
        m = re.fullmatch(
            r'GEOGCS\["([^"]*)",DATUM\["([^"]*)",SPHEROID\["([^"]*)",[^\]]*\]\],'
            r'PRIMEM\["([^"]*)",([^\]]*)\],UNIT\["([^"]*)",([^\]]*)\]\]', e)
        if not m:
            left_out[code] = "unexpected GDAL output"
            continue
        unit(re.search(r'UNIT\["[^"]*",[^,]*,AUTHORITY\["EPSG","(\d+)"\]\](?:,AXIS\[[^\]]*\])*,AUTHORITY\["EPSG","\d+"\]\]$', wkt).group(1),
             m.group(6), m.group(7), code)
        geog_text[code] = e
        if code in SKIP:
            left_out[code] = SKIP[code]
            continue
        geogs[code] = m.groups()[:5]

    for code, wkt in rows:
        if not wkt.startswith("PROJCS["):
            continue
        if code in SKIP:
            left_out[code] = SKIP[code]
            continue
        e = esri(code)
        base = int(re.search(r'AUTHORITY\["EPSG","(\d+)"\]\],PROJECTION\[', wkt).group(1))
        m = re.fullmatch(r'PROJCS\["([^"]*)",(GEOGCS\[.*?\]\]),PROJECTION\["([^"]*)"\],(.*),UNIT\["([^"]*)",([^\]]*)\]\]', e)
        if not m:
            left_out[code] = "unexpected GDAL output"
            continue
        name, geogcs, projection, params, uname, uvalue = m.groups()
        if re.search(r'PARAMETER\["[a-z]', params):
            left_out[code] = "GDAL has no ESRI mapping for it"
            continue
        if geog_text.get(base) != geogcs:
            left_out[code] = "GDAL's base CRS differs"
            continue
        wkt_unit = re.search(r'UNIT\["[^"]*",[^,]*,AUTHORITY\["EPSG","(\d+)"\]\](?:,AXIS\[[^\]]*\])*(?:,EXTENSION\[[^\]]*\])?,AUTHORITY\["EPSG","\d+"\]\]$', wkt)
        if not wkt_unit:
            left_out[code] = "no unit code"
            continue
        unit(wkt_unit.group(1), uname, uvalue, code)
        wkt_projection = re.search(r'PROJECTION\["([^"]*)"\]', wkt).group(1)
        if DEFAULT_PROJECTION.get(wkt_projection) == projection:
            projection = ""
        projs[code] = (name, projection, wkt_unit.group(1))

    # A unit gets the ESRI name GDAL gives it most often; a CRS whose GDAL
    # definition names it otherwise is left out.
    for code, variants in seen_units.items():
        best = max(variants, key=lambda v: len(variants[v]))
        units[code] = best
        for v, crss in variants.items():
            if v != best:
                for crs in crss:
                    left_out[crs] = "GDAL names its unit otherwise"
                    projs.pop(crs, None)
                    geogs.pop(crs, None)

    out = [
        "# ESRI names for crs.rs, made by gen_esri_tsv.py with GDAL "
        + gdal.__version__
        + f" / PROJ {osr.GetPROJVersionMajor()}.{osr.GetPROJVersionMinor()}.{osr.GetPROJVersionMicro()}."
        + " Do not edit.",
    ]
    # GDAL 3.6 keeps EPSG's unit names ("US survey foot") where ESRI has its
    # own ("Foot_US"); PROJ's database knows ESRI's, and GDAL reads either.
    db_path = next(Path(p) / "proj.db" for p in osr.GetPROJSearchPaths()
                   if (Path(p) / "proj.db").exists())
    db = sqlite3.connect(db_path)
    esri_unit = dict((str(c), n) for c, n in db.execute(
        "SELECT code, alt_name FROM alias_name WHERE table_name = 'unit_of_measure'"
        " AND auth_name = 'EPSG' AND source = 'ESRI'"))
    for code, (n, v) in sorted(units.items(), key=lambda kv: int(kv[0])):
        out.append("\t".join(["U", code, esri_unit.get(code, n), v]))
    for code, g in sorted(geogs.items()):
        out.append("\t".join(["G", str(code), *g]))
    for code, (n, p, _u) in sorted(projs.items()):
        out.append("\t".join(["P", str(code), n] + ([p] if p else [])))
    (HERE / "esri.tsv").write_text("\n".join(out) + "\n")
    print(f"{len(geogs)} geographic, {len(projs)} projected codes; {len(left_out)} left out",
          file=sys.stderr)
    reasons = {}
    for code, why in sorted(left_out.items()):
        reasons.setdefault(why, []).append(code)
    for why, codes in reasons.items():
        print(f"  {why}: {len(codes)}: {codes[:12]}{' ...' if len(codes) > 12 else ''}", file=sys.stderr)


if __name__ == "__main__":
    main()
