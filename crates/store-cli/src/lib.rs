//! `labelstore`, the command-line tool: stores a labeling project's labels
//! and chips into a destination (SPEC §5).
//!
//! Exit status: 0 on success, 1 when the destination fails, 2 for bad input
//! or usage.
//!
//! The command line is a library so that two top-level artifacts run it:
//! the `labelstore` binary ([`run`], from `src/main.rs`) and the Python
//! module (crates/labelstore-py), whose functions run the same commands
//! in-process through [`run_embedded`] and get the `--json` summary back
//! instead of output, and whose `labelstore` command is [`run`] again.
//!
//! ```
//! let out = tempfile::tempdir()?;
//! let argv = ["labelstore", "store", "../../examples/harbour", "--to", "local",
//!     "--format", "coco", "--path"].map(std::ffi::OsString::from).into_iter()
//!     .chain([out.path().join("store").into_os_string()]).collect();
//! let summary = store_cli::run_embedded(argv, None).map_err(|f| f.message)?;
//! assert!(summary.contains(r#""chips_stored":9"#));
//! Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod config;
mod dry_run;
mod embed;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand, ValueEnum};
use labelstore::chipper::{ChipOptions, ClassFrom};
use labelstore::model::{ImageLimits, LabelingType, Scope};
use labelstore::{FormatId, Plan, StoreError, StoreOptions, StoreReport};

pub use embed::{Failure, ProgressFn, Step, run_embedded};

mod progress;
use progress::{Meter, Verbosity, verbosity};

/// Store AI labeling projects (image chips and their labels) in the formats
/// training tools read, keeping their georeferencing.
#[derive(Debug, Parser)]
#[command(name = "labelstore", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print only errors: no progress, no text summary (`--json` still
    /// prints the report asked for).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print a line per chip (or file) on stderr as it is done.
    #[arg(short, long, global = true)]
    verbose: bool,

    /// The config file naming destinations (`--dest NAME`; default
    /// $XDG_CONFIG_HOME/labelstore/config.toml, ~/.config/... without it).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
}

// Parsed once per run: the size of the biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Store a project's labels (in one or more formats) and its chips; or,
    /// with --from, another tool's dataset (a conversion, such as COCO to
    /// VOC and YOLO, in one step).
    ///
    /// Deleted chips are never stored; chips without labels only when saved
    /// empty. Everything is written to a staging folder next to the target
    /// and moved into place at the end, so the target is either complete
    /// or as it was.
    #[command(after_help = "\
Examples:
  labelstore store examples/harbour --to local --path out/harbour --format json
  labelstore store project.json --to local --path out --format JSON --chip r0_c1 --overwrite
  labelstore store project.json --to local --path out --format json --json > report.json
  labelstore store coco/annotations/instances_default.json --from coco --to local --path out \\
      --format voc,yolo")]
    Store(StoreArgs),

    /// Bring a dataset made by another tool (COCO, Pascal VOC, YOLO, KITTI),
    /// or the GeoJSON or Shapefile folder of a labelstore store with its
    /// chips, into a labelstore project: a folder with project.json and the chips,
    /// ready for `labelstore store`. Images without labels become chips
    /// saved empty. The dataset's format is told from its layout unless
    /// --from names it.
    #[command(after_help = "\
Examples:
  labelstore import datasets/coco_instances --output my-project
  labelstore import --from coco annotations/instances_default.json --output my-project
  labelstore import --from voc VOCdevkit/VOC2012 --output my-project --overwrite
  labelstore import --from yolo datasets/ships --output my-project")]
    Import(ImportArgs),

    /// Cut georeferenced scenes (GeoTIFF) and the labels drawn on them in a
    /// GIS (GeoJSON, Shapefile, GeoPackage) into a project folder: one
    /// GeoTIFF chip per window (the scene's pixels, CRS and the window's
    /// geotransform) and the labels clipped to it in pixel coordinates,
    /// ready for `labelstore store`. Windows without labels are left out
    /// unless --keep-empty; windows all nodata always.
    #[command(after_help = "\
Examples:
  labelstore chip examples/scene/scene.tif --labels examples/scene/labels.geojson \\
      --class-field class --labeling-type object_detection --size 256 --output out/scene
  labelstore chip ortho1.tif ortho2.tif --labels buildings.gpkg --layer footprints \\
      --class building --labeling-type instance_segmentation --size 512 --stride 384 \\
      --min-visible 0.25 --output chips --overwrite")]
    Chip(ChipArgs),

    /// Check a store against its manifest: every file it lists present with
    /// its size and SHA-256, and no file it does not list; in a database,
    /// every chip row as the manifest lists it and its rasters as stored.
    /// Exit status 0 when the store is whole, 1 with the list of what
    /// differs otherwise.
    #[command(after_help = "\
Examples:
  labelstore verify --from local --path out/harbour
  labelstore verify --from local --path out/harbour --json
  labelstore verify --from objstore --url s3://bucket/harbour
  labelstore verify --from objstore --par-url \"$PAR\" --prefix harbour/
  labelstore verify --from db --connection postgres://labels@db/gis --table chips")]
    Verify(VerifyArgs),

    /// Read a store back into a project folder (project.json plus chips)
    /// that `labelstore store` accepts again: the whole project or one chip.
    /// Every file is checked against the store's manifest on the way; from
    /// a database, chips come back as GeoTIFFs made from their rasters.
    #[command(after_help = "\
Examples:
  labelstore fetch --from local --path out/harbour --output my-project
  labelstore fetch --from local --path out/harbour --output one-chip --chip r0_c1
  labelstore fetch --from objstore --url s3://bucket/harbour --output my-project
  labelstore fetch --from db --connection postgres://labels@db/gis --table chips \\
      --project harbour-ships --output my-project")]
    Fetch(FetchArgs),

    /// List every label format: the labeling types it serves, whether
    /// `import` reads it and `store` writes it, whether it keeps splits,
    /// what a round trip through it loses, where its files go, and the
    /// other names it is known by.
    #[command(after_help = "\
Examples:
  labelstore formats
  labelstore formats --json")]
    Formats(FormatsArgs),

    /// Make one self-contained HTML page (it works offline: thumbnails,
    /// CSS and script inside) showing every chip a store would include with
    /// its labels drawn in the class colours, its split, label count and
    /// georeferencing, a class histogram and split counts, with filters.
    /// Given a store folder and --format, the labels drawn are what that
    /// format's reader gives back from the stored files.
    #[command(after_help = "\
Examples:
  labelstore preview examples/harbour --output preview.html
  labelstore preview examples/harbour --output preview.html --split val --png pngs/
  labelstore preview out/harbour --format yolo --output yolo.html")]
    Preview(PreviewArgs),

    /// The destinations named in the config file (`--dest NAME` of store,
    /// fetch and verify), each with its settings, secrets masked.
    #[command(subcommand)]
    Dest(DestCommand),
}

#[derive(Debug, Subcommand)]
enum DestCommand {
    /// List the named destinations of the config file (--config FILE, or
    /// $XDG_CONFIG_HOME/labelstore/config.toml).
    #[command(after_help = "\
A config file:
  [dest.harbour-s3]
  to = \"objstore\"
  url = \"s3://labels/harbour\"
  region = \"eu-frankfurt-1\"

  [dest.gis]
  to = \"db\"
  connection = \"service=gis\"
  table = \"public.harbour_chips\"

Examples:
  labelstore dest list
  labelstore store examples/harbour --dest gis --format coco")]
    List(FormatsArgs),
}

#[derive(Debug, Args)]
struct PreviewArgs {
    /// The project (project.json or its folder), or a local store folder.
    #[arg(value_name = "PROJECT_OR_STORE_DIR")]
    input: PathBuf,

    /// The HTML file to write.
    #[arg(long, value_name = "FILE")]
    output: PathBuf,

    /// Read a store's labels through this format's reader (a store only;
    /// without it, the store's json, the project's own labels).
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,

