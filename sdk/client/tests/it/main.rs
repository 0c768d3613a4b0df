//! weir-client against a real weir broker running in-process on a free port.

mod admin;
mod compression;
mod consume;
mod groups;
mod harness;
mod interop;
mod produce;
mod proxy;
mod push;
