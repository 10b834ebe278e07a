//! The PostgreSQL/PostGIS destination of labelstore (SPEC §4, §5).
//!
//! [`DbDestination`] stores a project into a table with one row per stored
//! chip: the chip as a PostGIS raster (every band in its pixel type, its
//! SRID and geotransform, nodata when the chip has one), the mask of a
//! semantic-segmentation store as a second raster on the same grid, the
//! chip's label file in the store's one format, and its metadata; a chip
//! that is not stored as a GeoTIFF (a plain PNG, JPEG, GIF or BMP) keeps its
//! file's exact bytes too, so it reads back byte for byte. Project-wide
//! files (a COCO file, `project.json`, a GeoJSON collection, the store
//! manifest) go to a companion table `<table>_files`. See [`TableName`] for
//! the DDL and [`DbDestination::open`] for what happens when.
//!
//! One store is one transaction: the tables are created (or checked) and the
//! rows being replaced deleted when the destination opens, rows are streamed
//! with one `COPY` as chips arrive, and [`commit`](sink_api::Destination::commit)
//! commits; any failure rolls everything back, so the tables are as they
//! were. The table name is validated and quoted, every value is a parameter
//! or a COPY field, and the password never appears in a message.
//!
//! Rows go in PostgreSQL's binary `COPY` format, made on a thread of their
//! own while the rows before them are sent. The chips' rows pass through a
//! temporary view (PostGIS's raster type has no binary input function: the
//! view takes the rasters' WKB as `bytea` and a trigger inserts them with
//! `ST_RastFromWKB`), so the role needs the `TEMPORARY` privilege on the
//! database, which PostgreSQL grants to every role unless it was revoked.
//!
//! The connection is found as libpq finds it (`libpq.rs`): an empty
//! connection string means the `PG*` environment alone, `service=NAME` (or
//! `PGSERVICE`) reads the connection service file, and with no password
//! given the password file (`~/.pgpass`, `PGPASSFILE`) is searched.
//!
//! The connection speaks TLS as libpq does (rustls, through
//! tokio-postgres-rustls): `sslmode` `disable`, `allow`, `prefer` (the
//! default), `require`, `verify-ca` or `verify-full`, and `sslrootcert=FILE`,
//! in the connection string or from `PGSSLMODE` / `PGSSLROOTCERT`. `require`
//! encrypts without a certificate check unless root certificates are given;
//! `verify-ca` checks the chain (against `sslrootcert`,
//! `~/.postgresql/root.crt`, else the system's roots), `verify-full` the host
//! name too. A failed check names the certificate problem; the destination's
//! [`describe`](sink_api::Destination::describe) says how the server sees the
//! session (`(TLSv1.3)` or `(without TLS)`).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Cursor;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use futures_util::SinkExt;
use sink_api::{
    Body, ChipLabels, ChipRecord, Destination, Error, ManifestEntry, Result, STORE_MANIFEST,
    is_safe_store_path,
};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, CopyInSink};

mod binary;
mod constraints;
mod encode;
mod labels;
mod libpq;
pub mod raster;
mod read;
mod rows;
mod tls;

pub use raster::{chip_raster, mask_raster};
pub use read::{Batches, ChipRow, DbReadOptions, DbReader, FileRow, raster_sha256};

/// The longest table name accepted: PostgreSQL's 63-byte identifier limit
/// less the `_labels` suffix of the companion table of labels (the longer
/// of the two suffixes).
pub const MAX_TABLE_NAME: usize = 63 - LABELS_SUFFIX.len();
const FILES_SUFFIX: &str = "_files";
const LABELS_SUFFIX: &str = "_labels";

/// A validated table name, optionally schema-qualified: each part 1 to
/// [`MAX_TABLE_NAME`] characters of ASCII letters, digits and `_`, not
/// starting with a digit. Letters are folded to lower case, as PostgreSQL
/// folds unquoted names, and the parts are always sent quoted.
///
/// The table it names has these columns (the companion `<name>_files` holds
/// the project-wide files, `<name>_labels` one row per label):
///
/// ```sql
/// CREATE TABLE t (
///   project text NOT NULL, chip_id text NOT NULL,
///   rast raster NOT NULL,          -- the chip
///   mask raster,                   -- its class mask (semantic segmentation)
///   image_path text NOT NULL,      -- chips/<id>.<ext>, as a local store names it
///   image_size bigint NOT NULL, image_sha256 text NOT NULL,
///   georeferencing text NOT NULL,  -- world_file, inline, embedded or none
///   epsg integer,                  -- the chip's CRS, when known
///   format text NOT NULL,          -- the store's label format
///   label_path text, labels bytea, -- the chip's label file in that format
///   label_count integer NOT NULL,
///   files jsonb NOT NULL,          -- [{path, size, sha256}] of the chip's files
///   raster_sha256 text,            -- SHA-256 of the rasters' WKB (see raster_sha256)
///   image bytea,                   -- the chip file's bytes, when it is not a GeoTIFF
///   stored_at timestamptz NOT NULL DEFAULT now(),
///   PRIMARY KEY (project, chip_id));
/// CREATE INDEX ON t USING gist (ST_ConvexHull(rast));
/// CREATE TABLE t_files (
///   project text NOT NULL, path text NOT NULL,
///   chip_id text,                  -- set for a chip's extra files
///   format text NOT NULL, data bytea NOT NULL, size bigint NOT NULL,
///   stored_at timestamptz NOT NULL DEFAULT now(),
///   PRIMARY KEY (project, path));
/// CREATE TABLE t_labels (
///   project text NOT NULL, chip_id text NOT NULL,
///   label_index integer NOT NULL,  -- 0 for the chip's first label
///   class_id integer NOT NULL, class_name text NOT NULL,
///   attributes jsonb NOT NULL,     -- {} when it has none
///   geom geometry,                 -- map coordinates, the chip's SRID; NULL without georeferencing
///   pixel_geom geometry NOT NULL,  -- pixel coordinates (y down), SRID 0
///   PRIMARY KEY (project, chip_id, label_index));
/// CREATE INDEX ON t_labels USING gist (geom);
/// ```
///
/// A box is the polygon of its 4 corners (rotation included), a polygon or
/// multipolygon keeps its holes. `labels` holds the chip's label file in
/// the store's format when it has one (VOC, YOLO, KITTI, a mask), else its
/// entry of `project.json` in labelstore's own `json` format (with format
/// `json`, COCO, GeoJSON and Shapefile, whose files are project-wide), with
/// `label_path` NULL.
///
/// `rast` and `mask` carry PostGIS's raster constraints, those that hold
/// for every row (see `AddRasterConstraints`), set again by every store.
///
/// `rast` always holds the chip's pixels. A chip that a local store writes
/// as it is (a PNG, JPEG, GIF, BMP or plain TIFF without georeferencing,
/// whose `image_path` does not end in `.tif`) also keeps its file's exact
/// bytes in `image`, so `labelstore fetch` gives back the very file and the
/// label files that name it stay valid; `image` is NULL for a chip stored
/// as a GeoTIFF (`chips/<id>.tif`), whose raster is the authority.
///
/// A chips table of an earlier labelstore, without the nullable columns
/// `raster_sha256` or `image` (see [`ADDED_COLUMNS`]), gets them added
/// (`ALTER TABLE ... ADD COLUMN IF NOT EXISTS`) inside the store's
/// transaction; a table missing any other column, or with a column of
/// another type, is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    schema: Option<String>,
    name: String,
}