    /// Only this chip.
    #[arg(long, value_name = "ID")]
    chip: Option<String>,

    /// Only the chips of this split.
    #[arg(long, value_name = "SPLIT")]
    split: Option<String>,

    /// Also write one PNG per chip (`<id>.png`) with its labels' outlines
    /// drawn, into this folder (created if missing).
    #[arg(long, value_name = "DIR")]
    png: Option<PathBuf>,

    /// Refuse images whose header claims more pixels than this.
    #[arg(long, value_name = "N", default_value_t = ImageLimits::default().max_pixels)]
    max_pixels: u64,
}

#[derive(Debug, Args)]
struct FormatsArgs {
    /// Print the list as JSON on stdout (an array of objects) instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct FetchArgs {
    #[command(flatten)]
    source: SourceArgs,

    /// The project folder to create.
    #[arg(long, value_name = "DIR")]
    output: PathBuf,

    /// Fetch only this chip.
    #[arg(long, value_name = "ID")]
    chip: Option<String>,

    /// Replace the output folder when it is not empty.
    #[arg(long)]
    overwrite: bool,

    /// Print the closing summary as JSON on stdout instead of text.
    #[arg(long)]
    json: bool,

    /// Check the output folder and print what the fetch would bring (from
    /// the store's manifest), writing nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    #[command(flatten)]
    source: SourceArgs,

    /// Print the result as JSON on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// Where a store is read from (`fetch`, `verify`).
#[derive(Debug, Args)]
struct SourceArgs {
    /// Where the store is: `local` (a folder, --path), `objstore` (--url
    /// s3://bucket/prefix, or --par-url URL --prefix P) or `db` (--connection
    /// URL --table NAME [--project NAME]).
    #[arg(
        long = "from",
        id = "destination",
        value_enum,
        value_name = "DESTINATION"
    )]
    from: Kind,

    #[command(flatten)]
    at: DestinationArgs,

    /// The project to read from the table (`--from db`); needed when the
    /// table holds several.
    #[arg(long, value_name = "NAME")]
    project: Option<String>,
}

/// The kind of store, `--to` of `store` and `--from` of `fetch` and `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// A local folder (--path).
    Local,
    /// A PostgreSQL/PostGIS table (--connection, --table; one format per store).
    Db,
    /// An object store: --url s3://bucket/prefix (gs://, az://, a WebDAV
    /// http(s):// URL), or an OCI pre-authenticated request: --par-url URL
    /// --prefix P.
    Objstore,
}

impl Kind {
    /// Its place in the option lists `refuse_foreign` takes.
    fn index(self) -> usize {
        match self {
            Kind::Local => 0,
            Kind::Db => 1,
            Kind::Objstore => 2,
        }
    }
}

/// Every destination's options (`store`, `fetch`, `verify`): those of the
/// one `--to`/`--from` names apply, the others are refused.
#[derive(Debug, Args)]
struct DestinationArgs {
    /// A destination named in the config file (see `labelstore dest
    /// list`): its settings stand for --to/--from and the options of its
    /// kind, unless given here too (those given here win).
    /// Example: --dest harbour-s3
    #[arg(long, value_name = "NAME")]
    dest: Option<String>,

    #[command(flatten)]
    local: LocalArgs,

    #[command(flatten)]
    objstore: ObjstoreArgs,

    #[command(flatten)]
    db: DbArgs,
}

/// A local store's options (`store`, `fetch`, `verify`).
#[derive(Debug, Args)]
struct LocalArgs {
    /// The store's folder (`local`); `store` creates it when missing.
    /// Example: --path out/harbour
    #[arg(long, value_name = "DIR", required_if_eq("destination", "local"))]
    path: Option<PathBuf>,
}

impl LocalArgs {
    fn given(&self) -> Vec<(&'static str, bool)> {
        vec![("--path", self.path.is_some())]
    }
}

/// An object store's options (`store`, `fetch`, `verify`).
#[derive(Debug, Args)]
struct ObjstoreArgs {
    /// The store through object_store (`objstore`): s3://bucket/prefix,
    /// gs://bucket/prefix or az://container/prefix (credentials from each
    /// cloud's usual environment variables; for s3:// also AWS_PROFILE
    /// with ~/.aws/credentials and ~/.aws/config), or
    /// http(s)://[user:password@]host[:port]/path/ on a WebDAV server
    /// accepting PUT (the password is never printed).
    #[arg(long, value_name = "URL", conflicts_with = "par_url")]
    url: Option<String>,

    /// An OCI pre-authenticated request URL
    /// (`https://objectstorage.<region>.oraclecloud.com/p/<token>/n/<ns>/b/<bucket>/o/`,
    /// `objstore`); reading a store needs one that allows reading and
    /// listing objects. The token is never printed.
    #[arg(long, value_name = "URL")]
    par_url: Option<String>,

    /// The object name prefix under --par-url (a `/` is added when missing).
    #[arg(long, value_name = "P", requires = "par_url")]
    prefix: Option<String>,

    /// The endpoint of an S3-compatible service (--url s3://...).
    /// Example: --endpoint https://<ns>.compat.objectstorage.eu-frankfurt-1.oraclecloud.com
    #[arg(long, value_name = "URL", requires = "url")]
    endpoint: Option<String>,

    /// The signing region of an S3-compatible service (--url s3://...).
    #[arg(long, value_name = "REGION", requires = "url")]
    region: Option<String>,
}

impl ObjstoreArgs {
    fn given(&self) -> Vec<(&'static str, bool)> {
        vec![
            ("--url", self.url.is_some()),
            ("--par-url", self.par_url.is_some()),
            ("--prefix", self.prefix.is_some()),
            ("--endpoint", self.endpoint.is_some()),
            ("--region", self.region.is_some()),
        ]
    }

    /// The client options these give: `concurrency` requests at once, or
    /// without it as many as the objects' sizes allow
    /// ([`ObjStoreOptions::by_size`](labelstore::objstore::ObjStoreOptions::by_size)).
    #[cfg(feature = "objstore")]
    fn options(&self, concurrency: Option<usize>) -> labelstore::objstore::ObjStoreOptions {
        let tuning = match concurrency {
            Some(concurrency) => labelstore::objstore::ObjStoreOptions {
                concurrency,
                ..labelstore::objstore::ObjStoreOptions::default()
            },
            None => labelstore::objstore::ObjStoreOptions::by_size(),
        };
        labelstore::objstore::ObjStoreOptions {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            ..tuning
        }
    }

    /// `--url`, or `--par-url` with its prefix; `flag` (`--to`, `--from`)
    /// names the choice in the error when neither is given.
    #[cfg(feature = "objstore")]
    fn address(&self, flag: &str) -> Result<ObjstoreAddress<'_>, StoreError> {
        match (&self.url, &self.par_url) {
            (Some(url), None) => Ok(ObjstoreAddress::Url(url)),
            (None, Some(par)) => Ok(ObjstoreAddress::Par(
                par,
                self.prefix.as_deref().unwrap_or(""),
            )),
            _ => Err(StoreError::Usage(format!(
                "{flag} objstore needs --url s3://bucket/prefix, or --par-url URL --prefix P"
            ))),
        }
    }
}

/// Where an object store is: a URL, or a PAR URL and a prefix.
#[cfg(feature = "objstore")]
enum ObjstoreAddress<'a> {
    Url(&'a str),
    Par(&'a str, &'a str),
}

/// A database store's options (`store`, `fetch`, `verify`).
#[derive(Debug, Args)]
struct DbArgs {
    /// The database (`db`): a PostgreSQL URL or key=value string, as libpq
    /// reads it (`service=NAME` names a section of pg_service.conf). Without
    /// it, PGSERVICE and the PG* environment (PGHOST, PGPORT, PGUSER,
    /// PGDATABASE, PGSSLMODE, ...) say where. The password may come from
    /// --password-file, the connection, its service, PGPASSWORD or
    /// ~/.pgpass (PGPASSFILE). Example: --connection postgres://labels@db.example:5432/gis
    #[arg(long, value_name = "URL")]
    connection: Option<String>,

