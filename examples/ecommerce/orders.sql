-- The e-commerce example's orders table on PostgreSQL (orders.sh creates the SQLite one):
-- the same columns, so pipeline.toml runs on either by its url alone. Each change bumps
-- updated_at, so the source's timestamp mode sees updates as well as inserts.
--   psql -h 127.0.0.1 -U postgres -f examples/ecommerce/orders.sql
--   ORDERS_DB_URL=postgres://postgres@127.0.0.1:5432/postgres examples/ecommerce/run.sh
CREATE TABLE IF NOT EXISTS orders (
    id         bigserial   PRIMARY KEY,
    "order"    text        NOT NULL,
    customer   text        NOT NULL,
    region     text        NOT NULL,
    status     text        NOT NULL DEFAULT 'new',
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS orders_updated_at_id ON orders (updated_at, id);

CREATE OR REPLACE FUNCTION orders_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER orders_touch BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION orders_touch();

-- A status change, as orders.sh makes them on SQLite:
--   INSERT INTO orders ("order", customer, region, status) VALUES ('o-1', 'c-7', 'us', 'new');
--   UPDATE orders SET status = 'paid' WHERE "order" = 'o-1';
