#!/usr/bin/env node
"use strict";
// The `bland-sms-sim` command: runs the platform package's binary with the same arguments,
// standard streams and exit status (signals are passed on).
const { spawn } = require("node:child_process");
const { findBinary } = require("../lib.cjs");

let binary;
try {
  binary = findBinary();
} catch (e) {
  console.error(`bland-sms-sim: ${e.message}`);
  process.exit(1);
}
const child = spawn(binary, process.argv.slice(2), { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("exit", (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
