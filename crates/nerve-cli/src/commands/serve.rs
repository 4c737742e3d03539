//! `serve`: the store's console (the `store-console` crate), until Ctrl-C.

use nerve_store::{AsyncStore, Store};
use store_console::ConsoleOptions;

use crate::cli::ServeArgs;
use crate::error::{CliError, CliResult};
use crate::output::Out;

pub(crate) fn run(store: Store, args: &ServeArgs, out: &mut Out) -> CliResult<()> {
    let archive = args
        .archive_dir
        .clone()
        .unwrap_or_else(|| store.location.archive_dir());
    let options = ConsoleOptions {
        token: args.token.clone(),
        archive: Some(std::sync::Arc::new(nerve_store::archive::ArchiveAt::open(
            archive,
        )?)),
        // The clock, unless SOURCE_DATE_EPOCH fixes it as for every other command.
        now: std::env::var_os(crate::time::SOURCE_DATE_EPOCH)
            .map(|_| crate::time::now_utc())
            .transpose()
            .map_err(|reason| CliError::refused(reason, "unset it"))?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            CliError::refused(
                format!("cannot start the server's runtime: {err}"),
                "try again",
            )
        })?;
    let shown = store.location.to_string();
    runtime.block_on(async {
        let listener = store_console::bind(args.address, &options).await?;
        let at = listener
            .local_addr()
            .map_err(|err| nerve_store::StoreError::Io {
                path: None,
                context: "reading the console's address".into(),
                source: err.into(),
            })?;
        out.line(format!("serving the console of {shown} at http://{at}/"))?;
        out.flush()?;
        store_console::serve(
            listener,
            store_console::router(AsyncStore::new(store), &options),
        )
        .await?;
        Ok(())
    })
}
