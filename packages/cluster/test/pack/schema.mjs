// The packed @flotilla/cluster carries the manifest JSON Schema at @flotilla/cluster/schema.json
// (what `# yaml-language-server: $schema=./node_modules/@flotilla/cluster/schema.json` names),
// and it is the schema the installed package generates.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { manifestSchemaText } from '@flotilla/cluster';

const require = createRequire(import.meta.url);
const file = require.resolve('@flotilla/cluster/schema.json');
if (!file.endsWith('/node_modules/@flotilla/cluster/schema.json')) throw new Error(`schema.json resolved to ${file}`);
const text = readFileSync(file, 'utf8');
const schema = JSON.parse(text);
if (schema.$schema !== 'http://json-schema.org/draft-07/schema#' || !schema.definitions?.replicaSetSpec) throw new Error('schema.json is not the manifest schema');
if (text !== manifestSchemaText()) throw new Error('schema.json in the tarball differs from the schema the package generates: run npm run schema -w @flotilla/cluster');
console.log('schema.json ok');
