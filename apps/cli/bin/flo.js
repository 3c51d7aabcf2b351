#!/usr/bin/env node
// The committed launcher: npm links a workspace bin at `npm ci` time, before any build,
// so the bin must exist in git; it loads the built CLI.
import '../dist/main.js';
