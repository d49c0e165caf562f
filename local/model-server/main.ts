/**
 * Runs the local model server until interrupted:
 *
 *   npx tsx local/model-server/main.ts [--port 8400] [--quiet]
 *
 * It prints its base URL first; point any OpenAI-compatible client there
 * (for fieldlens: MODEL_BASE_URL=<url> MODEL_NAME=fieldlens-local-ocr).
 */
import { parseArgs } from 'node:util';
import { startLocalModelServer } from './server';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    quiet: { type: 'boolean', default: false },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be a port number, got "${values.port}"`);
  process.exit(2);
}

const server = await startLocalModelServer({
  port,
  ...(values.quiet
    ? {}
    : { onRequest: (e) => console.error(JSON.stringify({ msg: 'chat completion', ...e })) }),
});
console.log(server.baseUrl);
console.error(`local model "${server.modelName}" listening; Ctrl-C stops it`);

const stop = () => {
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
