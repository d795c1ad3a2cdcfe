"use strict";
// The CommonJS entry.
module.exports = require("./lib.cjs");
