//! `cargo xtask`: the project's own commands.
//!
//! ```text
//! cargo xtask conformance [--backend sqlite|redb|postgres|all] [--cases N]
//! cargo xtask bench [--backend sqlite|redb|all] [--sizes 10k,1m,10m]
//! cargo xtask test
//! cargo xtask ci
//! cargo xtask circles
//! ```

mod circles;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// The project's own commands, run as `cargo xtask COMMAND`.
#[derive(clap::Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
enum Xtask {
    /// The conformance suites (log and blobs) and the model-based property tests, N
    /// generated sequences each, release build; with all, also the file blob store and
    /// SQLite against redb; with postgres (on a throwaway server, installed first if
    /// missing), also PostgreSQL against SQLite.
    Conformance(Options),
    /// Each store beside its bare engine, interleaved (median ratio and spread); with all,
    /// also the backends beside each other and the blob stores beside the bare work; then
    /// the cost of every operation at each size beside the smallest (10m builds stores of a
    /// few GB and takes minutes).
    Bench(Options),
    /// Every test (cargo test --workspace), after installing what the tests start when it
    /// is missing: PostgreSQL's server binaries (Debian's postgresql package), from which the
    /// store-postgres tests start throwaway servers, and the moto S3 server (PyPI's
    /// `moto[server]`, into target/moto), which the store-object tests start.
    Test,
    /// What CI checks (and all .ci/run does): fmt; no import circle; clippy, warnings and
    /// newer-than-MSRV APIs denied, on the workspace and on each feature set of the facade
    /// (each backend alone, none, all); docs; the fuzz targets' build; cargo deny
    /// (licences, duplicate versions, sources; installed if missing); every test, and the
    /// facade's with redb alone and with PostgreSQL alone.
    Ci,
    /// Names every circle of imports between the modules of a crate; fails if one exists.
    Circles,
}

