pub mod plugin;
pub mod proto;
