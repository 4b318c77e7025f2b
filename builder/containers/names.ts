/** Docker-style generated names (`adjective_surname`), derived from the id so they are stable and unlikely to clash. */
const ADJECTIVES = [
  'admiring', 'bold', 'brave', 'clever', 'dazzling', 'eager', 'elegant', 'festive', 'gallant', 'happy', 'jolly', 'keen',
  'lucid', 'modest', 'nifty', 'optimistic', 'pensive', 'quirky', 'relaxed', 'serene', 'stoic', 'tender', 'upbeat', 'vibrant',
  'wizardly', 'zealous',
];
const SURNAMES = [
  'albattani', 'babbage', 'curie', 'darwin', 'einstein', 'feynman', 'galileo', 'hopper', 'hypatia', 'jemison', 'kepler',
  'lovelace', 'meitner', 'newton', 'noether', 'pasteur', 'ritchie', 'shannon', 'thompson', 'torvalds', 'turing', 'wozniak',
];

export function randomName(id: string): string {
  const a = Number.parseInt(id.slice(0, 8), 16);
  const b = Number.parseInt(id.slice(8, 16), 16);
  // A suffix from the id keeps two containers with the same word pair apart.
  return `${ADJECTIVES[a % ADJECTIVES.length]}_${SURNAMES[b % SURNAMES.length]}_${id.slice(16, 20)}`;
}
