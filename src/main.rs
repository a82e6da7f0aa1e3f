//! The `vertolk` binary: everything is in the library ([`vertolk::cli`]).
fn main() {
    std::process::exit(vertolk::cli::main());
}
