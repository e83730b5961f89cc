//! Compiles `proto/reelforest/v1/*.proto` (at the workspace root) into `OUT_DIR` with the
//! pure-Rust `protox` compiler, so no `protoc` is needed; `tonic-prost-build` adds the gRPC
//! clients and servers of `cluster.proto`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest.join("../../proto");
    let files = ["reelforest/v1/model.proto", "reelforest/v1/cluster.proto"];
    for f in &files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    let fds = protox::compile(files, [&root])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
