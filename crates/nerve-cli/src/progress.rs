//! Progress bars on standard error, drawn only when it is a terminal.

use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

/// Whether `--quiet` was given: no bars then.
static QUIET: AtomicBool = AtomicBool::new(false);

/// No bars from now on (`--quiet`).
pub(crate) fn quiet() {
    QUIET.store(true, Ordering::Relaxed);
}

/// A bar counting to `total` things named `unit` ("runs", "entries", "days"); a hidden one
/// under `--quiet`.
pub(crate) fn bar(total: u64, unit: &str) -> ProgressBar {
    if QUIET.load(Ordering::Relaxed) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let template = format!(
        "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {unit} \
         ({{per_sec}}, {{eta}} left) {{msg}}"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
