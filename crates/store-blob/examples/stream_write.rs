//! Streams a generated blob of SIZE MiB (1024 by default) into an `FsBlobStore` at ROOT
//! with `write_from`, then reads it back through the verifying reader. The source is made
//! as it is read, so the process's peak memory is the store's own: measure it with
//!
//! ```text
//! cargo build --release -p store-blob --example stream_write
//! /usr/bin/time -v target/release/examples/stream_write /tmp/blobs 1024
//! ```

use std::io::Read;
use std::time::Instant;

use store_blob::FsBlobStore;
use store_core::BlobStore;

/// `left` bytes of xorshift noise, made on demand.
struct Noise {
    left: u64,
    state: u64,
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for byte in &mut buf[..n] {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *byte = self.state.to_le_bytes()[0];
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| "./data/blobs".to_owned());
    let mib: u64 = match args.next() {
        Some(text) => text
            .parse()
            .map_err(|err| format!("SIZE is a number of MiB, not {text:?}: {err}"))?,
        None => 1024,
    };
    let store = FsBlobStore::open(&root)?;
    let seed = u64::from(std::process::id()) | 1;
    let started = Instant::now();
    let digest = store.write_from(&mut Noise {
        left: mib << 20,
        state: seed,
    })?;
    let written = started.elapsed();
    let started = Instant::now();
    let mut reader = store
        .open(&digest)?
        .ok_or("the blob just written is missing")?;
    let read = std::io::copy(&mut reader, &mut std::io::sink())?;
    let verified = started.elapsed();
    let rate = |d: std::time::Duration| mib as f64 / d.as_secs_f64();
    println!(
        "wrote {mib} MiB as {digest} in {written:.2?} ({:.0} MiB/s)",
        rate(written)
    );
    println!(
        "read and verified {read} bytes in {verified:.2?} ({:.0} MiB/s)",
        rate(verified)
    );
    store.delete(&digest)?;
    Ok(())
}
