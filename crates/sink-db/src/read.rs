//! Reading a store back from its tables (`labelstore fetch` and `verify`).
//!
//! [`DbReader`] connects as [`DbDestination`](crate::DbDestination) does
//! (same connection string, password sources and TLS), finds the project
//! (the one whose store manifest `<table>_files` holds, or the one named)
//! and reads its rows **in batches through a cursor**, so a store of any
//! size is read without holding it in memory: [`DbReader::chips`] gives the
//! chip rows, [`DbReader::files`] the rows of `<table>_files`, and
//! [`DbReader::read_file`] one project-wide file in pieces.
//!
//! Checksums are computed by the server where that saves moving bytes:
//! `sha256()` of a label file, of a chip's kept `image` bytes, of a
//! project-wide file, and of the rasters as `raster_sha256` records them
//! ([`raster_sha256`]).
//!
//! A table of an earlier labelstore, without the columns `raster_sha256` or
//! `image` (see [`ADDED_COLUMNS`](crate::ADDED_COLUMNS)), reads as if they
//! were NULL.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use sink_api::{Error, ManifestEntry, Result};
use tokio_postgres::{Client, Portal, Row, Transaction};

use crate::{DbOptions, Replace, Scrub, TableName, config, connect, io_err, pg_message};

/// The store manifest's row in `<table>_files`.
use sink_api::STORE_MANIFEST as STORE_MANIFEST_PATH;

/// Rows are fetched from the cursor this many at a time.
const BATCH: i32 = 64;
/// A project-wide file is read in pieces of this many bytes.
const PIECE: i32 = 1 << 20;

/// The value of the `raster_sha256` column of a chip row: the lower-case hex
/// SHA-256 of the chip raster's WKB as `ST_AsBinary(rast)` gives it
/// (little-endian), followed by the mask raster's when there is one. The
/// server recomputes it as
/// `encode(sha256(ST_AsBinary(rast) || coalesce(ST_AsBinary(mask), '')), 'hex')`,
/// which is how `labelstore verify` catches a changed raster.
pub fn raster_sha256(rast_wkb: &[u8], mask_wkb: Option<&[u8]>) -> String {
    let mut h = Sha256::new();
    h.update(rast_wkb);
    if let Some(m) = mask_wkb {
        h.update(m);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The SQL expression recomputing `raster_sha256`.
const RASTER_SHA_SQL: &str =
    "encode(sha256(ST_AsBinary(rast) || coalesce(ST_AsBinary(mask), ''::bytea)), 'hex')";

/// What [`DbReader::open`] needs.
#[derive(Debug, Clone)]
pub struct DbReadOptions {
    /// A PostgreSQL URL or key=value string, as for a store.
    pub connection: String,
    /// A file whose first line is the password.
    pub password_file: Option<PathBuf>,
    /// The table (`[schema.]name`).
    pub table: String,
    /// The project; when `None`, the table must hold exactly one.
    pub project: Option<String>,
}

/// One chip row.
#[derive(Debug, Clone)]
pub struct ChipRow {
    /// The chip's id.
    pub chip_id: String,
    /// The chip raster's WKB (when read with data).
    pub rast: Option<Vec<u8>>,
    /// Where a local store has the chip image (`chips/<id>.<ext>`).
    pub image_path: String,
    /// The stored image's size, as recorded.
    pub image_size: i64,
    /// The stored image's SHA-256, as recorded.
    pub image_sha256: String,
    /// `world_file`, `inline`, `embedded` or `none`.
    pub georeferencing: String,
    /// The chip's EPSG code, when known.
    pub epsg: Option<i32>,
    /// The chip's label file, when it has one.
    pub label_path: Option<String>,
    /// The label file's bytes (when read with data).
    pub labels: Option<Vec<u8>>,
    /// The label file's size, as the server measures it now.
    pub labels_size: Option<i64>,
    /// The label file's SHA-256, as the server computes it now.
    pub labels_sha256: Option<String>,
    /// The chip's files as recorded (image first).
    pub files: Vec<ManifestEntry>,
    /// The rasters' checksum as recorded at store time (`None` in a table
    /// written before the column existed).
    pub raster_sha256: Option<String>,
    /// The rasters' checksum as the server computes it now (verify only).
    pub raster_sha256_now: Option<String>,
    /// The chip file's exact bytes, kept for a chip not stored as a GeoTIFF
    /// (when read with data; `None` when the row has none).
    pub image: Option<Vec<u8>>,
    /// The size of the kept image bytes, as the server measures it now
    /// (`None` when the row keeps none).
    pub image_size_now: Option<i64>,
    /// The SHA-256 of the kept image bytes, as the server computes it now
    /// (verify only).
    pub image_sha256_now: Option<String>,
}

/// One row of `<table>_files` other than the store manifest.
#[derive(Debug, Clone)]
pub struct FileRow {
    /// Store path.
    pub path: String,
    /// The chip it belongs to, for a chip's extra files.
    pub chip_id: Option<String>,
    /// Its bytes (when read with data).
    pub data: Option<Vec<u8>>,
    /// Its size, as the server measures it now.
    pub size: i64,
    /// Its SHA-256, as the server computes it now.
    pub sha256: String,
}

/// A store in a PostgreSQL/PostGIS table, read back. See the module docs.
pub struct DbReader {
    client: Client,
    table: TableName,
    where_: String,
    secret: Option<String>,
    project: String,
    /// Which of [`ADDED_COLUMNS`](crate::ADDED_COLUMNS) the chips table has.
    has_raster_sha256: bool,
    has_image: bool,
}

impl std::fmt::Debug for DbReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbReader")
            .field("table", &self.table)
            .field("at", &self.where_)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

/// Rows coming from a cursor, a batch at a time.
pub struct Batches<'a, T> {
    tx: Transaction<'a>,
    portal: Portal,
    convert: fn(&Row) -> std::result::Result<T, String>,
    done: bool,
    scrub: Scrub,
    context: String,
}

impl<T> std::fmt::Debug for Batches<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batches")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl<T> Batches<'_, T> {
    /// Hands every row left to `f`, reading a batch at a time.
    pub async fn for_each<E: From<Error>>(
        mut self,
        mut f: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        loop {
            let batch = self.next_batch().await?;
            if batch.is_empty() {
                return Ok(());
            }
            batch.into_iter().try_for_each(&mut f)?;
        }
    }

    /// The next rows; empty when there are no more.
    pub async fn next_batch(&mut self) -> Result<Vec<T>> {
        if self.done {
            return Ok(Vec::new());
        }
        let rows = self
            .tx
            .query_portal(&self.portal, BATCH)
            .await
            .map_err(|e| {
                io_err(self.scrub.apply(format!(
                    "{}: cannot read rows: {}",
                    self.context,
                    pg_message(&e)
                )))
            })?;
        if rows.len() < BATCH as usize {
            self.done = true;
        }
        rows.iter()
            .map(|r| {
                (self.convert)(r)
                    .map_err(|m| io_err(format!("{}: unexpected row: {m}", self.context)))
            })
            .collect()
    }
}