impl TableName {
    /// Checks `s` (`name` or `schema.name`).
    pub fn parse(s: &str) -> Result<TableName> {
        let refuse = |why: &str| {
            Err(Error::Refused(format!(
                "bad table name {}: {why}; use letters, digits and _ \
                 (optionally schema.table), at most {MAX_TABLE_NAME} characters each",
                shown(s)
            )))
        };
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() > 2 {
            return refuse("more than one '.'");
        }
        for p in &parts {
            if p.is_empty() {
                return refuse("empty name");
            }
            if p.len() > MAX_TABLE_NAME {
                return refuse("too long");
            }
            if !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return refuse("it holds characters other than letters, digits and _");
            }
            if p.as_bytes()[0].is_ascii_digit() {
                return refuse("it starts with a digit");
            }
        }
        let lower = |p: &str| p.to_ascii_lowercase();
        Ok(match parts.as_slice() {
            [name] => TableName {
                schema: None,
                name: lower(name),
            },
            [schema, name] => TableName {
                schema: Some(lower(schema)),
                name: lower(name),
            },
            _ => unreachable!("checked above"),
        })
    }

    fn quoted_with(&self, suffix: &str) -> String {
        // Safe: the parts hold only [a-z0-9_].
        match &self.schema {
            Some(s) => format!("\"{s}\".\"{}{suffix}\"", self.name),
            None => format!("\"{}{suffix}\"", self.name),
        }
    }

    /// The chips table, quoted for SQL.
    pub fn quoted(&self) -> String {
        self.quoted_with("")
    }

    /// The companion table of project-wide files, quoted for SQL.
    pub fn files_quoted(&self) -> String {
        self.quoted_with(FILES_SUFFIX)
    }

    /// The companion table of labels, quoted for SQL.
    pub fn labels_quoted(&self) -> String {
        self.quoted_with(LABELS_SUFFIX)
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A name shown in a message: quoted, control characters escaped, cut.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    format!("{cut:?}{}", if cut.len() < s.len() { "..." } else { "" })
}

/// Which rows a store replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replace {
    /// Every row of the project (a whole-project store).
    Project,
    /// The rows of these chips, and project-wide files of the same paths
    /// (a `--chip` store).
    Chips(Vec<String>),
}

/// What [`DbDestination::open`] needs.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// A PostgreSQL URL (`postgres://user@host:port/db?sslmode=...`) or
    /// key=value string (`host=... user=... dbname=...`), possibly naming a
    /// service (`service=NAME`); empty for the environment alone. Missing
    /// parts come from the service (`PGSERVICE` when the string names
    /// none), then `PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`, `PGAPPNAME`
    /// (then `localhost`, 5432, the login name), `PGSSLMODE`,
    /// `PGSSLROOTCERT` (see the crate docs for TLS).
    pub connection: String,
    /// A file whose first line is the password; else the connection's own
    /// (or its service's), else `PGPASSWORD`, else the password file
    /// (`passfile`, `PGPASSFILE`, `~/.pgpass`).
    pub password_file: Option<PathBuf>,
    /// The table (`[schema.]name`).
    pub table: String,
    /// The project's name: the rows' key with the chip id.
    pub project: String,
    /// The store's one label format (its name).
    pub format: String,
    /// Whether the format's per-chip files are class masks, stored as a
    /// raster too.
    pub masks: bool,
    /// Which rows the store replaces.
    pub replace: Replace,
}

/// A file put and not yet made into a row.
#[derive(Debug)]
enum Pending {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl Pending {
    fn read(self, path: &str) -> Result<Vec<u8>> {
        match self {
            Pending::Bytes(b) => Ok(b),
            Pending::File(f) => std::fs::read(&f)
                .map_err(|e| Error::io(format_args!("cannot read {} for {path}", f.display()), e)),
        }
    }
}

/// Label rows are sent to their COPY in pieces of about this size.
const COPY_CHUNK: usize = 1 << 20;

/// Chip rows are sent once this many bytes of them are waiting.
const ROWS_CHUNK: usize = 128 << 10;

/// The view the chips' binary `COPY` goes into (see
/// [`DbDestination::create_chip_view`]).
const CHIP_VIEW: &str = "pg_temp.labelstore_chip_rows";

type Copy = Pin<Box<CopyInSink<Cursor<Vec<u8>>>>>;

/// A PostgreSQL/PostGIS table as a store destination. See the crate docs.
pub struct DbDestination {
    client: Client,
    table: TableName,
    where_: String,
    /// `TLSv1.3` or `without TLS`, as the server sees the session.
    encryption: String,
    project: String,
    format: String,
    masks: bool,
    secret: Option<String>,
    /// Files put since the last chip (after the last chip: project-wide).
    pending: Vec<(String, Pending)>,
    aliases: HashSet<String>,
    /// Extra per-chip files, for the companion table: (path, chip, bytes).
    extras: Vec<(String, String, Vec<u8>)>,
    copy: Option<Copy>,
    /// Chip rows in binary `COPY` format, made and not yet sent.
    rows: Vec<u8>,
    /// Makes the chips' rows on a thread of its own.
    encoder: Option<encode::Encoder>,
    /// The labels of the chip about to be stored.
    chip_labels: Option<ChipLabels>,
    /// Rows of `<table>_labels`, sent after the chips.
    label_rows: labels::LabelSpool,
    done: bool,
    /// A dry run's counts ([`DbDestination::dry_run`]); `None` in a store.
    dry: Option<DryRows>,
}

/// What a dry run into the database counted.
#[derive(Debug, Default)]
struct DryRows {
    /// Whether the chips table exists.
    exists: bool,
    /// Rows of the project (or of the chips) the store would replace.
    replaces: usize,
    /// Chip rows it would write.
    chips: usize,
    /// Label rows it would write.
    labels: usize,
}

impl std::fmt::Debug for DbDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbDestination")
            .field("table", &self.table)
            .field("at", &self.where_)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

/// The columns of the chips table: name, type as `format_type` shows it,
/// DDL.
const CHIP_COLUMNS: &[(&str, &str, &str)] = &[
    ("project", "text", "text NOT NULL"),
    ("chip_id", "text", "text NOT NULL"),
    ("rast", "raster", "raster NOT NULL"),
    ("mask", "raster", "raster"),
    ("image_path", "text", "text NOT NULL"),
    ("image_size", "bigint", "bigint NOT NULL"),
    ("image_sha256", "text", "text NOT NULL"),
    ("georeferencing", "text", "text NOT NULL"),
    ("epsg", "integer", "integer"),
    ("format", "text", "text NOT NULL"),
    ("label_path", "text", "text"),
    ("labels", "bytea", "bytea"),
    ("label_count", "integer", "integer NOT NULL"),
    ("files", "jsonb", "jsonb NOT NULL"),
    ("raster_sha256", "text", "text"),
    ("image", "bytea", "bytea"),
    (
        "stored_at",
        "timestamp with time zone",
        "timestamptz NOT NULL DEFAULT now()",
    ),
];

/// The nullable columns of the chips table that later labelstore versions
/// added: a table without them (of an earlier version) gets them added
/// when a store opens, rather than refused.
pub const ADDED_COLUMNS: &[&str] = &["raster_sha256", "image"];

const FILE_COLUMNS: &[(&str, &str, &str)] = &[
    ("project", "text", "text NOT NULL"),
    ("path", "text", "text NOT NULL"),
    ("chip_id", "text", "text"),
    ("format", "text", "text NOT NULL"),
    ("data", "bytea", "bytea NOT NULL"),
    ("size", "bigint", "bigint NOT NULL"),
    (
        "stored_at",
        "timestamp with time zone",
        "timestamptz NOT NULL DEFAULT now()",
    ),
];

impl DbDestination {
    /// Connects, begins the store's transaction, creates the tables when
    /// missing (or checks their shape) and deletes the rows the store
    /// replaces. Nothing is visible to others before the commit.
    ///
    /// A bad table name or connection string, or a table of another shape,
    /// is [`Error::Refused`]; a failing connection or query is
    /// [`Error::Io`]. No message holds the password.
    pub async fn open(opts: DbOptions) -> Result<DbDestination> {
        DbDestination::open_as(opts, false).await
    }

