import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AgentEventReader, LineSplitter, MAX_EVENT_LINE, oneLine } from '../../src/core/agent/agentEvents';

const fixture = (name: string) => fs.readFileSync(path.join(__dirname, '../fixtures/agentEvents', name), 'utf8');
/** Through a terminal: every LF arrives as CR LF. */
const viaTerminal = (text: string) => text.replace(/\n/g, '\r\n');

function readAll(text: string, chunk = 0): AgentEventReader {
  const r = new AgentEventReader(() => 1000);
  if (!chunk) r.push(text);
  else for (let i = 0; i < text.length; i += chunk) r.push(text.slice(i, i + chunk));
  return r;
}

describe('agent events: facts from JSON-lines output', () => {
  it('Claude Code stream-json: session, usage once per message, cost and the result usage, the denial as needs-input', () => {
    const r = readAll(viaTerminal(fixture('claude.jsonl')));
    assert.equal(r.facts.sessionId, '5f1c2a8e-2b1d-4c57-9a0e-7d1f3b6c9e21');
    assert.equal(r.facts.costUsd, 0.0421);
    assert.equal(r.facts.tokensIn, 16 + 2700 + 51100, 'the result usage, cache reads and writes included');
    assert.equal(r.facts.tokensOut, 214);
    assert.equal(r.facts.denials, 1, 'the tool_result and the result list name the same denial: counted once');
    assert.equal(r.facts.deniedTool, 'Bash');
    assert.equal(r.facts.needsInput, 'permission denied: Bash');
    assert.equal(r.facts.lastActivity, 'I created hello.txt but may not push: please allow git push.');
    assert.equal(r.facts.lastActivityAt, 1000);
  });

  it('Claude Code: before the result, tokens are summed over distinct message ids', () => {
    const lines = fixture('claude.jsonl').split('\n').filter((l) => l && !l.includes('"type":"result"'));
    const r = readAll(lines.join('\n') + '\n');
    // msg_01A twice (two content blocks), then 01B, 01C, 01D.
    assert.equal(r.facts.tokensIn, 3 + 2100 + 11000 + (5 + 300 + 13100) + (4 + 200 + 13400) + (4 + 100 + 13600));
    assert.equal(r.facts.tokensOut, 9 + 120 + 60 + 25);
    assert.equal(r.facts.costUsd, undefined, 'no cost before the agent reports one');
    assert.equal(r.facts.denials, 1);
  });

  it('Claude Code: an AskUserQuestion tool use is a question it cannot get answered headless', () => {
    const r = readAll(JSON.stringify({ type: 'assistant', message: { id: 'm', content: [{ type: 'tool_use', id: 't', name: 'AskUserQuestion', input: { questions: [{ question: 'Which database should I use?' }] } }] } }) + '\n');
    assert.equal(r.facts.needsInput, 'asks: Which database should I use?');
  });

  it('Codex exec --json: thread id, turn usage, the last item as activity', () => {
    const r = readAll(viaTerminal(fixture('codex.jsonl')));
    assert.equal(r.facts.sessionId, '0199a213-81c0-7800-8aa1-bbab2a035a53');
    assert.equal(r.facts.tokensIn, 24763);
    assert.equal(r.facts.tokensOut, 122);
    assert.equal(r.facts.costUsd, undefined);
    assert.equal(r.facts.denials, 0);
    assert.equal(r.facts.needsInput, undefined);
    assert.equal(r.facts.lastActivity, 'Added hello.txt and committed it.');
    const mid = readAll(fixture('codex.jsonl').split('\n').slice(0, 4).join('\n') + '\n');
    assert.equal(mid.facts.lastActivity, "$ bash -lc 'cat spec.md'");
  });

  it('Codex: a declined command is a denial', () => {
    const r = readAll(JSON.stringify({ type: 'item.completed', item: { id: 'i', type: 'command_execution', command: 'git push', status: 'declined' } }) + '\n');
    assert.equal(r.facts.denials, 1);
    assert.equal(r.facts.needsInput, 'command declined: git push');
  });

  it('Gemini CLI stream-json and json: session, tokens, streamed text, a denied tool', () => {
    const r = readAll(viaTerminal(fixture('gemini.jsonl')));
    assert.equal(r.facts.sessionId, 'c6b4e0a2-93d5-4f4e-9f55-3d2a1b0c9e8f');
    assert.equal(r.facts.tokensIn, 8800);
    assert.equal(r.facts.tokensOut, 320);
    assert.equal(r.facts.denials, 1);
    assert.equal(r.facts.deniedTool, 'run_shell_command');
    assert.equal(r.facts.lastActivity, 'finished');
    const mid = readAll(fixture('gemini.jsonl').split('\n').slice(0, 4).join('\n') + '\n');
    assert.equal(mid.facts.lastActivity, "I'll read the spec first.", 'deltas joined');
    const json = readAll(fixture('gemini.json'));
    assert.equal(json.facts.tokensIn, 24939);
    assert.equal(json.facts.tokensOut, 20);
    assert.equal(json.facts.lastActivity, 'Created hello.txt.');
  });

  it('the same facts whatever the chunking (lines split across chunks, one byte at a time)', () => {
    for (const name of ['claude.jsonl', 'codex.jsonl', 'gemini.jsonl']) {
      const whole = readAll(fixture(name)).facts;
      for (const size of [1, 7, 100, 4096]) assert.deepEqual(readAll(viaTerminal(fixture(name)), size).facts, whole, `${name} in chunks of ${size}`);
    }
  });

  it('ignores garbage: plain text, broken JSON, arrays, wrong field types, unknown events', () => {
    const garbage = [
      'Starting agent…',
      '{"type":"system","subtype":"init","session_id":',
      '[1,2,3]',
      '{"type":"assistant","message":"not an object"}',
      '{"type":"assistant","message":{"usage":{"input_tokens":"many","output_tokens":-5},"content":"x"}}',
      '{"type":"turn.completed","usage":null}',
      '{"type":"something.new","thread_id":"nope"}',
      '\u0000\u0001{}\u00ff',
      '{"type":"result","subtype":"success","total_cost_usd":"free","permission_denials":"none"}',
      'null',
      '',
    ].join('\n');
    const r = readAll(garbage + '\n');
    assert.equal(r.facts.sessionId, undefined);
    assert.equal(r.facts.costUsd, undefined);
    assert.equal(r.facts.denials, 0);
    assert.equal(r.facts.tokensIn, 0);
    assert.equal(r.facts.tokensOut, 0);
    // Facts still read after the garbage.
    r.push('{"type":"thread.started","thread_id":"t-after"}\n');
    assert.equal(r.facts.sessionId, 't-after');
  });

  it('skips a huge line whole without holding it, and reads the next one', () => {
    const r = new AgentEventReader();
    const big = JSON.stringify({ type: 'thread.started', thread_id: 'lost' }).slice(0, -1) + `,"pad":"${'x'.repeat(1024 * 1024)}`;
    r.push('{"type":"thread.started","thread_id":"first"}\n');
    for (let i = 0; i < 12; i++) r.push(big); // 12 MiB without a newline
    assert.ok(r.held <= MAX_EVENT_LINE, `holds ${r.held} bytes`);
    r.push('"}\n{"type":"thread.started","thread_id":"after"}\n');
    assert.equal(r.facts.sessionId, 'after');
    assert.equal(r.held, 0);
  });

  it('push says whether facts changed (so the supervisor writes only changes)', () => {
    const r = new AgentEventReader();
    assert.equal(r.push('{"type":"thread.started","thread_id":"a"}\n'), true);
    assert.equal(r.push('{"type":"thread.started","thread_id":"a"}\n'), false);
    assert.equal(r.push('plain text\n'), false);
  });

  it('LineSplitter holds at most its limit; oneLine keeps a short first line', () => {
    const s = new LineSplitter(10);
    assert.deepEqual(s.push('abc\ndefghijklmnop'), ['abc']);
    assert.equal(s.held, 0);
    assert.deepEqual(s.push('qr\nxy\n'), ['xy']);
    assert.equal(oneLine('\n  first   line \nsecond'), 'first line');
    assert.equal(oneLine('x'.repeat(500)).length, 160);
  });
});
