#!/bin/sh
# The e-commerce example's order database (SQLite): creates it if missing, then keeps
# placing orders and moving them along new → paid → shipped → delivered, one change every
# INTERVAL seconds (default 1), until interrupted. Needs the sqlite3 command line tool.
#
#   examples/ecommerce/orders.sh [DB]      # DB defaults to examples/ecommerce/orders.db
#   examples/ecommerce/orders.sh DB init   # only create the table
set -eu
here=$(cd "$(dirname "$0")" && pwd)
db=${1:-$here/orders.db}
interval=${INTERVAL:-1}
command -v sqlite3 >/dev/null || { echo "orders.sh needs sqlite3 (apt-get install sqlite3)" >&2; exit 1; }

# Timestamps with milliseconds, so the source's timestamp cursor sees every change.
now="strftime('%Y-%m-%d %H:%M:%f', 'now')"
sqlite3 "$db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS orders (
    id         INTEGER PRIMARY KEY,
    "order"    TEXT NOT NULL,
    customer   TEXT NOT NULL,
    region     TEXT NOT NULL,
    status     TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_updated_at_id ON orders (updated_at, id);
SQL
[ "${2:-}" = init ] && exit 0

echo "changing order statuses in $db every ${interval}s (Ctrl-C stops)" >&2
while :; do
    sqlite3 -cmd ".timeout 5000" "$db" <<SQL
-- A new order from one of 20 customers; a customer always orders in the same region.
INSERT INTO orders ("order", customer, region, status, updated_at)
SELECT 'o-' || n, 'c-' || c, CASE c % 3 WHEN 0 THEN 'eu' WHEN 1 THEN 'us' ELSE 'apac' END, 'new', $now
FROM (SELECT abs(random()) % 20 + 1 AS c, (SELECT COALESCE(MAX(id), 0) + 1 FROM orders) AS n);
-- One open order moves on.
UPDATE orders
SET status = CASE status WHEN 'new' THEN 'paid' WHEN 'paid' THEN 'shipped' ELSE 'delivered' END,
    updated_at = $now
WHERE id = (SELECT id FROM orders WHERE status <> 'delivered' ORDER BY random() LIMIT 1);
SQL
    sleep "$interval"
done
