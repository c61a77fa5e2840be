//! Generates the gRPC/protobuf Rust code for the plugin protocol at build time.
//!
//! `protox` parses the `.proto` files in pure Rust (and bundles the Google
//! well-known types such as `timestamp.proto`), so building needs no system
//! `protoc`. Every RPC gets a default `UNIMPLEMENTED` stub, so the provider
//! only writes the handlers it needs. Clients are generated too (our tests
//! use them), but without tonic's `transport` glue so the library does not
//! need tonic's `channel` feature.

use std::io;

const PROTOS: &[&str] = &[
    "proto/tfplugin6.proto",
    "proto/go-plugin/grpc_controller.proto",
    "proto/go-plugin/grpc_stdio.proto",
    "proto/go-plugin/grpc_broker.proto",
];

fn main() -> io::Result<()> {
    println!("cargo:rerun-if-changed=proto");
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(PROTOS, ["proto", "proto/go-plugin"]).map_err(io::Error::other)?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(false)
        .generate_default_stubs(true)
        .compile_fds(fds)
}
