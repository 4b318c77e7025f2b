import { strict as assert } from 'node:assert';
import { SseParser, type SseMessage } from './sse-parser.js';

describe('SSE parser', function () {
  it('parses events split anywhere, comments, CRLF, multi-line data, and keeps the last id', function () {
    const stream = ': builder build logs\r\n\r\nid: 1-0\nevent: step.log\ndata: {"a":1}\n\n: keep-alive\n\nid: 2-0\ndata: line one\ndata: line two\n\ndata:no-space\n\n';
    for (const size of [1, 3, 7, stream.length]) {
      const messages: SseMessage[] = [];
      const parser = new SseParser((m) => messages.push(m));
      for (let i = 0; i < stream.length; i += size) parser.push(stream.slice(i, i + size));
      assert.deepEqual(messages, [
        { id: '1-0', event: 'step.log', data: '{"a":1}' },
        { id: '2-0', event: 'message', data: 'line one\nline two' },
        { id: '2-0', event: 'message', data: 'no-space' },
      ], `chunks of ${size}`);
    }
  });

  it('holds an event until its blank line arrives', function () {
    const messages: SseMessage[] = [];
    const parser = new SseParser((m) => messages.push(m));
    parser.push('id: 5-0\ndata: {}\n');
    assert.equal(messages.length, 0);
    parser.push('\n');
    assert.equal(messages.length, 1);
  });
});
