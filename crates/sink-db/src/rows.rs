//! The rows of a store as store files: [`DbReader`] as a
//! [`StoreReader`]. A chip row is a unit ([`Found::Unit`], known by its
//! image's path): its records of its files, its kept image bytes, its label
//! file and its rasters' checksum. Fetching hands a chip's image as its
//! kept bytes or, when the row keeps none, as a (Geo)TIFF made from its
//! raster (`chips/<id>.tif`), then its label file; then the project-wide
//! files of `<table>_files`.

use std::borrow::Cow;

use sink_api::{
    ByteSink, DAMAGED, Error, Fetched, Found, Held, ManifestEntry, Result, STORE_MANIFEST,
    StoreReader, Unlisted, digest_bytes,
};

use crate::read::{ChipRow, DbReader};

/// A destination failure (exit status 1): what failed, and why.
fn failure(what: String, why: &str) -> Error {
    Error::io(what, std::io::Error::other(why.to_owned()))
}

impl StoreReader for DbReader {
    fn describe(&self) -> String {
        DbReader::describe(self)
    }

    async fn manifest(&mut self, out: &mut ByteSink<'_>) -> Result<()> {
        match self.read_file(STORE_MANIFEST, out).await? {
            Some(_) => Ok(()),
            None => Err(failure(
                format!("{} holds no labelstore store", DbReader::describe(self)),
                "there is no labelstore-manifest.json row",
            )),
        }
    }

    async fn list<E, F>(&mut self, mut found: F) -> Result<(), E>
    where
        E: From<Error> + Send,
        F: FnMut(Found) -> Result<(), E> + Send,
    {
        self.chips(None, false)
            .await?
            .for_each(|row| found(chip_unit(row)))
            .await?;
        self.files(false)
            .await?
            .for_each(|f| {
                found(Found::File(Held {
                    unlisted: Unlisted::Extra(format!(
                        "extra: {} (a row of the files table)",
                        f.path
                    )),
                    size: Some(u64::try_from(f.size).unwrap_or_default()),
                    sha256: Some(f.sha256),
                    about: None,
                    path: f.path,
                }))
            })
            .await
    }

    /// A project-wide file of `<table>_files`, or a file of a chip row as
    /// [`StoreReader::get_all`] makes it (one row read for it).
    async fn get(&mut self, path: &str, out: &mut ByteSink<'_>) -> Result<Option<u64>> {
        if let Some(size) = self.read_file(path, out).await? {
            return Ok(Some(size));
        }
        let Some(id) = self.chip_of(path).await? else {
            return Ok(None);
        };
        let shown = DbReader::describe(self);
        let mut found = None;
        self.chips(Some(&id), true)
            .await?
            .for_each(|row| {
                chip_files(&row, &|p: &str| p == path, &shown, &mut |f: Fetched<'_>| {
                    if f.path == path {
                        found = Some(f.bytes.to_vec());
                    }
                    Ok::<(), Error>(())
                })
            })
            .await?;
        let Some(bytes) = found else {
            return Ok(None);
        };
        out(&bytes).map_err(|e| Error::io(format!("cannot keep {path}"), e))?;
        Ok(Some(bytes.len() as u64))
    }

    async fn get_all<E, F>(
        &mut self,
        wanted: &(dyn Fn(&str) -> bool + Sync),
        mut got: F,
    ) -> Result<bool, E>
    where
        E: From<Error> + Send,
        F: FnMut(Fetched<'_>) -> Result<(), E> + Send,
    {
        let shown = DbReader::describe(self);
        // Every chip's rows, also for one chip: project-wide files (VOC's
        // image sets, a COCO file) list every chip, and the store's reader
        // wants them all. A row whose image the manifest does not list is
        // not the store's.
        self.chips(None, true)
            .await?
            .for_each(|row| {
                if wanted(&row.image_path) {
                    chip_files(&row, wanted, &shown, &mut got)
                } else {
                    Ok(())
                }
            })
            .await?;
        self.files(true)
            .await?
            .for_each(|f| {
                if !wanted(&f.path) {
                    return Ok(());
                }
                got(Fetched {
                    path: &f.path,
                    bytes: f.data.as_deref().unwrap_or_default(),
                    chip: None,
                    about: None,
                    made: false,
                    copy_of: None,
                })
            })
            .await?;
        Ok(true)
    }
}

