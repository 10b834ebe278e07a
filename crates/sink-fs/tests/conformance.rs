//! The destination conformance suite of sink-api (`testing` feature) on
//! local folders.

use std::path::PathBuf;

use sink_api::Result;
use sink_api::testing::{Harness, suite};
use sink_fs::{FsDestination, FsReader};

/// A folder of its own under a temporary one.
struct Local(PathBuf);

impl Harness for Local {
    type Dest = FsDestination;
    type Reader = FsReader;

    async fn destination(&self) -> Result<FsDestination> {
        FsDestination::open(&self.0, true)
    }

    async fn reader(&self) -> Result<FsReader> {
        Ok(FsReader::open(&self.0))
    }
}

#[test]
fn local_folders_pass_the_destination_suite() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(suite(|name| Local(tmp.path().join(name))))
        .expect("the suite");
}
