// The official openai Node SDK (pinned in package.json) against the real gemini-gateway binary in
// front of the gemini-sim binary, both started here on free loopback ports and stopped afterwards.
// Each case checks what the SDK returned and what the simulated Google upstream received.
//
// Run: `node --test tests/acceptance/node/openai.test.mjs` (after `npm ci` in this directory).
// Binaries: $GATEWAY_BIN / $SIM_BIN, else <repo>/target/debug/{gemini-gateway,gemini-sim}.

import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import OpenAI from 'openai';
import { header, startStack } from './harness.mjs';
import { VERSION } from 'openai/version';

const PASSWORD = 'acceptance-node-password-5d1e';
const ADMIN_KEY = 'acceptance-node-admin-key-0b7a';
const KEYS = ['node-key-a', 'node-key-b', 'node-key-c', 'node-key-d'];
const MODEL = 'gemini-2.5-flash';
const GEMINI3 = 'gemini-3-flash-preview';
const CALL_TIMEOUT_MS = 15_000;

const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city.',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

function assertUpstream(up, pathWanted) {
  assert.equal(up.method, 'POST');
  assert.equal(up.path, pathWanted);
  assert.ok(KEYS.includes(up.api_key), `upstream key ${up.api_key} is not from the pool`);
  assert.deepEqual(header(up, 'x-goog-api-key'), [up.api_key]);
  assert.deepEqual(header(up, 'authorization'), [], 'the client bearer token must not be forwarded');
  assert.ok(!JSON.stringify(up).includes(PASSWORD), 'client secret leaked upstream');
}
async function only(sim) {
  const calls = await sim.geminiCalls();
  assert.equal(calls.length, 1, `expected one upstream request, got ${calls.map((r) => r.path)}`);
  return calls[0];
}

describe(`openai-node ${VERSION} against gemini-gateway`, { timeout: 120_000 }, () => {
  let simProc;
  let gwProc;
  let sim;
  let client;

  before(async () => {
    ({ sim, simProc, gwProc } = await startStack({ keys: KEYS, password: PASSWORD, adminKey: ADMIN_KEY })
      .then((s) => {
        client = new OpenAI({
          baseURL: `http://127.0.0.1:${s.port}/v1`,
          apiKey: PASSWORD,
          maxRetries: 0, // the SDK must not hide the gateway's behaviour behind retries
          timeout: CALL_TIMEOUT_MS,
        });
        return s;
      }));
  });

  after(async () => {
    await Promise.all([gwProc?.stop(), simProc?.stop()]);
  });

  beforeEach(async () => {
    await sim.reset();
  });

  test('pinned SDK version', () => {
    assert.equal(VERSION, '6.49.0');
  });

  test('streaming chat with include_usage', async () => {
    const prompt = 'Stream a reply to the Node SDK';
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: prompt }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    assert.ok(chunks.length >= 3, `only ${chunks.length} chunks`);
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1, 'every chunk belongs to one completion');
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === MODEL));
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const body = chunks.slice(0, -1);
    const text = body.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, `Echo: ${prompt}`);
    assert.ok(body.filter((c) => c.choices[0]?.delta?.content).length >= 2, 'several content deltas');
    assert.deepEqual(body.map((c) => c.choices[0].finish_reason).filter(Boolean), ['stop']);
    assert.ok(body.every((c) => c.usage === null), 'usage: null on every chunk but the last');
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage.prompt_tokens > 0 && last.usage.completion_tokens > 0);
    assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens);

    const up = await only(sim);
    assertUpstream(up, `/v1beta/models/${MODEL}:streamGenerateContent`);
    assert.equal(new URLSearchParams(up.query ?? '').get('alt'), 'sse');
    assert.deepEqual(up.body.contents, [{ role: 'user', parts: [{ text: prompt }] }]);
    assert.deepEqual(up.body.systemInstruction.parts, [{ text: 'Be brief.' }]);
  });

  test('tool call round trip with thought signature (gemini 3)', async () => {
    const question = "What's the weather in Rome?";
    const messages = [{ role: 'user', content: question }];
    const first = await client.chat.completions.create({ model: GEMINI3, messages, tools: [WEATHER_TOOL] });

    const choice = first.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    assert.equal(choice.message.tool_calls.length, 1);
    const tc = choice.message.tool_calls[0];
    assert.equal(tc.type, 'function');
    assert.equal(tc.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(tc.function.arguments), { city: 'Rome' });
    const signature = tc.extra_content?.google?.thought_signature;
    assert.ok(signature, `no thought signature on ${JSON.stringify(tc)}`);

    const up1 = await only(sim);
    assertUpstream(up1, `/v1beta/models/${GEMINI3}:generateContent`);
    const decls = up1.body.tools.flatMap((t) => t.functionDeclarations ?? []);
    assert.deepEqual(decls.map((d) => d.name), ['get_weather']);

    // Echo the assistant message exactly as the SDK returned it, plus the tool result.
    await sim.reset();
    messages.push(choice.message, { role: 'tool', tool_call_id: tc.id, content: JSON.stringify({ temp_c: 21 }) });
    const second = await client.chat.completions.create({ model: GEMINI3, messages, tools: [WEATHER_TOOL] });
    assert.equal(second.choices[0].finish_reason, 'stop');
    assert.equal(second.choices[0].message.content, 'Echo: get_weather returned {"temp_c":21}');

    const up2 = await only(sim);
    assertUpstream(up2, `/v1beta/models/${GEMINI3}:generateContent`);
    const contents = up2.body.contents;
    assert.deepEqual(contents.map((c) => c.role), ['user', 'model', 'user']);
    assert.equal(contents[1].parts.length, 1);
    const callPart = contents[1].parts[0];
    assert.deepEqual(callPart.functionCall, { id: tc.id, name: 'get_weather', args: { city: 'Rome' } });
    assert.equal(callPart.thoughtSignature, signature, 'the signature must go back on the functionCall part');
    assert.deepEqual(contents[2].parts, [
      { functionResponse: { id: tc.id, name: 'get_weather', response: { temp_c: 21 } } },
    ]);
  });
});