    /// Opens a dry run: connects and checks everything [`open`](Self::open)
    /// checks (the connection, PostGIS, the shape of existing tables) in a
    /// read-only transaction, creating, altering and deleting nothing. Chips
    /// are turned into rasters as in a store (a chip PostGIS cannot take is
    /// refused alike) and counted, never sent; the
    /// [`preview`](Destination::preview) tells the rows per table, whether
    /// the table exists and how many rows the store would replace, and
    /// rolls the transaction back.
    pub async fn dry_run(opts: DbOptions) -> Result<DbDestination> {
        DbDestination::open_as(opts, true).await
    }

    async fn open_as(opts: DbOptions, dry_run: bool) -> Result<DbDestination> {
        let table = TableName::parse(&opts.table)?;
        let conn = config(&opts)?;
        let (client, where_) = connect(&conn).await?;
        let secret = conn.secret;
        // How the session is protected, in the server's own words.
        let encryption = match client
            .query_opt(
                "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
                &[],
            )
            .await
        {
            Ok(Some(row)) => row.get::<_, Option<String>>(0).unwrap_or("TLS".into()),
            Ok(None) => "without TLS".into(),
            Err(_) => String::new(),
        };
        let mut d = DbDestination {
            client,
            table,
            where_,
            encryption,
            project: opts.project,
            format: opts.format,
            masks: opts.masks,
            secret,
            pending: Vec::new(),
            aliases: HashSet::new(),
            extras: Vec::new(),
            copy: None,
            rows: Vec::new(),
            encoder: None,
            chip_labels: None,
            label_rows: labels::LabelSpool::default(),
            done: false,
            dry: dry_run.then(DryRows::default),
        };
        d.begin(&opts.replace).await?;
        d.encoder = Some(encode::Encoder::start(encode::Common {
            project: d.project.clone(),
            format: d.format.clone(),
            masks: d.masks,
        })?);
        Ok(d)
    }

    fn db_err(&self, what: &str, e: &tokio_postgres::Error) -> Error {
        io_err(Scrub(self.secret.clone()).apply(format!(
            "PostgreSQL at {}, table {}: {what}: {}",
            self.where_,
            self.table,
            pg_message(e)
        )))
    }

