//! The `hookgate` binary: parse arguments, load settings, set up logging, run. Nothing here
//! is worth testing on its own; everything it calls lives in the library.

use std::io::Read as _;
use std::process::ExitCode;

use clap::Parser as _;
use hookgate::config::{self, Cli, Command, ConfigError};

/// sysexits' EX_USAGE / EX_CONFIG family: a setting was wrong.
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(Failure::Config(e)) => {
            eprintln!("hookgate: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(Failure::Other(e)) => {
            eprintln!("hookgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Config(ConfigError),
    Other(anyhow::Error),
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::Config(e)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Keygen => {
            let line = hookgate::token::KeyRing::generate_line()
                .map_err(|e| anyhow::anyhow!("no random source: {e}"))?;
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect(args) => {
            let ring = config::load_keys(&args.keys)?;
            let token = if args.token == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| anyhow::anyhow!("reading the token from stdin: {e}"))?;
                s.trim().to_owned()
            } else {
                args.token
            };
            match ring.open(&token, hookgate::unix_now()) {
                Ok(claims) => {
                    let json = serde_json::to_string_pretty(&claims.view())
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("{json}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("hookgate: invalid token: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Serve(_) | Command::Demo(_) | Command::Sim(_) => Err(Failure::Other(
            anyhow::anyhow!("this command is not built yet"),
        )),
    }
}
