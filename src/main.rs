use std::process::ExitCode;

use clap::Parser;
use tailcall_logger::cli::{Cli, Command};
use tailcall_logger::{assets, exit, probe, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        None => run::run(&cli.run),
        Some(Command::Probe(args)) => {
            let (report, code) = probe::report(&args.kernel);
            if args.json {
                println!("{report}");
            } else {
                print!("{}", probe::human(&report));
            }
            return ExitCode::from(code as u8);
        }
        Some(Command::Assets { dir }) => assets::write(dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tailcall-logger: {}", exit::one_line(&err));
            ExitCode::from(exit::code_of(&err) as u8)
        }
    }
}