    async fn exec(&self, what: &str, sql: &str) -> Result<()> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| self.db_err(what, &e))
    }

    async fn begin(&mut self, replace: &Replace) -> Result<()> {
        let begin = match self.dry {
            Some(_) => "BEGIN TRANSACTION READ ONLY",
            None => "BEGIN",
        };
        self.exec("cannot begin a transaction", begin).await?;
        let row = self
            .client
            .query_one("SELECT to_regtype('raster') IS NOT NULL", &[])
            .await
            .map_err(|e| self.db_err("cannot query the server", &e))?;
        if !row.get::<_, bool>(0) {
            return Err(io_err(format!(
                "PostgreSQL at {}: the database has no PostGIS raster type; \
                 run CREATE EXTENSION postgis; CREATE EXTENSION postgis_raster; \
                 (PostGIS 3) in it first",
                self.where_
            )));
        }
        let (t, f) = (self.table.quoted(), self.table.files_quoted());
        if self.dry.is_some() {
            return self.begin_dry(replace).await;
        }
        if self
            .ensure_table(
                &t,
                CHIP_COLUMNS,
                ADDED_COLUMNS,
                "PRIMARY KEY (project, chip_id)",
            )
            .await?
        {
            self.exec(
                "cannot create the raster index",
                &format!("CREATE INDEX ON {t} USING gist (ST_ConvexHull(rast))"),
            )
            .await?;
        }
        self.drop_raster_constraints().await?;
        self.ensure_table(&f, FILE_COLUMNS, &[], "PRIMARY KEY (project, path)")
            .await?;
        let l = self.table.labels_quoted();
        if self
            .ensure_table(&l, labels::LABEL_COLUMNS, &[], labels::LABEL_KEY)
            .await?
        {
            self.exec(
                "cannot create the label geometry index",
                &format!("CREATE INDEX ON {l} USING gist (geom)"),
            )
            .await?;
        }
        let chips: Vec<&str> = match replace {
            Replace::Project => Vec::new(),
            Replace::Chips(ids) => ids.iter().map(String::as_str).collect(),
        };
        let deletes = [t, f, l].map(|table| match replace {
            Replace::Project => format!("DELETE FROM {table} WHERE project = $1"),
            Replace::Chips(_) => {
                format!("DELETE FROM {table} WHERE project = $1 AND chip_id = ANY($2)")
            }
        });
        for sql in deletes {
            let r = match replace {
                Replace::Project => self.client.execute(&sql, &[&self.project]).await,
                Replace::Chips(_) => self.client.execute(&sql, &[&self.project, &chips]).await,
            };
            r.map_err(|e| self.db_err("cannot delete the rows being replaced", &e))?;
        }
        self.compress_with_lz4().await?;
        self.create_chip_view().await
    }

    /// Has the store's large values (the rasters) compressed with lz4
    /// rather than pglz, for this transaction only (`SET LOCAL`), when the
    /// server has lz4 (PostgreSQL 14 and later, built with it) and nobody
    /// chose a compression: `default_toast_compression` at its built-in
    /// default. A column given a compression of its own keeps it. pglz
    /// takes most of the server's time in a store of rasters, lz4 a tenth
    /// of that; the values read back the same either way.
    async fn compress_with_lz4(&self) -> Result<()> {
        let unchosen = self
            .client
            .query_opt(
                "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' \
                 AND source = 'default' AND 'lz4' = ANY (enumvals)",
                &[],
            )
            .await
            .map_err(|e| self.db_err("cannot read the server's settings", &e))?;
        if unchosen.is_none() {
            return Ok(());
        }
        self.exec(
            "cannot set the compression",
            "SET LOCAL default_toast_compression = lz4",
        )
        .await
    }

    /// A dry run's [`begin`](Self::begin): the tables' shapes checked and
    /// the rows the store would replace counted, by reading only.
    async fn begin_dry(&mut self, replace: &Replace) -> Result<()> {
        let (t, f) = (self.table.quoted(), self.table.files_quoted());
        let exists = self
            .inspect_table(&t, CHIP_COLUMNS, ADDED_COLUMNS)
            .await?
            .is_some();
        self.inspect_table(&f, FILE_COLUMNS, &[]).await?;
        let mut replaces = 0;
        if exists {
            let row = match replace {
                Replace::Project => {
                    let sql = format!("SELECT count(*) FROM {t} WHERE project = $1");
                    self.client.query_one(&sql, &[&self.project]).await
                }
                Replace::Chips(ids) => {
                    let sql = format!(
                        "SELECT count(*) FROM {t} WHERE project = $1 AND chip_id = ANY($2)"
                    );
                    self.client.query_one(&sql, &[&self.project, ids]).await
                }
            };
            let row = row.map_err(|e| self.db_err("cannot count the rows to replace", &e))?;
            replaces = usize::try_from(row.get::<_, i64>(0)).unwrap_or(0);
        }
        self.dry = Some(DryRows {
            exists,
            replaces,
            chips: 0,
            labels: 0,
        });
        Ok(())
    }

    /// Creates `table` when missing (true), else checks its columns and
    /// adds those of `addable` it lacks (nullable columns a later version
    /// added); any other difference refuses the table.
    async fn ensure_table(
        &self,
        table: &str,
        columns: &[(&str, &str, &str)],
        addable: &[&str],
        key: &str,
    ) -> Result<bool> {
        let Some(add) = self.inspect_table(table, columns, addable).await? else {
            let mut ddl = format!("CREATE TABLE {table} (");
            for (name, _, def) in columns {
                let _ = write!(ddl, "{name} {def}, ");
            }
            let _ = write!(ddl, "{key})");
            self.exec("cannot create the table", &ddl).await?;
            return Ok(true);
        };
        // A table of an earlier labelstore: add its missing nullable
        // columns, in this transaction (rolled back with a failed store).
        for column in add {
            self.exec(
                &format!("cannot add the column {column} to an earlier labelstore table"),
                &format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column}"),
            )
            .await?;
        }
        Ok(false)
    }

    /// Reads `table`'s columns: `None` when it is missing, else the columns
    /// of `addable` it lacks (with their DDL); a table of another shape is
    /// refused. Reads only.
    async fn inspect_table(
        &self,
        table: &str,
        columns: &[(&str, &str, &str)],
        addable: &[&str],
    ) -> Result<Option<Vec<String>>> {
        let rows = self
            .client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
                 FROM pg_attribute a \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                &[&table],
            )
            .await
            .map_err(|e| self.db_err("cannot read the table's columns", &e))?;
        if rows.is_empty() {
            let exists = self
                .client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
                .await
                .map_err(|e| self.db_err("cannot look the table up", &e))?;
            if exists.get::<_, bool>(0) {
                return Err(Error::Refused(format!(
                    "table {table} exists and has no columns: choose another --table"
                )));
            }
            return Ok(None);
        }
        let have: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let mut wrong = Vec::new();
        let mut add = Vec::new();
        for (name, ty, def) in columns {
            match have.iter().find(|(n, _)| n == name) {
                Some((_, t)) if t == ty => {}
                Some((_, t)) => wrong.push(format!("{name} is {t}, not {ty}")),
                None if addable.contains(name) => add.push(format!("{name} {def}")),
                None => wrong.push(format!("no column {name} ({ty})")),
            }
        }
        if !wrong.is_empty() {
            return Err(Error::Refused(format!(
                "table {table} exists with another shape than a labelstore table ({}): \
                 choose another --table",
                wrong.join("; ")
            )));
        }
        Ok(Some(add))
    }

    /// Creates the temporary view the chips' binary `COPY` goes into.
    /// PostGIS's raster type has no binary input function, so the rasters
    /// arrive as `bytea` (their WKB, no hex) and an `INSTEAD OF INSERT`
    /// trigger inserts each row into the chips table through
    /// `ST_RastFromWKB`, which reads the WKB as `raster_in` reads it from
    /// hex. View and function are temporary: they end with the session, and
    /// a store rolled back leaves neither.
    async fn create_chip_view(&self) -> Result<()> {
        let columns: Vec<&str> = encode::CHIP_COPY_COLUMNS.split(", ").collect();
        let mut fields = Vec::new();
        let mut values = Vec::new();
        for name in &columns {
            let ty = CHIP_COLUMNS
                .iter()
                .find(|(n, _, _)| n == name)
                .map_or("text", |(_, ty, _)| ty);
            if ty == "raster" {
                fields.push(format!("NULL::bytea AS {name}"));
                values.push(format!("ST_RastFromWKB(NEW.{name})"));
            } else {
                fields.push(format!("NULL::{ty} AS {name}"));
                values.push(format!("NEW.{name}"));
            }
        }
        let sql = format!(
            "CREATE TEMP VIEW {view} AS SELECT {fields} WHERE false; \
             CREATE FUNCTION pg_temp.labelstore_chip_row() RETURNS trigger LANGUAGE plpgsql AS \
             $$BEGIN INSERT INTO {t} ({columns}) VALUES ({values}); RETURN NEW; END$$; \
             CREATE TRIGGER labelstore_chip_row INSTEAD OF INSERT ON {view} \
             FOR EACH ROW EXECUTE PROCEDURE pg_temp.labelstore_chip_row()",
            view = CHIP_VIEW,
            fields = fields.join(", "),
            t = self.table.quoted(),
            columns = encode::CHIP_COPY_COLUMNS,
            values = values.join(", "),
        );
        self.exec("cannot create the temporary view the rows go through", &sql)
            .await
    }

    /// Sends the rows made so far once there are enough of them, or all of
    /// them when `force`; the first starts the chips' `COPY`.
    async fn send_rows(&mut self, force: bool) -> Result<()> {
        if self.dry.is_some() {
            // A dry run counts rows and sends none.
            self.rows.clear();
            return Ok(());
        }
        if self.rows.is_empty() || (!force && self.rows.len() < ROWS_CHUNK) {
            return Ok(());
        }
        if self.copy.is_none() {
            let sql = format!(
                "COPY {CHIP_VIEW} ({}) FROM STDIN WITH (FORMAT binary)",
                encode::CHIP_COPY_COLUMNS
            );
            let sink = self
                .client
                .copy_in::<_, Cursor<Vec<u8>>>(&sql)
                .await
                .map_err(|e| self.db_err("cannot start the COPY", &e))?;
            let mut sink = Box::pin(sink);
            sink.feed(Cursor::new(binary::HEADER.to_vec()))
                .await
                .map_err(|e| self.db_err("cannot send rows", &e))?;
            self.copy = Some(sink);
        }
        let chunk = std::mem::take(&mut self.rows);
        let result = match self.copy.as_mut() {
            Some(sink) => sink.send(Cursor::new(chunk)).await,
            None => return Ok(()),
        };
        result.map_err(|e| self.db_err("cannot send rows", &e))
    }

    /// Takes a chip row the encoder made, and sends rows when enough wait.
    async fn take_row(&mut self, row: Vec<u8>) -> Result<()> {
        if self.rows.is_empty() {
            self.rows = row;
        } else {
            self.rows.extend_from_slice(&row);
        }
        self.send_rows(false).await
    }

    /// Hands a chip to the encoder; while it is busy, sends the rows it
    /// made.
    async fn push_chip(&mut self, job: encode::ChipJob) -> Result<()> {
        let mut job = job;
        loop {
            let encoder = self.encoder.as_mut().ok_or_else(stopped_encoder)?;
            if let Some(row) = encoder.try_row()? {
                self.take_row(row).await?;
                continue;
            }
            match encoder.try_push(job)? {
                None => return Ok(()),
                Some(back) => {
                    job = back;
                    // The encoder holds a chip: its row comes.
                    match encoder.next_row().await? {
                        Some(row) => self.take_row(row).await?,
                        None => return Err(stopped_encoder()),
                    }
                }
            }
        }
    }

    /// Waits for the rows of every chip handed to the encoder and sends
    /// them.
    async fn finish_rows(&mut self) -> Result<()> {
        if let Some(mut encoder) = self.encoder.take() {
            encoder.close();
            while let Some(row) = encoder.next_row().await? {
                self.take_row(row).await?;
            }
        }
        self.send_rows(true).await
    }

    /// Sends the spooled label rows with a `COPY` of their own (the chips'
    /// `COPY` is finished).
    async fn send_labels(&mut self) -> Result<()> {
        let sql = format!(
            "COPY {} ({}) FROM STDIN WITH (FORMAT binary)",
            self.table.labels_quoted(),
            labels::LABEL_COPY_COLUMNS
        );
        let mut spool = std::mem::take(&mut self.label_rows);
        let Some(mut chunks) = spool.chunks(COPY_CHUNK)? else {
            return Ok(());
        };
        let sink = self
            .client
            .copy_in::<_, Cursor<Vec<u8>>>(&sql)
            .await
            .map_err(|e| self.db_err("cannot start the COPY of labels", &e))?;
        let mut sink = Box::pin(sink);
        let mut first = binary::HEADER.to_vec();
        while let Some(chunk) = chunks.next_chunk()? {
            let chunk = if first.is_empty() {
                chunk
            } else {
                first.extend_from_slice(&chunk);
                std::mem::take(&mut first)
            };
            sink.send(Cursor::new(chunk))
                .await
                .map_err(|e| self.db_err("cannot send label rows", &e))?;
        }
        sink.send(Cursor::new(binary::TRAILER.to_vec()))
            .await
            .map_err(|e| self.db_err("cannot send label rows", &e))?;
        sink.as_mut()
            .finish()
            .await
            .map_err(|e| self.db_err("cannot finish the COPY of labels", &e))?;
        Ok(())
    }

    fn take_pending(&mut self, path: &str) -> Option<Pending> {
        let at = self.pending.iter().position(|(p, _)| p == path)?;
        Some(self.pending.swap_remove(at).1)
    }

    async fn finish(&mut self) -> Result<()> {
        self.finish_rows().await?;
        if let Some(mut sink) = self.copy.take() {
            sink.send(Cursor::new(binary::TRAILER.to_vec()))
                .await
                .map_err(|e| self.db_err("cannot send rows", &e))?;
            sink.as_mut()
                .finish()
                .await
                .map_err(|e| self.db_err("cannot finish the COPY", &e))?;
        }
        self.send_labels().await?;
        self.add_raster_constraints().await?;
        let sql = format!(
            "INSERT INTO {} (project, path, chip_id, format, data, size) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project, path) DO UPDATE SET chip_id = EXCLUDED.chip_id, \
             format = EXCLUDED.format, data = EXCLUDED.data, size = EXCLUDED.size, \
             stored_at = EXCLUDED.stored_at",
            self.table.files_quoted()
        );
        let stmt = self
            .client
            .prepare(&sql)
            .await
            .map_err(|e| self.db_err("cannot prepare the file insert", &e))?;
        let mut files: Vec<(String, Option<String>, Vec<u8>)> = std::mem::take(&mut self.extras)
            .into_iter()
            .map(|(p, c, b)| (p, Some(c), b))
            .collect();
        for (path, body) in std::mem::take(&mut self.pending) {
            let bytes = body.read(&path)?;
            files.push((path, None, bytes));
        }
        for (path, chip, data) in files {
            let size = i64::try_from(data.len()).unwrap_or(i64::MAX);
            self.client
                .execute(
                    &stmt,
                    &[&self.project, &path, &chip, &self.format, &data, &size],
                )
                .await
                .map_err(|e| self.db_err(&format!("cannot store {path}"), &e))?;
        }
        self.exec("cannot commit", "COMMIT").await?;
        self.done = true;
        Ok(())
    }
}

