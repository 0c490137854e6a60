fn main() -> std::process::ExitCode {
    workload::cli::main(&nonblocking_poll::LESSON)
}
