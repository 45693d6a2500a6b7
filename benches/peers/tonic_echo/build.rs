//! Generates the echo service's messages and tonic server from proto/echo.proto
//! (needs `protoc` on PATH, or PROTOC set).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tonic_prost_build::configure()
        .build_client(false)
        .compile_protos(&["proto/echo.proto"], &["proto"])?;
    Ok(())
}
