//! End-to-end tests of the `labelstore` binary.

mod bad_input; // every case under tests/bad: exit 2, chip and field named, target untouched
mod chip; // `labelstore chip` judged by GDAL and PROJ: pixels, geotransforms, labels, masks, bad input
mod chip_format; // --chip-format keep|png|jpg: placed images judged by Pillow and Datumaro
mod conventions; // connections from pg_service.conf, .pgpass, PG*, AWS profiles; no secret shown
mod db_labels; // <table>_labels: labels as PostGIS geometries, judged by PostGIS and ogrinfo
mod degenerate; // labels of zero area left out of COCO and counted in the summary
mod dest; // --dest NAME from the config file for store, fetch and verify; dest list masks secrets
mod dry_run; // --dry-run: the plan is what the store writes, and nothing is written
mod fetch_trust; // fetch reads only what the store manifest lists, at safe paths
mod fetch_verify; // fetch and verify from the object store and the database
mod formats_cmd; // `labelstore formats [--json]`: every format, from its implementation
mod import_auto; // `import` telling a dataset's format from its layout; aliases, "did you mean"
mod input; // odd but valid inputs, and inputs that must not hang a store
mod kill; // SIGKILL in the middle of a store leaves the target absent or as it was
mod losses; // the loss report: what did not survive a store or an import, no float noise
mod memory; // memory bounded in bytes: row-by-row conversion, the memory budget
mod options; // options of another destination refused, bad-input exits, `--path .`
mod preview; // `preview`: the page in headless chromium (no network, chip count, box edges by Pillow), --png, --format
mod progress; // progress on a terminal, nothing in a pipe, -q and -v, fetch says fetched
mod reproducible; // same input, same bytes: local twice, object store, SOURCE_DATE_EPOCH
mod safety; // --overwrite, sources, concurrent stores, a target changed midway, a full disk
mod secrets; // no PAR token in output, only short excerpts of bad files
mod split_layouts; // splits in COCO, YOLO and VOC, judged by Datumaro and Ultralytics' rules
mod splits; // --split, --split-seed, --split-by: exact, deterministic, whole map blocks
mod store; // successful stores, the summary, usage and destination errors
mod store_from; // `store --from coco|voc|...`: a dataset stored in one step, as import then store
mod tls; // --to db over TLS: sslmode, sslrootcert, certificate errors
mod util;
