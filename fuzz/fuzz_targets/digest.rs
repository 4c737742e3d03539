//! Any text parses as a digest or is refused with `InvalidDigest`; what parses is exactly 64
//! lowercase hex characters, and shows as the same text again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use store_core::{Digest, StoreError};

fuzz_target!(|text: &str| {
    match text.parse::<Digest>() {
        Ok(digest) => {
            assert_eq!(digest.to_hex(), text);
            assert!(
                text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            );
        }
        Err(err) => assert!(matches!(err, StoreError::InvalidDigest { .. }), "{err}"),
    }
});
