// slowproxy.mjs — a TCP proxy that holds every chunk DELAY_MS before passing it on, to play a
// Redis that answers slowly (tests/test_replicas.c).
//   node slowproxy.mjs TARGET_PORT DELAY_MS
// Listens on a free port of 127.0.0.1, prints "port N" on stdout, runs until killed.
import net from "node:net";

const [target, delay] = process.argv.slice(2).map(Number);
if (!(target > 0) || !(delay >= 0)) {
  console.error("usage: node slowproxy.mjs TARGET_PORT DELAY_MS");
  process.exit(2);
}
const server = net.createServer((client) => {
  const up = net.connect(target, "127.0.0.1");
  const pass = (from, to) => {
    from.on("data", (d) => setTimeout(() => { if (!to.destroyed) to.write(d); }, delay));
    from.on("close", () => setTimeout(() => to.destroy(), delay));
    from.on("error", () => {});
  };
  pass(client, up);
  pass(up, client);
});
server.listen(0, "127.0.0.1", () => console.log("port " + server.address().port));
