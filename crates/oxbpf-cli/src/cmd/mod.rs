//! One module per subcommand group.

pub mod asm;
pub mod jsonw;
pub mod map;
pub mod prog;
pub mod run;
pub mod tracelog;
pub mod verify;
