use clap::Parser as _;

fn main() {
    let cli = zcopy::cli::Cli::parse();
    match zcopy::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("zcopy: error: {err:#}");
            std::process::exit(zcopy::error::ZcopyError::exit_code(&err));
        }
    }
}
