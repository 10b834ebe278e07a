//! The tidy rules on fake metadata and fake sources.

use super::*;

/// A fake crate: its name and its dependencies, each with its kind (`None`
/// for a normal dependency, as `cargo metadata` says it).
type FakeCrate = (
    &'static str,
    &'static [(&'static str, Option<&'static str>)],
);

/// `cargo metadata` output for `crates`.
fn metadata(crates: &[FakeCrate]) -> Value {
    let packages: Vec<Value> = crates
        .iter()
        .map(|(name, deps)| {
            let deps: Vec<Value> = deps
                .iter()
                .map(|(dep, kind)| serde_json::json!({"name": dep, "kind": kind}))
                .collect();
            serde_json::json!({
                "id": format!("path+file:///ws/crates/{name}#0.1.0"),
                "name": name,
                "manifest_path": format!("/ws/crates/{name}/Cargo.toml"),
                "targets": [{"kind": ["lib"], "src_path": format!("/ws/crates/{name}/src/lib.rs")}],
                "dependencies": deps,
            })
        })
        .collect();
    let members: Vec<&Value> = packages.iter().map(|p| &p["id"]).collect();
    serde_json::json!({"packages": packages, "workspace_members": members})
}

fn dependency_violations(crates: &[FakeCrate]) -> Vec<String> {
    let workspace = Workspace::from_metadata(&metadata(crates)).unwrap();
    check_dependencies(&workspace)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The crates as docs/ARCHITECTURE.md draws them.
const CLEAN: &[FakeCrate] = &[
    ("raster-georef", &[("thiserror", None)]),
    (
        "labels-model",
        &[("raster-georef", None), ("tempfile", Some("dev"))],
    ),
    ("pixel-geometry", &[]),
    (
        "fmt-detection",
        &[("labels-model", None), ("pixel-geometry", None)],
    ),
    ("fmt-segmentation", &[("labels-model", None)]),
    ("sink-api", &[("thiserror", None)]),
    ("sink-fs", &[("sink-api", None), ("tokio", None)]),
    (
        "labelstore",
        &[
            ("fmt-detection", None),
            ("sink-fs", None),
            ("anyhow", Some("dev")),
            ("tokio", Some("dev")),
        ],
    ),
    (
        "store-cli",
        &[("labelstore", None), ("clap", None), ("anyhow", None)],
    ),
    ("xtask", &[("labelstore", None), ("anyhow", None)]),
];

#[test]
fn the_architecture_as_drawn_passes() {
    assert_eq!(dependency_violations(CLEAN), Vec::<String>::new());
}

#[test]
fn every_forbidden_dependency_is_listed_with_its_crate_and_rule() {
    let got = dependency_violations(&[
        ("labels-model", &[("fmt-detection", None), ("tokio", None)]),
        (
            "fmt-detection",
            &[("fmt-segmentation", None), ("sink-fs", None)],
        ),
        ("fmt-segmentation", &[("labelstore", None)]),
        ("sink-api", &[("raster-georef", None)]),
        ("sink-fs", &[("labels-model", None), ("sink-api", None)]),
        ("sink-db", &[("fmt-segmentation", None), ("anyhow", None)]),
        ("raster-georef", &[("clap", None)]),
        ("labelstore", &[("store-cli", None), ("indicatif", None)]),
        ("store-cli", &[]),
    ]);
    let want = [
        "labels-model [dependencies] depends on fmt-detection, but the model knows no format and no destination",
        "labels-model [dependencies] depends on tokio, but the model knows no format and no destination",
        "fmt-detection [dependencies] depends on fmt-segmentation, but format crates never import each other nor any destination",
        "fmt-detection [dependencies] depends on sink-fs, but format crates never import each other nor any destination",
        "fmt-segmentation [dependencies] depends on labelstore, but format crates never import each other nor any destination",
        "sink-api [dependencies] depends on raster-georef, but sink-api depends on no other crate of ours",
        "sink-fs [dependencies] depends on labels-model, but destinations know no format and not the model",
        "sink-db [dependencies] depends on fmt-segmentation, but destinations know no format and not the model",
        "sink-db [dependencies] depends on anyhow, but libraries know no CLI",
        "raster-georef [dependencies] depends on clap, but libraries know no CLI",
        "labelstore [dependencies] depends on store-cli, but libraries know no CLI",
        "labelstore [dependencies] depends on indicatif, but libraries know no CLI",
    ];
    assert_eq!(got, want);
}

#[test]
fn the_geometry_leaf_depends_on_no_crate_of_ours_once_it_exists() {
    let got = dependency_violations(&[
        ("labels-model", &[]),
        (
            "pixel-geometry",
            &[("labels-model", None), ("thiserror", None)],
        ),
    ]);
    assert_eq!(
        got,
        [
            "pixel-geometry [dependencies] depends on labels-model, but the geometry leaf crate \
          depends on no crate of ours"
        ]
    );
}

#[test]
fn dev_and_build_dependencies_do_not_count() {
    let got = dependency_violations(&[
        ("fmt-segmentation", &[]),
        (
            "fmt-detection",
            &[("fmt-segmentation", Some("dev")), ("tokio", Some("build"))],
        ),
    ]);
    assert_eq!(got, Vec::<String>::new());
}

#[test]
fn a_third_party_crate_named_like_a_family_is_not_ours() {
    let got = dependency_violations(&[("labels-model", &[("sink-unrelated", None)])]);
    assert_eq!(got, Vec::<String>::new());
}

#[test]
fn a_crate_doc_opens_the_crate_root() {
    assert!(has_crate_doc("//! The model.\n\nmod a;\n"));
    assert!(has_crate_doc("\n/*!\nThe model.\n*/\n"));
    assert!(!has_crate_doc("/// Not the crate's.\npub fn f() {}\n"));
    assert!(!has_crate_doc("mod a;\n//! too late\n"));
    assert!(!has_crate_doc(""));
}

fn hits(text: &str) -> Vec<(usize, String)> {
    scan(text).hits
}

#[test]
fn unwraps_in_library_code_are_found_with_their_line() {
    let text = "fn f(x: Option<u8>) -> u8 {\n    x.unwrap()\n}\n\
                fn g(x: Option<u8>) -> u8 {\n    x\n        .expect(\"why\")\n}\n";
    assert_eq!(
        hits(text),
        [
            (2, "`.unwrap()` outside tests".to_owned()),
            (6, "`.expect(` outside tests".to_owned())
        ]
    );
}

#[test]
fn cfg_test_items_are_skipped() {
    let text = r#"pub fn f() -> u8 { 1 }

#[cfg(test)]
fn helper() -> u8 {
    "{".parse::<u8>().unwrap()
}

#[cfg(test)]
use std::str::FromStr;

pub fn g(x: Option<u8>) -> Option<u8> { x }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t() {
        let c = '}';
        assert_eq!(g(Some(1)).unwrap(), 1, "{c}");
    }
}
"#;
    assert_eq!(hits(text), Vec::new());
    let after = format!("{text}pub fn late() -> u8 {{ Some(1).unwrap() }}\n");
    assert_eq!(hits(&after), [(23, "`.unwrap()` outside tests".to_owned())]);
}

