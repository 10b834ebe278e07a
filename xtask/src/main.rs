//! labelstore's project automation, run as `cargo xtask <command>` (the
//! cargo-xtask convention: plain Rust instead of shell scripts).
//!
//! - `cargo xtask test`: tidy, format check, clippy with warnings denied,
//!   the Python wheel's tests, every crate's tests, then the conformance
//!   suite. README's test command and CI.
//! - `cargo xtask wheel`: the Python wheel alone: built with maturin,
//!   installed into a fresh venv, its pytest suite run there.
//! - `cargo xtask tidy`: the architecture's rules (which crate may depend on
//!   which, crate docs, no unwrap in library code), checked in seconds.
//! - `cargo xtask conformance`: the cross-crate suite over `tests/fixtures`,
//!   with round trips through every destination (it starts the test servers).
//! - `cargo xtask serve ENVFILE`: the test servers, for running tests by
//!   hand, until ENVFILE is deleted.
//! - `cargo xtask gen-example`: regenerates the examples in `examples/`: the
//!   harbour project and the scene for `labelstore chip`, and the README's
//!   screenshot of the preview page (`docs/preview.png`).
//! - `cargo xtask bench formats`: labelstore against Datumaro, COCO to VOC,
//!   YOLO and KITTI on 10,000 chips, and against panlabel, COCO to VOC and
//!   YOLO: time and peak memory.
//! - `cargo xtask bench geotiff`: labelstore against rasterio, world-file
//!   chips (PNG, JPEG) to GeoTIFFs: times and ratio.
//! - `cargo xtask bench db` / `bench objstore`: labelstore against
//!   `raster2pgsql -Y | psql` and against `rclone copy`, on the same
//!   GeoTIFF chips: times and ratio.
//! - `cargo xtask bench memory`: peak memory of a local store and of its
//!   verification at 1,000, 10,000 and 100,000 chips.
//! - `cargo xtask bench chip [--pixels N]`: labelstore's `chip` against a
//!   rasterio + shapely script, a generated 20,000 x 20,000 GeoTIFF scene
//!   (N x N) and 20,000 GeoJSON polygons cut into labeled 512 x 512 chips:
//!   time and peak memory.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod conformance;
mod gen_example;
mod nginx;
mod objstore;
mod pg;
mod s3fs;
mod test;
mod tidy;
mod util;
mod wheel;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = util::project_root();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(&root),
        Some("bench") => bench::run(&root, args.get(1..).unwrap_or_default()),
        Some("serve") => test::serve(&root, args.get(1).map(String::as_str)),
        Some("conformance") => test::conformance(&root),
        Some("tidy") => tidy::run(&root),
        Some("wheel") => wheel::test(&root),
        Some("gen-example") => gen_example::run_all(&root.join("examples")),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|tidy|wheel|serve ENVFILE|conformance|gen-example|{}>",
                bench::USAGE
            );
            return std::process::ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
