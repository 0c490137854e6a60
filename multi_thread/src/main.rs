fn main() -> std::process::ExitCode {
    workload::cli::main(&multi_thread::LESSON)
}