fn main() -> ExitCode {
    let result = match <Xtask as clap::Parser>::parse() {
        Xtask::Conformance(options) => conformance(&options.resolved()),
        Xtask::Bench(options) => bench(&options.resolved()),
        Xtask::Ci => ci(),
        Xtask::Circles => circles(),
        Xtask::Test => test(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Which backends a run covers.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Backends {
    Sqlite,
    Redb,
    Postgres,
    /// SQLite and redb, and the two beside each other.
    All,
}

#[derive(clap::Args)]
struct Options {
    /// The backends to run.
    #[arg(long = "backend", value_enum, default_value = "all")]
    which: Backends,
    /// Generated sequences per property test.
    #[arg(long, default_value_t = 1000)]
    cases: u32,
    /// The store sizes of the growth bench.
    #[arg(long, default_value = "10k,1m")]
    sizes: String,
    #[arg(skip)]
    backends: Vec<&'static str>,
}

impl Options {
    /// These options with `backends` filled from the choice.
    fn resolved(mut self) -> Self {
        self.backends = match self.which {
            Backends::Sqlite => vec!["sqlite"],
            Backends::Redb => vec!["redb"],
            Backends::Postgres => vec!["postgres"],
            Backends::All => vec!["sqlite", "redb"],
        };
        self
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Runs cargo with `args` at the root; an unsuccessful exit is an error naming the command.
fn cargo(args: &[&str], env: &[(&str, String)]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let shown = format!("cargo {}", args.join(" "));
    eprintln!("xtask: {shown}");
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(root())
        .status()
        .map_err(|err| format!("could not run {shown}: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn crate_of(backend: &str) -> String {
    format!("store-{backend}")
}

fn conformance(options: &Options) -> Result<(), String> {
    let env = [("PROPTEST_CASES", options.cases.to_string())];
    let start = Instant::now();
    if options.backends == ["postgres"] {
        ensure_postgres_server()?;
        // The two parts wait on the server's syncs far more than on the cores, and each test
        // process starts its own server: built once, they run side by side.
        let tests = ["conformance", "against_sqlite"];
        let mut build = vec!["test", "--release", "-p", "store-postgres", "--no-run"];
        for test in tests {
            build.extend(["--test", test]);
        }
        cargo(&build, &env)?;
        let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
            let parts: Vec<_> = tests
                .iter()
                .map(|test| {
                    let env = &env;
                    scope.spawn(move || {
                        let started = Instant::now();
                        let args = ["test", "--release", "-p", "store-postgres", "--test", test];
                        let result = cargo(&args, env);
                        eprintln!(
                            "xtask: postgres: {test} with {} cases in {:.1?} ({})",
                            options.cases,
                            started.elapsed(),
                            if result.is_ok() { "passed" } else { "failed" }
                        );
                        result
                    })
                })
                .collect();
            parts
                .into_iter()
                .map(|part| {
                    part.join()
                        .unwrap_or_else(|_| Err("a part panicked".into()))
                })
                .collect()
        });
        eprintln!("xtask: postgres: both parts in {:.1?}", start.elapsed());
        return results.into_iter().collect();
    }
    for backend in &options.backends {
        let started = Instant::now();
        cargo(
            &[
                "test",
                "--release",
                "-p",
                &crate_of(backend),
                "--test",
                "conformance",
            ],
            &env,
        )?;
        eprintln!(
            "xtask: {backend}: conformance with {} cases in {:.1?}",
            options.cases,
            started.elapsed()
        );
    }
    if options.backends.len() == 2 {
        cargo(
            &[
                "test",
                "--release",
                "-p",
                "store-blob",
                "--test",
                "conformance",
            ],
            &env,
        )?;
        let started = Instant::now();
        cargo(
            &[
                "test",
                "--release",
                "-p",
                "nerve-store",
                "--test",
                "backends",
            ],
            &env,
        )?;
        eprintln!(
            "xtask: sqlite against redb, {} cases, in {:.1?}",
            options.cases,
            started.elapsed()
        );
    }
    eprintln!("xtask: conformance passed in {:.1?}", start.elapsed());
    Ok(())
}

fn bench(options: &Options) -> Result<(), String> {
    // Each bench prints its comparisons itself: the two sides interleaved, the median ratio
    // and its spread.
    let mut log = vec!["bench", "-p", "nerve-bench", "--bench", "log", "--"];
    log.extend(options.backends.iter().copied());
    if options.backends.len() == 2 {
        log.push("backends");
    }
    cargo(&log, &[])?;
    // Group commit: single calls from 1, 4 and 16 threads beside batches, the pipeline beside
    // one commit per call, and (with both backends) SQLite beside redb.
    let mut commit = vec!["bench", "-p", "nerve-bench", "--bench", "commit", "--"];
    commit.extend(options.backends.iter().copied());
    if options.backends.len() == 2 {
        commit.extend(["pipeline", "backends"]);
    }
    cargo(&commit, &[])?;
    if options.backends.len() == 2 {
        cargo(&["bench", "-p", "nerve-bench", "--bench", "blobs"], &[])?;
    }
    // Single appends from 4,096 tokio tasks through `AsyncStore` beside one batch of the same
    // entries and beside batches of MAX_GROUP (the ideal pipeline), with the OS threads used.
    if options.backends.contains(&"sqlite") {
        cargo(
            &[
                "run",
                "--release",
                "-p",
                "nerve-store",
                "--features",
                "tokio",
                "--example",
                "async_appends",
            ],
            &[],
        )?;
    }
    // Cost growth: every operation at each size beside the smallest.
    let sizes = format!("--sizes={}", options.sizes);
    let mut growth = vec!["bench", "-p", "nerve-bench", "--bench", "growth", "--"];
    growth.extend(options.backends.iter().copied());
    growth.push(&sizes);
    cargo(&growth, &[])?;
    Ok(())
}

/// Whether PostgreSQL's server binaries are here: `initdb` on the `PATH` or under Debian's
/// `/usr/lib/postgresql/*/bin`.
fn has_postgres_server() -> bool {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("initdb").is_file()));
    on_path
        || std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|versions| {
            versions
                .flatten()
                .any(|version| version.path().join("bin/initdb").is_file())
        })
}

/// Installs Debian's `postgresql` package when the server binaries are missing.
fn ensure_postgres_server() -> Result<(), String> {
    if has_postgres_server() {
        return Ok(());
    }
    eprintln!("xtask: PostgreSQL's server is missing: installing Debian's postgresql package");
    install_debian_packages(&["postgresql"])?;
    if has_postgres_server() {
        Ok(())
    } else {
        Err("the postgresql package is installed, but no initdb was found".to_owned())
    }
}

/// Installs Debian's `packages` with apt (as root, or through sudo).
fn install_debian_packages(packages: &[&str]) -> Result<(), String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    let run = |args: &[&str]| -> Result<(), String> {
        let mut command = if root {
            Command::new(args[0])
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg(args[0]);
            sudo
        };
        let status = command
            .args(&args[1..])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|err| format!("could not run {}: {err}", args.join(" ")))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed ({status}): install Debian's {} and run the tests again",
                args.join(" "),
                packages.join(", ")
            ))
        }
    };
    run(&["apt-get", "update", "-qq"])?;
    let mut install = vec!["apt-get", "install", "-y", "-qq"];
    install.extend(packages);
    run(&install)
}

