//! Named destinations: `--dest NAME` from the config file for store, fetch
//! and verify (the command line winning), and `labelstore dest list` with
//! secrets masked.

use std::path::Path;

use crate::fetch_verify::{S3, env, labelstore_env, ok, python, unique};
use crate::util::{root, run, snapshot, stderr, stdout};

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A store, a verify and a fetch through one named S3 destination give
/// what the same commands with every option spelled out give.
#[test]
fn store_verify_and_fetch_through_a_named_s3_destination() {
    let endpoint = env("LABELSTORE_TEST_S3");
    let bucket = unique("dest").replace('_', "-");
    python(S3, &[&endpoint, "mkbucket", &bucket]);
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        &format!(
            "[dest.harbour-s3]\nto = \"objstore\"\nurl = \"s3://{bucket}/harbour\"\nendpoint = \"{endpoint}\"\n"
        ),
    );
    let harbour = root().join("examples/harbour");
    let epoch = [("SOURCE_DATE_EPOCH", "1767225600")];
    let o = labelstore_env(
        &[
            "store",
            harbour.to_str().unwrap(),
            "--config",
            &config,
            "--dest",
            "harbour-s3",
            "--format",
            "coco",
        ],
        &epoch,
    );
    ok(&o);
    assert!(
        stdout(&o).starts_with(&format!(
            "stored 9 chips of \"harbour-ships\" to object store s3://{bucket}/harbour"
        )),
        "{}",
        stdout(&o)
    );
    // XDG_CONFIG_HOME finds the same file as --config.
    let xdg = tmp.path().join("xdg");
    std::fs::create_dir_all(xdg.join("labelstore")).unwrap();
    std::fs::copy(&config, xdg.join("labelstore/config.toml")).unwrap();
    let o = labelstore_env(
        &["verify", "--dest", "harbour-s3"],
        &[("XDG_CONFIG_HOME", xdg.to_str().unwrap())],
    );
    ok(&o);
    assert!(stdout(&o).starts_with("whole: "), "{}", stdout(&o));

    let by_name = tmp.path().join("by-name");
    let spelled = tmp.path().join("spelled");
    ok(&labelstore_env(
        &[
            "fetch",
            "--config",
            &config,
            "--dest",
            "harbour-s3",
            "--output",
            by_name.to_str().unwrap(),
        ],
        &epoch,
    ));
    ok(&labelstore_env(
        &[
            "fetch",
            "--from",
            "objstore",
            "--url",
            &format!("s3://{bucket}/harbour"),
            "--endpoint",
            &endpoint,
            "--output",
            spelled.to_str().unwrap(),
        ],
        &epoch,
    ));
    let a = snapshot(&by_name);
    assert!(a.contains_key("project.json"));
    assert_eq!(a, snapshot(&spelled));
}

#[test]
fn the_command_line_wins_and_contradictions_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let nas = tmp.path().join("nas");
    let config = write_config(
        tmp.path(),
        &format!("[dest.nas]\nto = \"local\"\npath = \"{}\"\n", nas.display()),
    );
    let harbour = root().join("examples/harbour").display().to_string();
    // --path given wins over the destination's.
    let elsewhere = tmp.path().join("elsewhere");
    let o = run(&[
        "store",
        &harbour,
        "--config",
        &config,
        "--dest",
        "nas",
        "--path",
        elsewhere.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(elsewhere.join("labelstore-manifest.json").is_file());
    assert!(!nas.exists());

    for (args, message) in [
        (
            vec!["--dest", "nas", "--to", "db"],
            "labelstore: error: --to db contradicts --dest nas, which is local\n".to_owned(),
        ),
        (
            vec!["--dest", "nsa"],
            format!(
                "labelstore: error: --dest nsa: {config} names no such destination; it names: nas\n"
            ),
        ),
    ] {
        let mut all = vec!["store", &harbour, "--config", &config, "--format", "json"];
        all.extend(args);
        let o = run(&all);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert_eq!(stderr(&o), message);
        assert!(!nas.exists());
    }

    // No config file where one is looked for.
    let o = crate::util::labelstore()
        .args(["store", &harbour, "--dest", "nas", "--format", "json"])
        .env("XDG_CONFIG_HOME", tmp.path().join("none"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--dest nas: no config file at "),
        "{}",
        stderr(&o)
    );

    // An unknown key names the file and the line.
    let bad = write_config(tmp.path(), "[dest.nas]\nto = \"local\"\npth = \"x\"\n");
    let o = run(&["--config", &bad, "dest", "list"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with(&format!("labelstore: error: {bad}: unknown field `pth`")),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).ends_with("(line 3)\n"), "{}", stderr(&o));
}

#[test]
fn dest_list_masks_every_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(
        tmp.path(),
        "[dest.dav]\nto = \"objstore\"\nurl = \"https://me:hunter2@dav.example/labels/\"\n\n\
         [dest.oci]\nto = \"objstore\"\n\
         par_url = \"https://objectstorage.eu-frankfurt-1.oraclecloud.com/p/SECRETTOKEN/n/ns/b/bkt/o/\"\n\
         prefix = \"harbour/\"\n\n\
         [dest.gis]\nto = \"db\"\nconnection = \"host=db user=me password=hunter2 dbname=gis\"\ntable = \"chips\"\n",
    );
    let text = run(&["dest", "list", "--config", &config]);
    assert!(text.status.success(), "{}", stderr(&text));
    assert_eq!(
        stdout(&text),
        format!(
            "destinations in {config}:\n\
             \x20 dav: objstore --url https://me:***@dav.example/labels/\n\
             \x20 gis: db --connection host=db user=me password=*** dbname=gis --table chips\n\
             \x20 oci: objstore --par-url https://objectstorage.eu-frankfurt-1.oraclecloud.com/p/<secret>/n/ns/b/bkt/o/ --prefix harbour/\n"
        )
    );
    let json = run(&["dest", "list", "--config", &config, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["gis"]["table"], "chips");
    assert_eq!(v["oci"]["to"], "objstore");
    for o in [&text, &json] {
        let all = stdout(o) + &stderr(o);
        assert!(
            !all.contains("hunter2") && !all.contains("SECRETTOKEN"),
            "{all}"
        );
    }
}