    /// The table (`db`), optionally schema-qualified (letters, digits, _);
    /// `store` creates it when missing. Example: --table public.harbour_chips
    #[arg(long, value_name = "NAME", required_if_eq("destination", "db"))]
    table: Option<String>,

    /// A file whose first line is the database password (`db`).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

impl DbArgs {
    fn given(&self) -> Vec<(&'static str, bool)> {
        vec![
            ("--connection", self.connection.is_some()),
            ("--table", self.table.is_some()),
            ("--password-file", self.password_file.is_some()),
        ]
    }

    /// The connection (empty: libpq's environment and service file alone)
    /// and table; `flag` (`--to`, `--from`) names the choice in the error
    /// when the table is missing.
    #[cfg(feature = "db")]
    fn address(&self, flag: &str) -> Result<(&str, &str), StoreError> {
        match &self.table {
            Some(t) => Ok((self.connection.as_deref().unwrap_or(""), t)),
            None => Err(StoreError::Usage(format!("{flag} db needs --table NAME"))),
        }
    }
}

/// An opened store to read: the runtime it needs and the reader.
// One per run: the size of the biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Source {
    Local(PathBuf),
    #[cfg(feature = "objstore")]
    Objstore(labelstore::objstore::ObjStoreReader),
    #[cfg(feature = "db")]
    Db(labelstore::db::DbReader),
}

/// The error for a destination this build leaves out (its cargo feature
/// off): a usage error, exit status 2.
#[allow(dead_code)] // Unused when every feature is on.
fn not_built(flag: &str, kind: &str) -> StoreError {
    StoreError::Usage(format!(
        "{flag} {kind} is not available: this labelstore was built without the `{kind}` feature"
    ))
}

impl Source {
    /// The folder of a local store.
    fn local_folder(&self) -> Option<PathBuf> {
        match self {
            Source::Local(path) => Some(path.clone()),
            #[allow(unreachable_patterns)] // Only local without db and objstore.
            _ => None,
        }
    }
}

impl SourceArgs {
    /// Opens the store (connecting to a database) on `runtime`.
    fn open(&self, runtime: &tokio::runtime::Runtime) -> Result<Source, StoreError> {
        #[cfg(not(any(feature = "db", feature = "objstore")))]
        let _ = runtime;
        match self.from {
            Kind::Local => {
                let path = self
                    .at
                    .local
                    .path
                    .clone()
                    .ok_or_else(|| StoreError::Usage("--from local needs --path DIR".into()))?;
                Ok(Source::Local(path))
            }
            #[cfg(not(feature = "objstore"))]
            Kind::Objstore => Err(not_built("--from", "objstore")),
            #[cfg(not(feature = "db"))]
            Kind::Db => Err(not_built("--from", "db")),
            #[cfg(feature = "objstore")]
            Kind::Objstore => {
                use labelstore::objstore::ObjStoreReader;
                let opts = self.at.objstore.options(Some(
                    labelstore::objstore::ObjStoreOptions::default().concurrency,
                ));
                let _guard = runtime.enter();
                let reader = match self.at.objstore.address("--from")? {
                    ObjstoreAddress::Url(url) => ObjStoreReader::open_url(url, opts)?,
                    ObjstoreAddress::Par(par, prefix) => {
                        ObjStoreReader::open_par(par, prefix, opts)?
                    }
                };
                Ok(Source::Objstore(reader))
            }
            #[cfg(feature = "db")]
            Kind::Db => {
                let (connection, table) = self.at.db.address("--from")?;
                let opts = labelstore::db::DbReadOptions {
                    connection: connection.to_owned(),
                    password_file: self.at.db.password_file.clone(),
                    table: table.to_owned(),
                    project: self.project.clone(),
                };
                Ok(Source::Db(
                    runtime.block_on(labelstore::db::DbReader::open(opts))?,
                ))
            }
        }
    }
}

fn reading_runtime() -> Result<tokio::runtime::Runtime, StoreError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The dataset's format: coco, voc, yolo, kitti, geojson or shapefile
    /// (any letter case, or another name `labelstore formats` lists), or
    /// auto: told from the dataset's layout.
    #[arg(long, value_name = "FORMAT", default_value = "auto")]
    from: String,

    /// The dataset: its folder (or, for COCO, its annotation file).
    #[arg(value_name = "PATH")]
    path: PathBuf,

    /// The project folder to create (created if missing).
    #[arg(long, value_name = "DIR")]
    output: PathBuf,

    /// Replace the output folder when it is not empty.
    #[arg(long)]
    overwrite: bool,

    /// Refuse images whose header claims more pixels than this.
    #[arg(long, value_name = "N", default_value_t = ImageLimits::default().max_pixels)]
    max_pixels: u64,

    /// The most memory that chips being turned into GeoTIFFs (chips with a
    /// world file or a geotransform) may hold at once, all workers
    /// together: bytes, or a size such as 512MiB, 2GiB, 800MB. Each chip's
    /// need is estimated from its header; chips wait for room, and a chip
    /// that needs more than the whole budget is refused before anything is
    /// written.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    memory_budget: u64,

    /// Print the closing summary as JSON on stdout instead of text.
    #[arg(long)]
    json: bool,

    /// Check everything and print what the import would write (chips per
    /// split, files and bytes), writing nothing.
    #[arg(long)]
    dry_run: bool,

    #[command(flatten)]
    splits: SplitArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("class_source").required(true).args(["class_field", "class"])))]
struct ChipArgs {
    /// The scenes: GeoTIFFs (classic or BigTIFF, striped or tiled),
    /// georeferenced by their tags or a world file.
    #[arg(value_name = "SCENE", required = true)]
    scenes: Vec<PathBuf>,

    /// The labels: a GeoJSON file, a Shapefile (.shp with its .shx, .dbf,
    /// .prj) or a GeoPackage, polygons and multipolygons in any CRS.
    #[arg(long, value_name = "FILE")]
    labels: PathBuf,

    /// The GeoPackage table to read, when it holds several.
    #[arg(long, value_name = "NAME")]
    layer: Option<String>,

    /// The attribute holding each feature's class.
    #[arg(long, value_name = "NAME")]
    class_field: Option<String>,

    /// One class for every feature.
    #[arg(long, value_name = "NAME")]
    class: Option<String>,

    /// object_detection (boxes), instance_segmentation (polygons) or
    /// semantic_segmentation (polygons the store rasterizes into masks).
    #[arg(long, value_name = "TYPE")]
    labeling_type: String,

    /// Width and height of each chip, in pixels.
    #[arg(long, value_name = "N")]
    size: u32,

    /// Pixels from one window to the next (default: --size; less overlaps).
    #[arg(long, value_name = "S")]
    stride: Option<u32>,

    /// The project folder to create (created if missing).
    #[arg(long, value_name = "DIR")]
    output: PathBuf,

    /// Keep chips without labels, saved empty (negative examples).
    #[arg(long)]
    keep_empty: bool,

    /// Drop a feature's piece in a chip whose area is below this share of
    /// the whole feature (0 to 1; default 0 keeps every piece).
    #[arg(long, value_name = "RATIO", default_value_t = 0.0)]
    min_visible: f64,

    /// The CRS (EPSG code) of scenes whose GeoTIFF keys name none.
    #[arg(long, value_name = "EPSG")]
    srid: Option<u32>,

    /// Replace the output folder when it holds an earlier labelstore run.
    #[arg(long)]
    overwrite: bool,

    /// Print the closing summary as JSON on stdout instead of text.
    #[arg(long)]
    json: bool,

    /// Check everything and print what the run would write (scenes,
    /// windows, chips per split, labels per class, files and bytes),
    /// writing nothing; the chips are cut to count their bytes.
    #[arg(long)]
    dry_run: bool,

    #[command(flatten)]
    splits: SplitArgs,
}

