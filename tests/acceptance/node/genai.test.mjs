// The official @google/genai SDK (pinned in package.json) with its DEFAULT options — only base
// URL and key, so the SDK's own default API version (`v1` in 3.x) is what reaches the gateway —
// against the real gemini-gateway binary in front of the gemini-sim binary.
//
// Run: `node --test tests/acceptance/node/genai.test.mjs` (after `npm ci` in this directory).

import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { GoogleGenAI } from '@google/genai';
import { header, startStack } from './harness.mjs';

const PASSWORD = 'acceptance-genai-node-password-8c2f';
const ADMIN_KEY = 'acceptance-genai-node-admin-key-41d9';
const KEYS = ['genai-node-key-a', 'genai-node-key-b'];
const MODEL = 'gemini-2.5-flash';
const EMBED_MODEL = 'gemini-embedding-001';

describe('@google/genai 3.3.0 with default options against gemini-gateway', { timeout: 120_000 }, () => {
  let simProc;
  let gwProc;
  let sim;
  let ai;

  before(async () => {
    let port;
    ({ sim, simProc, gwProc, port } = await startStack({ keys: KEYS, password: PASSWORD, adminKey: ADMIN_KEY }));
    ai = new GoogleGenAI({ apiKey: PASSWORD, httpOptions: { baseUrl: `http://127.0.0.1:${port}` } });
  });

  after(async () => {
    await Promise.all([gwProc?.stop(), simProc?.stop()]);
  });

  beforeEach(async () => {
    await sim.reset();
  });

  /** The one upstream request of a test, with the pool's key and never the client's password. */
  async function onlyUpstream(pathWanted) {
    const calls = await sim.geminiCalls();
    assert.equal(calls.length, 1, `expected one upstream request, got ${calls.map((r) => r.path)}`);
    const up = calls[0];
    assert.equal(up.path, pathWanted);
    assert.ok(KEYS.includes(up.api_key), `upstream key ${up.api_key} is not from the pool`);
    assert.deepEqual(header(up, 'x-goog-api-key'), [up.api_key]);
    assert.ok(!JSON.stringify(up).includes(PASSWORD), 'client secret leaked upstream');
    return up;
  }

  test('generateContent on the default API version', async () => {
    const r = await ai.models.generateContent({ model: MODEL, contents: 'Hello from node' });
    assert.equal(r.text, 'Echo: Hello from node');
    assert.ok(r.usageMetadata.totalTokenCount > 0);
    const up = await onlyUpstream(`/v1beta/models/${MODEL}:generateContent`);
    assert.deepEqual(up.body.contents, [{ role: 'user', parts: [{ text: 'Hello from node' }] }]);
  });

  test('generateContentStream', async () => {
    const stream = await ai.models.generateContentStream({ model: MODEL, contents: 'Stream for node' });
    let text = '';
    let chunks = 0;
    for await (const c of stream) {
      chunks += 1;
      text += c.text ?? '';
    }
    assert.ok(chunks > 1, `${chunks} chunks`);
    assert.equal(text, 'Echo: Stream for node');
    const up = await onlyUpstream(`/v1beta/models/${MODEL}:streamGenerateContent`);
    assert.equal(up.query, 'alt=sse');
  });

  test('countTokens', async () => {
    const r = await ai.models.countTokens({ model: MODEL, contents: 'Count these tokens' });
    assert.ok(r.totalTokens > 0);
    await onlyUpstream(`/v1beta/models/${MODEL}:countTokens`);
  });

  test('models.list pager and models.get', async () => {
    const pager = await ai.models.list({ config: { pageSize: 3 } });
    const names = [];
    for await (const m of pager) names.push(m.name);
    assert.ok(names.length > 3, `the pager went past the first page: ${names}`);
    assert.ok(names.includes(`models/${MODEL}`), names.join(','));
    const calls = (await sim.geminiCalls()).filter((r) => r.path === '/v1beta/models');
    assert.ok(calls.length >= 2, 'more than one page was fetched upstream');
    const m = await ai.models.get({ model: MODEL });
    assert.equal(m.name, `models/${MODEL}`);
    assert.ok(m.inputTokenLimit > 0);
  });

  test('embedContent', async () => {
    const r = await ai.models.embedContent({ model: EMBED_MODEL, contents: ['one', 'two'] });
    assert.equal(r.embeddings.length, 2);
    assert.ok(r.embeddings[0].values.length > 0);
    const calls = await sim.geminiCalls();
    assert.equal(calls.length, 1);
    assert.match(calls[0].path, new RegExp(`^/v1beta/models/${EMBED_MODEL}:(batchEmbedContents|embedContent)$`));
  });
});
