import { strict as assert } from 'node:assert';
import { parseHeld } from './shared-held.js';

const digest = `sha256:${'a'.repeat(64)}`;

describe('shared cache push facts (parseHeld)', () => {
  const cases: [string, string, ReturnType<typeof parseHeld>][] = [
    ['no facts', '', {}],
    ['one repository', JSON.stringify({ 'reg:5000/app/x': digest }), { held: { 'reg:5000/app/x': digest } }],
    ['not JSON', '{{', { corrupt: true }],
    ['an array (cjson of an empty table is {}, never this)', '[]', { corrupt: true }],
    ['a value that is not a digest', JSON.stringify({ 'reg:5000/app/x': 'latest' }), { corrupt: true }],
    ['a field that is not authority/repository', JSON.stringify({ garbage: digest }), { corrupt: true }],
  ];
  for (const [name, text, expected] of cases) {
    it(name, () => assert.deepEqual(parseHeld(text), expected));
  }
});