impl Destination for DbDestination {
    fn describe(&self) -> String {
        match self.encryption.as_str() {
            "" => format!("PostgreSQL table {} at {}", self.table, self.where_),
            e => format!("PostgreSQL table {} at {} ({e})", self.table, self.where_),
        }
    }

    async fn put(&mut self, path: &str, body: Body) -> Result<()> {
        if !is_safe_store_path(path) {
            return Err(Error::Refused(format!("unsafe store path {path:?}")));
        }
        match body {
            Body::Bytes(b) => self.pending.push((path.to_owned(), Pending::Bytes(b))),
            // Read now: the pipeline's spool files are gone by the commit.
            Body::File(f) => {
                let bytes = Pending::File(f).read(path)?;
                self.pending.push((path.to_owned(), Pending::Bytes(bytes)));
            }
            // A chip image placed again in a format's folder: the raster
            // already holds it.
            Body::Copy(_) => {
                self.aliases.insert(path.to_owned());
            }
        }
        Ok(())
    }

    fn takes_labels(&self) -> bool {
        true
    }

    async fn chip_labels(&mut self, labels: ChipLabels) -> Result<()> {
        self.chip_labels = Some(labels);
        Ok(())
    }

    async fn chip_stored(&mut self, record: &ChipRecord<'_>) -> Result<()> {
        let image = self
            .take_pending(record.image)
            .ok_or_else(|| {
                io_err(format!(
                    "chip {}: its image {} was not put",
                    record.id, record.image
                ))
            })?
            .read(record.image)?;
        let srid = record.epsg.and_then(|c| i32::try_from(c).ok()).unwrap_or(0);
        let mut label: Option<(String, Vec<u8>)> = None;
        for ManifestEntry { path, .. } in record.files.iter().skip(1) {
            if self.aliases.remove(path.as_str()) {
                continue;
            }
            let Some(body) = self.take_pending(path) else {
                continue;
            };
            let bytes = body.read(path)?;
            if label.is_none() {
                label = Some((path.clone(), bytes));
            } else {
                self.extras
                    .push((path.clone(), record.id.to_owned(), bytes));
            }
        }
        let chip_labels = self.chip_labels.take().filter(|l| l.chip == record.id);
        if let Some(l) = &chip_labels {
            self.label_rows
                .add(&self.project, record.id, srid, &l.records)?;
            if let Some(dry) = &mut self.dry {
                dry.labels += l.records.len();
            }
        }
        let (image_size, image_sha256) = record
            .files
            .first()
            .map(|e| (e.size, e.sha256.clone()))
            .unwrap_or_default();
        let files = serde_json::to_string(record.files)
            .map_err(|e| io_err(format!("chip {}: {e}", record.id)))?;
        let job = encode::ChipJob {
            id: record.id.to_owned(),
            image_path: record.image.to_owned(),
            image,
            // A chip a local store keeps as it is (not a GeoTIFF) keeps its
            // exact bytes too; a GeoTIFF's raster is its authority.
            keep_image: keeps_bytes(record.image),
            srid,
            entry: match &label {
                Some(_) => None,
                None => chip_labels.map(|l| l.entry),
            },
            label,
            image_size,
            image_sha256,
            georeferencing: record.georeferencing.to_owned(),
            epsg: record.epsg,
            label_count: record.labels,
            files,
        };
        self.aliases.clear();
        if let Some(dry) = &mut self.dry {
            dry.chips += 1;
        }
        self.push_chip(job).await
    }

