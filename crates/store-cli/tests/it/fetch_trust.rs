//! `fetch` reads only what `verify` trusts: files the store manifest lists,
//! at safe paths inside the store. A hand-tampered store is refused with
//! exit status 2 naming the path, and nothing is written.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::util::{root, run, stderr, stdout};

/// A local store of the example project in `json`, at `tmp/s/store`.
fn stored(tmp: &Path) -> PathBuf {
    let store = tmp.join("s/store");
    let o = run(&[
        "store".as_ref(),
        root().join("examples/harbour").as_os_str(),
        "--to".as_ref(),
        "local".as_ref(),
        "--path".as_ref(),
        store.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    store
}

/// Replaces `from` by `to` in the store's file `name`.
fn edit(store: &Path, name: &str, from: &str, to: &str) {
    let path = store.join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in {name}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// `fetch --from local` of `store` into `out`.
fn fetch(store: &Path, out: &Path) -> Output {
    run(&[
        "fetch".as_ref(),
        "--from".as_ref(),
        "local".as_ref(),
        "--path".as_ref(),
        store.as_os_str(),
        "--output".as_ref(),
        out.as_os_str(),
    ])
}

/// `fetch` of `store` into `out` exits 2 saying each of `says`, and
/// creates nothing there.
fn refused(store: &Path, out: &Path, says: &[&str]) -> String {
    let o = fetch(store, out);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{}{err}", stdout(&o));
    for s in says {
        assert!(err.contains(s), "{s:?} not in {err}");
    }
    assert!(!out.exists(), "{} was created", out.display());
    let beside: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("labelstore"))
        .collect();
    assert!(beside.is_empty(), "left beside the output: {beside:?}");
    err
}

#[test]
fn fetch_refuses_a_project_naming_a_file_outside_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = stored(tmp.path());
    // A secret beside the store, and the store's project.json pointing at it.
    std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
    let secret = std::fs::read(store.join("chips/r0_c0.tif")).unwrap();
    std::fs::write(tmp.path().join("outside/secret.png"), &secret).unwrap();
    edit(
        &store,
        "project.json",
        "\"image\": \"chips/r0_c0.tif\"",
        "\"image\": \"../../outside/secret.png\"",
    );
    let out = tmp.path().join("fetched");
    refused(
        &store,
        &out,
        &["../../outside/secret.png", "r0_c0", "chips[0].image"],
    );

    // An absolute path, a world file and a mask outside are refused alike.
    let abs = tmp.path().join("outside/secret.png");
    edit(
        &store,
        "project.json",
        "\"image\": \"../../outside/secret.png\"",
        &format!("\"image\": {:?}", abs.to_str().unwrap()),
    );
    refused(&store, &out, &[abs.to_str().unwrap(), "chips[0].image"]);
    edit(
        &store,
        "project.json",
        &format!("\"image\": {:?}", abs.to_str().unwrap()),
        "\"image\": \"chips/r0_c0.tif\", \"world_file\": \"../../outside/secret.png\"",
    );
    refused(&store, &out, &["chips[0].world_file", "outside/secret.png"]);
}

#[test]
fn fetch_refuses_a_manifest_listing_an_unsafe_path_as_verify_does() {
    for bad in ["../x", "/etc/passwd", "chips/../../x"] {
        let tmp = tempfile::tempdir().unwrap();
        let store = stored(tmp.path());
        edit(
            &store,
            "labelstore-manifest.json",
            "{\"path\":\"chips/r0_c1.tif\"",
            &format!("{{\"path\":{bad:?}"),
        );
        let o = run(&[
            "verify".as_ref(),
            "--from".as_ref(),
            "local".as_ref(),
            "--path".as_ref(),
            store.as_os_str(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
        assert!(stdout(&o).contains(&format!("unsafe path in the manifest: {bad}")));
        refused(&store, &tmp.path().join("fetched"), &[bad, "unsafe path"]);
    }
}

#[test]
fn fetch_refuses_a_file_in_the_store_folder_that_the_manifest_does_not_list() {
    let tmp = tempfile::tempdir().unwrap();
    let store = stored(tmp.path());
    // Named by the project: refused naming the chip and the field.
    std::fs::copy(
        store.join("chips/r0_c1.tif"),
        store.join("chips/slipped.tif"),
    )
    .unwrap();
    edit(
        &store,
        "project.json",
        "\"image\": \"chips/r0_c1.tif\"",
        "\"image\": \"chips/slipped.tif\"",
    );
    let out = tmp.path().join("fetched");
    refused(
        &store,
        &out,
        &[
            "chips/slipped.tif",
            "r0_c1",
            "chips[1].image",
            "labelstore-manifest.json",
        ],
    );
    // Named by nobody (a world file beside a chip, which the resolver
    // would take): refused too.
    edit(
        &store,
        "project.json",
        "\"image\": \"chips/slipped.tif\"",
        "\"image\": \"chips/r0_c1.tif\"",
    );
    std::fs::remove_file(store.join("chips/slipped.tif")).unwrap();
    std::fs::write(store.join("chips/r0_c2.tfw"), "1\n0\n0\n-1\n0\n0\n").unwrap();
    refused(&store, &out, &["chips/r0_c2.tfw"]);
    // Without it, the same store fetches.
    std::fs::remove_file(store.join("chips/r0_c2.tfw")).unwrap();
    let o = fetch(&store, &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.join("chips/r0_c1.tif").is_file());
}

#[test]
fn fetch_follows_no_symbolic_link_in_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = stored(tmp.path());
    let secret = tmp.path().join("secret.tif");
    std::fs::rename(store.join("chips/r0_c0.tif"), &secret).unwrap();
    std::os::unix::fs::symlink(&secret, store.join("chips/r0_c0.tif")).unwrap();
    refused(
        &store,
        &tmp.path().join("fetched"),
        &["chips/r0_c0.tif", "symbolic link"],
    );
}