fn get<'r, V: tokio_postgres::types::FromSql<'r>>(
    row: &'r Row,
    i: usize,
) -> std::result::Result<V, String> {
    row.try_get(i).map_err(|e| format!("column {i}: {e}"))
}

fn chip_row(r: &Row) -> std::result::Result<ChipRow, String> {
    let files_text: String = get(r, 10)?;
    // The chip's entries of the store manifest, as `chip_stored` wrote them.
    let files: Vec<ManifestEntry> = serde_json::from_str(&files_text)
        .map_err(|e| format!("files is not a list of path, size and sha256: {e}"))?;
    Ok(ChipRow {
        chip_id: get(r, 0)?,
        rast: get(r, 1)?,
        image_path: get(r, 2)?,
        image_size: get(r, 3)?,
        image_sha256: get(r, 4)?,
        georeferencing: get(r, 5)?,
        epsg: get(r, 6)?,
        label_path: get(r, 7)?,
        labels: get(r, 8)?,
        labels_size: get(r, 9)?,
        files,
        labels_sha256: get(r, 11)?,
        raster_sha256: get(r, 12)?,
        raster_sha256_now: get(r, 13)?,
        image: get(r, 14)?,
        image_size_now: get(r, 15)?,
        image_sha256_now: get(r, 16)?,
    })
}

fn file_row(r: &Row) -> std::result::Result<FileRow, String> {
    Ok(FileRow {
        path: get(r, 0)?,
        chip_id: get(r, 1)?,
        data: get(r, 2)?,
        size: get(r, 3)?,
        sha256: get(r, 4)?,
    })
}

impl DbReader {
    /// Connects and finds the project. A table that does not exist, a
    /// project it does not hold (or, with no project named, a table holding
    /// none or several) is an [`Error::Io`] naming what is there; no message
    /// holds the password.
    pub async fn open(opts: DbReadOptions) -> Result<DbReader> {
        let table = TableName::parse(&opts.table)?;
        let conn = config(&DbOptions {
            connection: opts.connection.clone(),
            password_file: opts.password_file.clone(),
            table: opts.table.clone(),
            project: String::new(),
            format: String::new(),
            masks: false,
            replace: Replace::Project,
        })?;
        let (client, where_) = connect(&conn).await?;
        let secret = conn.secret;
        let mut r = DbReader {
            client,
            table,
            where_,
            secret,
            project: String::new(),
            has_raster_sha256: false,
            has_image: false,
        };
        r.check_tables().await?;
        r.project = r.find_project(opts.project).await?;
        Ok(r)
    }

