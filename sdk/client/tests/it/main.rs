//! weir-client against a real weir broker running in-process on a free port.

mod consume;
mod harness;
mod produce;
mod proxy;
