use std::process::ExitCode;

fn main() -> ExitCode {
    // Without io_uring there is nothing to show: say why, as a usage error.
    if let Err(why) = completion::probe() {
        eprintln!("completion: {why}");
        return ExitCode::from(2);
    }
    workload::cli::main(&completion::LESSON)
}