/// Splits assigned at store time (`store`, `import`).
#[derive(Debug, Args)]
struct SplitArgs {
    /// Give every stored chip a dataset split, replacing the project's own:
    /// NAME=SHARE,... with shares adding up to 1, as in
    /// train=0.8,val=0.1,test=0.1. Chips are dealt out by a hash of their
    /// id and --split-seed: the same input gives the same splits, and each
    /// split gets its share to one chip.
    #[arg(long, value_name = "NAME=SHARE,...")]
    split: Option<String>,

    /// Changes which chips go to which split (default 0).
    #[arg(long, value_name = "N", default_value_t = 0, requires = "split")]
    split_seed: u64,

    /// chip (default), or block=METRES: georeferenced chips whose centres
    /// lie in the same METRES x METRES square of their CRS go to the same
    /// split, so neighbouring or overlapping chips never straddle train
    /// and validation (chips without georeferencing go one by one).
    #[arg(long, value_name = "chip|block=METRES", requires = "split")]
    split_by: Option<String>,
}

impl SplitArgs {
    /// The splits asked for, if any.
    fn spec(&self) -> Result<Option<labelstore::model::SplitSpec>, StoreError> {
        let Some(text) = &self.split else {
            return Ok(None);
        };
        labelstore::model::SplitSpec::parse(text, self.split_seed, self.split_by.as_deref())
            .map(Some)
            .map_err(StoreError::Usage)
    }

    /// The plan with the splits asked for, if any.
    fn apply(&self, plan: Plan) -> Result<Plan, StoreError> {
        match self.spec()? {
            Some(spec) => plan.with_split(&spec),
            None => Ok(plan),
        }
    }
}

#[derive(Debug, Args)]
struct StoreArgs {
    /// The project: a project.json manifest, or a folder holding one; with
    /// --from, another tool's dataset (its folder or, for COCO, its
    /// annotation file).
    #[arg(value_name = "PROJECT")]
    project: PathBuf,

    /// What PROJECT is: `project` (a labelstore project), or a dataset made
    /// by another tool, read as `labelstore import` reads it and stored in
    /// one step, with no project written on the way: coco, voc, yolo,
    /// kitti, geojson, shapefile, or auto (told from its layout).
    /// Example: --from coco
    #[arg(long, value_name = "FORMAT", default_value = "project")]
    from: String,

    /// The dataset format `--from` names, resolved by `check` (with
    /// whether it was told from the layout); `None` for a project.
    #[arg(skip)]
    read_as: Option<(FormatId, bool)>,

    /// Where to store: `local` writes to the folder given by --path, `db`
    /// to the PostgreSQL/PostGIS table --table through --connection,
    /// `objstore` to --url s3://bucket/prefix or --par-url URL --prefix P.
    #[arg(
        long = "to",
        id = "destination",
        value_enum,
        value_name = "DESTINATION"
    )]
    to: Kind,

    #[command(flatten)]
    at: DestinationArgs,

    /// Label formats, comma-separated or repeated, any letter case.
    /// Object detection: json, geojson, shapefile, voc, coco, kitti, yolo;
    /// instance segmentation: json, coco; semantic segmentation: png, tiff,
    /// geotiff, gif, bmp. Example: --format json
    #[arg(long, value_name = "F[,F...]", value_delimiter = ',', required = true)]
    format: Vec<String>,

    /// Store only this chip (the "current labeled chip"); it must exist,
    /// not be deleted, and have labels or be saved empty.
    /// Example: --chip r0_c1
    #[arg(long, value_name = "ID")]
    chip: Option<String>,

    /// Uploads in flight at once (`--to objstore`). By default picked from
    /// the objects' sizes: up to 32 at once while they total at most 64 MiB
    /// (small chips 32 at a time, 8 MiB ones 8, 64 MiB and larger one).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: Option<u16>,

    /// Replace the target folder when it is not empty (it is swapped out
    /// whole once the new store is complete).
    #[arg(long)]
    overwrite: bool,

    /// Refuse images whose header claims more pixels than this, before
    /// decoding anything.
    #[arg(long, value_name = "N", default_value_t = ImageLimits::default().max_pixels)]
    max_pixels: u64,

    /// The most memory that chips being turned into GeoTIFFs (chips with a
    /// world file or a geotransform) may hold at once, all workers
    /// together: bytes, or a size such as 512MiB, 2GiB, 800MB. Each chip's
    /// need is estimated from its header; chips wait for room, and a chip
    /// that needs more than the whole budget is refused before anything is
    /// written.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    memory_budget: u64,

    /// Print the closing summary as JSON on stdout instead of text.
    #[arg(long)]
    json: bool,

    /// GeoJSON coordinates: `rfc7946` (WGS 84 longitude/latitude, the
    /// standard) or `native` (each chip's own CRS, with the legacy `crs`
    /// member GDAL reads).
    #[arg(long, value_enum, value_name = "CRS", default_value = "rfc7946")]
    geojson_crs: GeojsonCrs,

    /// The file type of the images COCO, VOC, YOLO and KITTI place beside
    /// their labels (the chips under `chips/` are unchanged): `keep` (the
    /// stored chip), `png` (the same pixels, lossless) or `jpg` (for
    /// loaders that hard-code `.jpg`, such as torchvision's VOCDetection;
    /// a JPEG chip is placed as it is). Label files name the placed image.
    #[arg(long, value_enum, value_name = "TYPE", default_value = "keep")]
    chip_format: ChipFormatArg,

    /// The JPEG quality of --chip-format jpg, 1 to 100 (default 95).
    #[arg(long, value_name = "Q", value_parser = clap::value_parser!(u8).range(1..=100))]
    jpeg_quality: Option<u8>,

    #[command(flatten)]
    splits: SplitArgs,

    /// Check everything and print what the store would write (chips per
    /// split, files and bytes; objects to upload, skip and delete; rows),
    /// writing nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ChipFormatArg {
    /// The stored chip as it is.
    Keep,
    /// A PNG of the same pixels.
    Png,
    /// A JPEG.
    Jpg,
}

/// The `--chip-format` of a store, with its `--jpeg-quality` (which
/// applies to `jpg` only).
fn chip_format(args: &StoreArgs) -> Result<labelstore::ChipFormat, StoreError> {
    match (args.chip_format, args.jpeg_quality) {
        (ChipFormatArg::Jpg, quality) => Ok(labelstore::ChipFormat::Jpeg {
            quality: quality.unwrap_or(95),
        }),
        (_, Some(_)) => Err(StoreError::Usage(
            "--jpeg-quality applies to --chip-format jpg only".into(),
        )),
        (ChipFormatArg::Png, None) => Ok(labelstore::ChipFormat::Png),
        (ChipFormatArg::Keep, None) => Ok(labelstore::ChipFormat::Keep),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GeojsonCrs {
    /// WGS 84 longitude/latitude (RFC 7946).
    Rfc7946,
    /// Each chip's own CRS.
    Native,
}

/// Runs the command line `argv` (the program name first, as
/// `std::env::args_os` gives it) as the `labelstore` binary does: output on
/// stdout, errors on stderr; gives the exit status.
pub fn run(argv: Vec<OsString>) -> u8 {
    match run_command(argv) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("labelstore: error: {}", failure.message);
            failure.exit_code
        }
    }
}

