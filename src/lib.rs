pub mod framework;
