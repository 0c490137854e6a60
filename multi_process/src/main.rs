// ANCHOR: main
fn main() -> std::process::ExitCode {
    workload::cli::main(&multi_process::LESSON)
}
// ANCHOR_END: main
