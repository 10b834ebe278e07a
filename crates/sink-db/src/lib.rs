//! The PostgreSQL/PostGIS destination of labelstore.
//!
//! This crate will implement `sink_api::Destination` for a PostgreSQL database
//! with PostGIS: one row per stored chip holding the chip (and its semantic
//! mask) as a PostGIS raster with its SRID and geotransform, the labels in the
//! chosen format, one transaction per store, and a table name that is
//! validated and quoted so it can never inject SQL.
//!
//! Nothing is implemented here yet.