    async fn commit(mut self, manifest: Body) -> Result<()> {
        if self.dry.is_some() {
            return self.abort().await;
        }
        // A row of `<table>_files`, in the same transaction as the rest.
        self.put(STORE_MANIFEST, manifest).await?;
        self.finish().await
    }

    async fn abort(mut self) -> Result<()> {
        // Dropping an unfinished COPY makes the server fail it; then the
        // transaction is rolled back (a lost connection rolls back too).
        // The encoder's thread ends at its next chip or row.
        drop(self.encoder.take());
        drop(self.copy.take());
        if !self.done {
            let _ = self.client.batch_execute("ROLLBACK").await;
        }
        Ok(())
    }

    async fn preview(mut self, manifest: Body) -> Result<sink_api::Preview> {
        if self.dry.is_some() {
            // Every chip decoded: one PostGIS cannot take is refused here.
            self.finish_rows().await?;
        }
        let Some(DryRows {
            exists,
            replaces,
            chips,
            labels,
        }) = self.dry.take()
        else {
            let _ = self.abort().await;
            return Err(Error::Refused(
                "a preview needs a destination opened for a dry run".into(),
            ));
        };
        // The rows of `<table>_files`: the chips' extra files, the
        // project-wide files and the store manifest.
        self.put(STORE_MANIFEST, manifest).await?;
        let files = self.extras.len() + self.pending.len();
        let table = self.table.to_string();
        self.exec("cannot end the dry run's transaction", "ROLLBACK")
            .await?;
        self.done = true;
        Ok(sink_api::Preview {
            delete: replaces,
            rows: [
                (format!("{table}{FILES_SUFFIX}"), files),
                (format!("{table}{LABELS_SUFFIX}"), labels),
                (table, chips),
            ]
            .into_iter()
            .collect(),
            table_exists: Some(exists),
            ..Default::default()
        })
    }
}

/// Whether a chip stored at `image_path` keeps its file's bytes in the
/// `image` column: every chip but a GeoTIFF (`chips/<id>.tif`), which is
/// what a local store writes for a georeferenced chip and what the raster
/// gives back.
pub fn keeps_bytes(image_path: &str) -> bool {
    !image_path.ends_with(".tif")
}

/// The encoder's thread is gone (it panicked).
fn stopped_encoder() -> Error {
    io_err("the thread that encodes rasters stopped".into())
}

fn io_err(message: String) -> Error {
    Error::io("database", std::io::Error::other(message))
}

/// Replaces the password wherever it shows up in a message.
struct Scrub(Option<String>);

impl Scrub {
    fn apply(&self, s: String) -> String {
        match &self.0 {
            Some(pw) if !pw.is_empty() => s.replace(pw.as_str(), "<password>"),
            _ => s,
        }
    }
}

/// A tokio-postgres error as a readable message: the server's message
/// (with detail and hint) or the client's error and its causes.
fn pg_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{}: {}", db.severity(), db.message());
        if let Some(d) = db.detail() {
            let _ = write!(s, " ({d})");
        }
        if let Some(h) = db.hint() {
            let _ = write!(s, " hint: {h}");
        }
        return s;
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        let _ = write!(s, ": {cause}");
        src = cause.source();
    }
    s
}

