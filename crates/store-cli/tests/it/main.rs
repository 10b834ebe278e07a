//! End-to-end tests of the `labelstore` binary.

mod bad_input; // every case under tests/bad: exit 2, chip and field named, target untouched
mod fetch_verify; // fetch and verify from the object store and the database
mod input; // odd but valid inputs, and inputs that must not hang a store
mod kill; // SIGKILL in the middle of a store leaves the target absent or as it was
mod store; // successful stores, the summary, usage and destination errors
mod tls; // --to db over TLS: sslmode, sslrootcert, certificate errors
mod util;
