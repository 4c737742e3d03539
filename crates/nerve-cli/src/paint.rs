//! Colour, for the lines people read first: a verdict, an error's program name. Tables stay
//! plain, so that their widths are the widths of their text. `--color auto` (the default)
//! colours a stream only when it is a terminal and `NO_COLOR` is not set.

/// When to colour (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set (or `CLICOLOR=0`).
    Auto,
    /// Always, even into a pipe or a file.
    Always,
    /// Never.
    Never,
}

/// Applies `choice` to standard output and standard error, for the rest of the process.
pub(crate) fn choose(choice: ColorChoice) {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    match choice {
        // The terminal test (and CLICOLOR) is console's own default.
        ColorChoice::Auto if !no_color => {}
        ColorChoice::Always => {
            console::set_colors_enabled(true);
            console::set_colors_enabled_stderr(true);
        }
        ColorChoice::Auto | ColorChoice::Never => {
            console::set_colors_enabled(false);
            console::set_colors_enabled_stderr(false);
        }
    }
}

/// `text` as a good verdict (green), on standard output.
pub(crate) fn good(text: &str) -> String {
    console::style(text).green().to_string()
}

/// `text` as a bad verdict (red, bold), on standard output.
pub(crate) fn bad(text: &str) -> String {
    console::style(text).red().bold().to_string()
}

/// The program's name before an error, on standard error (red, bold).
pub(crate) fn error_prefix() -> String {
    console::style("nerve-store:")
        .for_stderr()
        .red()
        .bold()
        .to_string()
}
