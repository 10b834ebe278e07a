//! The object-store destination of labelstore.
//!
//! This crate will implement `sink_api::Destination` for OCI Object Storage
//! pre-authenticated request (PAR) URLs and for every store the `object_store`
//! crate speaks (`s3://`, `gs://`, `az://`): concurrent uploads with retries, the
//! PAR multipart flow for large objects, a completion manifest written last, and
//! a PAR token that never appears in output, logs or errors.
//!
//! Nothing is implemented here yet.
