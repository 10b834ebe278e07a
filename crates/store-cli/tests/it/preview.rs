//! `labelstore preview`: the page opened in a real browser (Debian's
//! headless chromium) with no network, its chip count read from the DOM the
//! browser built, and the screenshot judged by Pillow at the pixels of known
//! box edges of the example project; `--png` judged by Pillow the same way;
//! `--format` reading a store back; bad requests refused with nothing written.

use std::io::{ErrorKind, Read};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fetch_verify::python;
use crate::util::{root, run, stderr, stdout};

/// The example's class colours (examples/harbour/project.json).
const SHIP: [u8; 3] = [0xe6, 0x19, 0x4b];
const BUOY: [u8; 3] = [0x3c, 0xb4, 0x4b];

/// The page's layout (labelstore::GRID_ORIGIN, THUMB_CSS): the first
/// thumbnail's corner at (16, 16), a 64-pixel chip shown 256 CSS pixels
/// wide, so 4 screen pixels per chip pixel at a device scale of 1.
const ORIGIN: u32 = 16;
const SCALE: u32 = 4;

/// The RGB of each (x, y) of the image at `path`, as Pillow decodes it.
fn pixels(path: &Path, at: &[(u32, u32)]) -> Vec<[u8; 3]> {
    let script = "import sys\nfrom PIL import Image\n\
        im = Image.open(sys.argv[1]).convert('RGB')\n\
        for a in sys.argv[2:]:\n    x, y = map(int, a.split(','))\n    print(*im.getpixel((x, y)))";
    let mut args = vec![path.to_str().unwrap().to_owned()];
    args.extend(at.iter().map(|(x, y)| format!("{x},{y}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    python(script, &args)
        .lines()
        .map(|l| {
            let v: Vec<u8> = l.split(' ').map(|n| n.parse().unwrap()).collect();
            [v[0], v[1], v[2]]
        })
        .collect()
}

/// Chromium's own services, which it calls whatever the page (time,
/// component updates, sign-in) even with background networking disabled.
const BROWSER_OWN: &[&str] = &[
    "clients2.google.com",
    "update.googleapis.com",
    "accounts.google.com",
    "redirector.gvt1.com",
];

/// Runs headless chromium on `url` with `args`, every request sent to a
/// proxy of our own on a loopback port (loopback included), and gives
/// what it printed and the host of every request the proxy saw that is not
/// one of the browser's own services.
fn chromium(url: &str, args: &[&str]) -> (String, Vec<String>) {
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let port = proxy.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watcher = {
        let (stop, seen) = (stop.clone(), seen.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match proxy.accept() {
                    Ok((mut c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                        let mut head = [0u8; 1024];
                        let n = c.read(&mut head).unwrap_or(0);
                        if n == 0 {
                            // A connection that asks for nothing (chromium
                            // opens one to its proxy ahead of need, and a
                            // loaded machine shows it) is no request.
                            continue;
                        }
                        let head = String::from_utf8_lossy(&head[..n]).into_owned();
                        let host = head
                            .lines()
                            .find_map(|l| l.strip_prefix("Host: "))
                            .unwrap_or("?")
                            .split(':')
                            .next()
                            .unwrap_or("?")
                            .to_owned();
                        let line = head.lines().next().unwrap_or("").to_owned();
                        seen.lock().unwrap().push((host, line));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => panic!("proxy: {e}"),
                }
            }
        })
    };
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1200,900",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--proxy-server=127.0.0.1:{port}"))
        .arg("--proxy-bypass-list=<-loopback>")
        .args(args)
        .arg(url)
        .output()
        .expect("chromium: `cargo xtask test` installs Debian's chromium");
    assert!(o.status.success(), "chromium: {}", stderr(&o));
    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    let requests = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(host, _)| !BROWSER_OWN.contains(&host.as_str()))
        .map(|(_, line)| line.clone())
        .collect();
    (stdout(&o), requests)
}

/// `chromium` on a page that must make no request.
fn offline(url: &str, args: &[&str]) -> String {
    let (out, requests) = chromium(url, args);
    assert_eq!(
        requests,
        Vec::<String>::new(),
        "the page made network requests"
    );
    out
}

fn url(page: &Path) -> String {
    format!("file://{}", page.display())
}

