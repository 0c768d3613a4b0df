#!/bin/sh
# Builds weir and the example plugins, creates the SQLite orders database, keeps changing
# order statuses in the background (orders.sh) and runs the pipeline on the embedded broker
# until Ctrl-C. Run from anywhere; in another terminal: target/release/weir consume
# notifications --from-beginning
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/examples/ecommerce"
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi
(cd "$root/examples/plugins" && cargo build --release --target wasm32-wasip2)
(cd "$root" && cargo build --release --bin weir)
"$here/orders.sh" "$here/orders.db" init
"$here/orders.sh" "$here/orders.db" &
churn=$!
trap 'kill "$churn" 2>/dev/null || true' EXIT INT TERM
"$root/target/release/weir" run "$here/pipeline.toml"