/// Runs the command line `argv`: the exit status of a command that ran
/// (`verify` ends with 1 when the store is not whole), or why it failed.
fn run_command(argv: Vec<OsString>) -> Result<u8, Failure> {
    let failure = |e: StoreError| Failure {
        message: e.to_string(),
        exit_code: e.exit_code(),
    };
    let argv = config::complete_args(argv).map_err(failure)?;
    let embedded = embed::current().is_some();
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        // Help, version and usage errors: clap prints and exits (status 2
        // for a usage error), as the binary always did.
        Err(e) if !embedded => e.exit(),
        Err(e) => {
            let text = e.to_string();
            return Err(Failure {
                message: text.trim_start_matches("error: ").trim_end().to_owned(),
                exit_code: u8::try_from(e.exit_code()).unwrap_or(2),
            });
        }
    };
    if !embedded {
        progress::set_verbosity(Verbosity::from_flags(cli.quiet, cli.verbose));
    }
    let result = match cli.command {
        Command::Store(mut args) => args.check().and_then(|()| store(&args)),
        Command::Import(mut args) => {
            args.output = folder_target(args.output);
            import(&args)
        }
        Command::Chip(mut args) => {
            args.output = folder_target(args.output);
            chip(&args)
        }
        Command::Verify(args) => {
            // A store that cannot be read is a failure of the destination
            // (1) unless the request was wrong (2).
            return args
                .source
                .check()
                .and_then(|()| verify(&args))
                .map_err(|e| Failure {
                    exit_code: if e.exit_code() == 2 { 2 } else { 1 },
                    ..failure(e)
                });
        }
        Command::Fetch(mut args) => args.check().and_then(|()| fetch(&args)),
        Command::Dest(DestCommand::List(args)) => config::list(cli.config.as_deref(), args.json)
            .map(|text| {
                let _ = std::io::stdout().write_all(text.as_bytes());
            }),
        Command::Formats(args) => {
            formats(args.json);
            Ok(())
        }
        Command::Preview(args) => preview(&args),
    };
    result.map(|()| 0).map_err(failure)
}

/// Refuses an option given for another kind of store than `chosen`
/// (`local`, `db` or `objstore`, the order of `options`): it does not
/// apply (exit status 2), rather than being silently ignored.
fn refuse_foreign(
    flag: &str,
    chosen: usize,
    options: [&[(&str, bool)]; 3],
) -> Result<(), StoreError> {
    let kinds = ["local", "db", "objstore"];
    let foreign = options
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != chosen)
        .flat_map(|(_, o)| o.iter())
        .find(|(_, on)| *on);
    match foreign {
        Some((name, _)) => Err(StoreError::Usage(format!(
            "{name} does not apply to {flag} {}; see `labelstore help` for the options of each",
            kinds[chosen]
        ))),
        None => Ok(()),
    }
}

/// A target folder as sink-fs takes it, with a last segment naming it:
/// `.` or `out/..` become the folder they mean.
fn folder_target(path: PathBuf) -> PathBuf {
    if path.file_name().is_some() {
        return path;
    }
    std::path::absolute(&path)
        .ok()
        .filter(|p| p.file_name().is_some())
        .or_else(|| path.canonicalize().ok())
        .unwrap_or(path)
}

impl StoreArgs {
    /// Refuses options of another destination than `--to`'s; gives the
    /// target folder a name.
    fn check(&mut self) -> Result<(), StoreError> {
        let mut local = self.at.local.given();
        local.push(("--overwrite", self.overwrite));
        let mut objstore = self.at.objstore.given();
        objstore.push(("--concurrency", self.concurrency.is_some()));
        refuse_foreign(
            "--to",
            self.to.index(),
            [&local, &self.at.db.given(), &objstore],
        )?;
        self.at.local.path = self.at.local.path.take().map(folder_target);
        if !self.from.trim().eq_ignore_ascii_case("project") {
            self.read_as = Some(dataset_format(&self.from, &self.project, "store")?);
        }
        Ok(())
    }
}

impl SourceArgs {
    /// Refuses options of another source than `--from`'s.
    fn check(&self) -> Result<(), StoreError> {
        let mut db = self.at.db.given();
        db.insert(2, ("--project", self.project.is_some()));
        refuse_foreign(
            "--from",
            self.from.index(),
            [&self.at.local.given(), &db, &self.at.objstore.given()],
        )
    }
}

impl FetchArgs {
    /// Refuses options of another source than `--from`'s; gives the output
    /// folder a name.
    fn check(&mut self) -> Result<(), StoreError> {
        self.source.check()?;
        self.output = folder_target(std::mem::take(&mut self.output));
        Ok(())
    }
}

fn verify(args: &VerifyArgs) -> Result<u8, StoreError> {
    use labelstore::verify_with_progress as check;
    let mut meter = Meter::new(verbosity(), "files", "checked", 0);
    let mut progress = |p: labelstore::Progress<'_>| meter.update(p);
    let report = reading_runtime().and_then(|runtime| match args.source.open(&runtime)? {
        Source::Local(path) => {
            let mut reader = labelstore::fs::FsReader::open(&path);
            runtime.block_on(check(&mut reader, &mut progress))
        }
        #[cfg(feature = "objstore")]
        Source::Objstore(mut reader) => runtime.block_on(check(&mut reader, &mut progress)),
        #[cfg(feature = "db")]
        Source::Db(mut reader) => runtime.block_on(check(&mut reader, &mut progress)),
    });
    meter.finish();
    let report = report?;
    embed::summary(args.json, &report, || verify_text(&report));
    Ok(if report.is_whole() { 0 } else { 1 })
}

/// `verify`'s text summary.
fn verify_text(report: &labelstore::VerifyReport) -> String {
    if report.is_whole() && verbosity() == Verbosity::Quiet {
        String::new()
    } else if report.is_whole() {
        format!(
            "whole: {} files, sizes and SHA-256 as listed\n",
            report.files_listed
        )
    } else {
        let mut t = format!(
            "{} problem{} in {} listed files:\n",
            report.problems.len(),
            if report.problems.len() == 1 { "" } else { "s" },
            report.files_listed
        );
        for p in &report.problems {
            t += &format!("  {p}\n");
        }
        t
    }
}

fn fetch(args: &FetchArgs) -> Result<(), StoreError> {
    let scope = args.chip.clone().map_or(Scope::Project, Scope::Chip);
    let runtime = reading_runtime()?;
    let source = args.source.open(&runtime)?;
    if args.dry_run {
        return dry_run::fetch(&runtime, source, args);
    }
    let local = source.local_folder();
    let reads_from: Vec<PathBuf> = local.iter().cloned().collect();
    let dest = open_local(&args.output, args.overwrite, reads_from)?;
    // A remote store is first brought into a scratch folder beside the
    // output (same disk), checked file by file against its manifest.
    let scratch_in = args
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let scratch = match local {
        Some(_) => None,
        None => Some(Scratch::create(scratch_in)?),
    };
    // A local store is read in place: no scratch folder.
    let dir = scratch.as_ref().map_or_else(PathBuf::new, |s| s.0.clone());
    use labelstore::prepare_fetch_with_progress as prepare;
    // Files brought from a remote store first (a local one is read in
    // place), then the chips written.
    let mut meter = Meter::new(verbosity(), "files", "fetched", 0);
    let mut progress = |p: labelstore::Progress<'_>| meter.update(p);
    let plan = runtime.block_on(async {
        match source {
            Source::Local(path) => {
                let mut reader = labelstore::fs::FsReader::open(&path);
                prepare(&mut reader, &dir, scope, &mut progress).await
            }
            #[cfg(feature = "objstore")]
            Source::Objstore(mut reader) => prepare(&mut reader, &dir, scope, &mut progress).await,
            #[cfg(feature = "db")]
            Source::Db(mut reader) => prepare(&mut reader, &dir, scope, &mut progress).await,
        }
    });
    meter.finish();
    let plan = embed::cancellable(plan?);
    let mut meter = Meter::new(verbosity(), "chips", "wrote", plan.chip_count());
    let report = runtime.block_on(plan.execute(dest, &mut |p| meter.update(p)));
    meter.finish();
    drop(scratch);
    print_report(&report?, args.json, "fetched");
    Ok(())
}

/// A scratch folder, removed when dropped (after a failure too); those of
/// killed runs are cleared when the next one is made.
struct Scratch(PathBuf);