/// The connection's configuration with libpq's fallbacks applied (the
/// connection string, then its service, then the `PG*` environment, then
/// the defaults; the password from `--password-file`, else those, else
/// `PGPASSWORD`, else the password file: see `libpq.rs`), the password (to
/// scrub from messages), the TLS set-up and notes on where a password was
/// looked for (for the message when the server asks for one).
fn config(opts: &DbOptions) -> Result<Connection> {
    config_in(opts, &libpq::process_env)
}

/// Connects; the client and where it is connected (`describe_config`).
/// A failure names the server and, when the server asked for a password,
/// where one was looked for; never the password.
async fn connect(conn: &Connection) -> Result<(Client, String)> {
    let where_ = describe_config(&conn.config);
    let client = tls::connect(&conn.config, &conn.tls).await.map_err(|e| {
        let mut why =
            tls::explain(&e, &conn.tls, &host_of(&conn.config)).unwrap_or_else(|| pg_message(&e));
        if !conn.notes.is_empty() && why.contains("password") {
            let _ = write!(
                why,
                " (none from --password-file, the connection string, its service or \
                 PGPASSWORD; {})",
                conn.notes.join("; ")
            );
        }
        io_err(
            Scrub(conn.secret.clone())
                .apply(format!("cannot connect to PostgreSQL at {where_}: {why}")),
        )
    })?;
    Ok((client, where_))
}

/// What [`config`] gives.
struct Connection {
    config: tokio_postgres::Config,
    secret: Option<String>,
    tls: tls::Tls,
    notes: Vec<String>,
}

fn config_in(opts: &DbOptions, env: libpq::Env<'_>) -> Result<Connection> {
    let bad = |e: &dyn std::fmt::Display| {
        // The parser's messages name options, not values; scrub anyway.
        let pw = password_in(&opts.connection);
        Error::Refused(Scrub(pw).apply(format!(
            "bad --connection (a postgres:// URL or key=value string): {e}"
        )))
    };
    // tokio-postgres knows neither service, servicefile nor passfile, nor
    // sslrootcert and verify-ca/verify-full.
    let mut params = libpq::Params::default();
    let connection = tls::split_with(opts.connection.trim(), &mut |k, v| params.take(k, &v))
        .unwrap_or_else(|| opts.connection.trim().to_owned());
    let (connection, mut tls_params) = tls::split_params(&connection);
    let mut config = if connection.is_empty() {
        tokio_postgres::Config::new()
    } else {
        tokio_postgres::Config::from_str(&connection).map_err(|e| bad(&e))?
    };
    let mut passfile = params.passfile.clone();
    if let Some(service) = params.service.clone().or_else(|| env("PGSERVICE")) {
        let (file, lines) = libpq::find_service(&service, params.servicefile.as_deref(), env)?;
        for (key, value, line) in lines {
            let at = || format!("service {service:?} ({}, line {line})", file.display());
            if key == "passfile" {
                passfile.get_or_insert(value);
            } else if !tls_params.fill(&key, &value) {
                apply_service_key(&mut config, &key, &value)
                    .map_err(|why| Error::Refused(format!("{}: {why}", at())))?;
            }
        }
    }
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        config.host(env("PGHOST").as_deref().unwrap_or("localhost"));
    }
    if config.get_ports().is_empty()
        && let Some(p) = env("PGPORT")
    {
        let port = p
            .parse()
            .map_err(|_| Error::Refused(format!("PGPORT {p:?} is not a port number")))?;
        config.port(port);
    }
    if config.get_user().is_none() {
        let user = env("PGUSER")
            .or_else(|| env("USER"))
            .or_else(|| env("LOGNAME"))
            .ok_or_else(|| {
                Error::Refused("no user in --connection, its service, PGUSER or USER".into())
            })?;
        config.user(&user);
    }
    if config.get_dbname().is_none()
        && let Some(db) = env("PGDATABASE")
    {
        config.dbname(&db);
    }
    if config.get_application_name().is_none()
        && let Some(name) = env("PGAPPNAME")
    {
        config.application_name(name);
    }
    let mut notes = Vec::new();
    if let Some(file) = &opts.password_file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            Error::Refused(format!(
                "cannot read --password-file {}: {e}",
                file.display()
            ))
        })?;
        let pw = text.lines().next().unwrap_or("").to_owned();
        config.password(pw);
    } else if config.get_password().is_none() {
        if let Some(pw) = env("PGPASSWORD") {
            config.password(pw);
        } else if let Some(file) = libpq::passfile_path(passfile.as_deref(), env) {
            let host = host_of(&config);
            let port = config.get_ports().first().copied().unwrap_or(5432);
            let user = config.get_user().unwrap_or("").to_owned();
            let db = config.get_dbname().unwrap_or(&user).to_owned();
            match libpq::lookup_password(&file, libpq::pgpass_host(&host), port, &db, &user) {
                libpq::Lookup::Found(pw) => {
                    config.password(pw);
                }
                libpq::Lookup::Missing(note) | libpq::Lookup::Ignored(note) => notes.push(note),
            }
        }
    }
    let tls = tls::Tls::new(tls_params, &mut config)?;
    if config.get_application_name().is_none() {
        config.application_name("labelstore");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(20));
    }
    let secret = config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    Ok(Connection {
        config,
        secret,
        tls,
        notes,
    })
}

/// Sets a connection parameter of a service file that the connection
/// string did not set; the reason when it is not one labelstore can use.
/// Values never appear in the reason (a service may hold a password).
fn apply_service_key(
    config: &mut tokio_postgres::Config,
    key: &str,
    value: &str,
) -> std::result::Result<(), String> {
    match key {
        "host" if config.get_hosts().is_empty() => {
            for h in value.split(',') {
                config.host(h);
            }
        }
        "hostaddr" if config.get_hostaddrs().is_empty() => {
            for a in value.split(',') {
                let ip = a
                    .parse()
                    .map_err(|_| "hostaddr is not an IP address".to_owned())?;
                config.hostaddr(ip);
            }
        }
        "port" if config.get_ports().is_empty() => {
            for p in value.split(',') {
                let port = p
                    .parse()
                    .map_err(|_| "port is not a port number".to_owned())?;
                config.port(port);
            }
        }
        "user" if config.get_user().is_none() => {
            config.user(value);
        }
        "dbname" if config.get_dbname().is_none() => {
            config.dbname(value);
        }
        "password" if config.get_password().is_none() => {
            config.password(value);
        }
        "application_name" if config.get_application_name().is_none() => {
            config.application_name(value);
        }
        "options" if config.get_options().is_none() => {
            config.options(value);
        }
        "connect_timeout" if config.get_connect_timeout().is_none() => {
            let secs: u64 = value
                .parse()
                .map_err(|_| "connect_timeout is not a number of seconds".to_owned())?;
            config.connect_timeout(Duration::from_secs(secs.max(2)));
        }
        // Set by the connection string already.
        "host" | "hostaddr" | "port" | "user" | "dbname" | "password" | "application_name"
        | "options" | "connect_timeout" => {}
        // Settings that change nothing labelstore relies on.
        "fallback_application_name"
        | "client_encoding"
        | "gssencmode"
        | "keepalives"
        | "keepalives_idle"
        | "keepalives_interval"
        | "keepalives_count" => {}
        "service" => return Err("nested service specifications are not supported".into()),
        other => {
            return Err(format!(
                "labelstore does not support the parameter {other:?}"
            ));
        }
    }
    Ok(())
}

