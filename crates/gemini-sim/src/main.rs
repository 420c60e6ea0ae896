//! gemini-sim binary.
fn main() {}