/// The number the page shows in `<b id="shown">`, after its script ran.
fn shown(dom: &str) -> usize {
    let at = dom.find("id=\"shown\">").expect("a chip count") + "id=\"shown\">".len();
    dom[at..dom[at..].find('<').unwrap() + at].parse().unwrap()
}

/// `labelstore preview INPUT --output PAGE`, which must succeed.
fn preview_ok(input: &Path, page: &Path) -> std::process::Output {
    let o = run(&[
        "preview",
        input.to_str().unwrap(),
        "--output",
        page.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    o
}

#[test]
fn preview_page_in_a_browser_shows_every_chip_with_its_boxes_and_no_network() {
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("preview.html");
    let example = root().join("examples/harbour");
    let o = preview_ok(&example, &page);
    assert_eq!(
        stdout(&o),
        format!(
            "preview: 9 chips, 20 labels (from project) in {}\n",
            page.display()
        )
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // Nothing outside the page: no address, every image a data: URI.
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("url(") && !html.contains("@import") && !html.contains(" src="));
    assert_eq!(html.matches(" href=\"").count(), 9);
    assert_eq!(html.matches(" href=\"data:image/png;base64,").count(), 9);

    // The browser's DOM after the script ran: 9 of the 9 stored chips
    // (deleted r1_c0 and r2_c1, unlabeled r1_c3 left out), and the filter
    // the address asks for: the 6 chips with a buoy.
    // The proxy does see what a page asks for: a page with an outside image.
    let leaky = tmp.path().join("leaky.html");
    std::fs::write(
        &leaky,
        "<!DOCTYPE html><img src=\"http://example.com/x.png\">",
    )
    .unwrap();
    let (_, requests) = chromium(&url(&leaky), &["--dump-dom"]);
    assert_eq!(requests, ["GET http://example.com/x.png HTTP/1.1"]);

    let dom = offline(&url(&page), &["--dump-dom"]);
    assert_eq!(shown(&dom), 9);
    assert_eq!(dom.matches("<figure class=\"chip\"").count(), 9);
    // The map panel: every chip's footprint in EPSG:32632 (y negated, north
    // up), r0_c0's from its world file: 64 pixels of 0.5 m from (500000, 4649776).
    assert!(dom.contains("9 chips in EPSG:32632; x 500000 to 500128, y 4649680 to 4649776"));
    assert_eq!(dom.matches("<path class=\"fp\"").count(), 9);
    assert!(dom.contains(
        "<g data-chip=\"r0_c0\"><path class=\"fp\" d=\"M500000 -4649776L500032 -4649776L500032 -4649744L500000 -4649744Z\"><title>r0_c0</title>"
    ));
    // Its ship [8, 20, 44.5, 34] in map coordinates.
    assert!(
        dom.contains(
            "d=\"M500004 -4649766L500022.25 -4649766L500022.25 -4649759L500004 -4649759Z\""
        )
    );
    let dom = offline(&format!("{}#class=buoy", url(&page)), &["--dump-dom"]);
    assert_eq!(shown(&dom), 6);
    assert_eq!(
        dom.matches(" hidden=\"\"").count(),
        3 + 1,
        "3 chips and the full view"
    );
    // The map follows: the footprints of the 3 chips without a buoy go,
    // and only buoys are drawn.
    assert_eq!(
        dom.matches("\" style=\"display: none;\"><path class=\"fp\"")
            .count(),
        3
    );
    assert_eq!(dom.matches("class=\"ml c2\"").count(), 6);
    assert_eq!(dom.matches("class=\"ml c1 off\"").count(), 8);
    assert_eq!(
        dom.matches("class=\"c1 off\"").count(),
        8,
        "ships hidden on the chips too"
    );

    // The screenshot: r0_c0 comes first; its ship [8, 20, 44.5, 34] has its
    // left edge at x = 16 + 8 * 4 = 48, drawn 2 pixels wide across it, and
    // its buoy [52, 48, 56, 52] its top edge at y = 16 + 48 * 4 = 208.
    let shot = tmp.path().join("shot.png");
    offline(&url(&page), &[&format!("--screenshot={}", shot.display())]);
    let ship_left = ORIGIN + 8 * SCALE;
    let ship_mid_y = ORIGIN + 27 * SCALE;
    let buoy_top = ORIGIN + 48 * SCALE;
    let buoy_mid_x = ORIGIN + 54 * SCALE;
    let got = pixels(
        &shot,
        &[
            (ship_left - 1, ship_mid_y),
            (ship_left, ship_mid_y),
            (ship_left - 3, ship_mid_y),
            (buoy_mid_x, buoy_top - 1),
            (buoy_mid_x, buoy_top),
        ],
    );
    assert_eq!(got[0], SHIP);
    assert_eq!(got[1], SHIP);
    assert_ne!(got[2], SHIP, "the chip's own water outside the box");
    assert_eq!(got[3], BUOY);
    assert_eq!(got[4], BUOY);
}

#[test]
fn preview_png_draws_each_chip_with_its_outlines_and_is_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let example = root().join("examples/harbour");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for out in [&a, &b] {
        let o = Command::new(env!("CARGO_BIN_EXE_labelstore"))
            .arg("preview")
            .arg(&example)
            .arg("--output")
            .arg(out.join("p.html"))
            .arg("--png")
            .arg(out.join("png"))
            .arg("-q")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(stdout(&o), "", "-q prints nothing");
    }
    assert_eq!(
        crate::util::snapshot(&a),
        crate::util::snapshot(&b),
        "same input, same bytes"
    );
    let mut names = crate::util::listing(&a.join("png"));
    names.sort();
    assert_eq!(
        names,
        [
            "r0_c0.png",
            "r0_c1.png",
            "r0_c2.png",
            "r0_c3.png",
            "r1_c1.png",
            "r1_c2.png",
            "r2_c0.png",
            "r2_c2.png",
            "r2_c3.png"
        ]
    );
    // r0_c0 scaled 4 times (256 x 256): the ship's left edge x = 8 is
    // pixel columns 31 and 32; the buoy's top edge y = 48, rows 191 and 192.
    let png = a.join("png/r0_c0.png");
    let got = pixels(
        &png,
        &[(31, 108), (32, 108), (29, 108), (216, 191), (216, 192)],
    );
    assert_eq!(got[0], SHIP);
    assert_eq!(got[1], SHIP);
    assert_ne!(got[2], SHIP);
    assert_eq!(got[3], BUOY);
    assert_eq!(got[4], BUOY);
    let size = python(
        "import sys\nfrom PIL import Image\nprint(*Image.open(sys.argv[1]).size)",
        &[png.to_str().unwrap()],
    );
    assert_eq!(size.trim(), "256 256");
}

#[test]
fn preview_format_draws_what_the_reader_reads_back_from_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let o = crate::util::store_local(&root().join("examples/harbour"), &store, "yolo");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = tmp.path().join("yolo.html");
    let pngs = tmp.path().join("png");
    let args = |extra: &[&str]| {
        let mut v = vec![
            "preview".to_owned(),
            store.display().to_string(),
            "--output".to_owned(),
            page.display().to_string(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    // No json in the store: which reader to use must be said.
    let o = run(&args(&[]));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("the store holds no json format")
            && stderr(&o).contains("--format (yolo)"),
        "{}",
        stderr(&o)
    );
    assert!(!page.exists());
    let o = run(&args(&[
        "--format",
        "YOLO",
        "--png",
        pngs.to_str().unwrap(),
    ]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("preview: 9 chips, 20 labels (from yolo)"));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("labels from yolo"));
    // Stored chips are GeoTIFFs now: the georeferencing is embedded.
    assert!(html.contains("EPSG:32632 (embedded), origin 500000, 4649776"));
    let got = pixels(&pngs.join("r0_c0.png"), &[(31, 108), (32, 108)]);
    assert_eq!(got, [SHIP, SHIP]);
}

#[test]
fn preview_refuses_a_bad_request_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("p.html");
    let pngs = tmp.path().join("png");
    let example = root().join("examples/harbour");
    let cases: [(&[&str], &str); 4] = [
        (&["--split", "val"], "--split val: no chip of"),
        (&["--format", "yolo"], "is a project, not a store"),
        (&["--chip", "r1_c0"], "chip \"r1_c0\""),
        (&["--format", "nope"], "nope"),
    ];
    for (extra, message) in cases {
        let mut args = vec![
            "preview".to_owned(),
            example.display().to_string(),
            "--output".to_owned(),
            page.display().to_string(),
            "--png".to_owned(),
            pngs.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{extra:?}: {}", stderr(&o));
        assert!(
            !page.exists() && !pngs.exists(),
            "{extra:?} wrote something"
        );
    }
}

/// Writes the preview of fixture `name` (and its PNGs) into `dir`, and a
/// screenshot of the page, which is given.
fn fixture_page(name: &str, dir: &Path) -> std::path::PathBuf {
    let page = dir.join("p.html");
    let o = run(&[
        "preview",
        root().join("tests/fixtures").join(name).to_str().unwrap(),
        "--output",
        page.to_str().unwrap(),
        "--png",
        dir.join("png").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let shot = dir.join("shot.png");
    offline(&url(&page), &[&format!("--screenshot={}", shot.display())]);
    shot
}

#[test]
fn preview_fills_polygons_but_not_their_holes() {
    // roofs.png is 32 x 32, shown 8 times: the roof [2..14]² has a hole,
    // the triangle (5, 5), (8, 5), (8, 8), filled at 12 % of #123456.
    let tmp = tempfile::tempdir().unwrap();
    let shot = fixture_page("instance-polygons", tmp.path());
    let chip = root().join("tests/fixtures/instance-polygons/chips/roofs.png");
    let at = |x: f64| (f64::from(ORIGIN) + x * 8.0) as u32;
    let page = pixels(&shot, &[(at(7.5), at(5.5)), (at(10.5), at(10.5))]);
    let own = pixels(&chip, &[(7, 5), (10, 10)]);
    assert_eq!(page[0], own[0], "the hole shows the chip as it is");
    let roof = [0x12, 0x34, 0x56];
    for c in 0..3 {
        let want = f64::from(own[1][c]) * 0.88 + f64::from(roof[c]) * 0.12;
        assert!(
            (f64::from(page[1][c]) - want).abs() <= 1.5,
            "inside the roof: {:?}, want about {want} in channel {c}",
            page[1]
        );
    }
}

#[test]
fn preview_draws_a_semantic_mask_as_a_translucent_overlay() {
    // tile.png is 16 x 16 and black at (0, 0), where the mask says water
    // (#0000ff); its bottom-right quarter is background (0).
    let tmp = tempfile::tempdir().unwrap();
    let shot = fixture_page("semantic-masks", tmp.path());
    let chip = root().join("tests/fixtures/semantic-masks/chips/tile.png");
    let own = pixels(&chip, &[(0, 0), (12, 12)]);
    assert_eq!(own[0], [0, 0, 0]);
    // The page: 16 screen pixels per chip pixel.
    let page = pixels(
        &shot,
        &[
            (ORIGIN + 8, ORIGIN + 8),
            (ORIGIN + 12 * 16 + 8, ORIGIN + 12 * 16 + 8),
        ],
    );
    assert!(
        page[0][0] <= 1 && page[0][1] <= 1 && page[0][2].abs_diff(128) <= 1,
        "{:?}",
        page[0]
    );
    assert_eq!(page[1], own[1], "background is not tinted");
    // The PNG: the same overlay blended at 128 / 255.
    let png = pixels(
        &tmp.path().join("png/tile.png"),
        &[(8, 8), (12 * 16 + 8, 12 * 16 + 8)],
    );
    assert_eq!(png, [[0, 0, 128], own[1]]);
}

#[test]
fn preview_format_draws_the_masks_a_mask_format_reads_back() {
    // The "poly" chip's polygons become a mask when stored; read back by
    // the png mask format, its water half (rows 0 to 7) is tinted blue.
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let fixture = root().join("tests/fixtures/semantic-masks");
    let o = crate::util::store_local(&fixture, &store, "png");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let pngs = tmp.path().join("png");
    let o = run(&[
        "preview",
        store.to_str().unwrap(),
        "--format",
        "png",
        "--output",
        tmp.path().join("p.html").to_str().unwrap(),
        "--png",
        pngs.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("preview: 2 chips, 0 labels (from png)"));
    let chip = fixture.join("chips/poly.png");
    let own = pixels(&chip, &[(1, 1), (1, 14)]);
    let got = pixels(&pngs.join("poly.png"), &[(24, 24), (24, 14 * 16 + 8)]);
    let blend = |c: u8, m: u8| ((u32::from(m) * 128 + u32::from(c) * 127 + 127) / 255) as u8;
    assert_eq!(
        got[0],
        [
            blend(own[0][0], 0),
            blend(own[0][1], 0),
            blend(own[0][2], 255)
        ]
    );
    assert_eq!(got[1], own[1], "row 14 is background");
}

#[test]
fn preview_opens_a_chip_full_size_from_its_own_file() {
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("page/preview.html");
    let example = root().join("examples/harbour");
    preview_ok(&example, &page);
    let html = std::fs::read_to_string(&page).unwrap();
    // Linked relative to the page; r1_c1 is a TIFF, which no browser shows.
    let depth = page.parent().unwrap().components().count() - 1;
    let up = "../".repeat(depth);
    let chips = example.join("chips").canonicalize().unwrap();
    let link = format!(
        "{up}{}/r0_c0.png",
        chips.to_str().unwrap().trim_start_matches('/')
    );
    assert!(
        html.contains(&format!(
            "data-chip=\"r0_c0\" data-split=\"train\" data-classes=\"1 2 3\" data-full=\"{link}\""
        )),
        "{link}"
    );
    assert!(!html.contains("r1_c1.tif\""));
    assert_eq!(html.matches(" data-full=\"").count(), 8);

    // `#chip=r0_c0` opens it: the chip's own file over its thumbnail, the
    // labels over both.
    let dom = offline(&format!("{}#chip=r0_c0", url(&page)), &["--dump-dom"]);
    let full = &dom[dom.find("<div id=\"full\"").expect("the full view")..];
    assert!(
        full.starts_with("<div id=\"full\" data-chip=\"r0_c0\"><svg"),
        "{}",
        &full[..200.min(full.len())]
    );
    assert!(full.contains(&format!(
        "<image width=\"64\" height=\"64\" preserveAspectRatio=\"none\" href=\"{link}\">"
    )));
    // The screenshot: 64 pixels shown k times (the largest whole factor
    // within 90 % of the window), centred in the 1200 x 900 window. The
    // ship [8, 20, 44.5, 34] has its left edge at x = x0 + 8 k.
    let at = full.find(" width=\"").unwrap() + " width=\"".len();
    let side: u32 = full[at..at + full[at..].find('"').unwrap()]
        .parse()
        .unwrap();
    assert_eq!(side % 64, 0, "a whole factor: {side}");
    let k = side / 64;
    assert!(k >= 10, "{k}");
    let (x0, y0) = ((1200 - side) / 2, (900 - side) / 2);
    let shot = tmp.path().join("full.png");
    offline(
        &format!("{}#chip=r0_c0", url(&page)),
        &[&format!("--screenshot={}", shot.display())],
    );
    let y = y0 + 27 * k;
    let left = x0 + 8 * k;
    let got = pixels(
        &shot,
        &[
            (left - 1, y),
            (left, y),
            (left - 4, y),
            (x0 - 1, y),
            (x0, y),
        ],
    );
    assert_eq!(got[0], SHIP);
    assert_eq!(got[1], SHIP);
    assert_ne!(got[2], SHIP, "the chip's water beside the box");
    // Left of the chip, the dimmed page; on it, the chip's own pixel
    // (0, 27) from the file (at full scale its water differs from the dim).
    let own = pixels(&example.join("chips/r0_c0.png"), &[(0, 27)]);
    assert_eq!(got[4], own[0]);
    assert_ne!(got[3], own[0]);
}

#[test]
fn preview_of_a_large_project_has_small_lazy_thumbnails() {
    // 10,001 chips sharing one 256 x 256 image, one box each.
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("big");
    std::fs::create_dir_all(project.join("chips")).unwrap();
    python(
        "import sys\nfrom PIL import Image\n\
         im = Image.new('RGB', (256, 256))\n\
         im.putdata([(x, y, 128) for y in range(256) for x in range(256)])\n\
         im.save(sys.argv[1])",
        &[project.join("chips/c.png").to_str().unwrap()],
    );
    let n = 10_001;
    let chips: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"id": "c{i}", "image": "chips/c.png", "split": "{}", "labels": [{{"class": "{}", "bbox": [16, 32, 200, 96]}}]}}"#,
                if i % 10 == 0 { "val" } else { "train" },
                if i % 3 == 0 { "ship" } else { "buoy" }
            )
        })
        .collect();
    std::fs::write(
        project.join("project.json"),
        format!(
            r#"{{"labelstore": 1, "name": "big", "labeling_type": "object_detection",
               "classes": [{{"id": 1, "name": "ship"}}, {{"id": 2, "name": "buoy"}}],
               "chips": [{}]}}"#,
            chips.join(",\n")
        ),
    )
    .unwrap();
    let page = tmp.path().join("big.html");
    let o = preview_ok(&project, &page);
    assert_eq!(
        stdout(&o),
        format!(
            "preview: 10001 chips, 10001 labels (from project) in {}\n",
            page.display()
        )
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // Thumbnails of 128 pixels, shown 128 CSS pixels wide.
    assert!(html.contains(":root{--t:128px}"));
    assert_eq!(
        html.matches("<svg class=\"t\" width=\"128\" height=\"128\" viewBox=\"0 0 256 256\">")
            .count(),
        n
    );
    // The first 60 set at once, the others waiting for the window.
    assert_eq!(html.matches(" href=\"data:image/").count(), 60);
    assert_eq!(html.matches(" data-href=\"data:image/").count(), n - 60);
    assert!(
        html.len() < n * 4096,
        "{} bytes: about 4 KiB a chip at most",
        html.len()
    );

    // Time for the page to settle (headless chromium dumps at once).
    let dom = offline(&url(&page), &["--virtual-time-budget=5000", "--dump-dom"]);
    assert_eq!(shown(&dom), n);
    assert_eq!(dom.matches("<figure class=\"chip\"").count(), n);
    // Lazily: the first 60 chips fill the window (1200 x 900) and the
    // 1000 pixels below it; every other thumbnail waits.
    let waiting = |dom: &str| dom.matches(" data-href=\"data:image/").count();
    assert_eq!(waiting(&dom), n - 60);
    // The filters work on all of them: with only `val` (every tenth chip)
    // shown, the val chips that come near the window get theirs; a chip
    // far down opens at once.
    let dom = offline(
        &format!("{}#split=val&chip=c9990", url(&page)),
        &["--virtual-time-budget=5000", "--dump-dom"],
    );
    assert_eq!(shown(&dom), 1001);
    assert!(
        (n - 200..n - 60 - 30).contains(&waiting(&dom)),
        "{} waiting",
        waiting(&dom)
    );
    let full = &dom[dom.find("<div id=\"full\"").unwrap()..];
    assert!(full.starts_with("<div id=\"full\" data-chip=\"c9990\"><svg"));
    assert!(!full[..full.find("</svg>").unwrap()].contains("data-href"));
}

