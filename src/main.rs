//! The `mcast` command; everything it does is in the `cli` module and the
//! `mcast` library.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