impl Scratch {
    fn create(beside: &std::path::Path) -> std::io::Result<Scratch> {
        Ok(Scratch(labelstore::scratch_dir_in(beside, "fetch")?.keep()))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn preview(args: &PreviewArgs) -> Result<(), StoreError> {
    let format = args
        .format
        .as_deref()
        .map(|f| FormatId::lookup(f).map_err(|e| StoreError::Usage(e.to_string())))
        .transpose()?;
    let options = labelstore::PreviewOptions {
        scope: args.chip.clone().map_or(Scope::Project, Scope::Chip),
        split: args.split.clone(),
        format,
        limits: ImageLimits {
            max_pixels: args.max_pixels,
            ..ImageLimits::default()
        },
    };
    let preview = labelstore::prepare_preview(&args.input, &options)?;
    let written = preview.write(&args.output, args.png.as_deref())?;
    if verbosity() != Verbosity::Quiet {
        println!(
            "preview: {} chips, {} labels (from {}) in {}{}",
            preview.chips.len(),
            preview.label_count(),
            preview.source,
            args.output.display(),
            args.png
                .as_ref()
                .map(|d| format!(", {} PNGs in {}", written.pngs.len(), d.display()))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// The dataset format `from` names (`import --from`, `store --from`), or
/// the one told from the layout of `path` for `auto`, with whether it was
/// told; `command` (`import`, `store`) is named in the error for a format
/// no dataset is read in.
fn dataset_format(
    from: &str,
    path: &std::path::Path,
    command: &str,
) -> Result<(FormatId, bool), StoreError> {
    let detected = from.trim().eq_ignore_ascii_case("auto");
    let format = if detected {
        labelstore::detect_format(path)?
    } else {
        FormatId::lookup(from).map_err(|e| StoreError::Usage(e.to_string()))?
    };
    if labelstore::IMPORT_FORMATS.contains(&format) {
        return Ok((format, detected));
    }
    let reads: Vec<_> = labelstore::IMPORT_FORMATS
        .iter()
        .map(|f| f.name())
        .collect();
    let reader = if command == "import" {
        "import"
    } else {
        "--from"
    };
    Err(StoreError::Usage(format!(
        "cannot {command} from {from:?}; {reader} reads: {}{}",
        reads.join(", "),
        if command == "import" {
            ""
        } else {
            ", auto or project"
        }
    )))
}

fn import(args: &ImportArgs) -> Result<(), StoreError> {
    let (from, detected) = dataset_format(&args.from, &args.path, "import")?;
    let limits = ImageLimits {
        max_pixels: args.max_pixels,
        memory_budget: args.memory_budget,
    };
    let plan = args
        .splits
        .apply(labelstore::prepare_import(from, &args.path, limits)?)?;
    // The dataset: the folder given, or the folder of the file given, and
    // every folder its images are in.
    let mut reads_from = vec![folder_of(&args.path)];
    reads_from.extend(image_folders(plan.project()));
    if args.dry_run {
        return dry_run::local(plan, &args.output, args.overwrite, reads_from, args.json);
    }
    let dest = open_local(&args.output, args.overwrite, reads_from)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut meter = Meter::new(verbosity(), "chips", "imported", plan.chip_count());
    let plan = embed::cancellable(plan);
    let report = runtime.block_on(plan.execute(dest, &mut |p| meter.update(p)));
    meter.finish();
    print_read_report(&report?, (from, detected), args.json, "imported");
    Ok(())
}

/// The summary of an import, or of a store of another tool's dataset:
/// which format the dataset was read as (and whether that was told from
/// its layout), then the store's summary; in JSON, the store's report with
/// `"imported_from"` (an import) or `"read_from"` (a store): `{"format",
/// "detected"}`.
fn print_read_report(r: &StoreReport, (from, detected): (FormatId, bool), json: bool, verb: &str) {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            if verb == "imported" {
                "imported_from"
            } else {
                "read_from"
            }
            .into(),
            serde_json::json!({"format": from.name(), "detected": detected}),
        );
    }
    embed::summary(json, &v, || {
        if verbosity() == Verbosity::Quiet {
            return String::new();
        }
        let how = if detected {
            " (detected from its layout)"
        } else {
            ""
        };
        format!("read as {from}{how}\n{}", human(r, verb))
    });
}

/// `labelstore formats`: every format, from its implementation.
fn formats(json: bool) {
    let infos: Vec<labelstore::FormatInfo> = FormatId::ALL.iter().map(|f| f.info()).collect();
    embed::summary(json, &infos, || formats_table(&infos));
}

fn formats_table(infos: &[labelstore::FormatInfo]) -> String {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let rows: Vec<[String; 6]> = infos
        .iter()
        .map(|i| {
            [
                i.name.to_owned(),
                i.labeling_types.join(", "),
                yes(i.import).to_owned(),
                yes(i.store).to_owned(),
                yes(i.splits).to_owned(),
                i.aliases.join(", "),
            ]
        })
        .collect();
    let head = [
        "FORMAT",
        "LABELING TYPES",
        "IMPORT",
        "STORE",
        "SPLITS",
        "ALIASES",
    ];
    let widths: Vec<usize> = (0..head.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([head[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut s = line(&head);
    for r in &rows {
        s += &line(&r.each_ref().map(String::as_str));
    }
    for i in infos {
        s += &format!("\n{}: {}\n", i.name, i.layout);
        let loses = if i.cannot_carry.is_empty() {
            "nothing".to_owned()
        } else {
            i.cannot_carry.join("; ")
        };
        s += &format!("  cannot carry: {loses}\n");
    }
    s
}

fn chip(args: &ChipArgs) -> Result<(), StoreError> {
    let labeling_type = LabelingType::from_name(&args.labeling_type.to_ascii_lowercase())
        .ok_or_else(|| {
            StoreError::Usage(format!(
                "unknown labeling type {:?}; one of object_detection, instance_segmentation, semantic_segmentation",
                args.labeling_type
            ))
        })?;
    let class = match (&args.class_field, &args.class) {
        (Some(field), _) => ClassFrom::Field(field.clone()),
        (None, Some(name)) => ClassFrom::Fixed(name.clone()),
        (None, None) => return Err(StoreError::Usage("give --class-field or --class".into())),
    };
    let options = ChipOptions {
        labeling_type,
        class,
        layer: args.layer.clone(),
        size: args.size,
        stride: args.stride,
        keep_empty: args.keep_empty,
        min_visible: args.min_visible,
        srid: args.srid,
    };
    let mut plan = labelstore::prepare_chip(&args.scenes, &args.labels, options)?;
    if let Some(spec) = args.splits.spec()? {
        plan = plan.with_split(&spec)?;
    }
    // The files read (a world file, a Shapefile's .dbf lie beside them): the
    // output may sit beside them, never hold them.
    let mut reads_from = args.scenes.clone();
    reads_from.push(args.labels.clone());
    if args.dry_run {
        return dry_run::chip(plan, &args.output, args.overwrite, reads_from, args.json);
    }
    let dest = open_local(&args.output, args.overwrite, reads_from)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut meter = Meter::new(verbosity(), "windows", "cut", 0);
    let summary = runtime.block_on(plan.execute(dest, &mut |p| meter.update(p)));
    meter.finish();
    print_chip_summary(&summary?, args.json);
    Ok(())
}

fn print_chip_summary(s: &labelstore::ChipSummary, json: bool) {
    use std::fmt::Write as _;
    embed::summary(json, s, || {
        if verbosity() == Verbosity::Quiet {
            return String::new();
        }
        let mut t = format!(
            "chipped {} ({}) into {}: {} chips with labels, {} saved empty\n",
            s.project, s.labeling_type, s.destination, s.chips, s.empty_chips
        );
        for sc in &s.scenes {
            let _ = writeln!(
                t,
                "  scene {} ({} x {}, {}): {} windows, {} chips, {} empty, left out {} without labels, {} all nodata",
                sc.scene,
                sc.size[0],
                sc.size[1],
                sc.crs,
                sc.windows,
                sc.chips,
                sc.empty_chips,
                sc.without_labels,
                sc.all_nodata
            );
        }
        let _ = writeln!(
            t,
            "  features: {} read, {} outside every scene, {} without geometry",
            s.features, s.features_outside, s.features_without_geometry
        );
        for c in &s.classes {
            let _ = writeln!(
                t,
                "  class {} {:?}: {} features, {} labels ({} clipped), {} pieces dropped (--min-visible)",
                c.id, c.name, c.features, c.labels, c.clipped, c.dropped
            );
        }
        if s.splits.len() > 1 || s.splits.keys().any(|k| k != "train") {
            for (split, count) in &s.splits {
                let _ = writeln!(t, "  split {split}: {} chips", count.chips);
            }
        }
        let _ = writeln!(
            t,
            "  {} files, {} bytes, {:.2} s",
            s.files, s.bytes, s.seconds
        );
        t
    });
}

/// Opens a local store into `target`, refused when it overlaps a folder the
/// run reads from (`reads_from`).
fn open_local(
    target: &std::path::Path,
    overwrite: bool,
    reads_from: Vec<PathBuf>,
) -> Result<labelstore::fs::FsDestination, StoreError> {
    Ok(labelstore::fs::FsDestination::open_with(
        target,
        &local_options(overwrite, reads_from),
    )?)
}

/// The options of a local store into a target, refused when it overlaps a
/// folder the run reads from (`reads_from`): a real store's and a dry run's.
fn local_options(overwrite: bool, reads_from: Vec<PathBuf>) -> labelstore::fs::FsOptions {
    labelstore::fs::FsOptions {
        overwrite,
        sources: reads_from,
    }
}

/// A split's labels per class, `ship 3`, in class-name order.
fn labels_per_class(count: &labelstore::SplitCount) -> Vec<String> {
    count
        .labels
        .iter()
        .map(|(class, n)| format!("{class} {n}"))
        .collect()
}

/// `path` when it is a folder, else the folder it is in.
fn folder_of(path: &std::path::Path) -> PathBuf {
    if path.is_dir() {
        return path.to_path_buf();
    }
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The folders of a project's images, when its chips are in memory (a
/// dataset imported, a project fetched).
fn image_folders(project: &labelstore::model::Project) -> Vec<PathBuf> {
    let folders: std::collections::BTreeSet<PathBuf> = project
        .chips
        .iter()
        .filter_map(|c| project.base_dir.join(&c.image).parent().map(PathBuf::from))
        .collect();
    folders.into_iter().collect()
}

/// A size in bytes: a number, optionally followed by a unit, KiB, MiB, GiB
/// or TiB (powers of 1024) or KB, MB, GB or TB (powers of 1000), any letter
/// case: `536870912`, `512MiB`, `1.5GiB`.
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "unknown unit {unit:?}: give bytes, or KiB, MiB, GiB, TiB, KB, MB, GB, TB"
            ));
        }
    };
    let bytes = match number.parse::<u64>() {
        Ok(n) => n.checked_mul(scale),
        Err(_) => number
            .parse::<f64>()
            .ok()
            .map(|n| n * scale as f64)
            .filter(|b| b.is_finite() && *b < u64::MAX as f64)
            .map(|b| b as u64),
    }
    .ok_or_else(|| format!("{text:?} is not a size such as 512MiB or 2GiB"))?;
    if bytes == 0 {
        return Err("the memory budget must be more than 0 bytes".into());
    }
    Ok(bytes)
}

fn parse_formats(names: &[String]) -> Result<Vec<FormatId>, StoreError> {
    let mut formats = Vec::new();
    for name in names.iter().filter(|n| !n.trim().is_empty()) {
        let f = FormatId::lookup(name).map_err(|e| StoreError::Usage(e.to_string()))?;
        if !formats.contains(&f) {
            formats.push(f);
        }
    }
    Ok(formats)
}

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org): the creation time label
/// files that carry one say, in seconds since the Unix epoch; unset or
/// empty, they carry none. Anything but an integer is a usage error.
fn source_date_epoch() -> Result<Option<i64>, StoreError> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
            StoreError::Usage(format!(
                "SOURCE_DATE_EPOCH={v:?} is not a whole number of seconds since 1970-01-01"
            ))
        }),
        Err(std::env::VarError::NotUnicode(v)) => Err(StoreError::Usage(format!(
            "SOURCE_DATE_EPOCH={v:?} is not a whole number of seconds since 1970-01-01"
        ))),
    }
}

