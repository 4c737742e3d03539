//! Ctrl-C in long commands: the first SIGINT (or SIGTERM) asks the command to stop at the
//! end of the step it is on, so that it can say what state it leaves; a second SIGINT ends
//! the process at once, as Ctrl-C does elsewhere.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

use crate::error::{CliError, CliResult};

/// Whether the person at the terminal asked the running command to stop.
#[derive(Debug, Clone)]
pub(crate) struct Interrupt {
    asked: Arc<AtomicBool>,
}

impl Interrupt {
    /// Catches SIGINT and SIGTERM from now until the process ends.
    pub(crate) fn catch() -> CliResult<Self> {
        let asked = Arc::new(AtomicBool::new(false));
        let register = || -> std::io::Result<()> {
            // A second Ctrl-C, once the flag is set, exits with the status of a SIGINT.
            signal_hook::flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&asked))?;
            signal_hook::flag::register(SIGINT, Arc::clone(&asked))?;
            signal_hook::flag::register(SIGTERM, Arc::clone(&asked))?;
            Ok(())
        };
        register().map_err(CliError::io("catching Ctrl-C"))?;
        Ok(Interrupt { asked })
    }

    /// Whether a stop was asked for.
    pub(crate) fn asked(&self) -> bool {
        self.asked.load(Ordering::Relaxed)
    }

    /// What a long operation's progress callback answers: stop once a stop was asked for.
    pub(crate) fn go_on(&self) -> ControlFlow<()> {
        if self.asked() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}