    /// Checks that both tables exist, and which of the added columns the
    /// chips table has (a table of an earlier labelstore may lack them).
    async fn check_tables(&mut self) -> Result<()> {
        for t in [self.table.quoted(), self.table.files_quoted()] {
            let row = self
                .client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&t])
                .await
                .map_err(|e| self.db_err("cannot look the table up", &e))?;
            if !row.get::<_, bool>(0) {
                return Err(io_err(format!(
                    "PostgreSQL at {}: there is no table {t}: no labelstore store in table {}",
                    self.where_, self.table
                )));
            }
        }
        // A table of an earlier labelstore may lack the added columns.
        let columns = self
            .client
            .query(
                "SELECT a.attname::text FROM pg_attribute a \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                &[&self.table.quoted()],
            )
            .await
            .map_err(|e| self.db_err("cannot read the table's columns", &e))?;
        for row in &columns {
            match row.get::<_, String>(0).as_str() {
                "raster_sha256" => self.has_raster_sha256 = true,
                "image" => self.has_image = true,
                _ => {}
            }
        }
        Ok(())
    }

    /// The project to read: `wanted`, or the only one the table holds.
    async fn find_project(&self, wanted: Option<String>) -> Result<String> {
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT project FROM {} WHERE path = $1 ORDER BY project LIMIT 21",
                    self.table.files_quoted()
                ),
                &[&STORE_MANIFEST_PATH],
            )
            .await
            .map_err(|e| self.db_err("cannot list the projects", &e))?;
        let projects: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        let listed = || {
            if projects.is_empty() {
                "it holds no complete store".to_owned()
            } else {
                let shown: Vec<String> =
                    projects.iter().take(20).map(|p| format!("{p:?}")).collect();
                format!(
                    "it holds {}{}",
                    shown.join(", "),
                    if projects.len() > 20 { ", ..." } else { "" }
                )
            }
        };
        Ok(match wanted {
            Some(p) if projects.contains(&p) => p,
            Some(p) => {
                // The list may be cut: ask for this one.
                let found = self
                    .client
                    .query_opt(
                        &format!(
                            "SELECT 1 FROM {} WHERE project = $1 AND path = $2",
                            self.table.files_quoted()
                        ),
                        &[&p, &STORE_MANIFEST_PATH],
                    )
                    .await
                    .map_err(|e| self.db_err("cannot look the project up", &e))?;
                if found.is_none() {
                    return Err(io_err(format!(
                        "table {} holds no store of project {p:?} ({})",
                        self.table,
                        listed()
                    )));
                }
                p
            }
            None if projects.len() == 1 => projects[0].clone(),
            None if projects.is_empty() => {
                return Err(io_err(format!(
                    "table {} holds no complete labelstore store (no {STORE_MANIFEST_PATH} row)",
                    self.table
                )));
            }
            None => {
                return Err(Error::Refused(format!(
                    "table {} holds several projects ({}): choose one with --project NAME",
                    self.table,
                    listed()
                )));
            }
        })
    }

    /// The project being read.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// Where the store is, for reports; never holds a secret.
    pub fn describe(&self) -> String {
        format!(
            "PostgreSQL table {} at {}, project {:?}",
            self.table, self.where_, self.project
        )
    }

    fn db_err(&self, what: &str, e: &tokio_postgres::Error) -> Error {
        io_err(Scrub(self.secret.clone()).apply(format!(
            "PostgreSQL at {}, table {}: {what}: {}",
            self.where_,
            self.table,
            pg_message(e)
        )))
    }

    /// Reads the project-wide file `path` of `<table>_files` in pieces,
    /// handing each to `out`; its size, or `None` when there is no such row.
    pub async fn read_file(
        &self,
        path: &str,
        out: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
    ) -> Result<Option<u64>> {
        let sql = format!(
            "SELECT substring(data FROM $3 FOR $4) FROM {} WHERE project = $1 AND path = $2",
            self.table.files_quoted()
        );
        let mut at: i32 = 1;
        let mut total = 0u64;
        loop {
            let row = self
                .client
                .query_opt(&sql, &[&self.project, &path, &at, &PIECE])
                .await
                .map_err(|e| self.db_err(&format!("cannot read {path}"), &e))?;
            let Some(row) = row else {
                return Ok(if at == 1 { None } else { Some(total) });
            };
            let piece: Vec<u8> = row.get(0);
            out(&piece).map_err(|e| Error::io(format!("cannot keep {path}"), e))?;
            total += piece.len() as u64;
            if piece.len() < PIECE as usize {
                return Ok(Some(total));
            }
            at = at
                .checked_add(PIECE)
                .ok_or_else(|| io_err(format!("{path} is larger than 2 GiB")))?;
        }
    }

    async fn cursor<T>(
        &mut self,
        sql: String,
        chip: Option<&str>,
        convert: fn(&Row) -> std::result::Result<T, String>,
        context: String,
    ) -> Result<Batches<'_, T>> {
        let scrub = Scrub(self.secret.clone());
        let (where_, table) = (self.where_.clone(), self.table.to_string());
        let fail = |what: &str, e: tokio_postgres::Error| {
            io_err(scrub.apply(format!(
                "PostgreSQL at {where_}, table {table}: {what}: {}",
                pg_message(&e)
            )))
        };
        let project = self.project.clone();
        let tx = self
            .client
            .build_transaction()
            .read_only(true)
            .start()
            .await
            .map_err(|e| fail("cannot begin a transaction", e))?;
        let stmt = tx
            .prepare(&sql)
            .await
            .map_err(|e| fail("cannot prepare the query", e))?;
        let portal = match chip {
            Some(c) => tx.bind(&stmt, &[&project, &c]).await,
            None => tx.bind(&stmt, &[&project]).await,
        }
        .map_err(|e| fail("cannot open a cursor", e))?;
        Ok(Batches {
            tx,
            portal,
            convert,
            done: false,
            scrub: Scrub(self.secret.clone()),
            context,
        })
    }

    /// The project's chip rows (only `chip`'s when given), ordered by chip
    /// id. With `data`, each row carries its raster's WKB, its label file's
    /// bytes and its kept image bytes; without, only what checking them
    /// needs (sizes and checksums computed by the server).
    pub async fn chips(&mut self, chip: Option<&str>, data: bool) -> Result<Batches<'_, ChipRow>> {
        let (rast, labels, now) = if data {
            ("ST_AsBinary(rast)", "labels", "NULL::text")
        } else {
            ("NULL::bytea", "NULL::bytea", RASTER_SHA_SQL)
        };
        let recorded = if self.has_raster_sha256 {
            "raster_sha256"
        } else {
            "NULL::text"
        };
        let (image, image_size, image_sha) = match (self.has_image, data) {
            (false, _) => ("NULL::bytea", "NULL::bigint", "NULL::text"),
            (true, true) => ("image", "length(image)::bigint", "NULL::text"),
            (true, false) => (
                "NULL::bytea",
                "length(image)::bigint",
                "encode(sha256(image), 'hex')",
            ),
        };
        let sql = format!(
            "SELECT chip_id, {rast}, image_path, image_size, image_sha256, georeferencing, epsg, \
             label_path, {labels}, length(labels)::bigint, files::text, \
             encode(sha256(labels), 'hex'), {recorded}, {now}, \
             {image}, {image_size}, {image_sha} \
             FROM {} WHERE project = $1{} ORDER BY chip_id",
            self.table.quoted(),
            if chip.is_some() {
                " AND chip_id = $2"
            } else {
                ""
            }
        );
        let context = format!("table {}", self.table);
        self.cursor(sql, chip, chip_row, context).await
    }

    /// The chip whose row holds or records the store path `path` (its
    /// image, label file, a copy of its image, or the GeoTIFF its raster
    /// gives back), when there is one.
    pub async fn chip_of(&self, path: &str) -> Result<Option<String>> {
        let sql = format!(
            "SELECT chip_id FROM {} WHERE project = $1 AND (image_path = $2 \
             OR label_path = $2 OR 'chips/' || chip_id || '.tif' = $2 \
             OR files @> jsonb_build_array(jsonb_build_object('path', $2::text))) \
             ORDER BY chip_id LIMIT 1",
            self.table.quoted()
        );
        let row = self
            .client
            .query_opt(&sql, &[&self.project, &path])
            .await
            .map_err(|e| self.db_err(&format!("cannot look {path} up"), &e))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The project's rows of `<table>_files`, the store manifest excepted,
    /// ordered by path; with `data`, each with its bytes.
    pub async fn files(&mut self, data: bool) -> Result<Batches<'_, FileRow>> {
        let sql = format!(
            "SELECT path, chip_id, {}, length(data)::bigint, encode(sha256(data), 'hex') \
             FROM {} WHERE project = $1 AND path <> '{STORE_MANIFEST_PATH}' ORDER BY path",
            if data { "data" } else { "NULL::bytea" },
            self.table.files_quoted()
        );
        let context = format!("table {}", self.table);
        self.cursor(sql, None, file_row, context).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raster_checksum_covers_the_mask() {
        let a = raster_sha256(b"abc", None);
        assert_eq!(
            a,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(raster_sha256(b"ab", Some(b"c")), a);
        assert_ne!(raster_sha256(b"abc", Some(b"d")), a);
    }
}
