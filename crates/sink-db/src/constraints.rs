//! PostGIS raster constraints on the chips table, as `raster2pgsql -C` sets
//! them (`AddRasterConstraints`): SRID, scale, block size, alignment, band
//! count, pixel types, nodata, out-db and extent, on `rast` and (when any
//! row has one) `mask`, so that `raster_columns` describes the columns. They
//! hold for every row of the table, so a store drops them when it opens and
//! sets them again before its commit: each constraint that still holds over
//! the whole table comes back (PostGIS skips one that does not, with a
//! notice), all in the store's transaction.

use sink_api::Result;

use crate::DbDestination;

/// The raster columns of the chips table.
const RASTER_COLUMNS: [&str; 2] = ["rast", "mask"];

impl DbDestination {
    /// The chips table's schema and name, as PostGIS's functions take them.
    async fn schema_and_name(&self) -> Result<(String, String)> {
        let row = self
            .client
            .query_one(
                "SELECT n.nspname::text, c.relname::text FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.oid = to_regclass($1)",
                &[&self.table.quoted()],
            )
            .await
            .map_err(|e| self.db_err("cannot look the table up", &e))?;
        Ok((row.get(0), row.get(1)))
    }

    /// Takes the lock a store holds on the chips table (stores into one
    /// table take turns; readers go on), then drops its raster constraints
    /// (`enforce_*_rast`, `enforce_*_mask`): the rows this store writes
    /// may not meet them.
    pub(crate) async fn drop_raster_constraints(&self) -> Result<()> {
        let t = self.table.quoted();
        self.exec(
            "cannot lock the table",
            &format!("LOCK TABLE {t} IN SHARE ROW EXCLUSIVE MODE"),
        )
        .await?;
        let rows = self
            .client
            .query(
                "SELECT conname::text FROM pg_constraint \
                 WHERE conrelid = to_regclass($1) AND contype = 'c' \
                 AND conname ~ '^enforce_[a-z_]+_(rast|mask)$'",
                &[&t],
            )
            .await
            .map_err(|e| self.db_err("cannot read the table's constraints", &e))?;
        for row in rows {
            // Safe to quote: the pattern above admits only [a-z_].
            let name: String = row.get(0);
            self.exec(
                "cannot drop a raster constraint",
                &format!("ALTER TABLE {t} DROP CONSTRAINT IF EXISTS \"{name}\""),
            )
            .await?;
        }
        Ok(())
    }

    /// Sets the raster constraints that hold over the whole table, as
    /// `raster2pgsql -C` does (every one but regular blocking).
    pub(crate) async fn add_raster_constraints(&self) -> Result<()> {
        let (schema, name) = self.schema_and_name().await?;
        let t = self.table.quoted();
        for column in RASTER_COLUMNS {
            let any = self
                .client
                .query_one(
                    &format!("SELECT EXISTS (SELECT 1 FROM {t} WHERE {column} IS NOT NULL)"),
                    &[],
                )
                .await
                .map_err(|e| self.db_err("cannot read the table", &e))?;
            if !any.get::<_, bool>(0) {
                continue;
            }
            self.client
                .query_one(
                    "SELECT AddRasterConstraints($1::name, $2::name, $3::name, \
                     true, true, true, true, true, true, false, true, true, true, true, true)",
                    &[&schema, &name, &column],
                )
                .await
                .map_err(|e| self.db_err("cannot set the raster constraints", &e))?;
        }
        Ok(())
    }
}
