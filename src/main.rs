fn main() {
    std::process::exit(vertolk::cli::main());
}