#[test]
fn preview_that_cannot_write_leaves_nothing_behind() {
    // The PNGs' folder cannot be made (under a file): the page's folder,
    // made first, is taken away again.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("file"), "x").unwrap();
    let o = run(&[
        "preview",
        root().join("examples/harbour").to_str().unwrap(),
        "--output",
        tmp.path().join("new/deeper/p.html").to_str().unwrap(),
        "--png",
        tmp.path().join("file/png").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "cannot write {}",
            tmp.path().join("file/png").display()
        )),
        "{}",
        stderr(&o)
    );
    let mut names = crate::util::listing(tmp.path());
    names.sort();
    assert_eq!(names, ["file"]);
}

#[test]
fn preview_maps_each_crs_of_its_chips() {
    // The example with r0_c0 in EPSG:32633: a second map, of that chip alone.
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("harbour");
    crate::safety::copy_dir(&root().join("examples/harbour"), &project);
    let manifest = project.join("project.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text.replacen(
        "\"id\": \"r0_c0\",",
        "\"id\": \"r0_c0\", \"srid\": 32633,",
        1,
    );
    std::fs::write(&manifest, text).unwrap();
    let page = tmp.path().join("p.html");
    preview_ok(&project, &page);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<p>8 chips in EPSG:32632; x 500000 to 500128, y 4649680 to 4649776</p>\n<svg id=\"map\" class=\"map\""));
    assert!(html.contains(
        "<p>1 chip in EPSG:32633; x 500000 to 500032, y 4649744 to 4649776</p>\n<svg class=\"map\""
    ));
    assert_eq!(html.matches("<path class=\"fp\"").count(), 9);
    assert!(!html.contains("not on the map"));
}
