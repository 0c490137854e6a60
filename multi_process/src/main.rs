// ANCHOR: main
fn main() -> std::process::ExitCode {
    // First: if this process is one of the pool's workers, serve and exit.
    multi_process::serve_if_worker();
    workload::cli::main(&multi_process::LESSON)
}
// ANCHOR_END: main