/// Where `cargo xtask test` installs the moto server when it is not on the `PATH`: a
/// virtual environment of Python's in the workspace's `target` (the store-object harness
/// looks there too).
fn moto_venv() -> PathBuf {
    root().join("target").join("moto")
}

/// Whether the moto server (an S3 server in memory, from PyPI's `moto[server]`) is here:
/// `moto_server` on the `PATH` or in [`moto_venv`].
fn has_moto_server() -> bool {
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("moto_server").is_file())
    });
    on_path || moto_venv().join("bin/moto_server").is_file()
}

/// Installs the moto server when it is missing: `pip install 'moto[server]'` into a virtual
/// environment under `target/moto` (Debian's Python refuses packages installed beside its
/// own), after installing Debian's `python3-venv` when Python cannot make one. Only PyPI and
/// Debian's mirrors are reached, as the project's rules allow.
fn ensure_moto_server() -> Result<(), String> {
    if has_moto_server() {
        return Ok(());
    }
    eprintln!("xtask: the moto S3 server is missing: installing moto[server] from PyPI");
    let venv = moto_venv();
    let make_venv = || {
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv)
            .status()
            .is_ok_and(|status| status.success())
    };
    if !make_venv() {
        install_debian_packages(&["python3", "python3-venv", "python3-pip"])?;
        if !make_venv() {
            return Err(format!(
                "python3 -m venv {} failed: install Python 3 with venv (Debian: apt-get \
                 install python3-venv) and run the tests again",
                venv.display()
            ));
        }
    }
    let pip = venv.join("bin/pip");
    let status = Command::new(&pip)
        .args(["install", "--quiet", "moto[server]"])
        .status()
        .map_err(|err| format!("could not run {}: {err}", pip.display()))?;
    if status.success() && has_moto_server() {
        Ok(())
    } else {
        Err(format!(
            "pip install 'moto[server]' failed ({status}): install it (pip install \
             'moto[server]') and run the tests again"
        ))
    }
}

/// Installs Debian's Chromium and its ChromeDriver, which the console's browser tests drive,
/// when either is missing.
fn ensure_chromium() -> Result<(), String> {
    let present = || {
        ["/usr/bin/chromium", "/usr/bin/chromedriver"]
            .iter()
            .all(|path| Path::new(path).is_file())
    };
    if present() {
        return Ok(());
    }
    eprintln!(
        "xtask: Chromium or its ChromeDriver is missing: installing Debian's chromium and chromium-driver"
    );
    install_debian_packages(&["chromium", "chromium-driver"])?;
    if present() {
        Ok(())
    } else {
        Err("the chromium packages are installed, but /usr/bin/chromium or /usr/bin/chromedriver is not there".to_owned())
    }
}

