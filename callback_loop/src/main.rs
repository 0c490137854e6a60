fn main() -> std::process::ExitCode {
    workload::cli::main(&callback_loop::LESSON)
}