fn store(args: &StoreArgs) -> Result<(), StoreError> {
    let options = StoreOptions {
        formats: parse_formats(&args.format)?,
        scope: args.chip.clone().map_or(Scope::Project, Scope::Chip),
        limits: ImageLimits {
            max_pixels: args.max_pixels,
            memory_budget: args.memory_budget,
        },
        format_options: labelstore::FormatOptions {
            geojson_native_crs: args.geojson_crs == GeojsonCrs::Native,
            source_date_epoch: source_date_epoch()?,
            chip_format: chip_format(args)?,
        },
    };
    if args.to == Kind::Db && options.formats.len() > 1 {
        return Err(StoreError::Usage(format!(
            "--to db stores one format per store, not {} (SPEC §5): give one --format",
            options.formats.len()
        )));
    }
    let plan = match args.read_as {
        Some((from, _)) => labelstore::prepare_dataset(from, &args.project, options)?,
        None => Plan::prepare(&args.project, options)?,
    };
    let plan = args.splits.apply(plan)?;
    match args.to {
        Kind::Local => {
            let path = args
                .at
                .local
                .path
                .as_deref()
                .ok_or_else(|| StoreError::Usage("--to local needs --path DIR".into()))?;
            let mut reads_from = vec![folder_of(&args.project), plan.project().base_dir.clone()];
            reads_from.extend(image_folders(plan.project()));
            if args.dry_run {
                return dry_run::local(plan, path, args.overwrite, reads_from, args.json);
            }
            let dest = open_local(path, args.overwrite, reads_from)?;
            run_store(plan, dest, args)
        }
        #[cfg(not(feature = "db"))]
        Kind::Db => Err(not_built("--to", "db")),
        #[cfg(not(feature = "objstore"))]
        Kind::Objstore => Err(not_built("--to", "objstore")),
        #[cfg(feature = "db")]
        Kind::Db => {
            let (connection, table) = args.at.db.address("--to")?;
            let format = args
                .format
                .iter()
                .find_map(|f| FormatId::parse(f))
                .ok_or_else(|| StoreError::Usage("no format given".into()))?;
            let opts = labelstore::db::DbOptions {
                connection: connection.to_owned(),
                password_file: args.at.db.password_file.clone(),
                table: table.to_owned(),
                project: plan.project().name.clone(),
                format: format.name().to_owned(),
                masks: matches!(
                    format,
                    FormatId::Png
                        | FormatId::Tiff
                        | FormatId::Geotiff
                        | FormatId::Gif
                        | FormatId::Bmp
                ),
                replace: match &args.chip {
                    Some(id) => labelstore::db::Replace::Chips(vec![id.clone()]),
                    None => labelstore::db::Replace::Project,
                },
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            if args.dry_run {
                let dest = runtime.block_on(labelstore::db::DbDestination::dry_run(opts))?;
                return dry_run::run(&runtime, plan, dest, args.json);
            }
            let dest = runtime.block_on(labelstore::db::DbDestination::open(opts))?;
            run_store_on(&runtime, plan, dest, args)
        }
        #[cfg(feature = "objstore")]
        Kind::Objstore => {
            use labelstore::objstore::ObjStoreDestination;
            let opts = args.at.objstore.options(args.concurrency.map(usize::from));
            // The destination's clients need a runtime from the start; two
            // workers keep uploads going while the pipeline converts chips.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let _guard = runtime.enter();
            let dest = match args.at.objstore.address("--to")? {
                ObjstoreAddress::Url(url) => ObjStoreDestination::open_url(url, opts)?,
                ObjstoreAddress::Par(par, prefix) => {
                    ObjStoreDestination::open_par(par, prefix, opts)?
                }
            };
            if args.dry_run {
                return dry_run::run(&runtime, plan, dest.dry_run(), args.json);
            }
            run_store_on(&runtime, plan, dest, args)
        }
    }
}

fn run_store<D: labelstore::sink::Destination>(
    plan: Plan,
    dest: D,
    args: &StoreArgs,
) -> Result<(), StoreError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    run_store_on(&runtime, plan, dest, args)
}