fn test() -> Result<(), String> {
    ensure_postgres_server()?;
    ensure_moto_server()?;
    ensure_chromium()?;
    cargo(&["test", "--workspace"], &[])
}

/// The feature sets of the facade that CI builds on their own: each backend alone, none, and
/// all (with `tokio`). The workspace's own build unifies the facade's features (the command
/// line turns on every backend), so code under `cfg(not(...))` is compiled only here.
const FACADE_FEATURE_SETS: [&[&str]; 5] = [
    &["--no-default-features"],
    &["--no-default-features", "--features", "sqlite"],
    &["--no-default-features", "--features", "redb"],
    &["--no-default-features", "--features", "postgres"],
    &["--all-features"],
];

/// Clippy with every warning denied. The lints include `clippy::incompatible_msrv`, which
/// fails a use of a standard library API newer than the workspace's `rust-version`: how the
/// declared MSRV is held on machines that cannot install another toolchain.
fn clippy(args: &[&str]) -> Result<(), String> {
    cargo(
        &[
            &["clippy"][..],
            args,
            &[
                "--all-targets",
                "--",
                "-D",
                "warnings",
                "-D",
                "clippy::incompatible_msrv",
            ],
        ]
        .concat(),
        &[],
    )
}

/// `cargo deny`, installed first (from crates.io, its lock file kept) when it is missing:
/// the dependency tree's licences, duplicate versions and sources, against `deny.toml`. No
/// advisory check: its database comes from outside the package registries, which is all
/// these machines reach.
fn deny() -> Result<(), String> {
    let installed = Command::new("cargo-deny")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !installed {
        // A version requirement goes to `--version`: `cargo-deny@0.20` is refused, as
        // `crate@VERSION` takes a whole version.
        cargo(
            &["install", "--locked", "cargo-deny", "--version", "^0.20"],
            &[],
        )?;
    }
    cargo(
        &[
            "deny",
            "--all-features",
            "check",
            "bans",
            "licenses",
            "sources",
        ],
        &[],
    )
}

/// What CI checks, in order, stopping at the first failure: formatting; clippy on the
/// workspace and on each feature set of the facade (MSRV included, see [`clippy`]); the
/// documentation with warnings denied; the fuzz targets' build; the dependency tree; then
/// every test, and the facade's tests with redb alone.
/// Fails, naming each, when a crate has a circle of imports between its modules.
fn circles() -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let found = circles::find(&root)?;
    if found.is_empty() {
        eprintln!("xtask: no import circle in any crate");
        return Ok(());
    }
    Err(format!("import circles:\n  {}", found.join("\n  ")))
}

fn ci() -> Result<(), String> {
    let started = Instant::now();
    cargo(&["fmt", "--all", "--", "--check"], &[])?;
    circles()?;
    clippy(&["--workspace"])?;
    for features in FACADE_FEATURE_SETS {
        clippy(&[&["-p", "nerve-store"][..], features].concat())?;
    }
    cargo(
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings".to_owned())],
    )?;
    // The fuzz crate is outside the workspace (`cargo fuzz` builds it with sanitizers on a
    // nightly compiler); a plain build keeps its targets compiling with the code they drive.
    cargo(
        &["build", "--manifest-path", "fuzz/Cargo.toml", "--bins"],
        &[],
    )?;
    deny()?;
    test()?;
    // The facade's tests with one backend alone: the code under each feature's cfg is
    // compiled and run as a downstream with that feature alone gets it.
    for backend in ["redb", "postgres"] {
        cargo(
            &[
                "test",
                "-p",
                "nerve-store",
                "--no-default-features",
                "--features",
                backend,
            ],
            &[],
        )?;
    }
    eprintln!("xtask: ci passed in {} s", started.elapsed().as_secs());
    Ok(())
}