#[test]
fn comments_strings_and_chars_are_not_code() {
    let text = r##"/// ```
/// let x = Some(1).unwrap();
/// ```
pub fn f() -> &'static str {
    // not .unwrap() either
    /* nor /* nested */ .expect( */
    let _c = '"';
    let _q = '\'';
    let _raw = r#"a "quoted" .unwrap()"#;
    let _bytes = br".expect(";
    "also \" .unwrap() not code"
}
"##;
    assert_eq!(hits(text), Vec::new());
}

#[test]
fn test_modules_in_their_own_files_are_named() {
    let text = "pub fn f() {}\n\n#[cfg(test)]\nmod tests;\n";
    assert_eq!(
        scan(text),
        Scan {
            hits: Vec::new(),
            test_modules: vec!["tests".to_owned()]
        }
    );
}

#[test]
fn an_allowed_line_needs_a_reason() {
    let allowed = "fn f() -> u8 {\n    // tidy: allow unwrap: a literal that parses\n    \
                   \"1\".parse().unwrap()\n}\n";
    assert_eq!(hits(allowed), Vec::new());
    let same_line = "fn f() -> u8 { \"1\".parse().unwrap() } // tidy: allow unwrap: a literal\n";
    assert_eq!(hits(same_line), Vec::new());
    let bare = "fn f() -> u8 {\n    \"1\".parse().unwrap() // tidy: allow unwrap\n}\n";
    assert_eq!(
        hits(bare),
        [(2, "`tidy: allow unwrap` without `: REASON`".to_owned())]
    );
}

#[test]
fn files_of_test_modules_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("crs/tests")).unwrap();
    let write = |path: &str, text: &str| std::fs::write(src.join(path), text).unwrap();
    write("lib.rs", "//! Doc.\nmod crs;\nmod geo;\n");
    write("crs.rs", "pub fn f() {}\n#[cfg(test)]\nmod tests;\n");
    write("crs/tests.rs", "fn t() { Some(1).unwrap(); }\nmod more;\n");
    write("crs/tests/more.rs", "fn t() { Some(1).unwrap(); }\n");
    write("geo.rs", "pub fn g() { Some(1).expect(\"g\"); }\n");
    let got = library_unwraps(&src).unwrap();
    assert_eq!(
        got,
        [Hit {
            file: src.join("geo.rs"),
            line: 1,
            what: "`.expect(` outside tests".to_owned()
        }]
    );
}

#[test]
fn module_folders_follow_rusts_convention() {
    assert_eq!(module_dir(Path::new("src/lib.rs")), Path::new("src"));
    assert_eq!(module_dir(Path::new("src/a/mod.rs")), Path::new("src/a"));
    assert_eq!(module_dir(Path::new("src/a.rs")), Path::new("src/a"));
}

#[test]
fn a_slim_facade_with_a_network_stack_is_a_violation() {
    let tree = "labelstore v0.1.0 (/w/crates/labelstore)\nsink-fs v0.1.0\ntokio v1.54.1\n\
                object_store v0.13.2\nobject_store v0.13.2 (*)\ntokio-postgres v0.7.18\n";
    let v: Vec<String> = slim_facade_violations(tree)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(
        v[0].starts_with(
            "labelstore [features] --no-default-features still depends on object_store"
        )
    );
    assert!(v[1].contains("depends on tokio-postgres"));
    assert!(slim_facade_violations("labelstore v0.1.0\ntokio v1.54.1\n").is_empty());
}

#[test]
fn a_library_picking_a_runtime_is_found_outside_tests() {
    let text = "pub fn run() {\n    let rt = tokio::runtime::Builder::new_current_thread().build();\n    \
                rt.block_on(async {});\n}\n// tokio::main in a comment\n\
                #[cfg(test)]\nmod tests {\n    fn t() { Runtime::new().unwrap().block_on(async {}); }\n}\n";
    assert_eq!(
        hits(text),
        [
            (
                2,
                "`runtime::Builder` outside tests: only the binary picks a runtime".to_owned()
            ),
            (
                3,
                "`.block_on(` outside tests: only the binary picks a runtime".to_owned()
            ),
        ]
    );
}
