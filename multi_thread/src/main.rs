fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Err(usage) = multi_thread::check_flags(&args) {
        let _ = usage.print();
        return std::process::ExitCode::from(2);
    }
    workload::cli::main_from(&multi_thread::LESSON, args)
}