/// What a chip row holds and records, as verify checks it.
fn chip_unit(row: ChipRow) -> Found {
    let id = &row.chip_id;
    let mut items: Vec<Found> = row
        .files
        .iter()
        .map(|f| Found::Record {
            unlisted: format!(
                "row of chip {id} lists {}, which the manifest does not",
                f.path
            ),
            differs: format!(
                "row of chip {id} differs: {} recorded with another size or SHA-256 than the \
                 manifest's",
                f.path
            ),
            entry: f.clone(),
        })
        .collect();
    items.push(Found::Record {
        entry: ManifestEntry {
            path: row.image_path.clone(),
            size: u64::try_from(row.image_size).unwrap_or_default(),
            sha256: row.image_sha256.clone(),
        },
        unlisted: String::new(),
        differs: format!(
            "row of chip {id} differs: image_size/image_sha256 of {} are not the manifest's",
            row.image_path
        ),
    });
    // The image's own bytes, kept for a chip not stored as a GeoTIFF.
    if let Some(now) = row.image_size_now {
        items.push(Found::File(Held {
            path: row.image_path.clone(),
            size: Some(u64::try_from(now).unwrap_or_default()),
            sha256: Some(row.image_sha256_now.clone().unwrap_or_default()),
            about: Some(format!("image of chip {id}")),
            unlisted: Unlisted::Problem(String::new()),
        }));
    }
    match (&row.raster_sha256, &row.raster_sha256_now) {
        (Some(then), Some(now)) if then == now => {}
        (Some(_), _) => items.push(Found::Problem(format!(
            "raster differs: chip {id} (its rast or mask is not what was stored)"
        ))),
        (None, _) => items.push(Found::Problem(format!(
            "no raster checksum recorded: chip {id} (stored by an older labelstore)"
        ))),
    }
    if let Some(path) = &row.label_path {
        let size = row
            .labels_size
            .filter(|_| row.labels_sha256.is_some())
            .map(|s| u64::try_from(s).unwrap_or_default());
        items.push(Found::File(Held {
            path: path.clone(),
            about: Some(match size {
                Some(_) => format!("labels of chip {id}"),
                None => format!("labels of chip {id} are NULL"),
            }),
            size,
            sha256: row.labels_sha256.clone(),
            unlisted: Unlisted::Problem(format!(
                "row of chip {id} has label file {path}, which the manifest does not list"
            )),
        }));
    }
    Found::Unit {
        unlisted: format!(
            "extra chip: {id} (its row's image {} is not in the manifest)",
            row.image_path
        ),
        key: row.image_path,
        items,
    }
}

/// Hands one chip row's files: the image (the row's kept bytes at its
/// recorded path, checked against the recorded size and SHA-256; else the
/// raster as `chips/<id>.tif`), also at the paths of the image's copies
/// `wanted` accepts, and the label file.
fn chip_files<E, F>(
    row: &ChipRow,
    wanted: &(dyn Fn(&str) -> bool + Sync),
    shown: &str,
    got: &mut F,
) -> Result<(), E>
where
    E: From<Error>,
    F: FnMut(Fetched<'_>) -> Result<(), E>,
{
    let id = row.chip_id.as_str();
    let about = format!("image of chip {id}");
    let (made, image, bytes) = match &row.image {
        Some(bytes) => {
            let (size, sha) = digest_bytes(bytes);
            let recorded = u64::try_from(row.image_size).ok();
            if recorded != Some(size) || sha != row.image_sha256 {
                return Err(failure(
                    format!(
                        "{} (image of chip {id}) in {shown} differs from its row's image_size \
                         and image_sha256 ({} bytes recorded, found {size})",
                        row.image_path, row.image_size
                    ),
                    DAMAGED,
                )
                .into());
            }
            (
                false,
                row.image_path.clone(),
                Cow::Borrowed(bytes.as_slice()),
            )
        }
        None => (
            true,
            format!("chips/{id}.tif"),
            Cow::Owned(raster_tiff(row, shown)?),
        ),
    };
    let image = image.as_str();
    got(Fetched {
        path: image,
        bytes: &bytes,
        chip: Some(id),
        about: Some(&about),
        made,
        copy_of: None,
    })?;
    for f in &row.files {
        if f.sha256 != row.image_sha256 || f.path == image || !wanted(&f.path) {
            continue;
        }
        got(Fetched {
            path: &f.path,
            bytes: &bytes,
            chip: Some(id),
            about: Some(&about),
            made,
            copy_of: Some(image),
        })?;
    }
    if let (Some(path), Some(labels)) = (&row.label_path, &row.labels)
        && wanted(path)
    {
        got(Fetched {
            path,
            bytes: labels,
            chip: Some(id),
            about: Some(&format!("labels of chip {id}")),
            made: false,
            copy_of: None,
        })?;
    }
    Ok(())
}

/// The chip's raster as a (Geo)TIFF.
fn raster_tiff(row: &ChipRow, shown: &str) -> Result<Vec<u8>> {
    let chip_err = |m: String| failure(format!("{shown}: chip {}", row.chip_id), &m);
    let wkb = row.rast.as_deref().unwrap_or_default();
    let raster = raster_georef::WkbRaster::from_wkb(wkb)
        .map_err(|e| chip_err(format!("its raster cannot be read: {e}")))?;
    let epsg = row
        .epsg
        .and_then(|c| u32::try_from(c).ok())
        .or_else(|| u32::try_from(raster.srid).ok().filter(|&c| c > 0));
    let crs = match epsg {
        Some(code) => Some(
            raster_georef::Crs::from_epsg(code).map_err(|e| chip_err(format!("its CRS: {e}")))?,
        ),
        None => None,
    };
    let keys = crs.as_ref().map(|c| raster_georef::CrsKeys {
        epsg: epsg.unwrap_or_default(),
        geographic: c.is_geographic(),
        name: c.name(),
    });
    let georef = (row.georeferencing != "none").then_some((&raster.geotransform, keys));
    let name = format!("chips/{}.tif", row.chip_id);
    raster_georef::raster_to_geotiff(&raster, &name, georef).map_err(|e| chip_err(e.to_string()))
}
