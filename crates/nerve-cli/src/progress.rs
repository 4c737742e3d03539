//! Progress bars on standard error, drawn only when it is a terminal.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting to `total` things named `unit` ("runs", "entries", "days").
pub(crate) fn bar(total: u64, unit: &str) -> ProgressBar {
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
