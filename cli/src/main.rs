fn main() {
    eprintln!("rserpool: not implemented yet");
    std::process::exit(2);
}
