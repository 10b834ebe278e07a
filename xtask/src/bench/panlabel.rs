//! panlabel, the Rust annotation converter `bench formats` compares
//! labelstore with on COCO -> VOC + YOLO: installed from crates.io at a
//! pinned version into `target/tools`, and the check that both sides wrote
//! the same labels.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};

/// panlabel's version, pinned so that runs compare.
pub(super) const VERSION: &str = "0.7.0";

/// The panlabel binary, `cargo install`ed into `target/tools` when missing.
pub(super) fn ensure(root: &Path) -> anyhow::Result<PathBuf> {
    let tools = root.join("target/tools");
    let bin = tools.join("bin/panlabel");
    let installed = Command::new(&bin)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if installed.as_deref() == Some(&format!("panlabel {VERSION}")) {
        return Ok(bin);
    }
    println!(
        "xtask: cargo install --locked --version {VERSION} --root {} panlabel",
        tools.display()
    );
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "install",
            "--locked",
            "--quiet",
            "--force",
            "--version",
            VERSION,
        ])
        .arg("--root")
        .arg(&tools)
        .arg("panlabel")
        .status()
        .context("running cargo install")?;
    ensure!(status.success(), "cargo install panlabel {VERSION} failed");
    Ok(bin)
}

/// The `panlabel convert` command writing `coco` (the annotations JSON)
/// as `to` (`voc` or `yolo`) into `out`. `--allow-lossy`: COCO's
/// supercategory, area and iscrowd have no place in VOC or YOLO, and
/// panlabel refuses to drop them without it.
pub(super) fn convert(bin: &Path, coco: &Path, to: &str, out: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["convert", "--from", "coco", "--to", to, "--allow-lossy"])
        .arg("--input")
        .arg(coco)
        .arg("--output")
        .arg(out);
    cmd
}

/// Checks that labelstore's store (`ours`, with `voc/` and `yolo/`) and
/// panlabel's conversions (`theirs/voc`, `theirs/yolo`) hold the same
/// labels for the `n` chips `c0` .. `c{n-1}`:
/// - YOLO: every label file byte for byte, and the class names in order;
/// - VOC: every file's objects, names in order, and boxes, which labelstore
///   writes as VOC's 1-based integer pixels (`round(x0) + 1 .. round(x1)`)
///   and panlabel as COCO's floats unchanged.
///
/// Returns the number of objects compared.
pub(super) fn check_same(ours: &Path, theirs: &Path, n: usize) -> anyhow::Result<usize> {
    let read = |p: PathBuf| {
        std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
    };
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim().split_once(": "))
            .filter(|(k, _)| k.parse::<u32>().is_ok())
            .map(|(_, v)| v.trim_matches(['"', '\'']).to_owned())
            .collect()
    };
    let (a, b) = (
        names(&read(ours.join("yolo/data.yaml"))?),
        names(&read(theirs.join("yolo/data.yaml"))?),
    );
    ensure!(
        !a.is_empty() && a == b,
        "YOLO class names differ: labelstore {a:?}, panlabel {b:?}"
    );
    // The split labelstore kept from the COCO file's name
    // (`instances_default.json`: `default`), the one folder under labels/.
    let split = std::fs::read_dir(ours.join("yolo/labels"))?
        .filter_map(Result::ok)
        .find(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .context("no split folder under labelstore's yolo/labels")?;
    let mut objects = 0;
    for i in 0..n {
        let ours_txt = read(ours.join(format!("yolo/labels/{split}/c{i}.txt")))?;
        let theirs_txt = read(theirs.join(format!("yolo/labels/c{i}.txt")))?;
        ensure!(
            ours_txt == theirs_txt,
            "c{i}: YOLO labels differ:\nlabelstore:\n{ours_txt}panlabel:\n{theirs_txt}"
        );
        let ours_xml = read(ours.join(format!("voc/Annotations/c{i}.xml")))?;
        let theirs_xml = read(theirs.join(format!("voc/Annotations/c{i}.xml")))?;
        let names = texts(&ours_xml, "name");
        ensure!(
            names == texts(&theirs_xml, "name"),
            "c{i}: VOC object names differ"
        );
        objects += names.len();
        for (k, tag) in ["xmin", "ymin", "xmax", "ymax"].into_iter().enumerate() {
            let (a, b) = (texts(&ours_xml, tag), texts(&theirs_xml, tag));
            ensure!(a.len() == b.len(), "c{i}: VOC {tag} counts differ");
            for (a, b) in a.iter().zip(&b) {
                let want = b
                    .parse::<f64>()
                    .map(|v| v.round() as i64 + i64::from(k < 2))
                    .with_context(|| format!("c{i}: panlabel's VOC {tag} {b:?}"))?;
                ensure!(
                    a.parse::<i64>().ok() == Some(want),
                    "c{i}: VOC {tag} is {a} (labelstore), {b} (panlabel)"
                );
            }
        }
    }
    Ok(objects)
}

