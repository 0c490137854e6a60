fn main() -> std::process::ExitCode {
    workload::cli::main(&sync_blocking::LESSON)
}
