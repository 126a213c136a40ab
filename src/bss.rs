//! The programs' .bss: the few u32 fields userspace sets while the programs run (the
//! reader's sleep, --count's epoch). The programs only read them, except `reader_asleep`,
//! which the first record after it was set clears.

use anyhow::{Context, Result};
use libbpf_rs::{MapCore, MapFlags};

pub use crate::skel::types::bss as Bss;

/// Writes `value` into the u32 at byte `at` of the .bss map's only value. A map update
/// replaces the whole value, so it is read first; a field the programs changed in between
/// is written back as it was read, which the fields above tolerate.
pub fn set_u32(bss_map: &dyn MapCore, at: usize, value: u32) -> Result<()> {
    let key = 0u32.to_ne_bytes();
    let mut bytes = bss_map
        .lookup(&key, MapFlags::ANY)
        .context("reading the .bss map")?
        .context("the .bss map has no value")?;
    bytes
        .get_mut(at..at + 4)
        .context("a field beyond the .bss value")?
        .copy_from_slice(&value.to_ne_bytes());
    bss_map
        .update(&key, &bytes, MapFlags::ANY)
        .context("writing the .bss map")
}
