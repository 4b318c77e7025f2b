import { strict as assert } from 'node:assert';
import { goDuration, goQuote } from './history-text.js';

describe('history text (Go fmt spellings BuildKit prints)', () => {
  it('formats durations as time.Duration.String', () => {
    assert.equal(goDuration(0), '0s');
    assert.equal(goDuration(500e6), '500ms');
    assert.equal(goDuration(1.5e9), '1.5s');
    assert.equal(goDuration(90e9), '1m30s');
    assert.equal(goDuration(3600e9), '1h0m0s');
    assert.equal(goDuration(2500), '2.5µs');
  });

  it('quotes strings as strconv.Quote', () => {
    assert.equal(goQuote('echo "q"'), '"echo \\"q\\""');
    assert.equal(goQuote('a\nb\tc\\'), '"a\\nb\\tc\\\\"');
    assert.equal(goQuote('\x01é'), '"\\x01é"');
  });
});
