//! `labelstore`, the command-line tool (the crate's library holds it: see
//! `lib.rs`).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(store_cli::run(std::env::args_os().collect()))
}
