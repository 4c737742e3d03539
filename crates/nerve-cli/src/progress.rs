//! Progress bars on standard error, drawn only when it is a terminal.

use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

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
         ({{rate}}, {{eta}} left) {{msg}}"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        // As people write rates: `15,490/s`, not indicatif's `15490.2817/s`.
        bar.set_style(style.with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}/s", crate::output::thousands(state.per_sec() as u64));
            },
        ));
    }
    bar
}
