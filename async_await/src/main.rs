fn main() -> std::process::ExitCode {
    workload::cli::main(&async_await::LESSON)
}
