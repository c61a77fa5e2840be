pub mod alloy;