/// The texts of every `<tag>` element of `xml`, in order.
fn texts<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        rest = &rest[at + open.len()..];
        let Some(end) = rest.find(&close) else { break };
        out.push(rest[..end].trim());
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_finds_every_element_in_order() {
        let xml = "<a><name>ship</name><b><xmin> 2 </xmin></b><name>small boat</name><name>";
        assert_eq!(texts(xml, "name"), ["ship", "small boat"]);
        assert_eq!(texts(xml, "xmin"), ["2"]);
        assert!(texts(xml, "ymin").is_empty());
    }

    #[test]
    fn the_check_catches_a_box_one_pixel_off() {
        let tmp = tempfile::tempdir().unwrap();
        let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
        for d in ["voc/Annotations", "yolo/labels/train"] {
            std::fs::create_dir_all(ours.join(d)).unwrap();
        }
        for d in ["voc/Annotations", "yolo/labels"] {
            std::fs::create_dir_all(theirs.join(d)).unwrap();
        }
        std::fs::write(
            ours.join("yolo/data.yaml"),
            "nc: 1\nnames:\n  0: \"ship\"\n",
        )
        .unwrap();
        std::fs::write(theirs.join("yolo/data.yaml"), "names:\n  0: 'ship'\n").unwrap();
        std::fs::write(ours.join("yolo/labels/train/c0.txt"), "0 0.5 0.5 0.1 0.1\n").unwrap();
        std::fs::write(theirs.join("yolo/labels/c0.txt"), "0 0.5 0.5 0.1 0.1\n").unwrap();
        let voc = |x: &str| {
            format!(
                "<object><name>ship</name><bndbox><xmin>{x}</xmin><ymin>1</ymin>\
                 <xmax>11</xmax><ymax>8</ymax></bndbox></object>"
            )
        };
        std::fs::write(
            theirs.join("voc/Annotations/c0.xml"),
            voc("0.5").replace(
                "<ymin>1</ymin><xmax>11</xmax><ymax>8</ymax>",
                "<ymin>0</ymin><xmax>10.5</xmax><ymax>8.25</ymax>",
            ),
        )
        .unwrap();
        std::fs::write(ours.join("voc/Annotations/c0.xml"), voc("2")).unwrap();
        assert_eq!(check_same(&ours, &theirs, 1).unwrap(), 1);
        std::fs::write(ours.join("voc/Annotations/c0.xml"), voc("1")).unwrap();
        let e = check_same(&ours, &theirs, 1).unwrap_err().to_string();
        assert_eq!(e, "c0: VOC xmin is 1 (labelstore), 0.5 (panlabel)");
        std::fs::write(ours.join("voc/Annotations/c0.xml"), voc("2")).unwrap();
        std::fs::write(ours.join("yolo/labels/train/c0.txt"), "0 0.5 0.5 0.1 0.2\n").unwrap();
        let e = check_same(&ours, &theirs, 1).unwrap_err().to_string();
        assert!(e.starts_with("c0: YOLO labels differ"), "{e}");
    }
}
