// test/bench/historical_duckdb.mjs: the stretch reference for test/bench/historical.sh.
// DuckDB's ASOF JOIN over the same data, exported to CSV by historical_duckdb.sh.
// Usage: node historical_duckdb.mjs DIR  (DIR holds driver_stats.csv and entity_df.csv)
//
// Three figures, so that each compares like with like:
//   duckdb       the result written into a table of a database file (durable at commit), as
//                feast_create_training_set and the CREATE TABLE AS of historical.sh write a table
//   duckdb-mem   the result written into a table of an in-memory database (nothing to disk)
//   duckdb-join  the join alone, its rows consumed by an aggregate over every output column (as
//                historical.sh's "join only" figures)
import { DuckDBInstance } from '@duckdb/node-api';
import { rmSync } from 'node:fs';

const dir = process.argv[2];

async function load(con) {
  await con.run(`SET threads = 2`);
  await con.run(`CREATE TABLE driver_stats AS SELECT * FROM read_csv('${dir}/driver_stats.csv', header = true,
      columns = {'driver_id': 'BIGINT', 'event_timestamp': 'TIMESTAMPTZ', 'created': 'TIMESTAMPTZ',
                 'conv_rate': 'FLOAT', 'acc_rate': 'FLOAT', 'trips': 'INTEGER'})`);
  await con.run(`CREATE TABLE entity_df AS SELECT * FROM read_csv('${dir}/entity_df.csv', header = true,
      columns = {'driver_id': 'BIGINT', 'event_timestamp': 'TIMESTAMPTZ', 'order_id': 'INTEGER'})`);
}

// ASOF picks the latest event time at or before the entity time; the ttl is a filter on it.
// (It does not break ties on event time by the created column: the benchmark data has no such ties.)
const join = `
  SELECT e.driver_id, e.event_timestamp, e.order_id,
         CASE WHEN s.event_timestamp >= e.event_timestamp - INTERVAL 1 DAY THEN s.conv_rate END AS conv_rate,
         CASE WHEN s.event_timestamp >= e.event_timestamp - INTERVAL 1 DAY THEN s.acc_rate END AS acc_rate,
         CASE WHEN s.event_timestamp >= e.event_timestamp - INTERVAL 1 DAY THEN s.trips END AS trips
    FROM entity_df e
    ASOF LEFT JOIN driver_stats s
      ON e.driver_id = s.driver_id AND e.event_timestamp >= s.event_timestamp`;
const agg = `SELECT count(*), count(driver_id), count(event_timestamp), sum(order_id),
                    count(conv_rate), sum(acc_rate::DECIMAL(18,9)), sum(trips) FROM (${join}) j`;

// wall time and this process's CPU time (both threads), best of 3
async function best(con, before, sql) {
  let wall = Infinity;
  let cpu = Infinity;
  for (let i = 0; i < 3; i++) {
    if (before) await con.run(before);
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    await con.run(sql);
    const c = process.cpuUsage(c0);
    wall = Math.min(wall, Number(process.hrtime.bigint() - t0) / 1e6);
    cpu = Math.min(cpu, (c.user + c.system) / 1e3);
  }
  return [wall, cpu];
}

function line(label, [wall, cpu], what) {
  console.log(`${label.padEnd(11)} ${wall.toFixed(0).padStart(6)} ms (best of 3, ASOF JOIN, 2 threads; CPU ${cpu.toFixed(0)} ms): ${what}`);
}

for (const f of ['bench.duckdb', 'bench.duckdb.wal']) rmSync(`${dir}/${f}`, { force: true });
const file = await DuckDBInstance.create(`${dir}/bench.duckdb`);
const fcon = await file.connect();
await load(fcon);
await fcon.run(`CHECKPOINT`);
const onFile = await best(fcon, `DROP TABLE IF EXISTS ts_duckdb`, `CREATE TABLE ts_duckdb AS ${join}`);
const r = await fcon.runAndReadAll(`SELECT count(*)::INTEGER, count(conv_rate)::INTEGER FROM ts_duckdb`);
const [rows, matched] = r.getRows()[0];
line('duckdb', onFile, `table in a database file; ${rows} rows, ${matched} with features`);

const mem = await DuckDBInstance.create(':memory:');
const con = await mem.connect();
await load(con);
line('duckdb-mem', await best(con, `DROP TABLE IF EXISTS ts_duckdb`, `CREATE TABLE ts_duckdb AS ${join}`),
     'table in an in-memory database (nothing written to disk)');
line('duckdb-join', await best(con, null, agg), 'the join alone, rows consumed by an aggregate');
for (const f of ['bench.duckdb', 'bench.duckdb.wal']) rmSync(`${dir}/${f}`, { force: true });