/// The password of a connection string, if one can be picked out (for
/// scrubbing a parse error).
fn password_in(conn: &str) -> Option<String> {
    if let Some(rest) = conn.split("://").nth(1) {
        let userinfo = rest.split('@').next().filter(|_| rest.contains('@'))?;
        return userinfo.split_once(':').map(|(_, p)| p.to_owned());
    }
    conn.split_whitespace()
        .find_map(|kv| kv.strip_prefix("password="))
        .map(|p| p.trim_matches('\'').to_owned())
}

/// The (first) host connected to.
fn host_of(c: &tokio_postgres::Config) -> String {
    match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    }
}

/// `host:port/dbname as user`, never the password.
fn describe_config(c: &tokio_postgres::Config) -> String {
    let host = host_of(c);
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let user = c.get_user().unwrap_or("");
    let db = c.get_dbname().unwrap_or(user);
    format!("{host}:{port}/{db} as {user}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        let t = TableName::parse("Chips").unwrap();
        assert_eq!(t.quoted(), "\"chips\"");
        assert_eq!(t.files_quoted(), "\"chips_files\"");
        let t = TableName::parse("geo.harbour_2024").unwrap();
        assert_eq!(t.quoted(), "\"geo\".\"harbour_2024\"");
        assert_eq!(t.to_string(), "geo.harbour_2024");
        let long = "a".repeat(MAX_TABLE_NAME + 1);
        for bad in [
            "",
            ".",
            "a.",
            ".a",
            "a.b.c",
            "x\"; DROP TABLE t; --",
            "chips;",
            "chips--",
            "chips/*c*/",
            "a b",
            "1chips",
            "tbl'",
            "é",
            long.as_str(),
        ] {
            let e = TableName::parse(bad).unwrap_err();
            assert!(e.is_usage(), "{bad}");
        }
        assert!(TableName::parse(&"a".repeat(MAX_TABLE_NAME)).is_ok());
    }

    #[test]
    fn only_chips_stored_as_geotiffs_leave_their_bytes_to_the_raster() {
        for kept in [
            "chips/a.png",
            "chips/c.PNG",
            "chips/g.bmp",
            "chips/x.TIF",
            "chips/j.jpg",
        ] {
            assert!(keeps_bytes(kept), "{kept}");
        }
        assert!(!keeps_bytes("chips/a.tif"));
    }

    fn opts(connection: &str) -> DbOptions {
        DbOptions {
            connection: connection.into(),
            password_file: None,
            table: "t".into(),
            project: String::new(),
            format: String::new(),
            masks: false,
            replace: Replace::Project,
        }
    }

    #[test]
    fn connections_come_from_service_pgpass_and_environment_in_libpq_order() {
        let dir = tempfile::tempdir().unwrap();
        let services = dir.path().join("services.conf");
        std::fs::write(
            &services,
            "[gis]\nhost=db.example\nport=5433\ndbname=gis\nsslmode=disable\n\
             [bad]\nsslcert=/x.crt\n[pw]\nhost=h\npassword=from-service\n",
        )
        .unwrap();
        let pass = dir.path().join("pgpass");
        std::fs::write(&pass, "db.example:5433:gis:labels:s3cret\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let (svc, pf) = (
            services.to_str().unwrap().to_owned(),
            pass.to_str().unwrap().to_owned(),
        );
        let env = move |k: &str| match k {
            "PGSERVICEFILE" => Some(svc.clone()),
            "PGPASSFILE" => Some(pf.clone()),
            "PGSYSCONFDIR" => Some("/nonexistent".into()),
            "PGHOST" => Some("env-host".into()),
            "PGUSER" => Some("labels".into()),
            "PGDATABASE" => Some("env-db".into()),
            _ => None,
        };
        // No connection string: the service, then the environment, then the
        // password file.
        let c = config_in(&opts("service=gis"), &env).unwrap();
        assert_eq!(describe_config(&c.config), "db.example:5433/gis as labels");
        assert_eq!(c.secret.as_deref(), Some("s3cret"));
        // A URL's query names the service too; the URL's own parts win
        // (tokio-postgres gives a URL's host port 5432 when it has none).
        let c = config_in(&opts("postgres://other@db.example:5433?service=gis"), &env).unwrap();
        assert_eq!(describe_config(&c.config), "db.example:5433/gis as other");
        assert_eq!(c.secret, None);
        assert!(c.notes[0].contains("no line for"), "{:?}", c.notes);
        // A service's password counts as given; no password file then.
        let c = config_in(&opts("service=pw"), &env).unwrap();
        assert_eq!(c.secret.as_deref(), Some("from-service"));
        // Without a service: the environment.
        let c = config_in(&opts(""), &env).unwrap();
        assert_eq!(describe_config(&c.config), "env-host:5432/env-db as labels");
        // Refused, with nothing of the values.
        let e = config_in(&opts("service=bad"), &env).err().unwrap();
        assert!(e.is_usage() && e.to_string().contains("sslcert"), "{e}");
        assert!(e.to_string().contains("line 7"), "{e}");
        let e = config_in(&opts("service=missing"), &env).err().unwrap();
        assert!(e.to_string().contains("services.conf"), "{e}");
        assert!(!e.to_string().contains("s3cret") && !e.to_string().contains("from-service"));
    }

    #[test]
    fn passwords_are_found_for_scrubbing() {
        assert_eq!(
            password_in("postgres://u:s3cret@h/db").as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            password_in("host=h password=s3cret user=u").as_deref(),
            Some("s3cret")
        );
        assert_eq!(password_in("postgres://u@h/db"), None);
        let s = Scrub(Some("s3cret".into()));
        assert_eq!(s.apply("x s3cret y".into()), "x <password> y");
    }
}