fn run_store_on<D: labelstore::sink::Destination>(
    runtime: &tokio::runtime::Runtime,
    plan: Plan,
    dest: D,
    args: &StoreArgs,
) -> Result<(), StoreError> {
    let mut meter = Meter::new(verbosity(), "chips", "stored", plan.chip_count());
    let plan = plan.cancel_on(interrupt_flag());
    let report = runtime.block_on(plan.execute(dest, &mut |p| meter.update(p)));
    meter.finish();
    match args.read_as {
        Some(read_as) => print_read_report(&report?, read_as, args.json, "stored"),
        None => print_report(&report?, args.json, "stored"),
    }
    Ok(())
}

/// A flag set by the first SIGINT (Ctrl-C) or SIGTERM: the store then stops
/// before its next chip and is undone. A second signal ends the process at
/// once (exit status 130), as a stuck upload would otherwise keep it alive.
/// In an embedded run, the flag is the run's own, set when its progress
/// callback says stop; no signal is listened to (the caller's own handlers
/// stay as they are).
fn interrupt_flag() -> Arc<AtomicBool> {
    if let Some(embedded) = embed::current() {
        return embedded.cancel_flag();
    }
    let flag = Arc::new(AtomicBool::new(false));
    let set = Arc::clone(&flag);
    let listener = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                else {
                    return;
                };
                for _ in 0..2 {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                    if set.swap(true, Ordering::Relaxed) {
                        eprintln!("labelstore: interrupted again: stopping now");
                        std::process::exit(130);
                    }
                    eprintln!("labelstore: interrupted: undoing the store (again to stop at once)");
                }
            });
        });
    if let Err(e) = listener
        && verbosity() != Verbosity::Quiet
    {
        eprintln!("labelstore: warning: Ctrl-C will not undo the store: {e}");
    }
    flag
}

/// Prints the closing summary of a run that `verb`-ed its chips
/// (`stored`, `imported`, `fetched`).
fn print_report(r: &StoreReport, json: bool, verb: &str) {
    embed::summary(json, r, || match verbosity() {
        Verbosity::Quiet => String::new(),
        _ => human(r, verb),
    });
}

/// Up to this many stored chips, the text summary lists each one.
const PER_CHIP_LINES: usize = 50;

fn human(r: &StoreReport, verb: &str) -> String {
    let scope = if r.scope == "project" {
        String::new()
    } else {
        format!(" (chip {})", r.scope)
    };
    let mut s = format!(
        "{verb} {} chip{} of {:?}{scope} {} {} as {}\n",
        r.chips_stored,
        if r.chips_stored == 1 { "" } else { "s" },
        r.project,
        if verb.contains("store") { "to" } else { "into" },
        r.destination,
        r.formats.join(", ")
    );
    let excluded: Vec<String> = r
        .excluded
        .iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect();
    s += &format!("excluded: {}\n", excluded.join(", "));
    s += &format!("clipped labels: {}{}\n", r.clipped_labels, clipped_chips(r));
    s += &losses(r);
    if r.splits.len() > 1 || r.splits.keys().any(|k| k != "train") {
        for (split, count) in &r.splits {
            let labels = labels_per_class(count);
            s += &format!(
                "split {split}: {} chip{} ({})\n",
                count.chips,
                if count.chips == 1 { "" } else { "s" },
                if labels.is_empty() {
                    "no labels".to_owned()
                } else {
                    labels.join(", ")
                }
            );
        }
    }
    for (format, notes) in &r.notes {
        // Labels left out are told with what did not survive.
        let said: Vec<String> = notes
            .iter()
            .filter(|(what, _)| !what.starts_with("labels left out: "))
            .map(|(what, n)| format!("{n} {what}"))
            .collect();
        if !said.is_empty() {
            s += &format!("{format}: {}\n", said.join(", "));
        }
    }
    let georef: Vec<String> = r
        .georeferencing
        .iter()
        .map(|(source, n)| format!("{n} {source}"))
        .collect();
    s += &format!("georeferencing: {}\n", georef.join(", "));
    if r.chips.len() <= PER_CHIP_LINES {
        let chips = r.chips.to_vec().unwrap_or_else(|e| {
            s += &format!("  (per-chip georeferencing unreadable: {e})\n");
            Vec::new()
        });
        for c in &chips {
            s += &format!(
                "  {}: {} {} -> {}\n",
                c.chip,
                c.georeferencing,
                c.crs.as_deref().unwrap_or("(no CRS)"),
                c.image
            );
        }
    } else {
        s += "  (per-chip georeferencing: --json)\n";
    }
    if r.chips_without_georeferencing > 0 {
        s += &format!(
            "chips without georeferencing: {} (stored as plain images, labels in pixel coordinates)\n",
            r.chips_without_georeferencing
        );
    }
    s += &format!(
        "files: {}, bytes: {}, seconds: {:.2}\n",
        r.files, r.bytes, r.seconds
    );
    s
}

/// Up to this many chips, the text summary names each chip whose labels
/// were clipped (`--json` lists them all).
const CLIPPED_CHIP_NAMES: usize = 10;

/// The chips whose labels were clipped, each with how many: ` (chips a: 1,
/// b: 2)`, the first few only (`--json` lists them all); nothing when none.
fn clipped_chips(r: &StoreReport) -> String {
    if r.clipped_chips.is_empty() {
        return String::new();
    }
    let mut named: Vec<String> = r
        .clipped_chips
        .iter()
        .take(CLIPPED_CHIP_NAMES)
        .map(|c| format!("{}: {}", c.chip, c.labels))
        .collect();
    if r.clipped_chips.len() > CLIPPED_CHIP_NAMES {
        named.push(format!(
            "{} more chips: --json",
            r.clipped_chips.len() - CLIPPED_CHIP_NAMES
        ));
    }
    format!(
        " (chip{} {})",
        plural(r.clipped_chips.len()),
        named.join(", ")
    )
}

/// The summary's "what did not survive" block: per format, the attributes
/// it left out, the labels it left out and how it rounded coordinates;
/// then what an import did not bring over. Nothing when nothing was lost.
fn losses(r: &StoreReport) -> String {
    let mut s = String::new();
    if !r.losses.is_empty() {
        s += "did not survive:\n";
    }
    for (format, loss) in &r.losses {
        let mut said = Vec::new();
        if !loss.attributes_left_out.is_empty() {
            let attrs: Vec<String> = loss
                .attributes_left_out
                .iter()
                .map(|(name, n)| format!("{name} ({n})"))
                .collect();
            said.push(format!("attributes left out: {}", attrs.join(", ")));
        }
        for (why, n) in &loss.labels_left_out {
            said.push(format!("{n} label{} left out: {why}", plural(*n)));
        }
        if let Some(c) = &loss.coordinates_rounded {
            said.push(format!(
                "coordinates rounded to {}, at most {} px",
                c.to, c.max_shift_px
            ));
        }
        s += &format!("  {format}: {}\n", said.join("; "));
    }
    if !r.not_imported.is_empty() {
        let what: Vec<String> = r
            .not_imported
            .iter()
            .map(|(what, n)| format!("{what} ({n})"))
            .collect();
        s += &format!("not imported: {}\n", what.join(", "));
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(parse_size("536870912"), Ok(512 << 20));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("512 mib"), Ok(512 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("800MB"), Ok(800_000_000));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert!(parse_size("0").unwrap_err().contains("more than 0"));
        assert!(
            parse_size("12 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_size("MiB").unwrap_err().contains("not a size"));
        assert!(
            parse_size("99999999999TiB")
                .unwrap_err()
                .contains("not a size")
        );
    }
}
