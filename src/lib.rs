pub mod alloy;
pub mod emulator;
